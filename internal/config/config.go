// Package config is the one place that names gshmem's environment variables,
// their defaults and their meaning. The runtime reads them through Load, the
// launcher sets them for its children, and `gpurun info` prints the table.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Names of the environment variables gshmem reads or sets.
const (
	EnvNPES            = "GSHMEM_NPES"
	EnvPE              = "GSHMEM_PE"
	EnvTransport       = "GSHMEM_TRANSPORT"
	EnvJob             = "GSHMEM_JOB"
	EnvSymSize         = "GSHMEM_SYMMETRIC_SIZE"
	EnvSymSizeCompat   = "SHMEM_SYMMETRIC_SIZE"
	EnvLocalRank       = "GSHMEM_LOCAL_RANK"
	EnvLocalSize       = "GSHMEM_LOCAL_SIZE"
	EnvBootTimeout     = "GSHMEM_BOOT_TIMEOUT"
	EnvPrefault        = "GSHMEM_PREFAULT"
	EnvBind            = "GSHMEM_BIND"
	EnvShmDir          = "GSHMEM_SHM_DIR"
	EnvSegmentFDs      = "GSHMEM_SEGMENT_FDS"
	EnvCollPushMax     = "GSHMEM_COLL_PUSH_MAX"
	EnvChecked         = "GSHMEM_CHECKED"
	EnvDevice          = "GSHMEM_DEVICE"
	EnvDevSymSize      = "GSHMEM_DEVICE_SYMMETRIC_SIZE"
	EnvSharedGPU       = "GSHMEM_SHARED_GPU"
	EnvThreads         = "GSHMEM_THREADS"
	EnvThreadsCompat   = "LAMELLAR_THREADS"
	EnvOFIProvider     = "GSHMEM_OFI_PROVIDER"
	EnvPeerTimeout     = "GSHMEM_PEER_TIMEOUT"
	EnvPMIxLibrary     = "GSHMEM_PMIX_LIBRARY"
	EnvAMSizeThreshold = "GSHMEM_AM_SIZE_THRESHOLD"
)

// EnvCAPIUnmap, set to "odd", makes the C interface's odd-numbered PEs
// reach every PE through Go, as they would a PE on another node, so that
// the tests of package capi run C's paths and Go's on the same words on
// one node. For tests only: it is not a Config field, and the C interface
// reads it once, at shmem_init (Vars lists it, saying so).
const EnvCAPIUnmap = "GSHMEM_CAPI_UNMAP"

// Names of the process manager's variables gshmem reads to join a Slurm
// job step (see Bootstrap).
const (
	EnvSlurmStepID     = "SLURM_STEP_ID"
	EnvSlurmNTasks     = "SLURM_NTASKS"
	EnvSlurmStepNTasks = "SLURM_STEP_NUM_TASKS"
	EnvSlurmProcID     = "SLURM_PROCID"
	EnvSlurmLocalID    = "SLURM_LOCALID"
	EnvSlurmNodeName   = "SLURMD_NODENAME"
	EnvPMIFD           = "PMI_FD"
	EnvPMIRank         = "PMI_RANK"
	EnvPMIJobID        = "PMI_JOBID"
	EnvPMIxNamespace   = "PMIX_NAMESPACE"
	EnvPMIxRank        = "PMIX_RANK"
)

// How a process found its job (Config.Bootstrap), as `gpurun info` says it.
const (
	// BootstrapInproc: no launcher; Run starts the PEs as goroutines.
	BootstrapInproc = "in-process"
	// BootstrapGpurun: gpurun started this process as one PE.
	BootstrapGpurun = "gpurun"
	// BootstrapPMI2: a task of `srun --mpi=pmi2`; the tasks meet through
	// PMI-2 over PMI_FD.
	BootstrapPMI2 = "srun+pmi2"
	// BootstrapPMIx: a task of `srun --mpi=pmix`; the tasks meet through
	// the PMIx client library (libpmix, loaded at run time).
	BootstrapPMIx = "srun+pmix"
)

