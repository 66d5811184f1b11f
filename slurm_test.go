package gshmem_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric/ofi"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/internal/slurmtest"
)

// slurmHelperEnv makes the test binary one task of a Slurm step that runs
// slurmHelper's mode instead of the tests.
const slurmHelperEnv = "GSHMEM_TEST_SLURM_HELPER"

// slurmHelper is one task of a test step. Every mode joins the step's job
// with gshmem.Run's configuration (LoadConfig) and has each PE add its
// number plus one to a counter on PE 0; then "sum" prints what PE 0 sees
// ("kinds" too, and marks an error that matches errdefs.ErrUnavailable),
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
		kind := ""
		if mode == "kinds" && errors.Is(err, errdefs.ErrUnavailable) {
			kind = " [unavailable]"
		}
		fmt.Printf("task %s: error: %s%s\n", task, strings.ReplaceAll(err.Error(), "\n", " "), kind)
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

// mpis are srun's --mpi plugins gshmem boots through, and the bootstrap
// each gives. Every Slurm scenario runs under each.
var mpis = []struct{ name, bootstrap string }{
	{"pmi2", gshmem.BootstrapPMI2},
	{"pmix", gshmem.BootstrapPMIx},
}

// forEachMPI runs scenario as a subtest per --mpi plugin; the pmix one is
// skipped where libpmix cannot be loaded (it cannot run there, and the
// error it would give is TestSlurmNoPMIxLibrary's).
func forEachMPI(t *testing.T, nodes int, scenario func(t *testing.T, mpi, bootstrap string)) {
	for _, m := range mpis {
		t.Run(m.name, func(t *testing.T) {
			slurmtest.Require(t, nodes)
			if m.name == "pmix" {
				requirePMIx(t)
			}
			scenario(t, "--mpi="+m.name, m.bootstrap)
		})
	}
}

// requirePMIx skips t where srun has no pmix plugin or libpmix cannot be
// loaded here.
func requirePMIx(t *testing.T) {
	t.Helper()
	out, err := exec.Command("srun", "--mpi=list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pmix") {
		t.Skipf("srun has no pmix plugin (srun --mpi=list: %v):\n%s", err, out)
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so.2"); err != nil {
		if _, err := exec.LookPath("ldconfig"); err == nil {
			if out, _ := exec.Command("ldconfig", "-p").Output(); !strings.Contains(string(out), "libpmix.so") {
				t.Skip("no libpmix here (Debian: libpmix2)")
			}
		}
	}
}

// Three tasks of srun on one node are one job of three PEs over shared
// memory, PE numbers their ranks.
func TestSlurmOneNode(t *testing.T) {
	forEachMPI(t, 1, func(t *testing.T, mpi, bootstrap string) {
		dir, dirEnv := shmDirEnv(t)
		r := slurmtest.Srun(t, time.Minute, []string{mpi, "-N", "1", "-n", "3"}, slurmHelperEnv+"=sum", dirEnv)
		require.NoError(t, r.Err, "%s", r)
		for task := range 3 {
			assert.Contains(t, r.Stdout, fmt.Sprintf("task %d: PE %d of 3 over shm (%s): sum 6\n", task, task, bootstrap), "%s", r)
		}
		assertEmpty(t, dir)
		t.Logf("%s", r)
	})
}

// Tasks on two nodes cannot form a job yet (no network transport): every
// task fails at once, saying which PEs run on which node, and nothing is
// left behind.
func TestSlurmTwoNodes(t *testing.T) {
	forEachMPI(t, 2, func(t *testing.T, mpi, bootstrap string) {
		dir, dirEnv := shmDirEnv(t)
		r := slurmtest.Srun(t, time.Minute, []string{mpi, "-N", "2", "-n", "4", "--distribution=block"}, slurmHelperEnv+"=sum", dirEnv)
		defer assertEmpty(t, dir)
		if !ofi.Available() {
			// Built without libfabric: every task fails at once, saying
			// what it needs and which PEs run where.
			require.Error(t, r.Err, "%s", r)
			lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
			require.Len(t, lines, 4, "one error per task: %s", r)
			for _, l := range lines {
				assert.Regexp(t, `^task \d: error: gshmem: PE \d of 4: bootstrap under srun `+mpi+`: the job's 4 PEs run on 2 nodes \(n1: PEs? [0-9, -]+; n2: PEs? [0-9, -]+\): PEs on different nodes need the libfabric transport \(fabric/ofi\), and this program was built without it \(go build -tags ofi, with libfabric's headers installed\); or run the tasks on one node \(srun -N 1\)$`, l)
			}
			assert.Less(t, r.Took, 20*time.Second, "%s", r)
			return
		}
		// One job of 4 PEs: 2 per node, the nodes over libfabric.
		require.NoError(t, r.Err, "%s", r)
		for task := range 4 {
			assert.Contains(t, r.Stdout, fmt.Sprintf("task %d: PE %d of 4 over shm+ofi (%s): sum 10\n", task, task, bootstrap), "%s", r)
		}
		t.Logf("%s", r)
	})
}

