package hostshmem_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["wait16"] = scenarioWait16 }

// TestWait16: waits and tests on 16-bit integers see peers' puts whole and
// never the other half of the word around them.
func TestWait16(t *testing.T) { petest.Both(t, scenarios, "wait16", 1, 2, 3, 4) }

func scenarioWait(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next, prev := (me+1)%n, (me+n-1)%n

	// Every comparison: prev writes values that do not satisfy it, then
	// one that does; the wait must end on that one.
	cases := []struct {
		cmp          shmem.Cmp
		v            int64
		before, last int64
	}{
		{shmem.CmpEQ, 5, 4, 5},
		{shmem.CmpNE, 0, 0, 7},
		{shmem.CmpGT, 4, 4, 5},
		{shmem.CmpGE, 5, 4, 5},
		{shmem.CmpLT, 0, 0, -1},
		{shmem.CmpLE, -2, -1, -2},
	}
	ivar, err := shmem.Calloc[int64](ctx, pe, len(cases))
	require.NoError(t, err)
	for i, c := range cases {
		x := ivar.At(i)
		require.NoError(t, shmem.P(pe, x, c.before, next))
		require.NoError(t, pe.Quiet())
		go func() { // write the satisfying value a little later
			time.Sleep(2 * time.Millisecond)
			shmem.P(pe, x, c.last, next)
			pe.Quiet()
		}()
		require.NoError(t, shmem.WaitUntil(ctx, pe, x, c.cmp, c.v), "cmp %v", c.cmp)
		assert.Equal(t, c.last, shmem.Local(pe, x)[0], "wait_until(%v %d) ended early", c.cmp, c.v)
		ok, err := shmem.Test(pe, x, c.cmp, c.v)
		require.NoError(t, err)
		assert.True(t, ok)
		require.NoError(t, pe.BarrierAll(ctx))
	}

	// Sets of variables on PE 0, one per PE; PE j sets its own.
	flags, err := shmem.Calloc[uint32](ctx, pe, n)
	require.NoError(t, err)
	idx := make([]int, n)
	if me == 0 {
		status := make([]int, n)
		status[0] = 1 // PE 0's own slot is never written: mask it
		i, err := shmem.WaitUntilAny(ctx, pe, flags, status, shmem.CmpEQ, 1)
		require.NoError(t, err)
		assert.True(t, i >= 1 && i < n, "wait_until_any returned %d", i)
		k, err := shmem.WaitUntilSome(ctx, pe, flags, idx, status, shmem.CmpEQ, 1)
		require.NoError(t, err)
		require.GreaterOrEqual(t, k, 1)
		for _, j := range idx[:k] {
			assert.True(t, j >= 1 && j < n, "wait_until_some index %d", j)
		}
		require.NoError(t, shmem.WaitUntilAll(ctx, pe, flags, status, shmem.CmpEQ, 1))
		all, err := shmem.TestAll(pe, flags, status, shmem.CmpEQ, 1)
		require.NoError(t, err)
		assert.True(t, all)
		all, err = shmem.TestAll(pe, flags, nil, shmem.CmpEQ, 1) // slot 0 is 0
		require.NoError(t, err)
		assert.False(t, all, "test_all without a mask must see PE 0's 0")
		k, err = shmem.TestSome(pe, flags, idx, status, shmem.CmpEQ, 1)
		require.NoError(t, err)
		assert.Equal(t, n-1, k)
		a, err := shmem.TestAny(pe, flags, []int{0, 1, 1, 1, 1, 1, 1, 1}[:n], shmem.CmpEQ, 0)
		require.NoError(t, err)
		assert.Equal(t, 0, a)
		// Vector forms: slot j must equal want[j].
		want := make([]uint32, n)
		for j := 1; j < n; j++ {
			want[j] = 1
		}
		require.NoError(t, shmem.WaitUntilAllVector(ctx, pe, flags, nil, shmem.CmpEQ, want))
		a, err = shmem.WaitUntilAnyVector(ctx, pe, flags, nil, shmem.CmpEQ, want)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, a, 0)
		k, err = shmem.WaitUntilSomeVector(ctx, pe, flags, idx, nil, shmem.CmpEQ, want)
		require.NoError(t, err)
		assert.Equal(t, n, k)
		ok, err := shmem.TestAllVector(pe, flags, nil, shmem.CmpEQ, want)
		require.NoError(t, err)
		assert.True(t, ok)
		a, err = shmem.TestAnyVector(pe, flags, nil, shmem.CmpGT, want)
		require.NoError(t, err)
		assert.Equal(t, -1, a)
		k, err = shmem.TestSomeVector(pe, flags, idx, nil, shmem.CmpNE, want)
		require.NoError(t, err)
		assert.Zero(t, k)
		// Everything masked: any and some return at once.
		masked := make([]int, n)
		for j := range masked {
			masked[j] = 1
		}
		a, err = shmem.WaitUntilAny(ctx, pe, flags, masked, shmem.CmpEQ, 42)
		require.NoError(t, err)
		assert.Equal(t, -1, a)
		k, err = shmem.WaitUntilSome(ctx, pe, flags, idx, masked, shmem.CmpEQ, 42)
		require.NoError(t, err)
		assert.Zero(t, k)
	} else {
		time.Sleep(time.Duration(me) * time.Millisecond)
		require.NoError(t, shmem.AtomicSet(pe, flags.At(me), 1, 0))
	}
	require.NoError(t, pe.BarrierAll(ctx))

	// A wait nobody satisfies ends with its context's deadline.
	err = endsAtDeadline(t, ctx, 30*time.Millisecond, "wait_until", func(ctx context.Context) error {
		return shmem.WaitUntil(ctx, pe, ivar.At(0), shmem.CmpEQ, 123456)
	})
	assert.Contains(t, err.Error(), "wait_until")
	_ = prev
	require.NoError(t, pe.BarrierAll(ctx))
}