// DeviceCPU is the GSHMEM_DEVICE value that forces the CPU fallback.
const DeviceCPU = "cpu"

// Transport names.
const (
	TransportInproc = "inproc"
	TransportShm    = "shm"
)

// Defaults.
const (
	DefaultNPES        = 4
	DefaultSymSize     = 128 << 20
	DefaultBootTimeout = 30 * time.Second
	DefaultShmDir      = "/dev/shm"
	DefaultDevSymSize  = 64 << 20
	// DefaultPeerTimeout is how long a PE on another node may stay silent
	// before its peers take it for dead.
	DefaultPeerTimeout = 10 * time.Second
	// DefaultAMSizeThreshold is the most bytes of operations one batch AM
	// of a distributed array carries (8192 operations of 8 bytes).
	DefaultAMSizeThreshold = 64 << 10
	// MaxAMSizeThreshold bounds GSHMEM_AM_SIZE_THRESHOLD.
	MaxAMSizeThreshold = 1 << 30
	// SegmentPrefix starts the name of every file gshmem creates in the shm
	// directory: <prefix><job>-<pe>.
	SegmentPrefix = "gshmem-"
)

// Var describes one environment variable.
type Var struct {
	Name    string
	Default string
	Doc     string
}

// Vars lists every variable gshmem reads or sets, in the order `gpurun info`
// prints them.
var Vars = []Var{
	{EnvNPES, strconv.Itoa(DefaultNPES), "number of PEs; in-process runs start this many, gpurun sets it for its children"},
	{EnvPE, "", "this process's PE number (set by gpurun)"},
	{EnvTransport, TransportInproc, "transport: inproc (PEs as goroutines) or shm (one process per PE, set by gpurun)"},
	{EnvJob, "", "job id (set by gpurun; unguessable): names the job's shared-memory segments"},
	{EnvSymSize, "128m", "bytes of symmetric heap per PE (k, m, g suffixes)"},
	{EnvSymSizeCompat, "", "OpenSHMEM spelling of " + EnvSymSize + "; used when that is unset"},
	{EnvLocalRank, "", "rank of this PE among the PEs on its node (set by gpurun)"},
	{EnvLocalSize, "", "number of PEs on this node (set by gpurun)"},
	{EnvBootTimeout, DefaultBootTimeout.String(), "how long a PE waits for its peers to appear at start-up"},
	{EnvPrefault, "1", "pre-fault shared-memory segments at start-up (0 to skip)"},
	{EnvBind, "none", "the CPU this PE binds itself (every thread) to at start-up; gpurun sets PE i's to the i-th CPU it may use when there are no more PEs than CPUs, as mpirun --bind-to core does (gpurun -bind=false: none)"},
	{EnvShmDir, DefaultShmDir, "directory (tmpfs) where PEs not started by gpurun create their shared-memory segments; unused under gpurun"},
	{EnvSegmentFDs, "", "set by gpurun: the first of " + EnvNPES + " inherited descriptors holding the job's segments (unnamed memory files), PE i's at this number + i"},
	{EnvCollPushMax, "2048", "largest per-PE collective payload (bytes, k suffix) sent with the one-shot push algorithms; larger ones use direct loads between syncs (at most 16k)"},
	{EnvChecked, "0", "1: every RMA, atomic and wait checks that its symmetric object is still allocated (a put into a freed object is an error; costs a lock per call)"},
	{EnvDevice, "", "GPU ordinal of this PE, or cpu for the CPU fallback; default: local rank modulo visible GPUs (gpurun sets it)"},
	{EnvDevSymSize, "64m", "bytes of device symmetric heap per PE (in host memory on the CPU fallback)"},
	{EnvPMIxLibrary, "", "under srun --mpi=pmix: the PMIx client library to load (a file name or path); default: libpmix.so.2, libpmix.so, then Debian's pmix2/lib directory"},
	{EnvSharedGPU, "0", "1: allow PEs of several processes on one GPU without MPS (refused by default: their spinning device barriers and collectives take turns in time slices and run orders of magnitude slower); set it in every process"},
	{EnvThreads, "", "active-message handler goroutines per PE; default GOMAXPROCS"},
	{EnvThreadsCompat, "", "Lamellar spelling of " + EnvThreads + "; used when that is unset"},
	{EnvOFIProvider, "", "libfabric provider for PEs on other nodes, e.g. tcp;ofi_rxm or verbs;ofi_rxm; default: the best this host offers (needs a build with -tags ofi)"},
	{EnvPeerTimeout, DefaultPeerTimeout.String(), "how long a PE on another node may send nothing, not even its heartbeat, before its peers take it for dead"},
	{EnvAMSizeThreshold, "64k", "most bytes of operations (an 8-byte offset, and the operands where each operation has its own) in one active message of a distributed array's batch; a batch's share of a PE it does not map goes in as many as that takes (k, m suffixes; at most 1g)"},
	{EnvCAPIUnmap, "", "tests of the C interface only: odd makes its odd-numbered PEs reach every PE through Go, as they would PEs on another node"},
	{"GOMAXPROCS", "", "Go threads per PE; gpurun sets cores/N (at least 1) unless you set it"},
}

