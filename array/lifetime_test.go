package array

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() {
	scenarios["life-refs"] = scenarioLifeRefs
	scenarios["life-convert"] = scenarioLifeConvert
	scenarios["life-carry"] = scenarioLifeCarry
	am.MustRegister[carryAM, []int64](reg, "array.test.carry")
}

// TestArrayReferences: clones and sub-arrays are references; a dropped
// handle fails every operation naming it; the memory stays while one PE
// holds a reference (Close says it waits on it) and is freed once none
// does.
func TestArrayReferences(t *testing.T) { petest.Both(t, scenarios, "life-refs", 2, 3) }

// TestArrayConversions: a conversion waits, saying so, while another
// reference is alive, honours its context, consumes its handle, and keeps
// the data through every kind.
func TestArrayConversions(t *testing.T) { petest.Both(t, scenarios, "life-convert", 2, 3) }

// TestArrayInAM: array handles of every kind in an AM's fields arrive as
// live handles of the receiver's (with the sender's sub-array view), a
// handler's clone outlives the AM, and the AMs' references end.
func TestArrayInAM(t *testing.T) { petest.Both(t, scenarios, "life-carry", 2, 3) }

// waitReleased waits until s's Darc is freed on this PE.
func waitReleased(t *petest.T, s *store) {
	select {
	case <-s.released:
	case <-t.Context().Done():
		t.Errorf("array %d: never released: %v", s.id, context.Cause(t.Context()))
		t.FailNow()
	}
}

func scenarioLifeRefs(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	n := 4 * npes
	a, err := NewAtomicArray[int64](ctx, w, n, Block)
	require.NoError(t, err)
	require.Equal(t, 1, Live(w))
	c, err := a.Clone()
	require.NoError(t, err)
	s, err := a.SubArray(1, n)
	require.NoError(t, err)
	require.NoError(t, a.Drop())

	// A dropped handle: every operation is an error naming it.
	for _, tc := range []struct {
		op  string
		err error
	}{
		{"load", ignore(a.Load(0).Wait(ctx))},
		{"add", ignore(a.Add(0, 1).Wait(ctx))},
		{"batch add", ignore(a.BatchAdd([]int{0}, []int64{1}).Wait(ctx))},
		{"drop", a.Drop()},
		{"clone", ignore(a.Clone())},
		{"sub-array", ignore(a.SubArray(0, 1))},
		{"into read-only", ignore(a.IntoReadOnly(ctx))},
		{"into local-lock", ignore(a.IntoLocalLock(ctx))},
		{"close", a.Close(ctx)},
		{"all-gather", ignore(a.AllGather(ctx))},
	} {
		require.ErrorIs(t, tc.err, errdefs.ErrClosed, tc.op)
		require.ErrorContains(t, tc.err, "array: "+tc.op, tc.op)
	}

	// The other references still work, on the same data.
	require.NoError(t, ignore(s.Add(me, 1).Wait(ctx)))
	require.NoError(t, w.Barrier(ctx))
	got, err := c.BatchLoad([]int{1, npes}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 1}, got, "a clone sees a sub-array's adds")
	require.NoError(t, c.Drop())
	require.Equal(t, 1, Live(w), "s still holds the array")

	// PE 0 closes while the others hold their sub-array: it waits, says on
	// what, and gives up with its context.
	if me == 0 {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := s.Close(short)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "still waiting for its other references to be dropped")
		require.True(t, Live(w) == 1 && !s.s.isReleased(), "freed while PE 1 holds a reference")
	}
	require.NoError(t, w.Barrier(ctx))
	if me == 0 {
		// Its handle is gone; the sweep that frees the memory is
		// collective, as the others' Close.
		waitReleased(t, s.s)
		require.NoError(t, Reclaim(ctx, w))
	} else {
		require.NoError(t, s.Close(ctx))
	}
	require.Equal(t, 0, Live(w), "every reference is gone")
	_, err = s.Load(0).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)

	// Drop everywhere, then Reclaim: the memory of an array nobody closes.
	b, err := NewUnsafeArray[uint8](ctx, w, n, Cyclic)
	require.NoError(t, err)
	require.NoError(t, b.Drop())
	waitReleased(t, b.s)
	require.NoError(t, Reclaim(ctx, w))
	require.Equal(t, 0, Live(w))
	require.ErrorIs(t, Reclaim(ctx, nil), errdefs.ErrInvalidArg)

	// A StructArray's handles are references too.
	sa, err := NewStructArray(ctx, w, n, Block, StructOptions[particle]{Ops: particleOps})
	require.NoError(t, err)
	sc, err := sa.Clone()
	require.NoError(t, err)
	ss, err := sa.SubArray(1, n)
	require.NoError(t, err)
	require.NoError(t, sa.Drop())
	_, err = sa.Load(0).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	require.ErrorContains(t, err, "array: load")
	require.ErrorIs(t, sa.Drop(), errdefs.ErrClosed)
	require.NoError(t, ignore(ss.Store(0, particle{Count: 7}).Wait(ctx)))
	v, err := sc.Load(1).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(7), v.Count, "a clone sees a sub-array's store")
	require.NoError(t, ss.Drop())
	require.Equal(t, 1, Live(w))
	require.NoError(t, sc.Close(ctx))
	require.Equal(t, 0, Live(w))
	require.NoError(t, w.Close(ctx))
}

