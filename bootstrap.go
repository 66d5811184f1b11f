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
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/pmi"
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
	// BootstrapPMIx: this process is a task of `srun --mpi=pmix` (not
	// supported yet: Run fails with an error matching ErrUnavailable that
	// says to use --mpi=pmi2).
	BootstrapPMIx = config.BootstrapPMIx
)

// ErrOffNode is matched (errors.Is) by the error of every PE of a job
// whose PEs run on more than one node: PEs on different nodes need a
// network transport (libfabric), which is not built yet. It is also an
// errdefs.ErrUnavailable.
var ErrOffNode = errdefs.Refine(errdefs.ErrUnavailable, "PEs on different nodes need the libfabric transport (fabric/ofi), which is not built yet")

// Keys this bootstrap puts in the process manager's key-value space.
const (
	kvsJob  = "gshmem-job"   // rank 0's: the job id of the shm segments
	kvsNode = "gshmem-node-" // + rank: the task's node name, for errors
)

// slurmTask is what LoadConfig read about this process as a task of a
// Slurm job step.
type slurmTask struct {
	pmi      config.PMI
	localID  int    // SLURM_LOCALID, -1 when unset
	nodeName string // SLURMD_NODENAME
}

// pmiSession is a PE's PMI-2 connection, owned by the PE (hostshmem.PE.Own)
// so that it is finalized when the PE is, after everything made later.
type pmiSession struct {
	c  *pmi.Client
	pe int
}

func (s *pmiSession) Drain(context.Context) error { return nil }

// Close finalizes PMI, or, when the PE aborts (ctx is done), hangs up:
// the process manager learns that the task failed from its exit.
func (s *pmiSession) Close(ctx context.Context) error {
	if ctx.Err() != nil {
		return s.c.Close()
	}
	return s.c.Finalize(ctx)
}

func (s *pmiSession) String() string { return fmt.Sprintf("the PMI-2 connection of PE %d", s.pe) }

// bootPMI2 makes this task PE PMI_RANK of a job of PMI_SIZE PEs over
// shared memory: every task puts its node's name, rank 0 puts a fresh,
// unguessable job id, and after one fence every task reads the job id and
// PMI_process_mapping, which says which tasks share a node. It returns
// cfg set for join (TransportShm, Job, PE, NPEs, LocalRank, LocalSize)
// and the open client, which the caller finalizes or closes.
//
// It ends within cfg.BootTimeout: a task that fails before the fence (or
// waits in it past the timeout, because a task never arrived) aborts the
// step through PMI, which ends every task at once; no task has a segment
// before every task passed the fence, so the abort leaves nothing in the
// shm directory. A job whose tasks span nodes fails on every task after
// the fence with an error matching ErrOffNode that names the nodes.
func bootPMI2(ctx context.Context, cfg Config) (_ Config, _ *pmi.Client, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.BootTimeout)
	defer cancel()
	where := fmt.Sprintf("%s=%d", config.EnvPMIFD, cfg.slurm.pmi.FD)
	c, err := pmi.Open(ctx, pmi.Options{FD: cfg.slurm.pmi.FD, JobID: cfg.slurm.pmi.JobID, Rank: cfg.slurm.pmi.Rank})
	if err != nil {
		return cfg, nil, fmt.Errorf("gshmem: bootstrap under srun --mpi=pmi2 (%s, %s=%d): %w", where, config.EnvPMIRank, cfg.slurm.pmi.Rank, err)
	}
	rank, size := c.Rank(), c.Size()
	fenced := false
	defer func() {
		if err == nil {
			return
		}
		if !fenced {
			c.Abort(err.Error()) // nobody has a segment yet: end the step now
		} else {
			c.Close()
		}
		err = fmt.Errorf("gshmem: PE %d of %d: bootstrap under srun --mpi=pmi2: %w", rank, size, err)
	}()
	if err := checkNPEs(size, fmt.Sprintf("%d tasks in the step (PMI size)", size)); err != nil {
		return cfg, nil, err
	}
	node := cfg.slurm.nodeName
	if node == "" {
		node, _ = os.Hostname()
	}
	if rank == 0 {
		if err := c.Put(ctx, kvsJob, newJobID()); err != nil {
			return cfg, nil, err
		}
	}
	if err := c.Put(ctx, kvsNode+strconv.Itoa(rank), node); err != nil {
		return cfg, nil, err
	}
	if err := c.Fence(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return cfg, nil, fmt.Errorf("not every task reached the fence within %s=%v (did one fail or hang before it?): %w", config.EnvBootTimeout, cfg.BootTimeout, err)
		}
		return cfg, nil, err
	}
	fenced = true
	job, ok, err := c.Get(ctx, 0, kvsJob)
	switch {
	case err != nil:
		return cfg, nil, err
	case !ok || !config.ValidJob(job):
		return cfg, nil, fmt.Errorf("rank 0 published no valid job id under %s (found %v: %q): is every task the same gshmem program?", kvsJob, ok, job)
	}
	nodes, err := nodesOf(ctx, c)
	if err != nil {
		return cfg, nil, err
	}
	name := func(r int) string {
		v, ok, err := c.Get(ctx, r, kvsNode+strconv.Itoa(r))
		if err != nil || !ok {
			return fmt.Sprintf("node %d", nodes[r])
		}
		return v
	}
	localRank, localSize, err := placement(rank, nodes, name)
	if err != nil {
		return cfg, nil, err
	}
	if cfg.slurm.localID >= 0 {
		localRank = cfg.slurm.localID
	}
	cfg.Transport, cfg.Job, cfg.PE, cfg.NPEs = TransportShm, job, rank, size
	cfg.LocalRank, cfg.LocalSize, cfg.SegmentFD = localRank, localSize, 0
	cfg.npesFrom = fmt.Sprintf("%d tasks in the step (PMI size)", size)
	return cfg, c, nil
}

// nodesOf returns the node index of every rank: from PMI_process_mapping
// when the process manager gives it, else from the node names the ranks
// put.
func nodesOf(ctx context.Context, c *pmi.Client) ([]int, error) {
	if m, ok, err := c.JobAttr(ctx, "PMI_process_mapping"); err != nil {
		return nil, err
	} else if ok {
		return pmi.ParseProcessMapping(m, c.Size())
	}
	index := map[string]int{}
	nodes := make([]int, c.Size())
	for r := range nodes {
		v, ok, err := c.Get(ctx, r, kvsNode+strconv.Itoa(r))
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
// number, given every rank's node index; when the ranks span nodes it
// fails with an error matching ErrOffNode that lists which PEs run where
// (name names the node of a rank).
func placement(rank int, nodes []int, name func(rank int) string) (localRank, localSize int, err error) {
	byNode := map[int][]int{}
	for r, n := range nodes {
		byNode[n] = append(byNode[n], r)
	}
	if len(byNode) > 1 {
		ids := make([]int, 0, len(byNode))
		for n := range byNode {
			ids = append(ids, n)
		}
		sort.Ints(ids)
		parts := make([]string, len(ids))
		for i, n := range ids {
			parts[i] = fmt.Sprintf("%s: %s", name(byNode[n][0]), peList(byNode[n]))
		}
		return 0, 0, fmt.Errorf("the job's %d PEs run on %d nodes (%s): %w: run the tasks on one node (srun -N 1)",
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
