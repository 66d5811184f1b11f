//go:build ofi && cgo

package hybrid_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/hybrid"
	"github.com/gshmem/gshmem/fabric/internal/fabrictest"
	"github.com/gshmem/gshmem/fabric/ofi"
)

// ofiOptions: the provider every host has, on the loopback interface.
func ofiOptions() ofi.Options { return ofi.Options{Provider: "tcp;ofi_rxm"} }

// openJob opens a job of len(node) goroutine PEs, each with its own
// libfabric endpoint, closed (finalized) at cleanup.
func openJob(t testing.TB, node []int) []*hybrid.Fabric {
	t.Helper()
	return openJobWith(t, node, nil)
}

// amoModes runs f with each way remote AMOs can go over tcp;ofi_rxm: as
// fabric atomics (the default there) and as messages the target applies.
func amoModes(t *testing.T, f func(t *testing.T, set func(*hybrid.Options))) {
	t.Run("fabric", func(t *testing.T) { f(t, nil) })
	t.Run("message", func(t *testing.T) { f(t, func(o *hybrid.Options) { o.MessageAMO = true }) })
}

// openJobWith is openJob with set applied to every PE's options.
func openJobWith(t testing.TB, node []int, set func(*hybrid.Options)) []*hybrid.Fabric {
	t.Helper()
	dir, job := shmDir(t), jobID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex := newAllgather(len(node))
	fs := make([]*hybrid.Fabric, len(node))
	errs := make([]error, len(node))
	var wg sync.WaitGroup
	for pe := range node {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := options(dir, job, node, pe, ex)
			if set != nil {
				set(&o)
			}
			fs[pe], errs[pe] = hybrid.Open(ctx, o)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, f := range fs {
			if f != nil {
				f.Close(fabric.Finalized)
			}
		}
		assertEmpty(t, dir)
	})
	require.NoError(t, errors.Join(errs...))
	assertEmpty(t, dir) // every PE of a node mapped its node's segments: all unlinked
	return fs
}

func word64(r []byte, off uintptr) *uint64 { return (*uint64)(unsafe.Pointer(&r[off])) }

func TestRegions(t *testing.T) {
	fs := openJob(t, []int{0, 0, 1, 1})
	for pe, f := range fs {
		assert.Equal(t, hybrid.Transport, f.Transport())
		assert.Equal(t, "tcp;ofi_rxm", f.Provider())
		for peer := range fs {
			if peer/2 == pe/2 {
				assert.NotNil(t, f.Region(peer), "PE %d maps PE %d", pe, peer)
			} else {
				assert.Nil(t, f.Region(peer), "PE %d reaches PE %d over the network", pe, peer)
			}
		}
	}
}

