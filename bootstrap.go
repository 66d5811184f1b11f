package gshmem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric/ofi"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/pmi"
	"github.com/gshmem/gshmem/internal/pmi/pmix"
)

// How a process finds its job (Config.Bootstrap; `gpurun info` prints it).
const (
	// BootstrapInproc: Run starts the job's PEs as goroutines of this
	// process.
	BootstrapInproc = config.BootstrapInproc
	// BootstrapGpurun: gpurun started this process as one PE of a job on
	// this node.
	BootstrapGpurun = config.BootstrapGpurun
	// BootstrapPMI2: this process is a task of `srun --mpi=pmi2`; it joins
	// the step's job as PE PMI_RANK of PMI_SIZE, through PMI-2.
	BootstrapPMI2 = config.BootstrapPMI2
	// BootstrapPMIx: this process is a task of `srun --mpi=pmix`; it joins
	// the step's job as PE PMIX_RANK of the job's size, through the PMIx
	// client library (libpmix.so.2), which it loads at run time. Where the
	// library cannot be loaded (not installed, or a binary built without
	// cgo), Run fails with an error matching errdefs.ErrUnavailable that
	// says so and suggests srun --mpi=pmi2, which needs no library.
	BootstrapPMIx = config.BootstrapPMIx
)

// ErrOffNode is matched (errors.Is) by the error of every PE of a job
// whose PEs run on more than one node: PEs on different nodes need a
// network transport (libfabric), which is not built yet. It is also an
// errdefs.ErrUnavailable.
var ErrOffNode = errdefs.Refine(errdefs.ErrUnavailable, "PEs on different nodes need the libfabric transport (fabric/ofi), and this program was built without it (go build -tags ofi, with libfabric's headers installed)")

// Keys this bootstrap puts in the process manager's key-value space.
const (
	kvsJob  = "gshmem-job"   // rank 0's: the job id of the shm segments
	kvsNode = "gshmem-node-" // + rank: the task's node name, for errors
)

// slurmTask is what LoadConfig read about this process as a task of a
// Slurm job step.
type slurmTask struct {
	pmi      config.PMI  // under srun --mpi=pmi2
	pmix     config.PMIx // under srun --mpi=pmix
	pmixLib  string      // GSHMEM_PMIX_LIBRARY; "": the default names
	localID  int         // SLURM_LOCALID, -1 when unset
	nodeName string      // SLURMD_NODENAME
}

// processManager is a task's connection to the process manager that
// started it: PMI-2 or PMIx.
type processManager interface {
	Name() string // "PMI-2", "PMIx"
	Rank() int
	Size() int
	Put(ctx context.Context, key, val string) error
	Fence(ctx context.Context) error
	Get(ctx context.Context, rank int, key string) (val string, ok bool, err error)
	Nodes(ctx context.Context) ([]int, error) // node index of every rank; callable BEFORE the first Fence
	Abort(msg string) error
	Finalize(ctx context.Context) error
	Close() error
}

// errNoNodeMap is what a processManager's Nodes returns when the process
// manager does not say where the ranks run; bootPM then tells nodes apart
// by the names the ranks put.
var errNoNodeMap = errors.New("the process manager gives no map of ranks to nodes")

// pmi2Manager is PMI-2 (srun --mpi=pmi2) through the pure-Go client.
type pmi2Manager struct{ *pmi.Client }

func (pmi2Manager) Name() string { return "PMI-2" }

// Nodes reads PMI_process_mapping, which Slurm gives before any fence.
func (m pmi2Manager) Nodes(ctx context.Context) ([]int, error) {
	v, ok, err := m.JobAttr(ctx, "PMI_process_mapping")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, errNoNodeMap
	}
	return pmi.ParseProcessMapping(v, m.Size())
}

// pmixManager is PMIx (srun --mpi=pmix) through the PMIx library.
type pmixManager struct{ *pmix.Client }

func (pmixManager) Name() string { return "PMIx" }

// Nodes asks PMIx which nodes run which ranks (by the process manager's
// node names, which tell emulated nodes on one host apart).
func (m pmixManager) Nodes(ctx context.Context) ([]int, error) {
	nodes, _, err := m.Client.Nodes(ctx)
	return nodes, err
}

