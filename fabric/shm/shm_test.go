package shm_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/internal/fabrictest"
	"github.com/gshmem/gshmem/fabric/internal/mapped"
	"github.com/gshmem/gshmem/fabric/shm"
	"github.com/gshmem/gshmem/internal/config"
)

// shmDir makes a fresh tmpfs directory for one test and removes it after.
func shmDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", fmt.Sprintf("gshmem-test-%d-", os.Getpid()))
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// assertEmpty checks that a job left nothing in dir.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.Empty(t, names, "files left in %s", dir)
}

var jobSeq atomic.Int32

// jobID returns a job id no other test (or test process) uses.
func jobID() string {
	return fmt.Sprintf("fabtest_%d_%d", os.Getpid(), jobSeq.Add(1))
}

// tryOpen is shm.Open that turns a panic into panicked.
func tryOpen(ctx context.Context, o shm.Options) (f *shm.Fabric, panicked any, err error) {
	defer func() { panicked = recover() }()
	f, err = shm.Open(ctx, o)
	return f, nil, err
}

// openFail calls Open, which must fail, and returns its error; a panic
// fails the test (Open once panicked on every failure path).
func openFail(t *testing.T, ctx context.Context, o shm.Options) error {
	t.Helper()
	f, p, err := tryOpen(ctx, o)
	if p != nil {
		t.Fatalf("shm.Open panicked: %v", p)
	}
	if f != nil {
		f.Close(fabric.Failed)
	}
	require.Error(t, err)
	assert.Nil(t, f)
	return err
}

// openResult is what a PE opened on another goroutine got.
type openResult struct {
	err      error
	panicked any
}

// openAsync opens the PE o names on a goroutine, closing it (as failed) if
// it succeeds, and reports the outcome.
func openAsync(o shm.Options) <-chan openResult {
	ch := make(chan openResult, 1)
	go func() {
		f, p, err := tryOpen(context.Background(), o)
		if f != nil {
			f.Close(fabric.Failed)
		}
		ch <- openResult{err, p}
	}()
	return ch
}

// openAll opens PEs pes of the job o describes concurrently, as goroutines
// of this process, and returns each one's result.
func openAll(ctx context.Context, o shm.Options, pes ...int) ([]*shm.Fabric, []error) {
	fs := make([]*shm.Fabric, len(pes))
	errs := make([]error, len(pes))
	var wg sync.WaitGroup
	for i, pe := range pes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := o
			o.PE = pe
			var p any
			fs[i], p, errs[i] = tryOpen(ctx, o)
			if p != nil {
				errs[i] = fmt.Errorf("PE %d: Open panicked: %v", pe, p)
			}
		}()
	}
	wg.Wait()
	return fs, errs
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// openJob opens every PE of an npes job in a fresh directory; the PEs are
// closed (finalized) at cleanup.
func openJob(t *testing.T, npes int, size uintptr, prefault bool) (string, []*shm.Fabric) {
	t.Helper()
	dir := shmDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs, errs := openAll(ctx, shm.Options{Job: jobID(), NPEs: npes, Size: size, Dir: dir, Prefault: prefault}, seq(npes)...)
	t.Cleanup(func() {
		for _, f := range fs {
			if f != nil {
				f.Close(fabric.Finalized)
			}
		}
	})
	require.NoError(t, errors.Join(errs...))
	assertEmpty(t, dir) // every PE mapped every segment: all unlinked
	return dir, fs
}

func word64(r []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&r[off])) }
func word32(r []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&r[off])) }

func never() bool { return false }

func TestOpenJob(t *testing.T) {
	for _, prefault := range []bool{false, true} {
		t.Run(fmt.Sprintf("prefault=%v", prefault), func(t *testing.T) {
			const n, size = 3, 1 << 20
			_, fs := openJob(t, n, size, prefault)
			for pe, f := range fs {
				assert.Equal(t, pe, f.PE())
				assert.Equal(t, n, f.NPEs())
				assert.Equal(t, "shm", f.Transport())
				assert.Equal(t, uintptr(size), f.Size())
				assert.NoError(t, f.Err())
				for q := range n {
					require.Len(t, f.Region(q), size)
					h := f.Header(q)
					assert.Equal(t, uint64(mapped.Magic), h.Magic)
					assert.Equal(t, uint32(q), h.PE)
					assert.Equal(t, uint32(n), h.NPEs)
					assert.Equal(t, uint32(os.Getpid()), h.Pid)
					assert.Equal(t, uint64(size), h.Size)
					assert.Equal(t, uint32(mapped.StateReady), atomic.LoadUint32(&h.State))
				}
				assert.Equal(t, uint32(n), atomic.LoadUint32(&f.Header(0).Boot), "every PE passed the start-up barrier")
			}

			// Every mapping of every region is aligned.
			for pe, f := range fs {
				for q := range n {
					assert.Zero(t, uintptr(unsafe.Pointer(&f.Region(q)[0]))%fabric.RegionAlign, "PE %d's mapping of PE %d's region", pe, q)
				}
			}

			// Each PE maps PE 2's segment itself (distinct addresses), and
			// every mapping shows the same memory.
			r0, r1, r2 := fs[0].Region(2), fs[1].Region(2), fs[2].Region(2)
			assert.NotEqual(t, unsafe.Pointer(&r0[0]), unsafe.Pointer(&r1[0]))
			r0[12345] = 0x5a
			r1[size-1] = 0xa5
			assert.Equal(t, byte(0x5a), r1[12345])
			assert.Equal(t, byte(0x5a), r2[12345])
			assert.Equal(t, byte(0xa5), r0[size-1])
			assert.Equal(t, byte(0xa5), r2[size-1])
			assert.Zero(t, fs[2].Region(1)[12345], "PE 1's region is another segment")

			msg := []byte("put through PE 0, read through PE 1")
			require.NoError(t, fs[0].Put(2, 4096, msg))
			got := make([]byte, len(msg))
			require.NoError(t, fs[1].Get(2, 4096, got))
			assert.Equal(t, msg, got)
			require.NoError(t, fs[1].Get(0, 4096, got))
			assert.Equal(t, make([]byte, len(msg)), got, "Put wrote to the wrong PE")
			require.NoError(t, fs[0].Quiet())
		})
	}
}