// A Put to another node lands, and wakes the waiter that watches it.
func TestPutWakesRemoteWaiter(t *testing.T) {
	fs := openJob(t, []int{0, 0, 1, 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const off = 4096
	got := make(chan error, 1)
	go func() {
		r := fs[2].Region(2)
		got <- fs[2].Wait(ctx, func() bool { return atomic.LoadUint64(word64(r, off)) == 42 }, off, 8)
	}()
	// Let the waiter go to sleep: the wake must come from the put.
	require.Eventually(t, func() bool { return atomic.LoadUint32(&fs[3].Header(2).Sleepers) > 0 }, 5*time.Second, 100*time.Microsecond)
	require.NoError(t, fs[0].Put(2, off, binary.LittleEndian.AppendUint64(nil, 42)))
	require.NoError(t, fs[0].Quiet())
	require.NoError(t, <-got)

	// A large put, then a get of it back.
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, fs[1].Put(3, 8192, big))
	back := make([]byte, len(big))
	require.NoError(t, fs[1].Get(3, 8192, back), "a get after a put to the same PE sees it")
	assert.Equal(t, big, back)
	assert.Equal(t, big, fs[2].Region(3)[8192:8192+len(big)], "PE 3's node sees the bytes")
}

// Every AMO on a PE of another node does what the CPU atomic does, and
// AMOs from both nodes on one word are atomic together.
func TestRemoteAMOs(t *testing.T) { amoModes(t, testRemoteAMOs) }

func testRemoteAMOs(t *testing.T, set func(*hybrid.Options)) {
	fs := openJobWith(t, []int{0, 0, 1, 1}, set)
	r3 := fs[3].Region(3)
	const off = 64
	cases := []struct {
		op               fabric.AMOOp
		start, arg, cmp  uint64
		wantOld, wantNew uint64
	}{
		{fabric.AMOFetch, 5, 0, 0, 5, 5},
		{fabric.AMOSet, 5, 9, 0, 5, 9},
		{fabric.AMOSwap, 5, 9, 0, 5, 9},
		{fabric.AMOCompareSwap, 5, 9, 5, 5, 9},
		{fabric.AMOCompareSwap, 5, 9, 4, 5, 5},
		{fabric.AMOAdd, 5, 3, 0, 5, 8},
		{fabric.AMOAnd, 6, 3, 0, 6, 2},
		{fabric.AMOOr, 6, 3, 0, 6, 7},
		{fabric.AMOXor, 6, 3, 0, 6, 5},
	}
	for _, c := range cases {
		atomic.StoreUint64(word64(r3, off), c.start)
		old, err := fs[0].AMO64(3, off, c.op, c.arg, c.cmp)
		require.NoError(t, err, "%v", c.op)
		assert.Equal(t, c.wantOld, old, "%v: old", c.op)
		assert.Equal(t, c.wantNew, atomic.LoadUint64(word64(r3, off)), "%v: new", c.op)
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&r3[off+8])), uint32(c.start))
		old32, err := fs[1].AMO32(3, off+8, c.op, uint32(c.arg), uint32(c.cmp))
		require.NoError(t, err, "%v (32)", c.op)
		assert.Equal(t, uint32(c.wantOld), old32, "%v (32): old", c.op)
	}

	// Four PEs add to one word of PE 3: two over the network, two with CPU
	// atomics on its node. Nothing is lost.
	atomic.StoreUint64(word64(r3, off), 0)
	const each = 500
	var wg sync.WaitGroup
	for pe := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := fs[pe].AMO64(3, off, fabric.AMOAdd, 1, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, uint64(4*each), atomic.LoadUint64(word64(r3, off)))
}

// A put followed by a signal (an AMO) arrives in that order: the waiter
// that sees the signal sees the data. The waiter acknowledges each round
// with a put back, which wakes the sender.
func TestPutThenSignal(t *testing.T) { amoModes(t, testPutThenSignal) }

func testPutThenSignal(t *testing.T, set func(*hybrid.Options)) {
	fs := openJobWith(t, []int{0, 1}, set)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const flag, ack, data, n, rounds = 0, 64, 4096, 64 << 10, 20
	r0, r1 := fs[0].Region(0), fs[1].Region(1)
	done := make(chan error, 1)
	go func() {
		for round := uint64(1); round <= rounds; round++ {
			if err := fs[1].Wait(ctx, func() bool { return atomic.LoadUint64(word64(r1, flag)) >= round }, flag, 8); err != nil {
				done <- err
				return
			}
			for i := 0; i < n; i += 4096 {
				if r1[data+i] != byte(round) {
					done <- fmt.Errorf("round %d: the signal overtook the data (byte %d is %d)", round, i, r1[data+i])
					return
				}
			}
			if err := fs[1].Put(0, ack, binary.LittleEndian.AppendUint64(nil, round)); err != nil {
				done <- err
				return
			}
		}
		done <- fs[1].Quiet()
	}()
	buf := make([]byte, n)
	for round := uint64(1); round <= rounds; round++ {
		for i := range buf {
			buf[i] = byte(round)
		}
		require.NoError(t, fs[0].Put(1, data, buf))
		_, err := fs[0].AMO64(1, flag, fabric.AMOSet, round, 0)
		require.NoError(t, err)
		require.NoError(t, fs[0].Wait(ctx, func() bool { return atomic.LoadUint64(word64(r0, ack)) >= round }, ack, 8))
	}
	require.NoError(t, <-done)
}

// An AMO from another node ends a wait on the word it changes, for every
// AMO that changes it. (Whether a wake message or the waiter's own
// periodic look ends it is a matter of latency: the bench measures it.)
func TestAMOEndsRemoteWait(t *testing.T) { amoModes(t, testAMOEndsRemoteWait) }

