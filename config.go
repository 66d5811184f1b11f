package gshmem

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
)

// Transports (Config.Transport) and the Config.Device value that chooses
// the CPU fallback.
const (
	TransportInproc = config.TransportInproc
	TransportShm    = config.TransportShm
	DeviceCPU       = config.DeviceCPU
)

// Config is the configuration of a job as one process sees it: every
// GSHMEM_* setting (`gpurun info` lists them with their current values).
// Run and Init read it from the environment, once, with LoadConfig; no
// package below reads the environment. RunWith takes one from its caller.
//
// Zero fields take their defaults: the zero Config is an in-process job of
// 4 PEs with the default heaps, and Config{NPEs: 2} is two goroutine PEs,
// whatever the environment says.
type Config struct {
	// NPEs is the number of PEs (GSHMEM_NPES; default 4). In-process, Run
	// starts this many goroutine PEs; under gpurun it is the job's size,
	// which gpurun sets for each process. At most hostshmem.MaxPEs; an
	// in-process run also refuses a count whose start-up structures exceed
	// the memory available.
	NPEs int
	// HeapSize is the symmetric heap of each PE in bytes
	// (GSHMEM_SYMMETRIC_SIZE, else SHMEM_SYMMETRIC_SIZE, with k, m, g
	// suffixes; default 128 MiB), rounded up to a multiple of 64.
	HeapSize uintptr
	// DeviceHeapSize is the device symmetric heap of each PE in bytes
	// (GSHMEM_DEVICE_SYMMETRIC_SIZE; default 64 MiB): GPU memory, or host
	// memory on the CPU fallback. Rounded up to a multiple of 64.
	DeviceHeapSize uintptr
	// Device chooses where the device heaps live (GSHMEM_DEVICE): "" puts
	// each PE on GPU LocalRank modulo the visible GPUs, or on the CPU
	// fallback when there is no usable GPU (the runtime says so once, when
	// the program first uses the device side); DeviceCPU ("cpu") chooses
	// the CPU fallback, silently; an ordinal ("0", "1", ...) chooses that
	// GPU, and its absence is an error. gpurun sets it for each PE.
	Device string
	// SharedGPU allows PEs of several processes on one GPU when MPS does
	// not serve them (GSHMEM_SHARED_GPU=1). Without it such a job fails at
	// start-up with device.ErrSharedGPU: the device barriers and
	// collectives spin, and kernels of different processes on one GPU take
	// turns in time slices, so they run orders of magnitude slower. PEs of
	// one process always share a GPU well. Set it in every process.
	SharedGPU bool
	// Threads is the number of active-message handler goroutines per PE
	// of an am.World (GSHMEM_THREADS, else LAMELLAR_THREADS; 0: GOMAXPROCS).
	Threads int
	// CollPushMax is the largest per-PE collective payload, in bytes, sent
	// one-shot with a signal (GSHMEM_COLL_PUSH_MAX; default 2048, at most
	// 16 KiB); larger ones use direct loads between team syncs.
	CollPushMax uintptr
	// AMSizeThreshold is the most bytes of operations (an 8-byte offset,
	// and the operands where each operation has its own) one active
	// message of a distributed array's batch carries to a PE this one does
	// not map (GSHMEM_AM_SIZE_THRESHOLD; default 64 KiB, at most 1 GiB).
	AMSizeThreshold uintptr
	// Checked makes every RMA, atomic and wait check that its symmetric
	// object is still allocated, so that a put into a freed object is an
	// error (GSHMEM_CHECKED=1; a lock per call).
	Checked bool
	// BootTimeout bounds how long a process PE waits for its peers at
	// start-up (GSHMEM_BOOT_TIMEOUT; default 30s).
	BootTimeout time.Duration
	// NoPrefault skips pre-faulting the shared segments at start-up
	// (GSHMEM_PREFAULT=0).
	NoPrefault bool
	// ShmDir is the tmpfs directory where process PEs that start on their
	// own (not under gpurun) create their segments (GSHMEM_SHM_DIR;
	// default /dev/shm).
	ShmDir string
	// OFIProvider is the libfabric provider that reaches PEs on other
	// nodes, such as "tcp;ofi_rxm" or "verbs;ofi_rxm"
	// (GSHMEM_OFI_PROVIDER); empty: the best this host offers. Only a
	// build with -tags ofi has libfabric.
	OFIProvider string
	// PeerTimeout is how long a PE on another node may send nothing, not
	// even its heartbeat, before its peers take it for dead
	// (GSHMEM_PEER_TIMEOUT; default 10s).
	PeerTimeout time.Duration

	// The fields below place this process in a job that gpurun (or
	// another launcher) started; LoadConfig reads them from the
	// environment that gpurun sets for each PE.

	// Transport is TransportInproc (the default: Run starts the PEs as
	// goroutines of this process) or TransportShm (this process is one PE
	// of a job over shared memory) (GSHMEM_TRANSPORT; shm when GSHMEM_JOB
	// is set).
	Transport string
	// Job is the id of the job (GSHMEM_JOB): 8 to 64 letters, digits or
	// '_'. TransportShm needs it.
	Job string
	// PE is this process's PE number (GSHMEM_PE), for TransportShm.
	PE int
	// LocalRank and LocalSize place this process's PE among the PEs of its
	// node (GSHMEM_LOCAL_RANK, GSHMEM_LOCAL_SIZE); LocalRank picks its GPU.
	// LoadConfig sets LocalRank to PE and LocalSize to 0 (unknown) when
	// they are unset.
	LocalRank, LocalSize int
	// SegmentFD is the first of NPEs descriptors this process inherited
	// that hold the job's segments, PE i's at SegmentFD+i
	// (GSHMEM_SEGMENT_FDS); 0: each PE creates its segment in ShmDir.
	SegmentFD int

	// Bootstrap is how this process finds its job: BootstrapInproc,
	// BootstrapGpurun, or, for a task of a Slurm job step (SLURM_STEP_ID
	// set), BootstrapPMI2 (srun --mpi=pmi2: PMI_FD set) or BootstrapPMIx
	// (srun --mpi=pmix: PMIX_NAMESPACE set). LoadConfig sets it; under
	// srun the process manager then decides NPEs, PE, Job and the local
	// ranks (SLURM_LOCALID), and the GSHMEM_* variables for them are
	// ignored. LoadConfig fails for a step of several tasks with neither
	// variable (srun --mpi=none): its tasks could not find each other.
	// Empty: BootstrapGpurun for TransportShm, else BootstrapInproc. The
	// Slurm values need LoadConfig (they come with what srun set).
	Bootstrap string

	npesFrom string     // how LoadConfig found NPEs, for errors about it
	bindCPU  int        // GSHMEM_BIND's CPU plus one, which a gpurun PE binds itself to; 0: not bound
	slurm    *slurmTask // what LoadConfig read of a Slurm task; nil otherwise
	node     []int      // under srun, every PE's node when they span several (bootPM); else nil
}