// SlurmVars lists the process manager's variables gshmem reads under srun,
// in the order `gpurun info` prints them. gshmem never sets them.
var SlurmVars = []Var{
	{EnvSlurmStepID, "", "set by srun in every task: this process is a task of a Slurm job step"},
	{EnvSlurmStepNTasks, "", "tasks in the step (else " + EnvSlurmNTasks + "); more than 1 without " + EnvPMIFD + " or " + EnvPMIxNamespace + " is an error (run srun --mpi=pmi2 or --mpi=pmix)"},
	{EnvSlurmNTasks, "", "tasks in the job; read when " + EnvSlurmStepNTasks + " is unset"},
	{EnvPMIFD, "", "set by srun --mpi=pmi2: the PMI-2 connection; with " + EnvSlurmStepID + ", each task joins the job as one PE"},
	{EnvPMIxNamespace, "", "set by srun --mpi=pmix: the PMIx namespace; with " + EnvSlurmStepID + ", each task joins the job as one PE through the PMIx library (libpmix.so.2, loaded at run time)"},
	{EnvSlurmProcID, "", "the task's rank in the step, in errors"},
	{EnvPMIRank, "", "set by srun --mpi=pmi2: the task's PMI rank, which becomes its PE number"},
	{EnvPMIJobID, "", "set by srun --mpi=pmi2: the step's PMI job id"},
	{EnvPMIxRank, "", "set by srun --mpi=pmix: the task's PMIx rank, which becomes its PE number"},
	{EnvSlurmLocalID, "", "the task's rank on its node: under srun, " + EnvLocalRank + " (and so the GPU) follows it"},
	{EnvSlurmNodeName, "", "the task's node as Slurm names it, in errors about where PEs run"},
}

