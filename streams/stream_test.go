package streams_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/streams"
)

// newStream makes a stream of pe; the caller closes it.
func newStream(t *petest.T, pe *shmem.PE, opts ...streams.Option) *streams.Stream {
	s, err := streams.New(pe, opts...)
	require.NoError(t, err)
	return s
}

// scenarioRing: every round, each PE fills its source in a Go function,
// put-with-signals it to its right neighbour, waits on the stream for its
// left neighbour's signal, checks the data in stream order, gets back what
// it put on the right and checks it, then meets the others at a barrier;
// all on one stream, synchronised once at the end.
// It runs with sources and destinations on each heap (host, device) and
// across them.
func scenarioRing(t *petest.T, pe *shmem.PE) {
	for _, sp := range [][2]shmem.Space{{shmem.Host, shmem.Host}, {shmem.Device, shmem.Device}, {shmem.Host, shmem.Device}, {shmem.Device, shmem.Host}} {
		ringCase(t, pe, sp[0], sp[1])
	}
}

func ringCase(t *petest.T, pe *shmem.PE, srcSpace, dstSpace shmem.Space) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	right, left := (me+1)%n, (me+n-1)%n
	const k, rounds = 100, 5
	src, err := shmem.MallocOn[int64](ctx, pe, srcSpace, k)
	require.NoError(t, err)
	dst, err := shmem.CallocOn[int64](ctx, pe, dstSpace, k)
	require.NoError(t, err)
	back, err := shmem.CallocOn[int64](ctx, pe, srcSpace, k)
	require.NoError(t, err)
	sig, err := shmem.CallocOn[uint64](ctx, pe, dstSpace, 1)
	require.NoError(t, err)
	require.Equal(t, dstSpace, dst.Space())
	s := newStream(t, pe)
	world := pe.TeamWorld()
	want := func(round, from, i int) int64 { return int64(round*1_000_000 + from*1000 + i) }
	check := func(what string, got []int64, round, from int) error {
		for i, v := range got {
			if v != want(round, from, i) {
				return fmt.Errorf("round %d: %s[%d] = %d, want %d", round, what, i, v, want(round, from, i))
			}
		}
		return nil
	}
	// checkMine checks this PE's copy of s, read with Get (either heap).
	checkMine := func(what string, s shmem.Sym[int64], round, from int) error {
		v := make([]int64, k)
		if err := shmem.Get(pe, v, s, me); err != nil {
			return err
		}
		return check(what, v, round, from)
	}
	for round := 1; round <= rounds; round++ {
		require.NoError(t, s.Go(func(context.Context) error {
			v := make([]int64, k)
			for i := range v {
				v[i] = want(round, me, i)
			}
			return shmem.Put(pe, src, v, me) // either heap, GPU memory included
		}))
		require.NoError(t, streams.PutSignal(s, dst, src, sig, uint64(round), shmem.SignalSet, right))
		require.NoError(t, streams.SignalWait(s, sig, shmem.CmpGE, uint64(round)))
		require.NoError(t, s.Go(func(context.Context) error { return checkMine("dst", dst, round, left) }))
		require.NoError(t, s.Quiet())
		require.NoError(t, streams.Get(s, back, dst, right))
		require.NoError(t, s.Go(func(context.Context) error { return checkMine("back", back, round, me) }))
		require.NoError(t, s.Barrier(world)) // the right neighbour has checked dst
	}
	// Plain puts: a put, a quiet and a barrier deliver the data.
	require.NoError(t, s.Go(func(context.Context) error { return shmem.Put(pe, dst, make([]int64, k), me) }))
	require.NoError(t, s.Barrier(world))
	require.NoError(t, streams.Put(s, dst.Slice(0, 10), src.Slice(0, 10), right))
	require.NoError(t, s.Quiet())
	require.NoError(t, s.Barrier(world))
	require.NoError(t, s.Synchronize(ctx))
	got := mine(t, pe, dst)
	for i := 0; i < 10; i++ {
		assert.Equal(t, want(rounds, left, i), got[i], "dst[%d]", i)
	}
	assert.Equal(t, int64(0), got[10], "only 10 elements were put")
	require.NoError(t, s.Close(ctx))
	for _, x := range []shmem.Sym[int64]{src, dst, back} {
		require.NoError(t, shmem.Free(ctx, pe, x))
	}
	require.NoError(t, shmem.Free(ctx, pe, sig))
}