func TestAMOThroughFabric(t *testing.T) {
	_, fs := openJob(t, 3, 64<<10, false)
	cases := []struct{ old, operand, cmp uint64 }{
		{0xf0f0f0f0f0f0f0f0, 0x0ff00ff00ff00ff0, 0xf0f0f0f0f0f0f0f0}, // compare hits
		{0xf0f0f0f0f0f0f0f0, 0x0ff00ff00ff00ff0, 0xf0f0f0f0f0f0f0f1}, // compare misses
		{0xffffffffffffffff, 1, 0},
		{0x80000001, 0x7fffffff, 1},
	}
	for op := fabric.AMOFetch; op <= fabric.AMOXor; op++ {
		for _, c := range cases {
			// PE 0 operates on PE 2's word; PE 1 looks at it.
			*word64(fs[2].Region(2), 64) = c.old
			got, err := fs[0].AMO64(2, 64, op, c.operand, c.cmp)
			require.NoError(t, err)
			ret, after := fabrictest.Model(op, c.old, c.operand, c.cmp, ^uint64(0))
			assert.Equal(t, ret, got, "AMO64 %v returned", op)
			assert.Equal(t, after, atomic.LoadUint64(word64(fs[1].Region(2), 64)), "AMO64 %v left", op)

			o32, p32, c32 := uint32(c.old), uint32(c.operand), uint32(c.cmp)
			*word32(fs[2].Region(2), 128) = o32
			got32, err := fs[0].AMO32(2, 128, op, p32, c32)
			require.NoError(t, err)
			ret, after = fabrictest.Model(op, uint64(o32), uint64(p32), uint64(c32), 0xffffffff)
			assert.Equal(t, uint32(ret), got32, "AMO32 %v returned", op)
			assert.Equal(t, uint32(after), atomic.LoadUint32(word32(fs[1].Region(2), 128)), "AMO32 %v left", op)
			assert.Zero(t, *word32(fs[1].Region(2), 132), "AMO32 %v spilled into the next word", op)
		}
	}

	// Fetch-adds from every PE at once, each through its own mapping, sum.
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				f.AMO64(1, 256, fabric.AMOAdd, 1, 0)
				f.AMO32(1, 264, fabric.AMOAdd, 2, 0)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, uint64(3000), atomic.LoadUint64(word64(fs[0].Region(1), 256)))
	assert.Equal(t, uint32(6000), atomic.LoadUint32(word32(fs[2].Region(1), 264)))
}

func TestWaitWokenByPeer(t *testing.T) {
	_, fs := openJob(t, 2, 64<<10, false)
	flag := word64(fs[1].Region(1), 0)
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ch <- fs[1].Wait(ctx, func() bool { return atomic.LoadUint64(flag) == 7 }, 0, 8)
	}()
	require.Eventually(t, func() bool { return atomic.LoadUint32(&fs[0].Header(1).Sleepers) > 0 }, 5*time.Second, 100*time.Microsecond, "PE 1 never went to sleep")
	start := time.Now()
	_, err := fs[0].AMO64(1, 0, fabric.AMOSet, 7, 0)
	require.NoError(t, err)
	select {
	case err := <-ch:
		require.NoError(t, err)
		assert.Less(t, time.Since(start), time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("PE 1 not woken")
	}
}

