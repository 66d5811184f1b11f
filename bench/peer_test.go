package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// needPeer skips the test unless Open MPI's OpenSHMEM tools are in PATH.
func needPeer(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"oshcc", "oshrun"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("Open MPI OpenSHMEM not installed (%v); apt-get install openmpi-bin libopenmpi-dev", err)
		}
	}
}

// testLog is an io.Writer onto t.Log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestPeersRun(t *testing.T) {
	needPeer(t)
	sizes, csizes := []int{8, 4096, 1 << 20}, []int{8, 1024}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := Peers(ctx, PeerConfig{
		WorkDir:   t.TempDir(),
		Sizes:     sizes,
		CollSizes: csizes,
		Target:    2 * time.Millisecond,
		MinIters:  2,
		Reps:      1,
		Histo:     KernelSize{Table: 10, Updates: 1000},
		IGather:   KernelSize{Table: 100, Updates: 1000},
		Randperm:  KernelSize{Updates: 1000},
		Log:       testLog{t},
	})
	require.NoError(t, err)

	type key struct {
		impl, op string
		bytes    int
	}
	var want []key
	add := func(impl string, ops ...string) {
		for _, op := range ops {
			for _, n := range OpSizes(op, sizes, csizes) {
				want = append(want, key{impl, op, n})
			}
		}
	}
	add(ImplShmem, OpPut, OpP, OpGet, OpG, OpFetchAdd, OpBarrier, OpSync, OpBcast, OpReduce, OpPutBW,
		OpBcastBW, OpAllreduce, OpFCollect, OpAlltoall, OpHisto, OpIGather, OpRandperm)
	if _, err := exec.LookPath("mpirun"); err == nil {
		add(ImplMPI, OpBarrier, OpBcast, OpReduce, OpBcastBW, OpAllreduce, OpFCollect, OpAlltoall)
	}
	var keys []key
	for _, r := range got {
		keys = append(keys, key{r.Impl, r.Op, r.Bytes})
		assert.Equal(t, 2, r.PEs, "%+v", r)
		assert.GreaterOrEqual(t, r.Iters, 2, "%+v", r)
		assert.Greater(t, r.NsPerOp, 0.0, "%+v", r)
	}
	assert.ElementsMatch(t, want, keys)

	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, nil, got, memmove(sizes, time.Millisecond, 2)))
	t.Logf("\n%s", buf.String())
}

// TestPeersOddSizes: sizes that are not whole 32-bit words run for putbw
// alone; the collectives on words skip them in C and in checkComplete.
// Forced onto TCP (the cross-node comparison), both peers still run and
// report; a put over TCP takes microseconds, not the tens of nanoseconds
// of shared memory, which shows the setting took.
func TestPeersTCP(t *testing.T) {
	needPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := Peers(ctx, PeerConfig{
		WorkDir: t.TempDir(), Ops: []string{OpPut, OpBarrier}, Sizes: []int{8}, CollSizes: []int{8},
		Target: 2 * time.Millisecond, MinIters: 2, Reps: 1, Log: testLog{t}, TCP: true,
	})
	require.NoError(t, err)
	seen := map[string]Result{}
	for _, r := range got {
		seen[r.Impl+" "+r.Op] = r
	}
	require.Contains(t, seen, ImplShmem+" "+OpPut)
	assert.Greater(t, seen[ImplShmem+" "+OpPut].NsPerOp, 1000.0, "a put over TCP takes microseconds")
	if _, err := exec.LookPath("mpirun"); err == nil {
		require.Contains(t, seen, ImplMPI+" "+OpBarrier)
		assert.Greater(t, seen[ImplMPI+" "+OpBarrier].NsPerOp, 1000.0, "an MPI barrier over TCP takes microseconds")
	}
}

