package algo_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/algo"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Deliberately broken algorithms: the harness must catch each one.

// skipLast is OneShot that forgets the last member's contribution.
func skipLast[T shmem.Elem](ctx context.Context, ws *algo.Workspace[T], t *shmem.Team, op shmem.ReduceOp, dest, source shmem.Sym[T], n int) error {
	epoch, err := ws.Begin(t, op, dest, source, n)
	if err != nil {
		return err
	}
	pe, size, me := ws.PE(), t.NPEs(), t.MyPE()
	half := int(epoch%2) * size
	mine := shmem.Local(pe, source)[:n]
	for j := 0; j < size; j++ {
		if j != me {
			if err := shmem.PutSignal(pe, ws.Slot(half+me, n), mine, ws.Signal(me), epoch, shmem.SignalSet, t.WorldPE(j)); err != nil {
				return err
			}
		}
	}
	srcs := [][]T{}
	for j := 0; j < max(1, size-1); j++ { // the bug: size-1
		if j == me {
			srcs = append(srcs, mine)
			continue
		}
		if _, err := shmem.SignalWaitUntil(ctx, pe, ws.Signal(j), shmem.CmpGE, epoch); err != nil {
			return err
		}
		srcs = append(srcs, shmem.Local(pe, ws.Slot(half+j, n)))
	}
	return algo.ReduceN(op, shmem.Local(pe, dest)[:n], srcs)
}