// scenarioOrder: each PE's stream puts chunks to its right neighbour, then
// a signal, round after round; the neighbour waits for each signal on the
// host and must find every chunk at least as new as the signal.
func scenarioOrder(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	right := (me + 1) % n
	const chunks, size, rounds = 8, 300, 40
	src, err := shmem.Malloc[int32](ctx, pe, rounds*chunks*size)
	require.NoError(t, err)
	dst, err := shmem.Calloc[int32](ctx, pe, chunks*size)
	require.NoError(t, err)
	sig, err := shmem.Calloc[uint64](ctx, pe, 1)
	require.NoError(t, err)
	one, err := shmem.Calloc[int32](ctx, pe, 1)
	require.NoError(t, err)
	x := shmem.Local(pe, src)
	for r := 0; r < rounds; r++ {
		for i := 0; i < chunks*size; i++ {
			x[r*chunks*size+i] = int32(r + 1)
		}
	}
	s := newStream(t, pe)
	for r := 0; r < rounds; r++ {
		for c := 0; c < chunks; c++ {
			base := r*chunks*size + c*size
			require.NoError(t, streams.Put(s, dst.Slice(c*size, (c+1)*size), src.Slice(base, base+size), right))
		}
		// A put-with-signal of nothing: the signal alone.
		require.NoError(t, streams.PutSignal(s, one, one.Slice(0, 0), sig, uint64(r+1), shmem.SignalSet, right))
	}
	got := shmem.Local(pe, dst)
	for r := 1; r <= rounds; r++ {
		v, err := shmem.SignalWaitUntil(ctx, pe, sig, shmem.CmpGE, uint64(r))
		require.NoError(t, err)
		for i, g := range got {
			if g < int32(v) {
				t.Errorf("PE %d: signal %d seen but dst[%d] = %d", me, v, i, g)
				t.FailNow()
			}
		}
	}
	require.NoError(t, s.Synchronize(ctx))
	require.NoError(t, s.Close(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
}

// scenarioEvents: a value produced on stream a (in a Go function that
// waits for a gate the host opens 20 ms later) is put to the right
// neighbour by stream b after b waits on an event of a. If b ignored the
// event it would put zeros before the gate opens.
func scenarioEvents(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	right, left := (me+1)%n, (me+n-1)%n
	x, err := shmem.Calloc[int64](ctx, pe, 4)
	require.NoError(t, err)
	y, err := shmem.Calloc[int64](ctx, pe, 4)
	require.NoError(t, err)
	a, b := newStream(t, pe), newStream(t, pe)
	gate := make(chan struct{})
	produced := 0 // written on a's worker, read on b's: -race checks the event orders them
	require.NoError(t, a.Go(func(ctx context.Context) error {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		for i, v := 0, shmem.Local(pe, x); i < len(v); i++ {
			v[i] = int64(100*(me+1) + i)
		}
		produced = me + 1
		return nil
	}))
	ev, err := a.Record()
	require.NoError(t, err)
	assert.False(t, ev.Done(), "the event is behind a closed gate")
	require.NoError(t, b.WaitEvent(ev))
	consumed := -1
	require.NoError(t, b.Go(func(context.Context) error { consumed = produced; return nil }))
	require.NoError(t, streams.Put(b, y, x, right))
	require.NoError(t, b.Quiet())
	require.NoError(t, b.Barrier(pe.TeamWorld()))
	after, err := b.Record()
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond)
	assert.False(t, after.Done(), "b waits for a")
	close(gate)
	require.NoError(t, ev.Synchronize(ctx))
	assert.True(t, ev.Done())
	require.NoError(t, after.Synchronize(ctx))
	assert.Equal(t, me+1, consumed)
	got := shmem.Local(pe, y)
	for i := range got {
		assert.Equal(t, int64(100*(left+1)+i), got[i], "y[%d] from PE %d", i, left)
	}
	// An event of the stream itself is no wait at all; a nil one is an error.
	require.NoError(t, a.WaitEvent(ev))
	require.ErrorIs(t, a.WaitEvent(nil), shmem.ErrInvalidArg)
	require.NoError(t, a.Synchronize(ctx))
	require.NoError(t, b.Synchronize(ctx))
	require.NoError(t, a.Close(ctx))
	require.NoError(t, b.Close(ctx))
	// Waiting on an event of a closed stream: it completed at Close.
	c := newStream(t, pe)
	require.NoError(t, c.WaitEvent(ev))
	require.NoError(t, c.Synchronize(ctx))
	require.NoError(t, c.Close(ctx))
}

// scenarioGoFuncs: Go functions run in order, interleaved with puts to
// this PE itself that they observe; several goroutines enqueue at once.
func scenarioGoFuncs(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me := pe.MyPE()
	src, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	dst, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	s := newStream(t, pe)
	var seen []int
	const k = 500
	for i := 0; i < k; i++ {
		require.NoError(t, s.Go(func(context.Context) error {
			seen = append(seen, i)
			shmem.Local(pe, src)[0] = int64(i)
			return nil
		}))
		require.NoError(t, streams.Put(s, dst, src, me))
		require.NoError(t, s.Go(func(context.Context) error {
			if got := shmem.Local(pe, dst)[0]; got != int64(i) {
				return fmt.Errorf("after put %d dst holds %d", i, got)
			}
			return nil
		}))
	}
	require.NoError(t, s.Synchronize(ctx))
	want := make([]int, k)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, seen)

	// Four goroutines enqueue at once: each one's functions stay in its
	// order, and all run.
	seen = seen[:0]
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 100; i++ {
				assert.NoError(t, s.Go(func(context.Context) error { seen = append(seen, g*1000+i); return nil }))
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	require.NoError(t, s.Synchronize(ctx))
	require.Len(t, seen, 400)
	for g := 0; g < 4; g++ {
		var mine []int
		for _, v := range seen {
			if v/1000 == g {
				mine = append(mine, v%1000)
			}
		}
		assert.True(t, slices.IsSorted(mine), "goroutine %d's functions out of order: %v", g, mine)
	}
	require.NoError(t, s.Close(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
}