func TestPeersOddSizes(t *testing.T) {
	needPeer(t)
	got, err := Peers(context.Background(), PeerConfig{
		WorkDir: t.TempDir(), Ops: []string{OpPutBW, OpAllreduce, OpFCollect},
		Sizes: []int{6, 8}, CollSizes: []int{3}, Target: time.Millisecond, MinIters: 2, Reps: 1,
	})
	require.NoError(t, err)
	var rows []string
	for _, r := range got {
		rows = append(rows, r.Impl+" "+r.Op+" "+strconv.Itoa(r.Bytes))
	}
	want := []string{"openmpi-shmem putbw 6", "openmpi-shmem putbw 8", "openmpi-shmem allreduce 8"}
	if _, err := exec.LookPath("mpirun"); err == nil {
		want = append(want, "openmpi-mpi allreduce 8")
	}
	assert.ElementsMatch(t, want, rows)
}

// TestPeersKernels: the C kernels run their fixed N per loop, on 2 PEs and
// on 3 (the global table split unevenly), and pass their own checks (a
// failed check exits the job, which Peers reports as an error).
func TestPeersKernels(t *testing.T) {
	needPeer(t)
	for _, pes := range []int{2, 3} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		got, err := Peers(ctx, PeerConfig{
			WorkDir: t.TempDir(), PEs: pes, Ops: OpGroups["array"], Reps: 2,
			Histo: KernelSize{Table: 7, Updates: 3000}, IGather: KernelSize{Table: 13, Updates: 2000},
			Randperm: KernelSize{Updates: 2500}, Log: testLog{t},
		})
		cancel()
		require.NoError(t, err)
		require.Len(t, got, 3, "OpenSHMEM alone: MPI has no kernels")
		for i, want := range []struct {
			op    string
			iters int
		}{{OpHisto, 3000}, {OpIGather, 2000}, {OpRandperm, 2500}} {
			assert.Equal(t, Result{Impl: ImplShmem, Op: want.op, PEs: pes, Bytes: 8, Iters: want.iters,
				NsPerOp: got[i].NsPerOp}, got[i])
			assert.Greater(t, got[i].NsPerOp, 0.0)
		}
	}
}

func TestPeersNoPeer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Peers(context.Background(), PeerConfig{})
	require.ErrorIs(t, err, ErrNoPeer)
	assert.Contains(t, err.Error(), "oshcc")
}

func TestPeersBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg PeerConfig
		msg string
	}{
		{PeerConfig{PEs: 1}, "PEs is 1"},
		{PeerConfig{Ops: []string{"cswap"}}, `"cswap"`},
		{PeerConfig{Sizes: []int{8, 0}}, "size 0"},
		{PeerConfig{Sizes: make([]int, 65)}, "65 sizes"},
		{PeerConfig{CollSizes: []int{8, -1}}, "CollSizes: size -1"},
		{PeerConfig{MinIters: 10, MaxIters: 5}, "iteration bounds"},
		{PeerConfig{Reps: -1}, "Reps -1"},
		{PeerConfig{Histo: KernelSize{Table: -1}}, "PeerConfig.Histo"},
		{PeerConfig{IGather: KernelSize{Updates: 1<<30 + 1}}, "PeerConfig.IGather"},
		{PeerConfig{Randperm: KernelSize{Table: 1<<30 + 1}}, "PeerConfig.Randperm"},
	} {
		_, err := Peers(context.Background(), tc.cfg)
		require.Error(t, err, "%+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.msg)
		assert.NotErrorIs(t, err, ErrNoPeer)
	}
}

func TestCheckComplete(t *testing.T) {
	res := []Result{{Op: OpPut, Bytes: 8}, {Op: OpPutBW, Bytes: 8}, {Op: OpPutBW, Bytes: 64},
		{Op: OpFCollect, Bytes: 16}}
	assert.NoError(t, checkComplete(res, []string{OpPut, OpPutBW}, []int{8, 64}, nil))
	assert.EqualError(t, checkComplete(res, []string{OpPut, OpGet, OpPutBW}, []int{8, 64, 512}, nil),
		"no result for get/8, putbw/512")
	assert.NoError(t, checkComplete(res, []string{OpFCollect}, []int{8}, []int{16, 17}), "17 is not a word multiple")
	assert.EqualError(t, checkComplete(res, []string{OpFCollect, OpSync}, nil, []int{16, 32}),
		"no result for fcollect/32, sync/0")
}

