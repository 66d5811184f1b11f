package pmi

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gshmem/gshmem/internal/slurmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envHelper makes the test binary a task of a Slurm step that runs the
// named helper instead of the tests.
const envHelper = "GSHMEM_PMI_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(envHelper); h != "" {
		if err := helper(h); err != nil {
			fmt.Fprintf(os.Stderr, "rank %s: %v\n", os.Getenv("PMI_RANK"), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper is one task of a Slurm step: "exchange" publishes its node and
// reads every task's, printing one line per task; "abort" has rank 1
// abort the job while the others wait in a fence.
func helper(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fd, err := strconv.Atoi(os.Getenv("PMI_FD"))
	if err != nil {
		return fmt.Errorf("PMI_FD=%q: %v", os.Getenv("PMI_FD"), err)
	}
	rank, _ := strconv.Atoi(os.Getenv("PMI_RANK"))
	c, err := Open(ctx, Options{FD: fd, JobID: os.Getenv("PMI_JOBID"), Rank: rank})
	if err != nil {
		return err
	}
	if name == "abort" && c.Rank() == 1 {
		return c.Abort("rank 1 aborts the test job")
	}
	node := os.Getenv("SLURMD_NODENAME")
	if err := c.Put(ctx, "node-"+strconv.Itoa(c.Rank()), node+"/"+os.Getenv("SLURM_LOCALID")); err != nil {
		return err
	}
	if err := c.Fence(ctx); err != nil {
		return err
	}
	mapping, ok, err := c.JobAttr(ctx, "PMI_process_mapping")
	if err != nil || !ok {
		return fmt.Errorf("PMI_process_mapping: found %v, %v", ok, err)
	}
	nodes, err := ParseProcessMapping(mapping, c.Size())
	if err != nil {
		return err
	}
	var seen []string
	for r := range c.Size() {
		v, ok, err := c.Get(ctx, r, "node-"+strconv.Itoa(r))
		if err != nil || !ok {
			return fmt.Errorf("get node-%d: found %v, %v", r, ok, err)
		}
		seen = append(seen, fmt.Sprintf("%d=%s@%d", r, v, nodes[r]))
	}
	id, err := c.JobID(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("rank %d of %d on %s job %s mapping %s sees %s\n", c.Rank(), c.Size(), node, id, mapping, strings.Join(seen, " "))
	return c.Finalize(ctx)
}

// Under real Slurm (srun --mpi=pmi2 over two nodes), every task reads
// every task's key, whole, and the process mapping places
// each task on the node Slurm started it on.
func TestSlurmExchange(t *testing.T) {
	slurmtest.Require(t, 2)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmi2", "-N", "2", "-n", "4"}, envHelper+"=exchange")
	require.NoError(t, r.Err, "%s", r)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 4, "%s", r)
	sort.Strings(lines)
	var first string
	for i, l := range lines {
		require.True(t, strings.HasPrefix(l, fmt.Sprintf("rank %d of 4 on ", i)), "%s", l)
		_, sees, _ := strings.Cut(l, " sees ")
		if i == 0 {
			first = sees
		}
		assert.Equal(t, first, sees, "every task sees the same")
	}
	// Each task's node name matches its node index in the mapping: the
	// tasks with the same name have the same index, and there are two.
	names := map[string]string{}
	for _, kv := range strings.Fields(first) {
		_, v, _ := strings.Cut(kv, "=")
		nameLocal, idx, _ := strings.Cut(v, "@")
		name, local, ok := strings.Cut(nameLocal, "/")
		assert.True(t, ok && local != "", "the value came back whole: %s", v)
		if prev, ok := names[idx]; ok {
			assert.Equal(t, prev, name, "node %s: %s", idx, first)
		}
		names[idx] = name
	}
	assert.Len(t, names, 2, "%s", first)
	assert.NotContains(t, r.Stderr, "error", "Slurm took every command")
	t.Logf("%s", r.Stdout)
}

// A task's Abort ends the whole step at once: the tasks waiting in a fence
// for it do not wait out their timeout, and srun exits non-zero.
func TestSlurmAbort(t *testing.T) {
	slurmtest.Require(t, 2)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmi2", "-N", "2", "-n", "3"}, envHelper+"=abort")
	require.Error(t, r.Err, "%s", r)
	assert.NotEqual(t, 0, r.Code(), "%s", r)
	assert.Less(t, r.Took, 15*time.Second, "%s", r)
	t.Logf("%s", r)
}
