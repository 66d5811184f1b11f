package gshmem

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric/ofi"
)

// memJob is the in-memory twin of a process manager's job, for bootPM's
// logic without Slurm (the Slurm tests run it against the real PMI-2 and
// PMIx): a key-value space per rank, a fence that waits for every rank,
// and, when nodes is nil, no map of ranks to nodes (as a process manager
// without PMI_process_mapping).
type memJob struct {
	size  int
	nodes []int

	mu      sync.Mutex
	kvs     map[int]map[string]string // what each rank put, visible after the fence
	pending map[int]map[string]string
	fenced  int
	all     chan struct{} // closed when every rank has fenced
	aborts  []string
}

func newMemJob(size int, nodes []int) *memJob {
	return &memJob{size: size, nodes: nodes, kvs: map[int]map[string]string{}, pending: map[int]map[string]string{}, all: make(chan struct{})}
}

// memPM is one rank's connection to a memJob.
type memPM struct {
	j    *memJob
	rank int
}

func (m memPM) Name() string { return "mem" }
func (m memPM) Rank() int    { return m.rank }
func (m memPM) Size() int    { return m.j.size }

func (m memPM) Put(_ context.Context, key, val string) error {
	m.j.mu.Lock()
	defer m.j.mu.Unlock()
	if m.j.pending[m.rank] == nil {
		m.j.pending[m.rank] = map[string]string{}
	}
	m.j.pending[m.rank][key] = val
	return nil
}

func (m memPM) Fence(ctx context.Context) error {
	m.j.mu.Lock()
	m.j.kvs[m.rank] = m.j.pending[m.rank]
	m.j.fenced++
	if m.j.fenced == m.j.size {
		close(m.j.all)
	}
	m.j.mu.Unlock()
	select {
	case <-m.j.all:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mem fence: %w", ctx.Err())
	}
}

func (m memPM) Get(_ context.Context, rank int, key string) (string, bool, error) {
	m.j.mu.Lock()
	defer m.j.mu.Unlock()
	v, ok := m.j.kvs[rank][key]
	return v, ok, nil
}

func (m memPM) Nodes(context.Context) ([]int, error) {
	if m.j.nodes == nil {
		return nil, errNoNodeMap
	}
	return m.j.nodes, nil
}

func (m memPM) Abort(msg string) error {
	m.j.mu.Lock()
	defer m.j.mu.Unlock()
	m.j.aborts = append(m.j.aborts, msg)
	return nil
}

func (m memPM) Finalize(context.Context) error { return nil }
func (m memPM) Close() error                   { return nil }

// bootAll runs bootPM for ranks of j (every rank when none is given) at
// once, rank r on node nodeNames[r], and returns each one's result.
func bootAll(t *testing.T, j *memJob, nodeNames []string, timeout time.Duration, ranks ...int) ([]Config, []error) {
	t.Helper()
	if ranks == nil {
		for r := range j.size {
			ranks = append(ranks, r)
		}
	}
	cfgs, errs := make([]Config, j.size), make([]error, j.size)
	var wg sync.WaitGroup
	for _, r := range ranks {
		wg.Go(func() {
			cfg := Config{Bootstrap: BootstrapPMIx, BootTimeout: timeout, slurm: &slurmTask{localID: -1, nodeName: nodeNames[r]}}
			cfgs[r], errs[r] = bootPM(context.Background(), cfg, memPM{j, r})
		})
	}
	wg.Wait()
	return cfgs, errs
}

// Every rank of a one-node job gets the same job id, its rank as PE and
// local rank, the job's size; with the process manager's map or, without
// one, by the node names the ranks put.
func TestBootPM(t *testing.T) {
	for _, nodes := range [][]int{{7, 7, 7}, nil} {
		j := newMemJob(3, nodes)
		cfgs, errs := bootAll(t, j, []string{"n1", "n1", "n1"}, 10*time.Second)
		for r, cfg := range cfgs {
			require.NoError(t, errs[r])
			assert.Equal(t, TransportShm, cfg.Transport)
			assert.Equal(t, cfgs[0].Job, cfg.Job)
			assert.Equal(t, [4]int{r, 3, r, 3}, [4]int{cfg.PE, cfg.NPEs, cfg.LocalRank, cfg.LocalSize}, "nodes %v", nodes)
			assert.Equal(t, "3 tasks in the step (mem size)", cfg.npesFrom)
		}
		assert.Empty(t, j.aborts)
	}
}

// Ranks on two nodes, told apart by the names they put when the process
// manager has no map, get every rank's node for joinNodes; without
// libfabric they fail after the fence with ErrOffNode naming the nodes.
// Nobody aborts (every rank reports for itself).
func TestBootPMOffNode(t *testing.T) {
	j := newMemJob(3, nil)
	cfgs, errs := bootAll(t, j, []string{"n1", "n2", "n1"}, 10*time.Second)
	for r, err := range errs {
		if ofi.Available() {
			require.NoError(t, err)
			assert.Equal(t, []int{0, 1, 0}, cfgs[r].node)
			assert.Equal(t, [2]int{[]int{0, 0, 1}[r], []int{2, 1, 2}[r]}, [2]int{cfgs[r].LocalRank, cfgs[r].LocalSize})
			continue
		}
		require.ErrorIs(t, err, ErrOffNode)
		assert.ErrorContains(t, err, fmt.Sprintf("gshmem: PE %d of 3: bootstrap under srun --mpi=pmix: the job's 3 PEs run on 2 nodes (n1: PEs 0, 2; n2: PE 1)", r))
	}
	assert.Empty(t, j.aborts)
}

// A rank that never reaches the fence makes the others give up at the
// boot timeout and abort the step, saying why.
func TestBootPMAbsent(t *testing.T) {
	j := newMemJob(3, []int{0, 0, 0})
	start := time.Now()
	_, errs := bootAll(t, j, []string{"n1", "n1", "n1"}, 200*time.Millisecond, 0, 2)
	assert.Less(t, time.Since(start), 5*time.Second)
	for _, r := range []int{0, 2} {
		require.Error(t, errs[r])
		assert.True(t, errors.Is(errs[r], context.DeadlineExceeded), "%v", errs[r])
		assert.ErrorContains(t, errs[r], fmt.Sprintf("gshmem: PE %d of 3: bootstrap under srun --mpi=pmix: not every task reached the fence within GSHMEM_BOOT_TIMEOUT=200ms", r))
	}
	require.Len(t, j.aborts, 2, "each waiting rank aborts the step")
	assert.Contains(t, j.aborts[0], "not every task reached the fence")
}