// LoadConfig reads every GSHMEM_* variable through getenv (os.Getenv when
// nil) into a Config. A malformed value is an error naming the variable
// and its value.
func LoadConfig(getenv func(string) string) (Config, error) {
	c, err := config.Load(getenv)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		NPEs:            c.NPES,
		HeapSize:        c.SymSize,
		DeviceHeapSize:  c.DevSymSize,
		Device:          c.Device,
		SharedGPU:       c.SharedGPU,
		Threads:         c.Threads,
		CollPushMax:     c.CollPushMax,
		AMSizeThreshold: c.AMSizeThreshold,
		Checked:         c.Checked,
		BootTimeout:     c.BootTimeout,
		NoPrefault:      !c.Prefault,
		ShmDir:          c.ShmDir,
		OFIProvider:     c.OFIProvider,
		PeerTimeout:     c.PeerTimeout,
		Transport:       c.Transport,
		Job:             c.Job,
		PE:              max(c.PE, 0),
		LocalRank:       c.LocalRank,
		LocalSize:       max(c.LocalSize, 0),
		SegmentFD:       c.SegmentFD,
		Bootstrap:       c.Bootstrap,
		npesFrom:        fmt.Sprintf("%s=%d", config.EnvNPES, c.NPES),
		bindCPU:         c.BindCPU + 1,
	}
	if c.Bootstrap == config.BootstrapPMI2 || c.Bootstrap == config.BootstrapPMIx {
		cfg.slurm = &slurmTask{pmi: c.PMI, pmix: c.PMIx, pmixLib: c.PMIxLibrary, localID: c.SlurmLocalID, nodeName: c.NodeName}
	}
	if cfg.LocalRank < 0 {
		cfg.LocalRank = cfg.PE
	}
	return cfg, nil
}