// Two PEs bounce a counter; each hop is a wait woken through the other
// PE's mapping of the waiter's header.
func TestPingPong(t *testing.T) {
	_, fs := openJob(t, 2, 64<<10, false)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	const rounds = 300 // goroutine PEs in futex sleeps: slow with GOMAXPROCS=1
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for pe := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := fs[pe]
			mine := word64(f.Region(pe), 8)
			for i := pe; i < rounds; i += 2 {
				if err := f.Wait(ctx, func() bool { return atomic.LoadUint64(mine) == uint64(i) }, 8, 8); err != nil {
					errs[pe] = fmt.Errorf("PE %d round %d: %w", pe, i, err)
					cancel()
					return
				}
				if err := f.Put(1-pe, 8, binaryLE(uint64(i+1))); err != nil {
					errs[pe] = err
					return
				}
				f.Quiet()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

func binaryLE(v uint64) []byte {
	b := make([]byte, 8)
	*(*uint64)(unsafe.Pointer(&b[0])) = v
	return b
}

func TestWaitContext(t *testing.T) {
	_, fs := openJob(t, 2, 4096, false)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	assert.ErrorIs(t, fs[0].Wait(ctx, never, 0, 8), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	assert.ErrorIs(t, fs[0].Wait(cctx, never, 0, 0), context.Canceled)
	assert.NoError(t, fs[0].Wait(cctx, func() bool { return true }, 0, 0))
}

func TestCloseFinalizedSeenByPeers(t *testing.T) {
	_, fs := openJob(t, 3, 4096, false)
	require.NoError(t, fs[2].Close(fabric.Finalized))
	require.NoError(t, fs[2].Close(fabric.Finalized), "Close is idempotent")
	require.NoError(t, fs[2].Close(fabric.Failed), "a second Close changes nothing")
	for _, f := range fs[:2] {
		assert.Equal(t, uint32(mapped.StateFinalized), atomic.LoadUint32(&f.Header(2).State))
		assert.NoError(t, f.Err(), "a PE that finalized is not dead")
	}
	// The survivors still work on each other.
	require.NoError(t, fs[0].Put(1, 0, []byte{9}))
	assert.Equal(t, byte(9), fs[1].Region(1)[0])
}

func TestPeerFailureWakesWaiter(t *testing.T) {
	_, fs := openJob(t, 3, 4096, false)
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ch <- fs[0].Wait(ctx, never, 0, 8)
	}()
	require.Eventually(t, func() bool { return atomic.LoadUint32(&fs[1].Header(0).Sleepers) > 0 }, 5*time.Second, 100*time.Microsecond)
	start := time.Now()
	require.NoError(t, fs[1].Close(fabric.Failed))
	var err error
	select {
	case err = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("PE 0 not told that PE 1 failed")
	}
	assert.Less(t, time.Since(start), time.Second)
	var perr *fabric.PeerError
	require.ErrorAs(t, err, &perr)
	assert.ErrorIs(t, err, fabric.ErrPeerDead)
	assert.Equal(t, fabric.PeerError{PE: 1, Pid: os.Getpid(), How: "failed"}, *perr)
	assert.Equal(t, uint32(mapped.StateFailed), atomic.LoadUint32(&fs[2].Header(1).State))
	var perr2 *fabric.PeerError
	require.ErrorAs(t, fs[2].Err(), &perr2)
	assert.Equal(t, 1, perr2.PE)
}

// PE 2 fails; PE 1 fails because of it; PE 0 hears about PE 2.
func TestRootCause(t *testing.T) {
	_, fs := openJob(t, 3, 4096, false)
	require.NoError(t, fs[2].Close(fabric.Failed))
	var perr *fabric.PeerError
	require.ErrorAs(t, fs[1].Wait(context.Background(), never, 0, 8), &perr)
	require.Equal(t, 2, perr.PE)
	require.NoError(t, fs[1].Close(fabric.Failed))

	err := fs[0].Wait(context.Background(), never, 0, 0)
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, 2, perr.PE, "PE 0 must hear about the root cause: %v", err)
	assert.Contains(t, perr.How, "seen through PE 1")
}

// PEs with a CPU each wait by the default policy; more local PEs than
// CPUs, by the crowded one with more yields (sched_yield hands the CPU to
// the peer process).
func TestWaitPolicy(t *testing.T) {
	_, fs := openJob(t, 1, 4096, false)
	assert.Equal(t, fabric.DefaultWaitPolicy(false), fabric.PolicyOf(fs[0]))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := shm.Open(ctx, shm.Options{Job: jobID(), NPEs: 1, Size: 4096, Dir: shmDir(t), LocalSize: runtime.NumCPU() + 1})
	require.NoError(t, err)
	defer f.Close(fabric.Finalized)
	want := fabric.DefaultWaitPolicy(true)
	want.Yields = 64
	assert.Equal(t, want, fabric.PolicyOf(f))
}

func TestOnePEJob(t *testing.T) {
	_, fs := openJob(t, 1, 4096, true)
	assert.Equal(t, 1, fs[0].NPEs())
	assert.NoError(t, fs[0].Err())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, fs[0].Wait(ctx, never, 0, 0), context.DeadlineExceeded)
}

func TestOpenBadOptions(t *testing.T) {
	dir := shmDir(t)
	good := shm.Options{Job: jobID(), PE: 0, NPEs: 2, Size: 4096, Dir: dir, BootTimeout: time.Second}
	for _, tc := range []struct {
		name string
		edit func(o *shm.Options)
		want []string
	}{
		{"job short", func(o *shm.Options) { o.Job = "abc" }, []string{`job id "abc"`}},
		{"job empty", func(o *shm.Options) { o.Job = "" }, []string{`job id ""`}},
		{"job path", func(o *shm.Options) { o.Job = "../../../tmp/x" }, []string{`job id "../../../tmp/x"`}},
		{"job dash", func(o *shm.Options) { o.Job = "abcd-efgh" }, []string{`job id "abcd-efgh"`}},
		{"PE negative", func(o *shm.Options) { o.PE = -1 }, []string{"PE -1 of 2", "out of range"}},
		{"PE equals NPEs", func(o *shm.Options) { o.PE = 2 }, []string{"PE 2 of 2", "out of range"}},
		{"no PEs", func(o *shm.Options) { o.NPEs = 0 }, []string{"PE 0 of 0", "out of range"}},
		{"size zero", func(o *shm.Options) { o.Size = 0 }, []string{"symmetric size 0", "multiple of 8"}},
		{"size odd", func(o *shm.Options) { o.Size = 4100 + 1 }, []string{"symmetric size 4101"}},
		{"size not 8-aligned", func(o *shm.Options) { o.Size = 12 }, []string{"symmetric size 12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.edit(&o)
			start := time.Now()
			err := openFail(t, context.Background(), o)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Less(t, time.Since(start), 500*time.Millisecond, "bad options must fail before waiting for peers")
			assertEmpty(t, dir)
		})
	}
}