// processesWith returns the pids of live processes whose command line
// contains s.
func processesWith(t *testing.T, s string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
				if f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:])); len(f) > 0 && f[0] == "Z" {
					continue // a zombie, waiting for init to reap it
				}
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

func needLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process cleanup reads /proc")
	}
}

func TestPeersCancelLeavesNothing(t *testing.T) {
	needPeer(t)
	needLinux(t)
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	// A barrier loop sized to take a minute: still running at the deadline.
	_, err := Peers(ctx, PeerConfig{WorkDir: work, Ops: []string{OpBarrier}, Target: time.Minute})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second+stopGrace+time.Second)
	assert.Empty(t, processesWith(t, work), "processes of the cancelled job left running")
}

func TestRunJobKillsStragglers(t *testing.T) {
	needLinux(t)
	// The shell exits at once; its background sleep keeps stdout open.
	marker := "61.0" + strconv.Itoa(os.Getpid())
	start := time.Now()
	out, err := runJob(context.Background(), nil, t.TempDir(), nil,
		"sh", "-c", "sleep "+marker+" & echo RESULT put 8 1 1.0")
	require.NoError(t, err)
	assert.Equal(t, "RESULT put 8 1 1.0\n", string(out))
	assert.Less(t, time.Since(start), stopGrace, "waited for the straggler")
	assert.Empty(t, processesWith(t, "sleep "+marker))
}

func TestRunJobCancelEscalates(t *testing.T) {
	needLinux(t)
	defer func(g time.Duration) { stopGrace = g }(stopGrace)
	stopGrace = 300 * time.Millisecond
	marker := "62.0" + strconv.Itoa(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// The shell ignores SIGTERM, so only the escalation to SIGKILL ends it.
	_, err := runJob(ctx, nil, t.TempDir(), nil,
		"sh", "-c", "trap '' TERM; echo started >&2; sleep "+marker+"; sleep "+marker)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "stderr ends:\nstarted")
	assert.Empty(t, processesWith(t, "sleep "+marker))
}

func TestRunJobError(t *testing.T) {
	_, err := runJob(context.Background(), nil, t.TempDir(), []string{"X=from-env"},
		"sh", "-c", "echo out; echo \"bad $X\" >&2; exit 3")
	require.Error(t, err)
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "%v", err)
	assert.Equal(t, 3, exitErr.ExitCode())
	assert.Contains(t, err.Error(), "stderr ends:\nbad from-env")
}

func TestTail(t *testing.T) {
	tl := &tail{max: 5}
	tl.Write([]byte("abc"))
	tl.Write([]byte("defg"))
	assert.Equal(t, "cdefg", tl.String())
	tl.Write([]byte("0123456789"))
	assert.Equal(t, "56789", tl.String())
}

var (
	fullRun = flag.Bool("peers.full", false, "TestPeersFull: measure the peers at full length and print the table")
	fullPEs = flag.Int("peers.pes", 2, "TestPeersFull: PEs per job")
)

// TestPeersFull is the measurement itself, opt-in:
//
//	go test ./bench -run TestPeersFull -v -peers.full -peers.pes 2
func TestPeersFull(t *testing.T) {
	if !*fullRun {
		t.Skip("opt-in: -peers.full")
	}
	needPeer(t)
	got, err := Peers(context.Background(), PeerConfig{PEs: *fullPEs, Log: testLog{t}})
	require.NoError(t, err)
	for _, r := range got {
		t.Logf("%-13s %s", r.Impl, r.Line())
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, nil, got, Memmove(Sizes)))
	t.Logf("\n%s", buf.String())
}
