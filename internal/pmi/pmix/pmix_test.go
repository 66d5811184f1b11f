package pmix

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/internal/slurmtest"
)

// envHelper makes the test binary run the named helper instead of the
// tests: as a task of a Slurm step, or as a child of a test.
const envHelper = "GSHMEM_PMIX_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(envHelper); h != "" {
		if err := helper(h); err != nil {
			fmt.Printf("rank %s: error: %v\n", os.Getenv("PMIX_RANK"), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper is one task of a Slurm step (or a child process): "exchange"
// puts its node's Slurm name and local id, fences and reads every task's,
// printing one line with what PMIx says about nodes; "abort" has rank 1
// abort the job while the others wait in a fence; "fence-timeout" has
// rank 0 fence with a 1 s deadline while the others never fence; "init"
// only opens the client and prints the error.
func helper(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Open(ctx, Options{Namespace: os.Getenv(EnvNamespace)})
	if name == "init" {
		var pe *Error
		fmt.Printf("init: error %v; is *Error %v\n", err, errors.As(err, &pe))
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case name == "abort" && c.Rank() == 1:
		return c.Abort("rank 1 aborts the test job")
	case name == "fence-timeout" && c.Rank() == 0:
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		err := c.Fence(short)
		fmt.Printf("rank 0: fence after %v: deadline %v broken-after %v: %v\n",
			time.Since(start).Round(100*time.Millisecond), errors.Is(err, context.DeadlineExceeded),
			errors.Is(c.Put(ctx, "k", "v"), ErrBroken), err)
		return c.Close()
	case name == "fence-timeout":
		time.Sleep(3 * time.Second)
		return c.Close()
	}
	nodes, names, err := c.Nodes(ctx)
	if err != nil {
		return err
	}
	peers, err := c.LocalPeers(ctx)
	if err != nil {
		return err
	}
	lrank, err := c.LocalRank(ctx)
	if err != nil {
		return err
	}
	me := os.Getenv("SLURMD_NODENAME") + "/" + os.Getenv("SLURM_LOCALID")
	if err := c.Put(ctx, "node-"+strconv.Itoa(c.Rank()), me); err != nil {
		return err
	}
	if err := c.Fence(ctx); err != nil {
		return err
	}
	var seen []string
	for r := range c.Size() {
		v, ok, err := c.Get(ctx, r, "node-"+strconv.Itoa(r))
		if err != nil || !ok {
			return fmt.Errorf("get node-%d: found %v, %v", r, ok, err)
		}
		seen = append(seen, fmt.Sprintf("%d=%s@%s", r, v, names[nodes[r]]))
	}
	start := time.Now()
	_, ok, err := c.Get(ctx, 0, "no-such-key")
	if err != nil || ok {
		return fmt.Errorf("get of a key nobody put: found %v, %v", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		return fmt.Errorf("get of a key nobody put took %v", d)
	}
	fmt.Printf("rank %d of %d local %d peers %v sees %s\n", c.Rank(), c.Size(), lrank, peers, strings.Join(seen, " "))
	return c.Finalize(ctx)
}

// Under real Slurm (srun --mpi=pmix over two emulated nodes on one host),
// every task reads every task's key, whole; Nodes places each task on the
// node Slurm started it on (not by host name: both nodes are this host),
// and agrees with PMIX_LOCAL_PEERS and PMIX_LOCAL_RANK.
func TestSlurmExchange(t *testing.T) {
	slurmtest.Require(t, 2)
	requireLibrary(t)
	for _, n := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("n%d", n), func(t *testing.T) {
			r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmix", "-N", "2", "-n", strconv.Itoa(n)}, envHelper+"=exchange")
			require.NoError(t, r.Err, "%s", r)
			lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
			require.Len(t, lines, n, "%s", r)
			sort.Strings(lines)
			var first string
			nodeOf := map[int]string{}
			for i, l := range lines {
				m := lineRE.FindStringSubmatch(l)
				require.NotNil(t, m, "%s", l)
				rank, _ := strconv.Atoi(m[1])
				size, _ := strconv.Atoi(m[2])
				local, _ := strconv.Atoi(m[3])
				peers := m[4]
				require.Equal(t, []int{i, n}, []int{rank, size}, "%s", l)
				_, sees, _ := strings.Cut(l, " sees ")
				if i == 0 {
					first = sees
				}
				assert.Equal(t, first, sees, "every task sees the same")
				for _, kv := range strings.Fields(sees) {
					r, v, _ := strings.Cut(kv, "=")
					slurm, pmixNode, _ := strings.Cut(v, "@")
					name, localID, _ := strings.Cut(slurm, "/")
					assert.Equal(t, name, pmixNode, "PMIx's node of rank %s is Slurm's: %s", r, sees)
					if r == strconv.Itoa(rank) {
						assert.Equal(t, localID, strconv.Itoa(local), "PMIX_LOCAL_RANK is SLURM_LOCALID: %s", l)
					}
					ri, _ := strconv.Atoi(r)
					nodeOf[ri] = name
				}
				var want []string
				for _, kv := range strings.Fields(sees) {
					r, v, _ := strings.Cut(kv, "=")
					if strings.HasPrefix(v, nodeOf[rank]+"/") {
						want = append(want, r)
					}
				}
				assert.Equal(t, "["+strings.Join(want, " ")+"]", peers, "PMIX_LOCAL_PEERS are the ranks on my node: %s", l)
			}
			names := map[string]bool{}
			for _, v := range nodeOf {
				names[v] = true
			}
			assert.Len(t, names, 2, "two nodes: %s", first)
			t.Logf("%s", r.Stdout)
		})
	}
}

// lineRE parses the exchange helper's line.
var lineRE = regexp.MustCompile(`^rank (\d+) of (\d+) local (\d+) peers (\[[0-9 ]*\]) sees `)

// A task's Abort ends the whole step at once: the tasks waiting in a fence
// for it do not wait out their timeout, and srun exits non-zero.
func TestSlurmAbort(t *testing.T) {
	slurmtest.Require(t, 2)
	requireLibrary(t)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmix", "-N", "2", "-n", "3"}, envHelper+"=abort")
	require.Error(t, r.Err, "%s", r)
	assert.NotEqual(t, 0, r.Code(), "%s", r)
	assert.Less(t, r.Took, 15*time.Second, "%s", r)
	t.Logf("%s", r)
}

// A Fence whose context ends before every task arrives returns at the
// deadline with an error matching context.DeadlineExceeded, and the
// client is broken afterwards. (Slurm then ends the step: the task exits
// without PMIx_Finalize, which its PMIx server counts as a failure.)
func TestSlurmFenceDeadline(t *testing.T) {
	slurmtest.Require(t, 1)
	requireLibrary(t)
	r := slurmtest.Srun(t, time.Minute, []string{"--mpi=pmix", "-N", "1", "-n", "2"}, envHelper+"=fence-timeout")
	assert.Regexp(t, `rank 0: fence after 1(\.\d)?s: deadline true broken-after true: pmix: PMIx_Fence of namespace \S+: `, r.Stdout, "%s", r)
	t.Logf("%s", r)
}

// requireLibrary skips t where libpmix cannot be loaded.
func requireLibrary(t *testing.T) {
	t.Helper()
	if _, err := load(""); err != nil {
		t.Skipf("no PMIx library: %v", err)
	}
}

func TestOpenWithoutNamespace(t *testing.T) {
	_, err := Open(context.Background(), Options{})
	require.Error(t, err)
	assert.Equal(t, "pmix: PMIX_NAMESPACE is not set: this process is not a PMIx task (start it with srun --mpi=pmix)", err.Error())
}

// A library that is not there, or is not libpmix, fails the Open with an
// error matching ErrNoLibrary and errdefs.ErrUnavailable that names it
// (in a binary without cgo: says so).
func TestOpenNoLibrary(t *testing.T) {
	for _, lib := range []string{"/nonexistent/libpmix.so.2", "libc.so.6"} {
		_, err := Open(context.Background(), Options{Namespace: "slurm.pmix.1.0", Library: lib})
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrNoLibrary)
		assert.ErrorIs(t, err, errdefs.ErrUnavailable)
		if !haveCgo {
			assert.ErrorContains(t, err, "built without cgo (CGO_ENABLED=0)")
			continue
		}
		assert.ErrorContains(t, err, lib)
		if lib == "libc.so.6" {
			assert.ErrorContains(t, err, "lacks PMIx_Init, PMIx_Finalize")
		}
		t.Log(err)
	}
}