func scenarioLifeConvert(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	n := 3*npes + 1
	u, err := NewUnsafeArray[int64](ctx, w, n, Cyclic)
	require.NoError(t, err)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(7 * i)
	}
	first, _ := u.FirstGlobalIndexForPE(me)
	for k := range u.LocalData() {
		u.LocalData()[k] = want[first+k*npes]
	}
	c, err := u.Clone()
	require.NoError(t, err)
	if me == npes-1 {
		// The clone is alive: the conversion waits for it, and says so.
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := u.IntoLocalLock(short)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "into local-lock")
		require.ErrorContains(t, err, "2 references on this PE to be dropped")
		_, err = u.Load(0).Wait(ctx)
		require.NoError(t, err, "a conversion that gave up leaves its handle")
	}
	require.NoError(t, c.Drop())
	l, err := u.IntoLocalLock(ctx)
	require.NoError(t, err)
	_, err = u.Load(0).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed, "consumed by the conversion")
	require.ErrorContains(t, err, "array: load")
	_, err = u.IntoGlobalLock(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	require.ErrorContains(t, err, "array: into global-lock")

	check := func(kind string, f *am.Future[[]int64]) {
		t.Helper()
		got, err := f.Wait(ctx)
		require.NoError(t, err, kind)
		require.Equal(t, want, got, kind)
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	check("local-lock", l.BatchLoad(all))
	g, err := l.IntoGlobalLock(ctx)
	require.NoError(t, err)
	check("global-lock", g.BatchLoad(all))
	r, err := g.IntoReadOnly(ctx)
	require.NoError(t, err)
	check("read-only", r.BatchLoad(all))
	a, err := r.IntoAtomic(ctx)
	require.NoError(t, err)
	check("atomic", a.BatchLoad(all))
	g2, err := a.IntoGlobalLock(ctx)
	require.NoError(t, err)
	l2, err := g2.IntoLocalLock(ctx)
	require.NoError(t, err)
	a2, err := l2.IntoAtomic(ctx)
	require.NoError(t, err)
	u2, err := a2.IntoUnsafe(ctx)
	require.NoError(t, err)
	check("unsafe again", u2.BatchLoad(all))
	for _, h := range []interface{ Drop() error }{l, g, r, a, g2, l2, a2} {
		require.ErrorIs(t, h.Drop(), errdefs.ErrClosed, "%T: consumed", h)
	}
	require.Equal(t, 1, Live(w))
	require.NoError(t, u2.Close(ctx))
	require.Equal(t, 0, Live(w))
	require.NoError(t, w.Close(ctx))
}

// keepKey is the World.Attach key of the clones carryAM's handler keeps.
type keepKey struct{}

func kept(w *am.World) chan *AtomicArray[int64] {
	return w.Attach(keepKey{}, func() any { return make(chan *AtomicArray[int64], 8) }).(chan *AtomicArray[int64])
}

// carryAM carries an array of each kind: its handler adds 1 to A's
// element I, and returns what it sees of each (A's length, L's local
// length, G's length); with Keep it keeps a clone of A.
type carryAM struct {
	A    *AtomicArray[int64]
	L    *LocalLockArray[int64]
	G    *GlobalLockArray[int64]
	I    int
	Keep bool
}

func (m carryAM) Exec(ctx *am.Context) ([]int64, error) {
	if err := ignore(m.A.Add(m.I, 1).Wait(ctx)); err != nil {
		return nil, err
	}
	var local int
	if err := m.L.ReadLocalData(ctx, func(d []int64) error { local = len(d); return nil }); err != nil {
		return nil, err
	}
	g, err := m.G.Clone() // a live handle
	if err != nil {
		return nil, err
	}
	if err := g.Drop(); err != nil {
		return nil, err
	}
	if m.Keep {
		c, err := m.A.Clone()
		if err != nil {
			return nil, err
		}
		kept(ctx.World()) <- c
	}
	return []int64{int64(m.A.Len()), int64(local), int64(m.G.Len())}, nil
}

func scenarioLifeCarry(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	n := 2*npes + 3
	a, err := NewAtomicArray[int64](ctx, w, n, Block)
	require.NoError(t, err)
	l, err := NewLocalLockArray[int64](ctx, w, n, Cyclic)
	require.NoError(t, err)
	g, err := NewGlobalLockArray[int64](ctx, w, n, Block)
	require.NoError(t, err)
	sub, err := a.SubArray(2, n)
	require.NoError(t, err)
	require.Equal(t, 3, Live(w))
	next := (me + 1) % npes
	for q := range npes {
		got, err := am.Exec(w, q, carryAM{A: sub, L: l, G: g, I: me, Keep: q == next}).Wait(ctx)
		require.NoError(t, err, "AM to PE %d", q)
		require.Equal(t, []int64{int64(n - 2), int64(l.l.LocalLen(q)), int64(n)}, got, "AM to PE %d", q)
	}
	// The clone the next PE's handler kept of the AM's handle of ours.
	var c *AtomicArray[int64]
	select {
	case c = <-kept(w):
	case <-ctx.Done():
		t.FailNow()
	}
	require.NoError(t, w.Barrier(ctx))
	require.Equal(t, n-2, c.Len(), "the clone keeps the sub-array's view")
	got, err := c.Load(me).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(npes), got, "every PE's handlers added 1 to sub-array element %d", me)
	require.NoError(t, sub.Drop())
	require.NoError(t, c.Drop())
	// A nil array cannot travel.
	_, err = am.Exec(w, next, carryAM{L: l, G: g}).Wait(ctx)
	require.Error(t, err)
	require.ErrorContains(t, err, "nil")
	// The AMs' references are gone: Close ends.
	require.NoError(t, a.Close(ctx))
	require.NoError(t, l.Close(ctx))
	require.NoError(t, g.Close(ctx))
	require.Equal(t, 0, Live(w))
	require.NoError(t, w.Close(ctx))
}