// Config is the runtime configuration of one PE or one in-process job.
type Config struct {
	NPES        int
	PE          int // -1 when not launched as one PE of a job
	Transport   string
	Job         string
	SymSize     uintptr
	LocalRank   int
	LocalSize   int
	BootTimeout time.Duration
	Prefault    bool
	// BindCPU is GSHMEM_BIND: the CPU this PE binds itself to at
	// start-up; -1 (unset or "none"): not bound.
	BindCPU int
	ShmDir  string
	// SegmentFD is GSHMEM_SEGMENT_FDS: the first of NPES inherited
	// descriptors holding the job's segments; 0 when unset (each PE then
	// creates its segment in ShmDir).
	SegmentFD   int
	CollPushMax uintptr // 0: the runtime's default
	Checked     bool    // GSHMEM_CHECKED: hostshmem.Config.Checked
	// Device is GSHMEM_DEVICE: "" (pick by local rank), "cpu", or an
	// ordinal.
	Device     string
	DevSymSize uintptr
	Threads    int // 0: the runtime's default
	// SharedGPU is GSHMEM_SHARED_GPU: allow PEs of several processes on
	// one GPU without MPS.
	SharedGPU bool
	// OFIProvider is GSHMEM_OFI_PROVIDER: the libfabric provider that
	// reaches PEs on other nodes; "" picks the best one.
	OFIProvider string
	// PeerTimeout is GSHMEM_PEER_TIMEOUT.
	PeerTimeout time.Duration
	// AMSizeThreshold is GSHMEM_AM_SIZE_THRESHOLD: the most bytes of
	// operations in one batch AM of a distributed array.
	AMSizeThreshold uintptr

	// Bootstrap is how this process finds its job: BootstrapInproc,
	// BootstrapGpurun (GSHMEM_TRANSPORT=shm or GSHMEM_JOB set, which win
	// over Slurm's variables), BootstrapPMI2 or BootstrapPMIx (a task of a
	// Slurm step, SLURM_STEP_ID set, with PMI_FD or PMIX_NAMESPACE). A
	// step of several tasks with neither is an error from Load.
	Bootstrap string
	// PMI is where a BootstrapPMI2 task's PMI-2 connection is.
	PMI PMI
	// PMIx is what srun told a BootstrapPMIx task about its PMIx job.
	PMIx PMIx
	// PMIxLibrary is GSHMEM_PMIX_LIBRARY: the PMIx library a
	// BootstrapPMIx task loads; "": the default names.
	PMIxLibrary string
	// SlurmLocalID is SLURM_LOCALID under srun, -1 otherwise.
	SlurmLocalID int
	// NodeName is SLURMD_NODENAME under srun, "" otherwise.
	NodeName string
}

// PMI is what srun --mpi=pmi2 tells each task about its PMI-2 connection.
type PMI struct {
	FD    int    // PMI_FD
	Rank  int    // PMI_RANK
	JobID string // PMI_JOBID
}

// PMIx is what srun --mpi=pmix tells each task about its PMIx job.
type PMIx struct {
	Namespace string // PMIX_NAMESPACE
	Rank      int    // PMIX_RANK, -1 when unset
}