// openPM opens the process manager connection cfg.Bootstrap names,
// bounded by ctx.
func openPM(ctx context.Context, cfg Config) (processManager, error) {
	switch cfg.Bootstrap {
	case BootstrapPMI2:
		p := cfg.slurm.pmi
		c, err := pmi.Open(ctx, pmi.Options{FD: p.FD, JobID: p.JobID, Rank: p.Rank})
		if err != nil {
			return nil, fmt.Errorf("gshmem: bootstrap under srun --mpi=pmi2 (%s=%d, %s=%d): %w", config.EnvPMIFD, p.FD, config.EnvPMIRank, p.Rank, err)
		}
		return pmi2Manager{c}, nil
	case BootstrapPMIx:
		p := cfg.slurm.pmix
		c, err := pmix.Open(ctx, pmix.Options{Namespace: p.Namespace, Library: cfg.slurm.pmixLib})
		if err != nil {
			return nil, fmt.Errorf("gshmem: bootstrap under srun --mpi=pmix (%s=%s, %s=%d): %w", config.EnvPMIxNamespace, p.Namespace, config.EnvPMIxRank, p.Rank, err)
		}
		return pmixManager{c}, nil
	}
	return nil, fmt.Errorf("gshmem: bootstrap %q has no process manager", cfg.Bootstrap)
}

// pmiSession is a PE's process manager connection (PMI-2 or PMIx), owned
// by the PE (hostshmem.PE.Own) so that it is finalized when the PE is,
// after everything made later.
type pmiSession struct {
	pm processManager
	pe int
}

func (s *pmiSession) Drain(context.Context) error { return nil }

// Close finalizes the connection, or, when the PE aborts (ctx is done),
// hangs up: the process manager learns that the task failed from its exit.
func (s *pmiSession) Close(ctx context.Context) error {
	if ctx.Err() != nil {
		return s.pm.Close()
	}
	return s.pm.Finalize(ctx)
}

func (s *pmiSession) String() string {
	return fmt.Sprintf("the %s connection of PE %d", s.pm.Name(), s.pe)
}

// bootSlurm opens the process manager connection of this Slurm task and
// boots through it (bootPM), both within cfg.BootTimeout. It returns cfg
// set for join and the open connection, which the caller finalizes or
// closes.
func bootSlurm(ctx context.Context, cfg Config) (Config, processManager, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.BootTimeout)
	defer cancel()
	pm, err := openPM(ctx, cfg)
	if err != nil {
		return cfg, nil, err
	}
	if cfg, err = bootPM(ctx, cfg, pm); err != nil {
		return cfg, nil, err
	}
	return cfg, pm, nil
}