// resolve fills in c's defaults and checks it; errors name the field.
func (c Config) resolve() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("gshmem: config: %s: %w", fmt.Sprintf(format, args...), hostshmem.ErrInvalidArg)
	}
	if c.npesFrom == "" {
		c.npesFrom = fmt.Sprintf("Config.NPEs=%d", c.NPEs)
	}
	switch {
	case c.NPEs < 0:
		return bad("NPEs %d is negative (0: the default, %d)", c.NPEs, config.DefaultNPES)
	case c.NPEs == 0:
		c.NPEs = config.DefaultNPES
	}
	if c.HeapSize == 0 {
		c.HeapSize = config.DefaultSymSize
	}
	if c.DeviceHeapSize == 0 {
		c.DeviceHeapSize = config.DefaultDevSymSize
	}
	c.HeapSize = (c.HeapSize + 63) &^ 63
	c.DeviceHeapSize = (c.DeviceHeapSize + 63) &^ 63
	if c.Device != "" && c.Device != DeviceCPU {
		if n, err := strconv.Atoi(c.Device); err != nil || n < 0 {
			return bad("Device %q: want \"\", %q or a GPU ordinal (0, 1, ...)", c.Device, DeviceCPU)
		}
	}
	if c.Threads < 0 {
		return bad("Threads %d is negative (0: GOMAXPROCS)", c.Threads)
	}
	if c.CollPushMax > 16<<10 {
		return bad("CollPushMax %d exceeds 16384", c.CollPushMax)
	}
	switch {
	case c.AMSizeThreshold > config.MaxAMSizeThreshold:
		return bad("AMSizeThreshold %d exceeds %d", c.AMSizeThreshold, config.MaxAMSizeThreshold)
	case c.AMSizeThreshold == 0:
		c.AMSizeThreshold = config.DefaultAMSizeThreshold
	}
	switch {
	case c.BootTimeout < 0:
		return bad("BootTimeout %v is negative (0: the default, %v)", c.BootTimeout, config.DefaultBootTimeout)
	case c.BootTimeout == 0:
		c.BootTimeout = config.DefaultBootTimeout
	}
	switch {
	case c.PeerTimeout < 0:
		return bad("PeerTimeout %v is negative (0: the default, %v)", c.PeerTimeout, config.DefaultPeerTimeout)
	case c.PeerTimeout == 0:
		c.PeerTimeout = config.DefaultPeerTimeout
	}
	if c.ShmDir == "" {
		c.ShmDir = config.DefaultShmDir
	}
	switch c.Transport {
	case "":
		c.Transport = TransportInproc
	case TransportInproc, TransportShm:
	default:
		return bad("Transport %q: want %q or %q", c.Transport, TransportInproc, TransportShm)
	}
	switch c.Bootstrap {
	case "":
		c.Bootstrap = BootstrapInproc
		if c.Transport == TransportShm {
			c.Bootstrap = BootstrapGpurun
		}
	case BootstrapInproc, BootstrapGpurun:
	case BootstrapPMI2, BootstrapPMIx:
		if c.slurm == nil {
			return bad("Bootstrap %q needs what srun sets for each task: take the Config from LoadConfig", c.Bootstrap)
		}
		if c.Transport != TransportInproc {
			return bad("Bootstrap %q chooses the transport; Transport %q is for gpurun's PEs", c.Bootstrap, c.Transport)
		}
		return c, nil // the process manager says the rest
	default:
		return bad("Bootstrap %q: want %q, %q, %q or %q", c.Bootstrap, BootstrapInproc, BootstrapGpurun, BootstrapPMI2, BootstrapPMIx)
	}
	if c.Transport == TransportShm {
		switch {
		case !config.ValidJob(c.Job):
			return bad("Job %q: want 8 to 64 letters, digits or '_' (start the program with gpurun)", c.Job)
		case c.PE < 0 || c.PE >= c.NPEs:
			return bad("PE %d out of range for %d PEs", c.PE, c.NPEs)
		case c.SegmentFD < 0 || c.SegmentFD > 0 && c.SegmentFD < 3:
			return bad("SegmentFD %d: want 0 or a descriptor from 3 on", c.SegmentFD)
		}
	} else if c.SegmentFD != 0 {
		return bad("SegmentFD %d is for PEs of a %s job (started by gpurun)", c.SegmentFD, TransportShm)
	}
	return c, nil
}
