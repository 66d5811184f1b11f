package streams_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/streams"
)

// These scenarios hold on both engines: here they run on the CPU engine;
// on a machine with a GPU, streams pick the CUDA engine and they are the
// GPU tests of issue 12 (device objects throughout).

// scenarioAbort: a stream whose context is cancelled while a device
// signal wait runs fails that wait, and the PE's device side is not
// poisoned: the same stream after its Synchronize, and a fresh stream,
// run a signal wait and an allreduce normally (on a GPU the abort word
// was the PE's and never cleared: "device waits were aborted").
func scenarioAbort(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
	require.NoError(t, err)
	x, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, 256)
	require.NoError(t, err)
	y, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, 256)
	require.NoError(t, err)
	sctx, cancel := context.WithCancel(ctx)
	s := newStream(t, pe, streams.WithContext(sctx))
	require.NoError(t, streams.SignalWait(s, sig, shmem.CmpEQ, 12345)) // nobody signals
	time.Sleep(50 * time.Millisecond)
	cancel()
	err = s.Synchronize(ctx)
	require.ErrorIs(t, err, context.Canceled)
	var oe *streams.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "signal_wait", oe.Op)
	require.NoError(t, s.Close(ctx))
	require.NoError(t, pe.BarrierAll(ctx))

	fresh := newStream(t, pe)
	require.NoError(t, shmem.Put(pe, sig, []uint64{7}, pe.MyPE()))
	require.NoError(t, streams.SignalWait(fresh, sig, shmem.CmpEQ, 7))
	require.NoError(t, streams.AllReduce(fresh, pe.TeamWorld(), shmem.OpSum, y, x, 256))
	require.NoError(t, fresh.Synchronize(ctx), "a fresh stream after a cancelled one")
	require.NoError(t, fresh.Close(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
}

// scenarioWaitBound: a device signal wait on a live peer that never
// signals, on a stream with a 200 ms bound, fails with ErrWaitTimeout in
// about that time (on a GPU it ran on for good), naming the wait; the
// bound counts from when the wait starts running, so a slow op before it
// does not eat it. The stream works again after the Synchronize.
func scenarioWaitBound(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	const bound = 200 * time.Millisecond
	sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
	require.NoError(t, err)
	s := newStream(t, pe, streams.WithWaitTimeout(bound))
	t0 := time.Now()
	require.NoError(t, s.Go(func(context.Context) error { time.Sleep(2 * bound); return nil }))
	require.NoError(t, streams.SignalWait(s, sig, shmem.CmpEQ, 12345))
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = s.Synchronize(sctx)
	el := time.Since(t0)
	require.ErrorIs(t, err, streams.ErrWaitTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var oe *streams.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "signal_wait", oe.Op)
	assert.GreaterOrEqual(t, el, 3*bound)
	assert.Less(t, el, 3*bound+3*time.Second)
	require.NoError(t, shmem.Put(pe, sig, []uint64{1}, pe.MyPE()))
	require.NoError(t, streams.SignalWait(s, sig, shmem.CmpEQ, 1))
	require.NoError(t, s.Synchronize(ctx))
	require.NoError(t, s.Close(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
}

// scenarioTwoTeams: gpuprobe's "concurrent" probe: on every PE stream A
// alternates a = sum(b), b = sum(a) over the world team and stream B does
// the same over a second team with the same members, with nothing
// ordering A and B. Barriers of the two teams are in flight at once on
// every PE; with shared device barrier counters one could consume the
// other's arrival. Every value must end as n^iters.
func scenarioTwoTeams(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	const n, iters = 256, 40
	np := pe.NPEs()
	world := pe.TeamWorld()
	other, err := world.SplitStrided(ctx, 0, 1, np, nil)
	require.NoError(t, err)
	require.NotEqual(t, world.Slot(), other.Slot())
	var buf [4]shmem.Sym[int32]
	for i := range buf {
		buf[i], err = shmem.CallocOn[int32](ctx, pe, shmem.Device, n)
		require.NoError(t, err)
	}
	ones := make([]int32, n)
	for i := range ones {
		ones[i] = 1
	}
	require.NoError(t, shmem.Put(pe, buf[0], ones, pe.MyPE()))
	require.NoError(t, shmem.Put(pe, buf[2], ones, pe.MyPE()))
	require.NoError(t, pe.BarrierAll(ctx))
	sa, sb := newStream(t, pe), newStream(t, pe)
	for it := range iters {
		a, b, c, d := buf[0], buf[1], buf[2], buf[3]
		if it%2 == 1 {
			a, b, c, d = b, a, d, c
		}
		require.NoError(t, streams.AllReduce(sa, world, shmem.OpSum, b, a, n))
		require.NoError(t, streams.AllReduce(sb, other, shmem.OpSum, d, c, n))
	}
	require.NoError(t, errors.Join(sa.Synchronize(ctx), sb.Synchronize(ctx)))
	want := int32(1)
	for range iters {
		want *= int32(np)
	}
	last := 0
	if iters%2 == 1 {
		last = 1
	}
	for _, b := range []shmem.Sym[int32]{buf[last], buf[last+2]} {
		got := make([]int32, n)
		require.NoError(t, shmem.Get(pe, got, b, pe.MyPE()))
		for i, v := range got {
			if v != want {
				t.Errorf("element %d is %d, want %d", i, v, want)
				break
			}
		}
	}
	require.NoError(t, errors.Join(sa.Close(ctx), sb.Close(ctx)))
	require.NoError(t, other.Destroy(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
}

// scenarioStreamBarrier: a stream barrier completes every earlier op of
// the stream, puts to host objects (which a GPU stream runs on the host)
// included, and meets the other members' stream barriers: after it, each
// PE's stream sees its left neighbour's put on both heaps.
func scenarioStreamBarrier(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, np := pe.MyPE(), pe.NPEs()
	right, left := (me+1)%np, (me+np-1)%np
	for round := 1; round <= 3; round++ {
		for _, space := range []shmem.Space{shmem.Host, shmem.Device} {
			src, err := shmem.CallocOn[int64](ctx, pe, space, 8)
			require.NoError(t, err)
			dst, err := shmem.CallocOn[int64](ctx, pe, space, 8)
			require.NoError(t, err)
			v := make([]int64, 8)
			for i := range v {
				v[i] = int64(round*1000 + me*10 + i)
			}
			require.NoError(t, shmem.Put(pe, src, v, me))
			s := newStream(t, pe)
			require.NoError(t, streams.Put(s, dst, src, right))
			require.NoError(t, s.Barrier(pe.TeamWorld()))
			got := make([]int64, 8)
			require.NoError(t, s.Go(func(context.Context) error { return shmem.Get(pe, got, dst, me) }))
			require.NoError(t, s.Synchronize(ctx))
			for i := range got {
				if want := int64(round*1000 + left*10 + i); got[i] != want {
					require.Failf(t, "stream barrier", "round %d, %v heap: dst[%d] = %d after the barrier, want %d", round, space, i, got[i], want)
				}
			}
			require.NoError(t, s.Close(ctx))
			require.NoError(t, pe.BarrierAll(ctx))
			require.NoError(t, errors.Join(shmem.Free(ctx, pe, dst), shmem.Free(ctx, pe, src)))
		}
	}
}

// scenarioCrossStreamEvent: an event of one stream orders another
// stream's ops after it (on one GPU, a device-side wait): stream B waits
// on stream A's event, recorded after A's put into x (held back by a Go
// function), then copies x into y, and finds A's data there.
func scenarioCrossStreamEvent(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me := pe.MyPE()
	x, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 4)
	require.NoError(t, err)
	y, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 4)
	require.NoError(t, err)
	src, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 4)
	require.NoError(t, err)
	require.NoError(t, shmem.Put(pe, src, []int64{1, 2, 3, int64(me)}, me))
	a, b := newStream(t, pe), newStream(t, pe)
	gate := make(chan struct{})
	require.NoError(t, a.Go(func(context.Context) error { <-gate; return nil }))
	require.NoError(t, streams.Put(a, x, src, me))
	ev, err := a.Record()
	require.NoError(t, err)
	require.NoError(t, b.WaitEvent(ev))
	require.NoError(t, streams.Put(b, y, x, me))
	time.Sleep(20 * time.Millisecond)
	close(gate)
	require.NoError(t, errors.Join(b.Synchronize(ctx), a.Synchronize(ctx)))
	got := make([]int64, 4)
	require.NoError(t, shmem.Get(pe, got, y, me))
	assert.Equal(t, fmt.Sprint([]int64{1, 2, 3, int64(me)}), fmt.Sprint(got))
	require.NoError(t, errors.Join(a.Close(ctx), b.Close(ctx)))
	require.NoError(t, pe.BarrierAll(ctx))
}
