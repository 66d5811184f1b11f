package gshmem_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/internal/slurmtest"
)

// slurmHelperEnv makes the test binary one task of a Slurm step that runs
// slurmHelper's mode instead of the tests.
const slurmHelperEnv = "GSHMEM_TEST_SLURM_HELPER"

// slurmHelper is one task of a test step. Every mode joins the step's job
// with gshmem.Run's configuration (LoadConfig) and has each PE add its
// number plus one to a counter on PE 0; then "sum" prints what PE 0 sees,
// "killed" has PE 1 kill itself with SIGKILL while the others wait for it
// in a barrier, and "absent" has task 1 exit before it joins. Errors go to
// stdout, one line per task, for the test to read.
func slurmHelper(mode string) int {
	task := os.Getenv("SLURM_PROCID")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := gshmem.LoadConfig(nil)
	if err != nil {
		fmt.Printf("task %s: error: %v\n", task, err)
		return 1
	}
	cfg.HeapSize, cfg.DeviceHeapSize, cfg.Device = 1<<20, 1<<20, gshmem.DeviceCPU
	if mode == "absent" && task == "1" {
		return 0
	}
	err = gshmem.RunWith(ctx, cfg, func(ctx context.Context, pe *gshmem.PE) error {
		counter, err := hostshmem.Calloc[int64](ctx, pe, 1)
		if err != nil {
			return err
		}
		if err := hostshmem.AtomicAdd(pe, counter, int64(pe.MyPE()+1), 0); err != nil {
			return err
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		if mode == "killed" && pe.MyPE() == 1 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		sum, err := hostshmem.G(pe, counter, 0)
		if err != nil {
			return err
		}
		fmt.Printf("task %s: PE %d of %d over %s (%s): sum %d\n", task, pe.MyPE(), pe.NPEs(), pe.Transport(), cfg.Bootstrap, sum)
		return nil
	})
	if err != nil {
		fmt.Printf("task %s: error: %s\n", task, strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	return 0
}

// shmDirEnv gives the step's tasks a segment directory of the test's own
// and returns it, so that the test can see that nothing is left there.
func shmDirEnv(t *testing.T) (string, string) {
	dir := petest.ShmDir(t)
	return dir, "GSHMEM_SHM_DIR=" + dir
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.Empty(t, names, "left in %s", dir)
}

// Three tasks of srun --mpi=pmi2 on one node are one job of three PEs over
// shared memory, PE numbers their PMI ranks.
func TestSlurmPMI2(t *testing.T) {
	slurmtest.Require(t, 1)
	dir, dirEnv := shmDirEnv(t)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmi2", "-N", "1", "-n", "3"}, slurmHelperEnv+"=sum", dirEnv)
	require.NoError(t, r.Err, "%s", r)
	for task := range 3 {
		assert.Contains(t, r.Stdout, fmt.Sprintf("task %d: PE %d of 3 over shm (srun+pmi2): sum 6\n", task, task), "%s", r)
	}
	assertEmpty(t, dir)
	t.Logf("%s", r)
}

// Tasks on two nodes cannot form a job yet (no network transport): every
// task fails at once, saying which PEs run on which node, and nothing is
// left behind.
func TestSlurmPMI2TwoNodes(t *testing.T) {
	slurmtest.Require(t, 2)
	dir, dirEnv := shmDirEnv(t)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmi2", "-N", "2", "-n", "4", "--distribution=block"}, slurmHelperEnv+"=sum", dirEnv)
	require.Error(t, r.Err, "%s", r)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 4, "one error per task: %s", r)
	for _, l := range lines {
		assert.Regexp(t, `^task \d: error: gshmem: PE \d of 4: bootstrap under srun --mpi=pmi2: the job's 4 PEs run on 2 nodes \(\w+: PEs? [0-9, -]+; \w+: PEs? [0-9, -]+\): PEs on different nodes need the libfabric transport \(fabric/ofi\), which is not built yet: run the tasks on one node \(srun -N 1\)$`, l)
	}
	assert.Less(t, r.Took, 20*time.Second, "%s", r)
	assertEmpty(t, dir)
	t.Logf("%s", r)
}

// A PE killed after start-up ends the job: every other PE's error names
// it, srun exits non-zero within a few seconds, nothing is left behind.
func TestSlurmPMI2Killed(t *testing.T) {
	slurmtest.Require(t, 1)
	dir, dirEnv := shmDirEnv(t)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmi2", "-N", "1", "-n", "3"}, slurmHelperEnv+"=killed", dirEnv)
	require.Error(t, r.Err, "%s", r)
	for _, task := range []int{0, 2} {
		assert.Regexp(t, fmt.Sprintf(`task %d: error: PE %d: .*PE 1\b`, task, task), r.Stdout, "%s", r)
	}
	assert.Less(t, r.Took, 10*time.Second, "%s", r)
	assertEmpty(t, dir)
	t.Logf("%s", r)
}

// A task that never joins does not leave the others waiting: they give up
// at the boot timeout and end the step, with an error that says why.
func TestSlurmPMI2Absent(t *testing.T) {
	slurmtest.Require(t, 1)
	dir, dirEnv := shmDirEnv(t)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmi2", "-N", "1", "-n", "3"}, slurmHelperEnv+"=absent", dirEnv, "GSHMEM_BOOT_TIMEOUT=2s")
	require.Error(t, r.Err, "%s", r)
	assert.Contains(t, r.Stdout, "not every task reached the fence within GSHMEM_BOOT_TIMEOUT=2s", "%s", r)
	assert.Less(t, r.Took, 15*time.Second, "%s", r)
	assertEmpty(t, dir)
	t.Logf("%s", r)
}

// Several tasks without a PMI (srun --mpi=none) would be separate jobs:
// every task fails, saying which --mpi to use.
func TestSlurmNoPMI(t *testing.T) {
	slurmtest.Require(t, 1)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=none", "-N", "1", "-n", "2"}, slurmHelperEnv+"=sum")
	require.Error(t, r.Err, "%s", r)
	for task := range 2 {
		assert.Contains(t, r.Stdout, fmt.Sprintf("task %d: error: config: this is task %d of a Slurm step of 2 tasks", task, task), "%s", r)
	}
	assert.Contains(t, r.Stdout, "start it with srun --mpi=pmi2 (or --mpi=pmix)")
	t.Logf("%s", r)
}