// With a namespace but no PMIx server (the variables srun sets are
// missing), PMIx_Init fails at once with PMIx's reason. It runs in a child
// process: PMIx is process-global.
func TestOpenNoServer(t *testing.T) {
	requireLibrary(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	env := []string{envHelper + "=init", EnvNamespace + "=bogus.namespace"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PMIX_") && !strings.HasPrefix(kv, "SLURM_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `^init: error pmix: PMIx_Init: .* \(status -\d+\) \(PMIX_NAMESPACE=bogus.namespace, library \S+, OpenPMIx [0-9.]+.*\); is \*Error true\n$`, string(out))
	assert.Less(t, time.Since(start), 10*time.Second)
	t.Logf("%s", out)
}

// shim.h's own copies of PMIx's structs match the real header's, where
// the header is installed (libpmix-dev).
func TestLayoutMatchesHeaders(t *testing.T) {
	var inc string
	for _, d := range []string{"/usr/lib/x86_64-linux-gnu/pmix2/include", "/usr/include", "/usr/local/include"} {
		if _, err := os.Stat(filepath.Join(d, "pmix_common.h")); err == nil {
			inc = d
			break
		}
	}
	if inc == "" {
		t.Skip("no pmix_common.h (Debian: libpmix-dev)")
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("layout checked on 64-bit targets only, not %s", runtime.GOARCH)
	}
	out, err := exec.Command(cc, "-fsyntax-only", "-std=gnu11", "-DGSHM_PMIX_CHECK_LAYOUT", "-I"+inc, "-x", "c", "shim.h").CombinedOutput()
	require.NoError(t, err, "shim.h against %s/pmix_common.h:\n%s", inc, out)
}

func TestMajorVersion(t *testing.T) {
	for v, want := range map[string]int{
		"OpenPMIx 4.2.2rc2 (PMIx Standard: 4.2, Stable ABI: 0.0, Provisional ABI: 0.0)": 4,
		"OpenPMIx 3.1.5 (PMIx Standard: 3.1)":                                           3,
		"PMIx 2.2.3":                                                                    2,
		"nonsense":                                                                      -1,
	} {
		n, ok := majorVersion(v)
		if want < 0 {
			assert.False(t, ok, v)
			continue
		}
		assert.True(t, ok, v)
		assert.Equal(t, want, n, v)
	}
}

func TestTimeoutOf(t *testing.T) {
	assert.Equal(t, 0, timeoutOf(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	assert.Equal(t, 3, timeoutOf(ctx), "rounded up: the context ends first")
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	assert.Equal(t, 1, timeoutOf(ctx), "at least a second: 0 is none")
}

// A timeout status matches context.DeadlineExceeded; others do not.
func TestErrorTimeout(t *testing.T) {
	e := &Error{Op: "PMIx_Fence of namespace x", Status: int(statusTimeout), Text: "TIMEOUT"}
	assert.ErrorIs(t, fmt.Errorf("wrapped: %w", e), context.DeadlineExceeded)
	assert.Equal(t, "pmix: PMIx_Fence of namespace x: TIMEOUT (status -24)", e.Error())
	assert.NotErrorIs(t, &Error{Status: -46}, context.DeadlineExceeded)
}

// The real library, where installed, loads with every entry point and is
// new enough.
func TestLoad(t *testing.T) {
	lb, err := load("")
	if err != nil {
		require.ErrorIs(t, err, ErrNoLibrary)
		t.Skipf("no PMIx library: %v", err)
	}
	n, ok := majorVersion(lb.version)
	assert.True(t, ok && n >= minMajor, "%s", lb.version)
	again, err := load("")
	require.NoError(t, err)
	assert.Same(t, lb, again, "loaded once")
	t.Logf("%s: %s", lb.path, lb.version)
}