// Load reads the configuration from the environment through getenv
// (os.Getenv when nil). Malformed values are errors naming the variable.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Config{
		NPES:            DefaultNPES,
		PE:              -1,
		Transport:       TransportInproc,
		Job:             getenv(EnvJob),
		SymSize:         DefaultSymSize,
		LocalRank:       -1,
		LocalSize:       -1,
		BootTimeout:     DefaultBootTimeout,
		Prefault:        true,
		BindCPU:         -1,
		ShmDir:          DefaultShmDir,
		DevSymSize:      DefaultDevSymSize,
		Bootstrap:       BootstrapInproc,
		SlurmLocalID:    -1,
		OFIProvider:     strings.TrimSpace(getenv(EnvOFIProvider)),
		PeerTimeout:     DefaultPeerTimeout,
		AMSizeThreshold: DefaultAMSizeThreshold,
	}
	var err error
	if c.NPES, err = intVar(getenv, EnvNPES, c.NPES, 1); err != nil {
		return c, err
	}
	if c.PE, err = intVar(getenv, EnvPE, c.PE, 0); err != nil {
		return c, err
	}
	if c.LocalRank, err = intVar(getenv, EnvLocalRank, c.LocalRank, 0); err != nil {
		return c, err
	}
	if c.LocalSize, err = intVar(getenv, EnvLocalSize, c.LocalSize, 1); err != nil {
		return c, err
	}
	if v := getenv(EnvTransport); v != "" {
		c.Transport = v
	} else if c.Job != "" {
		c.Transport = TransportShm
	}
	switch c.Transport {
	case TransportInproc, TransportShm:
	default:
		return c, fmt.Errorf("config: %s=%q: unknown transport (want %s or %s)", EnvTransport, c.Transport, TransportInproc, TransportShm)
	}
	name, v := EnvSymSize, getenv(EnvSymSize)
	if v == "" {
		name, v = EnvSymSizeCompat, getenv(EnvSymSizeCompat)
	}
	if v != "" {
		n, err := ParseSize(v)
		if err != nil {
			return c, fmt.Errorf("config: %s=%q: %w", name, v, err)
		}
		c.SymSize = uintptr(n)
	}
	if v := getenv(EnvBootTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("config: %s=%q: want a positive duration such as 30s", EnvBootTimeout, v)
		}
		c.BootTimeout = d
	}
	if v := getenv(EnvPeerTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			return c, fmt.Errorf("config: %s=%q: want a duration of at least 100ms, such as 10s", EnvPeerTimeout, v)
		}
		c.PeerTimeout = d
	}
	if v := getenv(EnvAMSizeThreshold); v != "" {
		n, err := ParseSize(v)
		if err != nil || n <= 0 || n > MaxAMSizeThreshold {
			return c, fmt.Errorf("config: %s=%q: want a size from 1 to 1g, such as 64k", EnvAMSizeThreshold, v)
		}
		c.AMSizeThreshold = uintptr(n)
	}
	if c.Prefault, err = boolVar(getenv, EnvPrefault, c.Prefault); err != nil {
		return c, err
	}
	if v := strings.TrimSpace(getenv(EnvBind)); v != "" && v != "none" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("config: %s=%q: want a CPU number >= 0 or none", EnvBind, v)
		}
		c.BindCPU = n
	}
	if c.Checked, err = boolVar(getenv, EnvChecked, false); err != nil {
		return c, err
	}
	if c.SharedGPU, err = boolVar(getenv, EnvSharedGPU, false); err != nil {
		return c, err
	}
	if v := getenv(EnvShmDir); v != "" {
		c.ShmDir = v
	}
	if c.SegmentFD, err = intVar(getenv, EnvSegmentFDs, 0, 3); err != nil {
		return c, err
	}
	if v := getenv(EnvCollPushMax); v != "" {
		n, err := ParseSize(v)
		if err != nil || n > 16<<10 {
			return c, fmt.Errorf("config: %s=%q: want a size of at most 16k", EnvCollPushMax, v)
		}
		c.CollPushMax = uintptr(n)
	}
	if v := strings.TrimSpace(getenv(EnvDevice)); v != "" {
		if n, err := strconv.Atoi(v); v != DeviceCPU && (err != nil || n < 0) {
			return c, fmt.Errorf("config: %s=%q: want a GPU ordinal (0, 1, ...) or %s", EnvDevice, v, DeviceCPU)
		}
		c.Device = v
	}
	if v := getenv(EnvDevSymSize); v != "" {
		n, err := ParseSize(v)
		if err != nil {
			return c, fmt.Errorf("config: %s=%q: %w", EnvDevSymSize, v, err)
		}
		c.DevSymSize = uintptr(n)
	}
	name, v = EnvThreads, getenv(EnvThreads)
	if v == "" {
		name, v = EnvThreadsCompat, getenv(EnvThreadsCompat)
	}
	if v != "" {
		if c.Threads, err = intVar(func(string) string { return v }, name, 0, 1); err != nil {
			return c, err
		}
	}
	if c.Transport == TransportShm {
		if c.Job == "" {
			return c, fmt.Errorf("config: %s=%s needs %s (start the program with gpurun)", EnvTransport, TransportShm, EnvJob)
		}
		if c.PE < 0 {
			return c, fmt.Errorf("config: %s=%s needs %s (start the program with gpurun)", EnvTransport, TransportShm, EnvPE)
		}
		if c.PE >= c.NPES {
			return c, fmt.Errorf("config: %s=%d out of range for %s=%d", EnvPE, c.PE, EnvNPES, c.NPES)
		}
		if !ValidJob(c.Job) {
			return c, fmt.Errorf("config: %s=%q: want 8 to 64 letters, digits or '_'", EnvJob, c.Job)
		}
		c.Bootstrap = BootstrapGpurun
	} else if c.SegmentFD != 0 {
		return c, fmt.Errorf("config: %s=%d is for PEs of a %s job (started by gpurun), not %s=%s", EnvSegmentFDs, c.SegmentFD, TransportShm, EnvTransport, c.Transport)
	} else if getenv(EnvTransport) == "" {
		// GSHMEM_TRANSPORT=inproc under srun asks for a job per task.
		if err := c.loadSlurm(getenv); err != nil {
			return c, err
		}
	}
	return c, nil
}