// singleBuffered is OneShot without the double buffering: every call uses
// the same slots, and nothing stops a fast peer's next call overwriting a
// slot that a slow member has not read yet. To make the race happen every
// time rather than now and then, member 0 is the slow reader: before it
// reads, it waits (up to 100 ms) for member 1's next call to arrive.
func singleBuffered[T shmem.Elem](ctx context.Context, ws *algo.Workspace[T], t *shmem.Team, op shmem.ReduceOp, dest, source shmem.Sym[T], n int) error {
	epoch, err := ws.Begin(t, op, dest, source, n)
	if err != nil {
		return err
	}
	pe, size, me := ws.PE(), t.NPEs(), t.MyPE()
	mine := shmem.Local(pe, source)[:n]
	for j := 0; j < size; j++ {
		if j != me {
			if err := shmem.PutSignal(pe, ws.Slot(me, n), mine, ws.Signal(me), epoch, shmem.SignalSet, t.WorldPE(j)); err != nil {
				return err
			}
		}
	}
	if me == 0 && size > 1 {
		for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); {
			if v, _ := shmem.SignalFetch(pe, ws.Signal(1)); v > epoch {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	srcs := make([][]T, size)
	for j := range srcs {
		if j == me {
			srcs[j] = mine
			continue
		}
		if _, err := shmem.SignalWaitUntil(ctx, pe, ws.Signal(j), shmem.CmpGE, epoch); err != nil {
			return err
		}
		srcs[j] = shmem.Local(pe, ws.Slot(j, n))
	}
	return algo.ReduceN(op, shmem.Local(pe, dest)[:n], srcs)
}

// worldNumbers is OneShot that passes a member index where Put wants a
// world PE number.
func worldNumbers[T shmem.Elem](ctx context.Context, ws *algo.Workspace[T], t *shmem.Team, op shmem.ReduceOp, dest, source shmem.Sym[T], n int) error {
	epoch, err := ws.Begin(t, op, dest, source, n)
	if err != nil {
		return err
	}
	pe, size, me := ws.PE(), t.NPEs(), t.MyPE()
	half := int(epoch%2) * size
	mine := shmem.Local(pe, source)[:n]
	for j := 0; j < size; j++ {
		if j != me {
			if err := shmem.PutSignal(pe, ws.Slot(half+me, n), mine, ws.Signal(me), epoch, shmem.SignalSet, j); err != nil { // the bug: j
				return err
			}
		}
	}
	srcs := make([][]T, size)
	for j := range srcs {
		if j == me {
			srcs[j] = mine
			continue
		}
		if _, err := shmem.SignalWaitUntil(ctx, pe, ws.Signal(j), shmem.CmpGE, epoch); err != nil {
			return err
		}
		srcs[j] = shmem.Local(pe, ws.Slot(half+j, n))
	}
	return algo.ReduceN(op, shmem.Local(pe, dest)[:n], srcs)
}

// nothing leaves dest alone.
func nothing[T shmem.Elem](context.Context, *algo.Workspace[T], *shmem.Team, shmem.ReduceOp, shmem.Sym[T], shmem.Sym[T], int) error {
	return nil
}

// scribbler is right, but uses its source as scratch and leaves it changed.
func scribbler[T shmem.Elem](ctx context.Context, ws *algo.Workspace[T], t *shmem.Team, op shmem.ReduceOp, dest, source shmem.Sym[T], n int) error {
	if err := algo.OneShot(ctx, ws, t, op, dest, source, n); err != nil {
		return err
	}
	if n > 0 {
		shmem.Local(ws.PE(), source)[n-1] = shmem.Local(ws.PE(), dest)[n-1] + 1
	}
	return nil
}

// hang never finishes: member 0 waits for a signal nobody sends.
func hang[T shmem.Elem](ctx context.Context, ws *algo.Workspace[T], t *shmem.Team, op shmem.ReduceOp, dest, source shmem.Sym[T], n int) error {
	if t.MyPE() == 0 {
		_, err := shmem.SignalWaitUntil(ctx, ws.PE(), ws.Signal(0), shmem.CmpEQ, 12345)
		return err
	}
	return algo.Builtin(ctx, ws, t, op, dest, source, n)
}

func small(npes ...int) algo.Config {
	return algo.Config{NPEs: npes, Elems: []int{7, 100}, Ops: []shmem.ReduceOp{shmem.OpSum}}
}

func TestHarnessCatchesMissingContribution(t *testing.T) {
	err := algo.Check(context.Background(), skipLast[float32], small(3))
	require.ErrorIs(t, err, algo.ErrWrongResult)
	// The message names the member, the call, the element and both values.
	assert.Regexp(t, `sum of 7 elements on Team\{PEs 0\+1i, i<3; me \d\}, call 1 \(out of place\): member \d \(PE \d\), dest element 0: got -?\d+, want -?\d+`, err.Error())
	t.Log(err)
}

func TestHarnessCatchesMissingContributionOnTwoPEs(t *testing.T) {
	err := algo.Check(context.Background(), skipLast[int32], algo.Config{NPEs: []int{2}, Elems: []int{1}, Ops: []shmem.ReduceOp{shmem.OpMax, shmem.OpSum}})
	require.ErrorIs(t, err, algo.ErrWrongResult)
}

func TestHarnessCatchesWorldNumbersInSubTeam(t *testing.T) {
	// Right on the world team, where member j is PE j...
	cfg := small(5)
	cfg.NoSubTeams = true
	require.NoError(t, algo.Check(context.Background(), worldNumbers[float32], cfg))
	// ...but on the even and odd PEs its puts land on the wrong PEs:
	// wrong results, or members waiting for signals that went elsewhere.
	cfg.NoSubTeams, cfg.Timeout = false, time.Second
	err := algo.Check(context.Background(), worldNumbers[float32], cfg)
	require.Error(t, err)
	t.Log(err)
}

func TestHarnessCatchesFlowControlBug(t *testing.T) {
	for _, npes := range []int{2, 3} {
		err := algo.Check(context.Background(), singleBuffered[float32], small(npes))
		require.ErrorIs(t, err, algo.ErrWrongResult, "%d PEs", npes)
		t.Log(err)
	}
}

func TestHarnessCatchesUnwrittenDest(t *testing.T) {
	err := algo.Check(context.Background(), nothing[shmem.BFloat16], small(1))
	require.ErrorIs(t, err, algo.ErrWrongResult)
	assert.Contains(t, err.Error(), "got 99, want")
}

func TestHarnessCatchesChangedSource(t *testing.T) {
	err := algo.Check(context.Background(), scribbler[int32], small(2))
	require.ErrorIs(t, err, algo.ErrWrongResult)
	assert.Contains(t, err.Error(), "source element 6")
}

func TestHarnessTimesOutDeadlock(t *testing.T) {
	cfg := small(2)
	cfg.Timeout = 200 * time.Millisecond
	start := time.Now()
	err := algo.Check(context.Background(), hang[float64], cfg)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestHarnessPassesAlgErrorThrough(t *testing.T) {
	// xor is not defined on float32: Begin refuses it and Check says so.
	err := algo.Check(context.Background(), algo.Ring[float32], algo.Config{NPEs: []int{2}, Elems: []int{1}, Ops: []shmem.ReduceOp{shmem.OpXor}})
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
}