// waitForFile waits until path exists.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	require.Eventually(t, func() bool { _, err := os.Stat(path); return err == nil }, 5*time.Second, time.Millisecond, "%s never appeared", path)
}

func TestOpenSizeMismatch(t *testing.T) {
	dir := shmDir(t)
	job := jobID()
	// PE 0 gives up on PE 1 at the boot timeout: long enough that PE 1,
	// on a loaded machine, still finds PE 0's segment (500 ms was not).
	o := shm.Options{Job: job, NPEs: 2, Size: 1 << 20, Dir: dir, BootTimeout: 2 * time.Second}
	// PE 0 starts first, so PE 1 finds PE 0's segment ready.
	ch := openAsync(o)
	waitForFile(t, filepath.Join(dir, config.SegmentName(job, 0)))
	o1 := o
	// PE 1 waits as long as it takes PE 0 to make its segment ready (its
	// file exists already): it is PE 0's clock, not PE 1's, that ends
	// the test when something is wrong.
	o1.PE, o1.Size, o1.BootTimeout = 1, 2<<20, 30*time.Second
	_, p1, err1 := tryOpen(context.Background(), o1)
	r0 := <-ch
	if p := cmp.Or(p1, r0.panicked); p != nil {
		t.Fatalf("shm.Open panicked: %v", p)
	}
	require.Error(t, err1)
	for _, w := range []string{"symmetric size differs", "PE 0 has 1048576 bytes", "PE 1 has 2097152", config.EnvSymSize} {
		assert.Contains(t, err1.Error(), w)
	}
	assert.Error(t, r0.err, "PE 0 cannot have started without PE 1")
	assertEmpty(t, dir)
}

func TestOpenNPEsMismatch(t *testing.T) {
	dir := shmDir(t)
	job := jobID()
	// Each PE checks the other's header as it attaches, so whichever looks
	// first reports the mismatch, and the other, whose peer gave up and
	// removed its segment, fails at its boot timeout: both fail, and one
	// names both counts (CI saw PE 0 find it first, where this test once
	// insisted on PE 1).
	o := shm.Options{Job: job, NPEs: 2, Size: 4096, Dir: dir, BootTimeout: 2 * time.Second}
	ch := openAsync(o)
	waitForFile(t, filepath.Join(dir, config.SegmentName(job, 0)))
	o1 := o
	o1.PE, o1.NPEs = 1, 3
	_, p1, err1 := tryOpen(context.Background(), o1)
	r0 := <-ch
	if p := cmp.Or(p1, r0.panicked); p != nil {
		t.Fatalf("shm.Open panicked: %v", p)
	}
	require.Error(t, err1)
	require.Error(t, r0.err, "PE 0 cannot have started without PE 1")
	by1 := strings.Contains(err1.Error(), "PE 0 was started with 2 PEs, PE 1 with 3")
	by0 := strings.Contains(r0.err.Error(), "PE 1 was started with 3 PEs, PE 0 with 2")
	t.Logf("named by PE 0: %v, by PE 1: %v", by0, by1)
	assert.True(t, by0 || by1, "neither PE named the mismatch:\nPE 0: %v\nPE 1: %v", r0.err, err1)
	assertEmpty(t, dir)
}

func TestOpenMissingPeerTimesOut(t *testing.T) {
	dir := shmDir(t)
	start := time.Now()
	err := openFail(t, context.Background(), shm.Options{Job: jobID(), PE: 0, NPEs: 2, Size: 4096, Dir: dir, BootTimeout: 200 * time.Millisecond})
	el := time.Since(start)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "PE 1 did not create its segment")
	assert.Contains(t, err.Error(), "200ms")
	assert.GreaterOrEqual(t, el, 200*time.Millisecond)
	assert.Less(t, el, 3*time.Second)
	assertEmpty(t, dir)
}

func TestOpenCancelled(t *testing.T) {
	dir := shmDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := openFail(t, ctx, shm.Options{Job: jobID(), PE: 1, NPEs: 2, Size: 4096, Dir: dir})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 2*time.Second)
	assertEmpty(t, dir)
}

// fakeSegment creates PE pe's segment file by hand, ready, as if a PE had
// started and then stalled before mapping its peers.
func fakeSegment(t *testing.T, dir, job string, pe, npes int, size uintptr, pid int) string {
	t.Helper()
	path := filepath.Join(dir, config.SegmentName(job, pe))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(int64(mapped.HeaderSize+size)))
	seg, err := syscall.Mmap(int(f.Fd()), 0, mapped.HeaderSize+int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	require.NoError(t, err)
	mapped.InitHeader(seg, pe, npes, pid)
	require.NoError(t, syscall.Munmap(seg))
	return path
}

// A peer that created its segment but never mapped ours leaves the
// start-up barrier short: the error says how many PEs made it.
func TestOpenBarrierTimesOut(t *testing.T) {
	dir := shmDir(t)
	job := jobID()
	fake := fakeSegment(t, dir, job, 1, 2, 4096, os.Getpid())
	err := openFail(t, context.Background(), shm.Options{Job: job, PE: 0, NPEs: 2, Size: 4096, Dir: dir, BootTimeout: 200 * time.Millisecond})
	assert.Contains(t, err.Error(), "only 1 of 2 PEs mapped the job's segments within 200ms")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, os.Remove(fake))
	assertEmpty(t, dir)
}