// A PE killed after start-up ends the job: every other PE's error names
// it, srun exits non-zero within a few seconds, nothing is left behind.
func TestSlurmKilled(t *testing.T) {
	forEachMPI(t, 1, func(t *testing.T, mpi, _ string) {
		dir, dirEnv := shmDirEnv(t)
		r := slurmtest.Srun(t, time.Minute, []string{mpi, "-N", "1", "-n", "3"}, slurmHelperEnv+"=killed", dirEnv)
		require.Error(t, r.Err, "%s", r)
		for _, task := range []int{0, 2} {
			assert.Regexp(t, fmt.Sprintf(`task %d: error: PE %d: .*PE 1\b`, task, task), r.Stdout, "%s", r)
		}
		assert.Less(t, r.Took, 10*time.Second, "%s", r)
		assertEmpty(t, dir)
		t.Logf("%s", r)
	})
}

// A PE killed on one node ends the job on both: every survivor, on its
// node or the other, fails with an error naming it, srun exits non-zero
// within a few seconds, and nothing is left behind.
func TestSlurmKilledTwoNodes(t *testing.T) {
	if !ofi.Available() {
		t.Skip("PEs on two nodes need libfabric: this test binary was built without it (go test -tags ofi)")
	}
	forEachMPI(t, 2, func(t *testing.T, mpi, _ string) {
		dir, dirEnv := shmDirEnv(t)
		r := slurmtest.Srun(t, time.Minute, []string{mpi, "-N", "2", "-n", "4", "--distribution=block"}, slurmHelperEnv+"=killed", dirEnv)
		require.Error(t, r.Err, "%s", r)
		for _, task := range []int{0, 2, 3} {
			assert.Regexp(t, fmt.Sprintf(`task %d: error: PE %d: .*PE 1\b`, task, task), r.Stdout, "%s", r)
		}
		assert.Less(t, r.Took, 5*time.Second, "%s", r)
		assertEmpty(t, dir)
		t.Logf("%s", r)
	})
}

// A task that never joins does not leave the others waiting: they give up
// at the boot timeout and end the step, with an error that says why.
func TestSlurmAbsent(t *testing.T) {
	forEachMPI(t, 1, func(t *testing.T, mpi, _ string) {
		dir, dirEnv := shmDirEnv(t)
		r := slurmtest.Srun(t, time.Minute, []string{mpi, "-N", "1", "-n", "3"}, slurmHelperEnv+"=absent", dirEnv, "GSHMEM_BOOT_TIMEOUT=2s")
		require.Error(t, r.Err, "%s", r)
		assert.Contains(t, r.Stdout, "bootstrap under srun "+mpi+": not every task reached the fence within GSHMEM_BOOT_TIMEOUT=2s", "%s", r)
		assert.Less(t, r.Took, 15*time.Second, "%s", r)
		assertEmpty(t, dir)
		t.Logf("%s", r)
	})
}

// Under srun --mpi=pmix where libpmix cannot be loaded (here:
// GSHMEM_PMIX_LIBRARY names a file that is not there), every task fails at
// start-up with an error matching ErrUnavailable that says what is missing
// and what to run instead.
func TestSlurmNoPMIxLibrary(t *testing.T) {
	slurmtest.Require(t, 1)
	requirePMIx(t)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmix", "-N", "1", "-n", "2"}, slurmHelperEnv+"=kinds", "GSHMEM_PMIX_LIBRARY=/nonexistent/libpmix.so.2")
	require.Error(t, r.Err, "%s", r)
	for task := range 2 {
		assert.Regexp(t, fmt.Sprintf(`(?m)^task %d: error: gshmem: bootstrap under srun --mpi=pmix \(PMIX_NAMESPACE=slurm\.pmix\.\d+\.\d+, PMIX_RANK=%d\): `+
			`pmix: no usable PMIx client library: dlopen /nonexistent/libpmix\.so\.2: .*No such file or directory \(install the PMIx client library, Debian's libpmix2, or run srun --mpi=pmi2\) \[unavailable\]$`, task, task), r.Stdout, "%s", r)
	}
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