// loadSlurm reads the variables of a Slurm job step, if this process is a
// task of one, and chooses the bootstrap.
func (c *Config) loadSlurm(getenv func(string) string) error {
	if getenv(EnvSlurmStepID) == "" {
		return nil
	}
	var err error
	if c.SlurmLocalID, err = intVar(getenv, EnvSlurmLocalID, -1, 0); err != nil {
		return err
	}
	c.NodeName = getenv(EnvSlurmNodeName)
	switch {
	case getenv(EnvPMIFD) != "":
		c.Bootstrap = BootstrapPMI2
		if c.PMI.FD, err = intVar(getenv, EnvPMIFD, -1, 0); err != nil {
			return err
		}
		if c.PMI.Rank, err = intVar(getenv, EnvPMIRank, 0, 0); err != nil {
			return err
		}
		c.PMI.JobID = getenv(EnvPMIJobID)
	case getenv(EnvPMIxNamespace) != "":
		c.Bootstrap = BootstrapPMIx
		c.PMIx.Namespace = getenv(EnvPMIxNamespace)
		c.PMIxLibrary = getenv(EnvPMIxLibrary)
		if c.PMIx.Rank, err = intVar(getenv, EnvPMIxRank, -1, 0); err != nil {
			return err
		}
	default:
		name := EnvSlurmStepNTasks
		if getenv(name) == "" {
			name = EnvSlurmNTasks
		}
		n, err := intVar(getenv, name, 1, 1)
		if err != nil {
			return err
		}
		if n > 1 {
			task := getenv(EnvSlurmProcID)
			if task == "" {
				task = "?"
			}
			return fmt.Errorf("config: this is task %s of a Slurm step of %d tasks (%s=%d) started without a process-management interface (srun --mpi=none: neither %s nor %s is set), "+
				"so the tasks cannot find each other and each would run a job of its own: start it with srun --mpi=pmi2 (or --mpi=pmix), or set %s=%s for one in-process job per task",
				task, n, name, n, EnvPMIFD, EnvPMIxNamespace, EnvTransport, TransportInproc)
		}
	}
	return nil
}

// ValidJob reports whether id is usable as a job id in file names.
func ValidJob(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// boolVar reads variable name as 0 or 1 (or true/false), def when unset.
func boolVar(getenv func(string) string, name string, def bool) (bool, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, fmt.Errorf("config: %s=%q: want 0 or 1", name, v)
	}
	return b, nil
}

func intVar(getenv func(string) string, name string, def, min int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < min {
		return def, fmt.Errorf("config: %s=%q: want an integer >= %d", name, v, min)
	}
	return n, nil
}

// ParseSize parses a byte count with an optional k, m, g or t suffix
// (powers of 1024, case-insensitive, an optional trailing "b").
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			shift = 10
		case 'm':
			shift = 20
		case 'g':
			shift = 30
		case 't':
			shift = 40
		}
		if shift != 0 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive size such as 64m or 1g")
	}
	if n > (1<<62)>>shift {
		return 0, fmt.Errorf("size too large")
	}
	return n << shift, nil
}

// SegmentName is the file name (inside ShmDir) of PE pe's segment in job.
func SegmentName(job string, pe int) string {
	return fmt.Sprintf("%s%s-%d", SegmentPrefix, job, pe)
}