// endsAtDeadline runs wait under a context that times out after timeout
// and checks that wait ends with the deadline's error, neither before the
// context's own deadline nor long after it. The clock starts before the
// context is made: a goroutine preempted between the two must not make a
// punctual wait look early. It returns wait's error.
func endsAtDeadline(t *petest.T, parent context.Context, timeout time.Duration, what string, wait func(context.Context) error) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	deadline, ok := ctx.Deadline()
	require.True(t, ok)
	err := wait(ctx)
	end := time.Now()
	require.ErrorIs(t, err, context.DeadlineExceeded, what)
	assert.False(t, end.Before(deadline), "%s ended %v before its context's deadline", what, deadline.Sub(end))
	assert.GreaterOrEqual(t, end.Sub(t0), min(timeout, deadline.Sub(t0)), "%s ended before its timeout", what)
	assert.Less(t, end.Sub(deadline), 5*time.Second, "%s overran its deadline", what)
	return err
}

// wait16 checks waits and tests on 16-bit variables of type T, which are
// read with 32-bit atomic loads of the word around them: elements 0 and 1
// share a word, so are 2 and 3. value is negative for signed T.
func wait16[T int16 | uint16](t *petest.T, pe *shmem.PE, value T) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	what := fmt.Sprintf("%T", value)
	v, err := shmem.Calloc[T](ctx, pe, 4)
	require.NoError(t, err)
	local := shmem.Local(pe, v)

	// The element beside each waited one, in the same word, satisfies the
	// condition already; the waited one does not yet. A load of the wrong
	// half of the word shows here.
	local[0], local[3] = value, value
	for _, i := range []int{1, 2} {
		ok, err := shmem.Test(pe, v.At(i), shmem.CmpEQ, value)
		require.NoError(t, err, what)
		require.False(t, ok, "%s: element %d looks like its neighbour", what, i)
	}
	ok, err := shmem.Test(pe, v.At(0), shmem.CmpEQ, value)
	require.NoError(t, err, what)
	require.True(t, ok, "%s: element 0", what)
	k, err := shmem.TestSome(pe, v, make([]int, 4), nil, shmem.CmpEQ, value)
	require.NoError(t, err, what)
	require.Equal(t, 2, k, "%s: elements 0 and 3 hold the value", what)
	require.NoError(t, pe.BarrierAll(ctx)) // every PE looked before the puts

	// The previous PE puts the value into elements 1 and 2 (P and Put);
	// the waits end on those puts.
	require.NoError(t, shmem.P(pe, v.At(1), value, next), what)
	require.NoError(t, shmem.Put(pe, v.Slice(2, 3), []T{value}, next), what)
	require.NoError(t, shmem.WaitUntil(ctx, pe, v.At(1), shmem.CmpEQ, value), what)
	require.NoError(t, shmem.WaitUntilAll(ctx, pe, v, nil, shmem.CmpEQ, value), what)
	assert.Equal(t, []T{value, value, value, value}, local, what)
	if value > 0 {
		require.NoError(t, shmem.WaitUntil(ctx, pe, v.At(2), shmem.CmpGT, value-1), "%s: unsigned compare", what)
	} else {
		require.NoError(t, shmem.WaitUntil(ctx, pe, v.At(2), shmem.CmpLT, 0), "%s: signed compare", what)
	}
	all, err := shmem.TestAllVector(pe, v, nil, shmem.CmpEQ, []T{value, value, value, value})
	require.NoError(t, err, what)
	assert.True(t, all, what)
	require.NoError(t, pe.BarrierAll(ctx))

	// Every PE sets its own element of PE 0's array; neighbours in one
	// word are written by different PEs at once, and PE 0 waits for all.
	flags, err := shmem.Calloc[T](ctx, pe, n)
	require.NoError(t, err)
	require.NoError(t, shmem.P(pe, flags.At(me), value-T(me), 0), what)
	if me == 0 {
		want := make([]T, n)
		for j := range want {
			want[j] = value - T(j)
		}
		require.NoError(t, shmem.WaitUntilAllVector(ctx, pe, flags, nil, shmem.CmpEQ, want), what)
		assert.Equal(t, want, shmem.Local(pe, flags), what)
		i, err := shmem.WaitUntilAny(ctx, pe, flags, nil, shmem.CmpEQ, value-T(n-1))
		require.NoError(t, err, what)
		assert.Equal(t, n-1, i, what)
	}
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, flags))
	require.NoError(t, shmem.Free(ctx, pe, v))
}

func scenarioWait16(t *petest.T, pe *shmem.PE) {
	wait16[int16](t, pe, -3)
	wait16[uint16](t, pe, 0xfff3)
	wait16[int16](t, pe, 0x7ff0)
}