func TestOpenForeignPeerFile(t *testing.T) {
	dir := shmDir(t)
	job := jobID()
	path := filepath.Join(dir, config.SegmentName(job, 1))
	junk := make([]byte, 2*mapped.HeaderSize)
	for i := range junk {
		junk[i] = 0xff
	}
	require.NoError(t, os.WriteFile(path, junk, 0o600))
	err := openFail(t, context.Background(), shm.Options{Job: job, PE: 0, NPEs: 2, Size: 4096, Dir: dir, BootTimeout: 2 * time.Second})
	assert.Contains(t, err.Error(), "is not a gshmem segment")
	assert.Contains(t, err.Error(), "0xffffffffffffffff")
	require.NoError(t, os.Remove(path))
	assertEmpty(t, dir)
}

func TestOpenSegmentAlreadyExists(t *testing.T) {
	dir := shmDir(t)
	job := jobID()
	path := filepath.Join(dir, config.SegmentName(job, 0))
	require.NoError(t, os.WriteFile(path, []byte("someone else's"), 0o600))
	err := openFail(t, context.Background(), shm.Options{Job: job, PE: 0, NPEs: 1, Size: 4096, Dir: dir})
	assert.Contains(t, err.Error(), "already exists")
	assert.Contains(t, err.Error(), path)
	assert.ErrorIs(t, err, syscall.EEXIST)
}

// A failed Open returns its error; it does not panic.
func TestOpenFailureDoesNotPanic(t *testing.T) {
	dir := shmDir(t)
	f, p, err := tryOpen(context.Background(), shm.Options{Job: jobID(), PE: 0, NPEs: 1, Size: 4096, Dir: filepath.Join(dir, "missing")})
	if p != nil {
		t.Fatalf("shm.Open panicked: %v", p)
	}
	assert.Nil(t, f)
	assert.Error(t, err)
}

// Open must not remove a file it did not create: the segment that already
// existed belongs to another PE (a job id reused, a PE started twice).
func TestOpenSegmentAlreadyExistsKeepsIt(t *testing.T) {
	dir := shmDir(t)
	job := jobID()
	path := filepath.Join(dir, config.SegmentName(job, 0))
	require.NoError(t, os.WriteFile(path, []byte("someone else's"), 0o600))
	tryOpen(context.Background(), shm.Options{Job: job, PE: 0, NPEs: 1, Size: 4096, Dir: dir})
	b, err := os.ReadFile(path)
	require.NoError(t, err, "Open removed a segment it did not create")
	assert.Equal(t, "someone else's", string(b))
}

func TestOpenAbsurdSize(t *testing.T) {
	for _, size := range []uintptr{1 << 44, 1 << 62, ^uintptr(0) &^ 7} {
		t.Run(strconv.FormatUint(uint64(size), 10), func(t *testing.T) {
			dir := shmDir(t)
			start := time.Now()
			openFail(t, context.Background(), shm.Options{Job: jobID(), PE: 0, NPEs: 1, Size: size, Dir: dir})
			assert.Less(t, time.Since(start), 2*time.Second)
			assertEmpty(t, dir)
		})
	}
	// The likely case, a heap larger than the tmpfs, names the remedy.
	dir := shmDir(t)
	err := openFail(t, context.Background(), shm.Options{Job: jobID(), PE: 0, NPEs: 1, Size: 1 << 44, Dir: dir})
	assert.Contains(t, err.Error(), "reserve")
	assert.Contains(t, err.Error(), strconv.Itoa(mapped.HeaderSize+1<<44))
	assertEmpty(t, dir)
}

func TestOpenNoDirectory(t *testing.T) {
	dir := filepath.Join(shmDir(t), "missing")
	err := openFail(t, context.Background(), shm.Options{Job: jobID(), PE: 0, NPEs: 1, Size: 4096, Dir: dir})
	assert.ErrorIs(t, err, syscall.ENOENT)
	assert.Contains(t, err.Error(), dir)
}

// --- PEs in other processes -------------------------------------------

const helperEnv = "GSHMEM_FABTEST_HELPER"