func testAMOEndsRemoteWait(t *testing.T, set func(*hybrid.Options)) {
	fs := openJobWith(t, []int{0, 1}, set)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const off = 128
	r1 := fs[1].Region(1)
	for i, op := range []fabric.AMOOp{fabric.AMOSet, fabric.AMOAdd, fabric.AMOSwap, fabric.AMOCompareSwap, fabric.AMOOr, fabric.AMOXor, fabric.AMOAnd} {
		atomic.StoreUint64(word64(r1, off), 1)
		got := make(chan error, 1)
		go func() {
			got <- fs[1].Wait(ctx, func() bool { return atomic.LoadUint64(word64(r1, off)) != 1 }, off, 8)
		}()
		require.Eventually(t, func() bool { return atomic.LoadUint32(&fs[1].Header(1).Sleepers) > 0 }, 5*time.Second, 100*time.Microsecond, "%v: the waiter sleeps", op)
		arg, cmp := uint64(7+i), uint64(1)
		if op == fabric.AMOAnd {
			arg = 0
		}
		_, err := fs[0].AMO64(1, off, op, arg, cmp)
		require.NoError(t, err, "%v", op)
		require.NoError(t, <-got, "%v", op)
	}
}

// A PE that fails says so to the other node: its waiters there end with
// an error naming it, at once.
func TestFailureReachesOtherNode(t *testing.T) {
	fs := openJob(t, []int{0, 0, 1, 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- fs[2].Wait(ctx, func() bool { return false }, 0, 8) }()
	require.Eventually(t, func() bool { return atomic.LoadUint32(&fs[3].Header(2).Sleepers) > 0 }, 5*time.Second, 100*time.Microsecond)
	start := time.Now()
	require.NoError(t, fs[1].Close(fabric.Failed))
	err := <-got
	var perr *fabric.PeerError
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, 1, perr.PE)
	assert.Equal(t, "failed", perr.How)
	assert.Less(t, time.Since(start), 2*time.Second)
	_, err = fs[3].AMO64(1, 0, fabric.AMOAdd, 1, 0)
	assert.ErrorIs(t, err, fabric.ErrPeerDead, "an AMO on a failed PE fails")
}

// GlobalExit on one node is seen by the other.
func TestGlobalExitReachesOtherNode(t *testing.T) {
	fs := openJob(t, []int{0, 1})
	fs[1].GlobalExit(7)
	require.Eventually(t, func() bool { _, _, ok := fs[0].Exited(); return ok }, 5*time.Second, time.Millisecond)
	pe, status, _ := fs[0].Exited()
	assert.Equal(t, 1, pe)
	assert.Equal(t, 7, status)
	var perr *fabric.PeerError
	require.ErrorAs(t, fs[0].Err(), &perr)
	assert.Equal(t, "called GlobalExit(7)", perr.How)
}