// bootPM makes this task PE Rank of a job of Size PEs over shared memory,
// through its process manager pm (PMI-2 or PMIx, the same way): every task
// puts its node's name, rank 0 puts a fresh, unguessable job id, and after
// one fence every task reads the job id and pm's map of ranks to nodes,
// which says which tasks share a node. It returns cfg set for join
// (TransportShm, Job, PE, NPEs, LocalRank, LocalSize); on an error pm is
// aborted or closed.
//
// It ends within cfg.BootTimeout: a task that fails before the fence (or
// waits in it past the timeout, because a task never arrived) aborts the
// step through pm, which ends every task at once; no task has a segment
// before every task passed the fence, so the abort leaves nothing in the
// shm directory. A job whose tasks span nodes gets cfg.node, every PE's
// node, for joinNodes; built without libfabric (fabric/ofi), it fails on
// every task after the fence with an error matching ErrOffNode that names
// the nodes.
func bootPM(ctx context.Context, cfg Config, pm processManager) (_ Config, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.BootTimeout)
	defer cancel()
	rank, size := pm.Rank(), pm.Size()
	fenced := false
	defer func() {
		if err == nil {
			return
		}
		if !fenced {
			pm.Abort(err.Error()) // nobody has a segment yet: end the step now
		} else {
			pm.Close()
		}
		err = fmt.Errorf("gshmem: PE %d of %d: bootstrap under srun --mpi=%s: %w", rank, size, strings.TrimPrefix(cfg.Bootstrap, "srun+"), err)
	}()
	sizeFrom := fmt.Sprintf("%d tasks in the step (%s size)", size, pm.Name())
	if err := checkNPEs(size, sizeFrom); err != nil {
		return cfg, err
	}
	node := cfg.slurm.nodeName
	if node == "" {
		node, _ = os.Hostname()
	}
	if rank == 0 {
		if err := pm.Put(ctx, kvsJob, newJobID()); err != nil {
			return cfg, err
		}
	}
	if err := pm.Put(ctx, kvsNode+strconv.Itoa(rank), node); err != nil {
		return cfg, err
	}
	if err := pm.Fence(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return cfg, fmt.Errorf("not every task reached the fence within %s=%v (did one fail or hang before it?): %w", config.EnvBootTimeout, cfg.BootTimeout, err)
		}
		return cfg, err
	}
	fenced = true
	job, ok, err := pm.Get(ctx, 0, kvsJob)
	switch {
	case err != nil:
		return cfg, err
	case !ok || !config.ValidJob(job):
		return cfg, fmt.Errorf("rank 0 published no valid job id under %s (found %v: %q): is every task the same gshmem program?", kvsJob, ok, job)
	}
	nodes, err := pm.Nodes(ctx)
	if errors.Is(err, errNoNodeMap) {
		nodes, err = nodesByName(ctx, pm)
	}
	if err != nil {
		return cfg, err
	}
	name := func(r int) string {
		v, ok, err := pm.Get(ctx, r, kvsNode+strconv.Itoa(r))
		if err != nil || !ok {
			return fmt.Sprintf("node %d", nodes[r])
		}
		return v
	}
	localRank, localSize, err := placement(rank, nodes, name, ofi.Available())
	if err != nil {
		return cfg, err
	}
	if spansNodes(nodes) {
		cfg.node = nodes
	}
	if cfg.slurm.localID >= 0 {
		localRank = cfg.slurm.localID
	}
	cfg.Transport, cfg.Job, cfg.PE, cfg.NPEs = TransportShm, job, rank, size
	cfg.LocalRank, cfg.LocalSize, cfg.SegmentFD = localRank, localSize, 0
	cfg.npesFrom = sizeFrom
	return cfg, nil
}

// nodesByName returns the node index of every rank from the node names
// the ranks put before the fence, for a process manager that gives no map.
func nodesByName(ctx context.Context, pm processManager) ([]int, error) {
	index := map[string]int{}
	nodes := make([]int, pm.Size())
	for r := range nodes {
		v, ok, err := pm.Get(ctx, r, kvsNode+strconv.Itoa(r))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("rank %d put no %s%d", r, kvsNode, r)
		}
		if _, seen := index[v]; !seen {
			index[v] = len(index)
		}
		nodes[r] = index[v]
	}
	return nodes, nil
}

// placement returns rank's rank among the ranks of its node and their
// number, given every rank's node index; when the ranks span nodes and
// the network transport is not built (!network), it fails with an error
// matching ErrOffNode that lists which PEs run where (name names the node
// of a rank).
func placement(rank int, nodes []int, name func(rank int) string, network bool) (localRank, localSize int, err error) {
	byNode := map[int][]int{}
	for r, n := range nodes {
		byNode[n] = append(byNode[n], r)
	}
	if len(byNode) > 1 && !network {
		ids := make([]int, 0, len(byNode))
		for n := range byNode {
			ids = append(ids, n)
		}
		sort.Ints(ids)
		parts := make([]string, len(ids))
		for i, n := range ids {
			parts[i] = fmt.Sprintf("%s: %s", name(byNode[n][0]), peList(byNode[n]))
		}
		return 0, 0, fmt.Errorf("the job's %d PEs run on %d nodes (%s): %w; or run the tasks on one node (srun -N 1)",
			len(nodes), len(ids), strings.Join(parts, "; "), ErrOffNode)
	}
	mine := byNode[nodes[rank]]
	return sort.SearchInts(mine, rank), len(mine), nil
}

// peList writes sorted PE numbers with runs as ranges: "PEs 0-2, 5".
func peList(pes []int) string {
	var b strings.Builder
	for i := 0; i < len(pes); {
		j := i
		for j+1 < len(pes) && pes[j+1] == pes[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", pes[i], pes[j])
		} else {
			fmt.Fprintf(&b, "%d", pes[i])
		}
		i = j + 1
	}
	if len(pes) == 1 {
		return "PE " + b.String()
	}
	return "PEs " + b.String()
}

// newJobID returns an unguessable job id: it names the job's segments in
// the shm directory.
func newJobID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return "pmi_" + hex.EncodeToString(b[:])
}