// TestHelperPE is not a test: started by startHelper in a child process,
// it plays one PE. Its spec is dir, job, pe, npes and what to do once open.
func TestHelperPE(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return
	}
	p := strings.Split(spec, ",")
	pe, _ := strconv.Atoi(p[2])
	npes, _ := strconv.Atoi(p[3])
	f, err := shm.Open(context.Background(), shm.Options{Dir: p[0], Job: p[1], PE: pe, NPEs: npes, Size: 4096, BootTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	switch p[4] {
	case "finalize":
		f.Close(fabric.Finalized)
		os.Exit(0)
	case "exit": // leave without closing: a crash
		os.Exit(3)
	case "hang": // until killed
		time.Sleep(time.Minute)
		os.Exit(4)
	}
	os.Exit(5)
}

func startHelper(t *testing.T, dir, job string, pe, npes int, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPE$")
	// A -race child would linger a second at exit.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d,%d,%s", helperEnv, dir, job, pe, npes, mode), "GORACE="+gorace)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// openWithHelper opens PE 0 here and PE 1 in a child process.
func openWithHelper(t *testing.T, mode string) (*shm.Fabric, *exec.Cmd, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := shmDir(t)
	job := jobID()
	cmd := startHelper(t, dir, job, 1, 2, mode)
	f, err := shm.Open(context.Background(), shm.Options{Job: job, PE: 0, NPEs: 2, Size: 4096, Dir: dir, BootTimeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close(fabric.Finalized) })
	assert.Equal(t, uint32(cmd.Process.Pid), f.Header(1).Pid)
	return f, cmd, dir
}

func waitPeerError(t *testing.T, f *shm.Fabric) *fabric.PeerError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.Wait(ctx, never, 0, 8)
	var perr *fabric.PeerError
	require.ErrorAs(t, err, &perr)
	assert.ErrorIs(t, err, fabric.ErrPeerDead)
	return perr
}

func TestPeerProcessKilled(t *testing.T) {
	f, cmd, dir := openWithHelper(t, "hang")
	// The child unlinks its segment once it passed the start-up barrier,
	// just after we did.
	require.Eventually(t, func() bool { ents, _ := os.ReadDir(dir); return len(ents) == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, f.Err())
	require.NoError(t, cmd.Process.Kill())
	start := time.Now()
	perr := waitPeerError(t, f)
	assert.Equal(t, fabric.PeerError{PE: 1, Pid: cmd.Process.Pid, How: "died"}, *perr)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Contains(t, perr.Error(), fmt.Sprintf("PE 1 (pid %d) died", cmd.Process.Pid))
}

func TestPeerProcessExitsWithoutClose(t *testing.T) {
	f, cmd, _ := openWithHelper(t, "exit")
	perr := waitPeerError(t, f)
	assert.Equal(t, fabric.PeerError{PE: 1, Pid: cmd.Process.Pid, How: "died"}, *perr)
}

// A peer that finalized and exited is no failure while others remain; when
// it was the last peer, a wait that still needs someone fails.
func TestPeerProcessFinalizes(t *testing.T) {
	f, cmd, _ := openWithHelper(t, "finalize")
	perr := waitPeerError(t, f)
	assert.Equal(t, 1, perr.PE)
	assert.Equal(t, cmd.Process.Pid, perr.Pid)
	assert.Equal(t, "exited after finalize; no peer is left", perr.How)
}

// A peer that finalized and exited is no failure while another peer is
// still there to satisfy a wait.
func TestPeerProcessFinalizesOthersRemain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := shmDir(t)
	job := jobID()
	cmd := startHelper(t, dir, job, 1, 3, "finalize")
	fs, errs := openAll(context.Background(), shm.Options{Job: job, NPEs: 3, Size: 4096, Dir: dir, BootTimeout: 10 * time.Second}, 0, 2)
	t.Cleanup(func() {
		for _, f := range fs {
			if f != nil {
				f.Close(fabric.Finalized)
			}
		}
	})
	require.NoError(t, errors.Join(errs...))
	require.NoError(t, cmd.Wait(), "the helper PE failed")
	assert.Equal(t, uint32(mapped.StateFinalized), atomic.LoadUint32(&fs[0].Header(1).State))
	assert.NoError(t, fs[0].Err())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, fs[0].Wait(ctx, never, 0, 8), context.DeadlineExceeded)
	assertEmpty(t, dir)
}

// A peer's name that is a symbolic link is never followed, whatever it
// points to (here a ready segment of the right PE of this job: followed, it
// would be attached and the job would wait for a PE that never comes).
func TestOpenPeerSymlinkNotFollowed(t *testing.T) {
	dir := shmDir(t)
	job := jobID()
	name := fakeSegment(t, dir, job, 1, 2, 4096, os.Getpid())
	aside := filepath.Join(dir, "elsewhere")
	require.NoError(t, os.Rename(name, aside))
	require.NoError(t, os.Symlink(aside, name))
	start := time.Now()
	err := openFail(t, context.Background(), shm.Options{Job: job, PE: 0, NPEs: 2, Size: 4096, Dir: dir, BootTimeout: 2 * time.Second})
	assert.Contains(t, err.Error(), "symbolic link")
	assert.Contains(t, err.Error(), name)
	assert.Less(t, time.Since(start), time.Second, "a planted link must fail the start at once")
	require.NoError(t, os.Remove(name))
	require.NoError(t, os.Remove(aside))
	assertEmpty(t, dir)
}

// A PE's own name planted as a symbolic link is not followed either.
func TestOpenOwnSymlinkNotFollowed(t *testing.T) {
	dir := shmDir(t)
	job := jobID()
	target := filepath.Join(dir, "target")
	name := filepath.Join(dir, config.SegmentName(job, 0))
	require.NoError(t, os.Symlink(target, name))
	err := openFail(t, context.Background(), shm.Options{Job: job, PE: 0, NPEs: 1, Size: 4096, Dir: dir})
	assert.ErrorIs(t, err, syscall.EEXIST)
	assert.NoFileExists(t, target, "the link was followed")
	require.NoError(t, os.Remove(name))
	assertEmpty(t, dir)
}

// --- segments inherited from a launcher ----------------------------------

// inherit gives this process a copy of files at descriptors first,
// first+1, ... (as a launcher's child inherits them) and returns first;
// cleanup closes what Open left open.
func inherit(t *testing.T, first int, files []*os.File) int {
	t.Helper()
	for i, f := range files {
		require.NoError(t, syscall.Dup3(int(f.Fd()), first+i, syscall.O_CLOEXEC))
	}
	t.Cleanup(func() {
		for i := range files {
			syscall.Close(first + i)
		}
	})
	return first
}

func isOpen(fd int) bool {
	_, err := fcntlGetfd(fd)
	return err == nil
}

func fcntlGetfd(fd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// newSegmentFiles is shm.NewSegmentFiles, closed at cleanup.
func newSegmentFiles(t *testing.T, job string, n int) []*os.File {
	t.Helper()
	files, err := shm.NewSegmentFiles(job, n)
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, f := range files {
			f.Close()
		}
	})
	return files
}