// An AMO on a PE of another node that finalized fails, naming it, rather
// than waiting for ever for an answer that PE will not send (it used to:
// a finalize was not taken for a reason to fail the calls on that PE).
func TestAMOOnFinalizedPE(t *testing.T) {
	fs := openJob(t, []int{0, 1})
	require.NoError(t, fs[1].Close(fabric.Finalized))
	got := make(chan error, 1)
	go func() {
		_, err := fs[0].AMO64(1, 0, fabric.AMOAdd, 1, 0)
		got <- err
	}()
	select {
	case err := <-got:
		var perr *fabric.PeerError
		require.ErrorAs(t, err, &perr)
		assert.Equal(t, 1, perr.PE)
		// Its leave message says it finalized; an AMO that reaches its
		// closed endpoint first finds it gone.
		if perr.How != "exited after finalize" {
			assert.Contains(t, perr.How, "cannot be reached any more")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an AMO on a PE that finalized did not return in 10 s")
	}
}

// PutSignal to another node: a waiter on the signal sees the data, for a
// payload that fits a message and one that goes ahead as a Put; Quiet
// returns once the target applied them (so does a Get, which sees them);
// AMOAdd adds; a bad operation is refused.
func TestPutSignalAcrossNodes(t *testing.T) {
	fs := openJob(t, []int{0, 0, 1, 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const sig, data = 64, 8192
	r3 := fs[3].Region(3)
	for _, n := range []int{0, 8, 4000, 64 << 10} {
		for round := uint64(1); round <= 4; round++ {
			c := fabric.Completion(round % 2) // both kinds
			atomic.StoreUint64(word64(r3, sig), 0)
			buf := make([]byte, n)
			for i := range buf {
				buf[i] = byte(int(round) + i)
			}
			got := make(chan error, 1)
			go func() {
				if err := fs[3].Wait(ctx, func() bool { return atomic.LoadUint64(word64(r3, sig)) == round }, sig, 8); err != nil {
					got <- err
					return
				}
				for i := range buf {
					if r3[data+i] != buf[i] {
						got <- fmt.Errorf("%d bytes, round %d: the signal overtook the data (byte %d is %d)", n, round, i, r3[data+i])
						return
					}
				}
				got <- nil
			}()
			require.Eventually(t, func() bool { return atomic.LoadUint32(&fs[3].Header(3).Sleepers) > 0 }, 5*time.Second, 100*time.Microsecond, "the waiter sleeps: the signal must wake it")
			require.NoError(t, fs[0].PutSignal(3, data, buf, sig, fabric.AMOSet, round, c))
			require.NoError(t, <-got, "%d bytes, round %d", n, round)
		}
	}

	// Quiet waits until the target applied them: 100 adds, then a look.
	atomic.StoreUint64(word64(r3, sig), 0)
	for range 100 {
		require.NoError(t, fs[1].PutSignal(3, data, []byte{1, 2, 3}, sig, fabric.AMOAdd, 1, fabric.CompleteAtQuiet))
	}
	require.NoError(t, fs[1].Quiet())
	assert.Equal(t, uint64(100), atomic.LoadUint64(word64(r3, sig)), "every add applied when Quiet returns")
	require.NoError(t, fs[1].PutSignal(3, data, []byte{9}, sig, fabric.AMOAdd, 1, fabric.CompleteAtQuiet))
	back := make([]byte, 8)
	require.NoError(t, fs[1].Get(3, sig, back), "a get after a put_signal to the same PE sees it")
	assert.Equal(t, uint64(101), binary.LittleEndian.Uint64(back))

	err := fs[0].PutSignal(3, data, nil, sig, fabric.AMOSwap, 1, fabric.CompleteAtQuiet)
	assert.ErrorIs(t, err, errdefs.ErrInvalidArg)
	assert.ErrorContains(t, err, "signal operation swap")
	err = fs[0].PutSignal(3, data, nil, sig+4, fabric.AMOSet, 1, fabric.CompleteAtQuiet)
	assert.ErrorIs(t, err, errdefs.ErrInvalidArg)
}

// A PutSignal to a PE of another node that finalized fails, naming it, at
// the latest in the Quiet that would wait for it to be applied.
func TestPutSignalToFinalizedPE(t *testing.T) {
	fs := openJob(t, []int{0, 1})
	require.NoError(t, fs[1].Close(fabric.Finalized))
	got := make(chan error, 1)
	go func() {
		err := fs[0].PutSignal(1, 4096, []byte{1}, 0, fabric.AMOSet, 1, fabric.CompleteAtQuiet)
		if err == nil {
			err = fs[0].Quiet()
		}
		got <- err
	}()
	select {
	case err := <-got:
		var perr *fabric.PeerError
		require.ErrorAs(t, err, &perr)
		assert.Equal(t, 1, perr.PE)
	case <-time.After(10 * time.Second):
		t.Fatal("a put_signal to a PE that finalized did not fail in 10 s")
	}
}

// The transport passes the fabric conformance suite, with PEs on two
// nodes (so that every path crosses the network somewhere).
func TestConformance(t *testing.T) {
	hfs := openJob(t, []int{0, 0, 1, 1})
	fs := make([]fabric.Fabric, len(hfs))
	for i, f := range hfs {
		fs[i] = f
	}
	fabrictest.Run(t, fs)
}

// TestHelloBeforeHandler: a PE that is slow between the address exchange
// and its connections (here PE 1, held 300 ms after the exchange) gets
// the lower PE's hello while it cannot answer yet; it must still answer
// it. (The endpoint once had no handler then and dropped the hello, and
// both PEs waited in start-up until it timed out: a hang in about one
// srun job in ten.)
func TestHelloBeforeHandler(t *testing.T) {
	fs := openJobWith(t, []int{0, 1}, func(o *hybrid.Options) {
		if o.Shm.PE != 1 {
			return
		}
		ex := o.Exchange
		o.Exchange = func(ctx context.Context, mine []byte) ([][]byte, error) {
			all, err := ex(ctx, mine)
			time.Sleep(300 * time.Millisecond) // PE 0's hello lands in this window
			return all, err
		}
	})
	require.Len(t, fs, 2)
	v, err := fs[0].AMO64(1, 4096, fabric.AMOAdd, 1, 0)
	require.NoError(t, err, "PE 0 reaches PE 1 after start-up")
	assert.Zero(t, v)
}