// A job over memory files: every PE (here goroutines, each with its own
// copy of the descriptors, as processes would have) opens from them, the
// directory is never used, and Open closes the descriptors it was given.
func TestOpenInherited(t *testing.T) {
	const n, size = 3, 1 << 20
	dir := shmDir(t)
	job := jobID()
	files := newSegmentFiles(t, job, n)
	for _, f := range files {
		assert.Equal(t, "memfd:"+config.SegmentName(job, slices.Index(files, f)), f.Name())
	}
	fs := make([]*shm.Fabric, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for pe := range n {
		first := inherit(t, 1000+100*pe, files)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs[pe], errs[pe] = shm.Open(context.Background(), shm.Options{Job: job, PE: pe, NPEs: n, Size: size, Dir: dir, Prefault: true, SegmentFD: first, BootTimeout: 10 * time.Second})
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, f := range fs {
			if f != nil {
				f.Close(fabric.Finalized)
			}
		}
	})
	require.NoError(t, errors.Join(errs...))
	for pe := range n {
		for i := range n {
			assert.False(t, isOpen(1000+100*pe+i), "PE %d left descriptor %d open", pe, 1000+100*pe+i)
		}
	}
	assertEmpty(t, dir)

	r0, r2 := fs[0].Region(1), fs[2].Region(1)
	r0[12345] = 7
	assert.Equal(t, byte(7), r2[12345], "PE 1's segment is one memory, mapped twice")
	for pe, f := range fs {
		for q := range n {
			assert.Zero(t, uintptr(unsafe.Pointer(&f.Region(q)[0]))%fabric.RegionAlign, "PE %d's mapping of PE %d's region", pe, q)
		}
	}
	// The size is sealed: no PE can shrink a segment under the others.
	err := syscall.Ftruncate(int(files[1].Fd()), 0)
	assert.ErrorIs(t, err, syscall.EPERM)
}

func TestOpenInheritedErrors(t *testing.T) {
	dir := shmDir(t)
	t.Run("not inherited", func(t *testing.T) {
		err := openFail(t, context.Background(), shm.Options{Job: jobID(), PE: 0, NPEs: 2, Size: 4096, Dir: dir, SegmentFD: 1500})
		assert.ErrorContains(t, err, "descriptor 1500 (GSHMEM_SEGMENT_FDS=1500), PE 0's segment, is not open (start PEs with gpurun)")
	})
	t.Run("something else", func(t *testing.T) {
		// Whatever else has those numbers is neither used nor closed.
		other, err := os.CreateTemp(t.TempDir(), "other")
		require.NoError(t, err)
		defer other.Close()
		first := inherit(t, 1600, []*os.File{other, other})
		err = openFail(t, context.Background(), shm.Options{Job: jobID(), PE: 1, NPEs: 2, Size: 4096, Dir: dir, SegmentFD: first})
		assert.ErrorContains(t, err, "descriptor 1601 (GSHMEM_SEGMENT_FDS=1600) is \""+other.Name()+"\", not PE 1's segment")
		assert.True(t, isOpen(first) && isOpen(first+1), "Open closed descriptors that were not its segments")
	})
	t.Run("another job's", func(t *testing.T) {
		first := inherit(t, 1700, newSegmentFiles(t, jobID(), 2))
		err := openFail(t, context.Background(), shm.Options{Job: jobID(), PE: 0, NPEs: 2, Size: 4096, Dir: dir, SegmentFD: first})
		assert.ErrorContains(t, err, "not PE 0's segment")
	})
	t.Run("started twice", func(t *testing.T) {
		job := jobID()
		files := newSegmentFiles(t, job, 2)
		require.NoError(t, files[0].Truncate(mapped.HeaderSize+4096))
		first := inherit(t, 1800, files)
		err := openFail(t, context.Background(), shm.Options{Job: job, PE: 0, NPEs: 2, Size: 4096, Dir: dir, SegmentFD: first})
		assert.ErrorContains(t, err, "already holds 8192 bytes: was PE 0 started twice?")
	})
	t.Run("peer not sealed", func(t *testing.T) {
		job := jobID()
		files := newSegmentFiles(t, job, 2)
		// PE 1's file made ready by hand, without the seals a PE adds.
		require.NoError(t, files[1].Truncate(mapped.HeaderSize+4096))
		seg, err := syscall.Mmap(int(files[1].Fd()), 0, mapped.HeaderSize+4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		require.NoError(t, err)
		mapped.InitHeader(seg, 1, 2, os.Getpid())
		require.NoError(t, syscall.Munmap(seg))
		first := inherit(t, 1900, files)
		err = openFail(t, context.Background(), shm.Options{Job: job, PE: 0, NPEs: 2, Size: 4096, Dir: dir, SegmentFD: first, BootTimeout: 2 * time.Second})
		assert.ErrorContains(t, err, "is ready but its size is not sealed")
	})
	assertEmpty(t, dir)
}

func TestNewSegmentFilesBadArgs(t *testing.T) {
	_, err := shm.NewSegmentFiles("no", 2)
	assert.ErrorContains(t, err, `job id "no"`)
	_, err = shm.NewSegmentFiles(jobID(), 0)
	assert.ErrorContains(t, err, "0 PEs")
}

// --- errors about the segment directory ------------------------------------

// dirVar is how errors about the directory name it.
func dirVar(dir string) string { return fmt.Sprintf("%s=%q", config.EnvShmDir, dir) }

func TestOpenDirErrorsNameTheVariable(t *testing.T) {
	open := func(t *testing.T, dir string, size uintptr) error {
		t.Helper()
		start := time.Now()
		err := openFail(t, context.Background(), shm.Options{Job: jobID(), PE: 0, NPEs: 2, Size: size, Dir: dir, BootTimeout: 5 * time.Second})
		assert.Less(t, time.Since(start), 2*time.Second, "must fail before waiting for peers")
		assert.Contains(t, err.Error(), dirVar(dir))
		return err
	}
	t.Run("missing", func(t *testing.T) {
		dir := filepath.Join(shmDir(t), "missing")
		err := open(t, dir, 4096)
		assert.ErrorIs(t, err, syscall.ENOENT)
		assert.Contains(t, err.Error(), "does not exist")
	})
	t.Run("not a directory", func(t *testing.T) {
		dir := filepath.Join(shmDir(t), "file")
		require.NoError(t, os.WriteFile(dir, nil, 0o600))
		err := open(t, dir, 4096)
		assert.ErrorIs(t, err, syscall.ENOTDIR)
		assert.Contains(t, err.Error(), "not a directory")
	})
	t.Run("read-only", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to mount a read-only view of a directory")
		}
		dir := filepath.Join(shmDir(t), "ro")
		require.NoError(t, os.Mkdir(dir, 0o700))
		if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
			t.Skipf("cannot bind-mount here: %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
		require.NoError(t, syscall.Mount("", dir, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""))
		err := open(t, dir, 4096)
		assert.ErrorIs(t, err, syscall.EROFS)
		assert.Contains(t, err.Error(), "cannot create files there")
	})
	t.Run("full", func(t *testing.T) {
		dir := shmDir(t)
		var st syscall.Statfs_t
		require.NoError(t, syscall.Statfs(dir, &st))
		// More than the whole tmpfs (so more than is free): tmpfs refuses
		// that before it allocates a page.
		size := (uintptr(st.Blocks)*uintptr(st.Bsize) + 1<<20) &^ 7
		err := open(t, dir, size)
		assert.ErrorIs(t, err, syscall.ENOSPC)
		assert.Contains(t, err.Error(), "is full")
		assert.Contains(t, err.Error(), strconv.FormatUint(uint64(size)+mapped.HeaderSize, 10))
		assertEmpty(t, dir)
	})
}

// remoteDeath is the liveness of the PEs of other nodes as a test states
// it: dead names the dead PE, if any.
type remoteDeath struct {
	dead atomic.Pointer[fabric.PeerError]
}

func (r *remoteDeath) Check() *fabric.PeerError { return r.dead.Load() }
func (r *remoteDeath) Describe(pe int) *fabric.PeerError {
	return &fabric.PeerError{PE: pe, How: "died on its node"}
}

// A job of 4 PEs on two nodes (0, 0, 1, 1): each PE maps the segments of
// its own node only, the PEs of a node start up together without waiting
// for the other node, and waits report what the other nodes' liveness says.
func TestOpenNodeSubset(t *testing.T) {
	dir := shmDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node := []int{0, 0, 1, 1}
	remote := &remoteDeath{}
	o := shm.Options{Job: jobID(), NPEs: 4, Size: 4096, Dir: dir, Node: node, Remote: remote}
	// Node 1's PEs start alone: they must not wait for node 0.
	fs1, errs := openAll(ctx, o, 2, 3)
	require.NoError(t, errors.Join(errs...))
	fs0, errs := openAll(ctx, o, 0, 1)
	require.NoError(t, errors.Join(errs...))
	fs := append(fs0, fs1...)
	t.Cleanup(func() {
		for _, f := range fs {
			f.Close(fabric.Finalized)
		}
	})
	assertEmpty(t, dir)
	for pe, f := range fs {
		for peer := range 4 {
			if node[peer] == node[pe] {
				assert.NotNil(t, f.Region(peer), "PE %d maps PE %d (same node)", pe, peer)
			} else {
				assert.Nil(t, f.Region(peer), "PE %d must not map PE %d (other node)", pe, peer)
				assert.Nil(t, f.Header(peer))
			}
		}
		assert.Equal(t, 4, f.NPEs())
	}
	// Within a node, puts and waits work as in a one-node job.
	require.NoError(t, fs[2].Put(3, 8, []byte{7}))
	require.NoError(t, fs[3].Wait(ctx, func() bool { return fs[3].Region(3)[8] == 7 }, 8, 1))
	// A PE of node 1 dying makes node 0's waits fail with its error.
	ch := make(chan error, 1)
	go func() { ch <- fs[0].Wait(ctx, never, 0, 8) }()
	require.Eventually(t, func() bool { return atomic.LoadUint32(&fs[1].Header(0).Sleepers) > 0 }, 5*time.Second, 100*time.Microsecond)
	remote.dead.Store(&fabric.PeerError{PE: 3, How: "died on its node"})
	fs[1].PokeAll()
	err := <-ch
	var perr *fabric.PeerError
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, 3, perr.PE)
	assert.Equal(t, 3, fs[0].Describe(3).PE)
	assert.Nil(t, fs[0].CheckLocal(), "the PEs of node 0 are alive")
}

func TestOpenNodeListMismatch(t *testing.T) {
	err := openFail(t, context.Background(), shm.Options{Job: jobID(), NPEs: 3, Size: 4096, Dir: shmDir(t), Node: []int{0, 1}})
	assert.ErrorContains(t, err, "node list of 2 PEs for a job of 3")
}

// The transport passes the fabric conformance suite.
func TestConformance(t *testing.T) {
	_, sfs := openJob(t, 3, 1<<20, false)
	fs := make([]fabric.Fabric, len(sfs))
	for i, f := range sfs {
		fs[i] = f
	}
	fabrictest.Run(t, fs)
}
