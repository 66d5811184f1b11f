package array

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// iterScenarios are the iterators' scenarios (TestMain adds them to
// scenarios).
var iterScenarios = petest.Scenarios{
	"iters":        scenarioIters,
	"iters-errors": scenarioItersErrors,
	"iters-reduce": scenarioArrayReductions,
	"array-coll":   scenarioArrayColl,
	"iters-cancel": scenarioItersCancel,
}

// TestIters: every adaptor and consumer, distributed and local, against
// a sequential model, on Block and Cyclic arrays of every grid length,
// under every schedule.
func TestIters(t *testing.T) { petest.Both(t, scenarios, "iters", 2, 3) }

// TestItersErrors: a function's error or panic on one PE reaches every
// PE; bad arguments and closed arrays are errors, not panics or hangs.
func TestItersErrors(t *testing.T) { petest.Both(t, scenarios, "iters-errors", 2, 3) }

// TestArrayReductions: Sum, Prod, Min, Max and Reduce of the three kinds.
func TestArrayReductions(t *testing.T) { petest.Both(t, scenarios, "iters-reduce", 2, 3) }

// TestItersCancel: a PE whose context ends in the middle of a
// distributed consumer fails it, and the others fail too, naming it,
// rather than wait for it.
func TestItersCancel(t *testing.T) { petest.Both(t, scenarios, "iters-cancel", 2, 3) }

// TestArrayCollectives: Broadcast and AllReduce into atomic and unsafe
// arrays and sub-arrays, checked with AllGather; their bad arguments and
// a panicking function fail every PE.
func TestArrayCollectives(t *testing.T) { petest.Both(t, scenarios, "array-coll", 2, 3) }

// val is element i's value in the scenarios' arrays.
func val(i int) int64 { return int64((i*7+3)%23 - 5) }

// tItem is the items of the test chains: an element's index and a value.
type tItem struct {
	Idx int
	V   int64
}

// mItem is the model's item: tItem and its position.
type mItem struct {
	tItem
	pos int
}

// step is one adaptor of a test chain.
type step struct {
	kind string
	n    int
}

// chains are the adaptor chains every consumer runs.
var chains = [][]step{
	nil,
	{{"filter", 0}},
	{{"skip", 5}},
	{{"step", 3}},
	{{"take", 9}},
	{{"skip", 2}, {"step", 2}, {"take", 7}},
	{{"filter", 0}, {"skip", 3}, {"enum", 0}},
	{{"step", 2}, {"enum", 0}, {"filter", 0}},
	{{"map", 0}, {"skip", 1000}},
}

// build applies a chain to an array's iterator.
func build[M Mode](it Iter[M, Indexed[int64]], steps []step) Iter[M, tItem] {
	out := Map(it, func(x Indexed[int64]) tItem { return tItem{x.Index, x.Value} })
	for _, s := range steps {
		switch s.kind {
		case "filter":
			out = out.Filter(func(t tItem) bool { return t.V%3 != 0 })
		case "skip":
			out = out.Skip(s.n)
		case "step":
			out = out.StepBy(s.n)
		case "take":
			out = out.Take(s.n)
		case "enum":
			out = Map(Enumerate(out), func(e Indexed[tItem]) tItem { return tItem{e.Value.Idx, e.Value.V*1000 + int64(e.Index)} })
		case "map":
			out = Map(out, func(t tItem) tItem { return tItem{t.Idx, t.V * t.V} })
		}
	}
	return out
}

// model applies a chain to items in position order.
func model(items []mItem, steps []step) []mItem {
	for _, s := range steps {
		var next []mItem
		for _, m := range items {
			switch s.kind {
			case "filter":
				if m.V%3 == 0 {
					continue
				}
			case "skip":
				if m.pos -= s.n; m.pos < 0 {
					continue
				}
			case "step":
				if m.pos%s.n != 0 {
					continue
				}
				m.pos /= s.n
			case "take":
				if m.pos >= s.n {
					continue
				}
			case "enum":
				m.V = m.V*1000 + int64(m.pos)
			case "map":
				m.V *= m.V
			}
			next = append(next, m)
		}
		items = next
	}
	return items
}

// fixture is one (distribution, length) of the grid: a read-only array
// holding val(i) at i, an atomic one to add into, and the model.
type fixture struct {
	ctx   context.Context
	w     *am.World
	d     Distribution
	n     int
	r     *ReadOnlyArray[int64]
	acc   *AtomicArray[int64] // ForEach adds items here
	want  []int64             // what acc should hold
	owner []int               // each index's PE
	local []mItem             // this PE's elements, at local positions
	all   []mItem             // every element, at global positions
}

func newFixture(t *petest.T, w *am.World, d Distribution, n int) *fixture {
	ctx := t.Context()
	u, err := NewUnsafeArray[int64](ctx, w, n, d)
	require.NoError(t, err)
	// The mutable iterator writes every element in place.
	require.NoError(t, u.DistIterMut().ForEach(ctx, func(x Indexed[*int64]) error {
		*x.Value = val(x.Index)
		return nil
	}))
	r, err := u.IntoReadOnly(ctx)
	require.NoError(t, err)
	acc, err := NewAtomicArray[int64](ctx, w, n, d)
	require.NoError(t, err)
	f := &fixture{ctx: ctx, w: w, d: d, n: n, r: r, acc: acc, want: make([]int64, n), owner: make([]int, n)}
	for i := range n {
		pe, _, err := r.PEAndOffset(i)
		require.NoError(t, err)
		f.owner[i] = pe
		f.all = append(f.all, mItem{tItem{i, val(i)}, i})
		if pe == w.MyPE() {
			f.local = append(f.local, mItem{tItem{i, val(i)}, len(f.local)})
		}
	}
	return f
}

func (f *fixture) close(t *petest.T) {
	require.NoError(t, f.acc.Close(f.ctx))
	require.NoError(t, f.r.Close(f.ctx))
}

func values(ms []mItem) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.V)
	}
	return out
}

func sum(ms []mItem) int64 {
	var s int64
	for _, m := range ms {
		s += m.V
	}
	return s
}

// concat is the model of Reduce with the string-joining op: items in the
// order given.
func concat(ms []mItem) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d:%d;", m.Idx, m.V)
	}
	return b.String()
}

func join(a, b string) string { return a + b }

func describe(t tItem) string { return fmt.Sprintf("%d:%d;", t.Idx, t.V) }

// peOrder is the order a distributed Reduce combines in: each PE's items
// in index order, the PEs in order.
func (f *fixture) peOrder(ms []mItem) []mItem {
	out := slices.Clone(ms)
	sort.SliceStable(out, func(i, j int) bool { return f.owner[out[i].Idx] < f.owner[out[j].Idx] })
	return out
}

// distConsumers runs every distributed consumer on one chain and checks
// the results against the model.
func (f *fixture) distConsumers(t *petest.T, steps []step, s Schedule, workers int) {
	ctx := f.ctx
	name := fmt.Sprintf("%v n=%d chain %v %v workers %d", f.d, f.n, steps, s, workers)
	it := build(f.r.DistIter(), steps).Schedule(s).Workers(workers)
	want := model(f.all, steps)

	n, err := it.Count(ctx)
	require.NoError(t, err, name)
	require.Equal(t, len(want), n, "%s: count", name)

	got, err := Sum(ctx, Map(it, func(t tItem) int64 { return t.V }))
	require.NoError(t, err, name)
	require.Equal(t, sum(want), got, "%s: sum", name)

	str, ok, err := Map(it, describe).Reduce(ctx, join)
	require.NoError(t, err, name)
	require.Equal(t, len(want) > 0, ok, "%s: reduce found items", name)
	require.Equal(t, concat(f.peOrder(want)), str, "%s: reduce order", name)

	for _, d := range []Distribution{Block, Cyclic} {
		out, err := Collect(ctx, Map(it, func(t tItem) int64 { return t.V }), d)
		require.NoError(t, err, name)
		require.Equal(t, len(want), out.Len(), "%s: collected length", name)
		require.Equal(t, d, out.Distribution())
		seq, done := out.OneSided(ctx, 5)
		coll := []int64{}
		for _, v := range seq {
			coll = append(coll, v)
		}
		require.NoError(t, done())
		require.Equal(t, values(want), coll, "%s: collected into %v", name, d)
		require.NoError(t, out.Close(ctx))
	}

	require.NoError(t, it.ForEach(ctx, func(t tItem) error {
		_, err := f.acc.Add(t.Idx, t.V).Wait(ctx)
		return err
	}), name)
	for _, m := range want {
		f.want[m.Idx] += m.V
	}
	seq, done := f.acc.OneSided(ctx, 0)
	for i, v := range seq {
		require.Equal(t, f.want[i], v, "%s: element %d after ForEach", name, i)
	}
	require.NoError(t, done())
	require.NoError(t, f.w.Barrier(ctx))
}

// localConsumers runs every local consumer on one chain.
func (f *fixture) localConsumers(t *petest.T, steps []step, s Schedule, workers int) {
	ctx := f.ctx
	name := fmt.Sprintf("local %v n=%d chain %v %v workers %d", f.d, f.n, steps, s, workers)
	it := build(f.r.LocalIter(), steps).Schedule(s).Workers(workers)
	want := model(f.local, steps)

	n, err := it.Count(ctx)
	require.NoError(t, err, name)
	require.Equal(t, len(want), n, "%s: count", name)
	got, err := Sum(ctx, Map(it, func(t tItem) int64 { return t.V }))
	require.NoError(t, err, name)
	require.Equal(t, sum(want), got, "%s: sum", name)
	str, ok, err := Map(it, describe).Reduce(ctx, join)
	require.NoError(t, err, name)
	require.Equal(t, len(want) > 0, ok, name)
	require.Equal(t, concat(want), str, "%s: reduce order", name)
	items, err := CollectLocal(ctx, Map(it, func(t tItem) int64 { return t.V }))
	require.NoError(t, err, name)
	require.Equal(t, values(want), append([]int64{}, items...), "%s: collect", name)

	var mu sync.Mutex
	var seen []mItem
	require.NoError(t, it.ForEach(ctx, func(t tItem) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, mItem{tItem: t})
		return nil
	}), name)
	sort.Slice(seen, func(i, j int) bool { return seen[i].Idx < seen[j].Idx })
	require.Equal(t, concat(want), concat(seen), "%s: for each saw every item once", name)

	seq, done := it.All()
	var walked []mItem
	for t := range seq {
		walked = append(walked, mItem{tItem: t})
	}
	require.NoError(t, done())
	require.Equal(t, concat(want), concat(walked), "%s: All", name)
}

// schedules are every schedule, with worker counts that differ from the
// machine's.
var schedules = []struct {
	s       Schedule
	workers int
}{
	{Static(), 0}, {Static(), 3}, {Dynamic(), 3}, {Chunk(3), 2}, {Chunk(64), 3}, {Guided(), 3}, {WorkStealing(), 3}, {WorkStealing(), 0},
}

func scenarioIters(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	for _, d := range []Distribution{Block, Cyclic} {
		for _, n := range lengths {
			f := newFixture(t, w, d, n)
			for _, c := range chains {
				f.distConsumers(t, c, Static(), 0)
				f.localConsumers(t, c, Dynamic(), 2)
			}
			for _, s := range schedules {
				f.distConsumers(t, chains[6], s.s, s.workers)
				f.localConsumers(t, chains[5], s.s, s.workers)
				f.localConsumers(t, chains[1], s.s, s.workers)
			}
			f.chunks(t)
			f.zip(t)
			f.atomicItems(t)
			f.close(t)
		}
	}
	require.NoError(t, w.Close(t.Context()))
}

// chunks: Chunks groups each PE's items; a distributed Collect of the
// chunks' sums is in PE order.
func (f *fixture) chunks(t *petest.T) {
	ctx := f.ctx
	for _, s := range schedules {
		name := fmt.Sprintf("chunks %v n=%d %v", f.d, f.n, s.s)
		// The model: every PE's filtered items in index order, by 4.
		var wantSums []int64
		var mine [][]int64
		for pe := range f.w.NPEs() {
			var its []int64
			for _, m := range f.all {
				if f.owner[m.Idx] == pe && m.V%3 != 0 {
					its = append(its, m.V)
				}
			}
			for c := range slices.Chunk(its, 4) {
				var s int64
				for _, v := range c {
					s += v
				}
				wantSums = append(wantSums, s)
				if pe == f.w.MyPE() {
					mine = append(mine, c)
				}
			}
		}
		vals := func(x Indexed[int64]) int64 { return x.Value }
		nonzero := func(v int64) bool { return v%3 != 0 }
		add := func(c []int64) int64 {
			var s int64
			for _, v := range c {
				s += v
			}
			return s
		}
		dist := Chunks(Map(f.r.DistIter(), vals).Filter(nonzero), 4).Schedule(s.s).Workers(s.workers)
		out, err := Collect(ctx, Map(dist, add), Block)
		require.NoError(t, err, name)
		seq, done := out.OneSided(ctx, 0)
		got := []int64{}
		for _, v := range seq {
			got = append(got, v)
		}
		require.NoError(t, done())
		if wantSums == nil {
			wantSums = []int64{}
		}
		require.Equal(t, wantSums, got, name)
		require.NoError(t, out.Close(ctx))
		n, err := dist.Count(ctx)
		require.NoError(t, err, name)
		require.Equal(t, len(wantSums), n, name)

		local, err := CollectLocal(ctx, Chunks(Map(f.r.LocalIter(), vals).Filter(nonzero), 4).Schedule(s.s).Workers(s.workers))
		require.NoError(t, err, name)
		require.Equal(t, mine, local, "%s: local chunks", name)
	}
}

// zip: a filtered iterator zipped with another array of the same layout
// (and with a sub-array pair that has it).
func (f *fixture) zip(t *petest.T) {
	ctx := f.ctx
	name := fmt.Sprintf("zip %v n=%d", f.d, f.n)
	dst, err := NewAtomicArray[int64](ctx, f.w, f.n, f.d)
	require.NoError(t, err)
	it := Zip(f.r.DistIter().Filter(func(x Indexed[int64]) bool { return x.Value%3 != 0 }), dst.DistIter())
	require.NoError(t, it.Schedule(Dynamic()).ForEach(ctx, func(p Pair[Indexed[int64], Elem[int64]]) error {
		if p.Left.Index != p.Right.Index() {
			return fmt.Errorf("paired %d with %d", p.Left.Index, p.Right.Index())
		}
		return p.Right.Store(2 * p.Left.Value)
	}), name)
	seq, done := dst.OneSided(ctx, 0)
	for i, v := range seq {
		want := int64(0)
		if val(i)%3 != 0 {
			want = 2 * val(i)
		}
		require.Equal(t, want, v, "%s: element %d", name, i)
	}
	require.NoError(t, done())
	// Local: each item with the element of the same index.
	sums, err := CollectLocal(ctx, Map(Zip(f.r.LocalIter().Skip(1), dst.LocalIter()), func(p Pair[Indexed[int64], Elem[int64]]) int64 {
		v, _ := p.Right.Load()
		return v - 2*p.Left.Value
	}))
	require.NoError(t, err)
	for k, s := range sums {
		want := int64(0) // the stored 2*v less 2*v
		if v := val(f.local[k+1].Idx); v%3 == 0 {
			want = -2 * v // nothing stored
		}
		require.Equal(t, want, s, "%s: local pair %d", name, k)
	}
	require.Len(t, sums, max(0, len(f.local)-1))
	require.NoError(t, dst.Close(ctx))
}

// atomicItems: the atomic array's items, distributed and local.
func (f *fixture) atomicItems(t *petest.T) {
	ctx := f.ctx
	n, err := f.acc.LocalIter().Filter(func(e Elem[int64]) bool { return e.Index()%2 == 0 }).Count(ctx)
	require.NoError(t, err)
	want := 0
	for _, m := range f.local {
		if m.Idx%2 == 0 {
			want++
		}
	}
	require.Equal(t, want, n)
	idx, err := Sum(ctx, Map(f.acc.DistIter(), func(e Elem[int64]) int { return e.Index() }))
	require.NoError(t, err)
	require.Equal(t, f.n*(f.n-1)/2, idx)
}

var errBoom = errors.New("boom")

func scenarioItersErrors(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me := w.MyPE()
	const n = 19
	f := newFixture(t, w, Cyclic, n)
	r := f.r

	// An error of f on PE 1 reaches every PE: PE 1's own, the others'
	// naming PE 1. (Cyclic at 2 and 3 PEs: PE 1 holds element 7, PE 0
	// element 6.)
	require.Equal(t, 1, f.owner[7])
	require.Equal(t, 0, f.owner[6])
	err := r.DistIter().Schedule(Dynamic()).ForEach(ctx, func(x Indexed[int64]) error {
		if me == 1 && x.Index == 7 {
			return fmt.Errorf("element %d: %w", x.Index, errBoom)
		}
		return nil
	})
	require.Error(t, err)
	if me == 1 {
		require.ErrorIs(t, err, errBoom)
		require.ErrorContains(t, err, "for each on PE 1: element 7: boom")
	} else {
		require.ErrorContains(t, err, "array: for each: PE 1 failed: ")
		require.ErrorContains(t, err, "boom")
	}
	// A panic in a function on PE 0, under every schedule.
	for _, s := range schedules {
		_, _, err = Map(r.DistIter(), func(x Indexed[int64]) int64 {
			if me == 0 && x.Index == 6 {
				panic("kaboom")
			}
			return x.Value
		}).Schedule(s.s).Workers(s.workers).Reduce(ctx, func(a, b int64) int64 { return a + b })
		require.ErrorContains(t, err, "PE 0", s.s.String())
		require.ErrorContains(t, err, "kaboom", s.s.String())
	}
	// The array still works, and every PE is in step.
	c, err := r.DistIter().Count(ctx)
	require.NoError(t, err)
	require.Equal(t, n, c)

	// A type am/codec cannot carry, in a distributed Reduce.
	_, _, err = Map(r.DistIter(), func(Indexed[int64]) chan int { return nil }).Reduce(ctx, func(a, _ chan int) chan int { return a })
	require.Error(t, err)

	// Bad arguments: errors on every PE, distributed and local.
	vals := func(x Indexed[int64]) int64 { return x.Value }
	bad := map[string]Dist[int64]{
		"filter":           Map(r.DistIter(), vals).Filter(nil),
		"map":              Map[Distributed, Indexed[int64], int64](r.DistIter(), nil),
		"step by":          Map(r.DistIter(), vals).StepBy(0),
		"skip":             Map(r.DistIter(), vals).Skip(-1),
		"take":             Map(r.DistIter(), vals).Take(-2),
		"workers":          Map(r.DistIter(), vals).Workers(-1),
		"chunk size 0":     Map(r.DistIter(), vals).Schedule(Chunk(0)),
		"chunks":           Map(Chunks(r.DistIter(), 0), func([]Indexed[int64]) int64 { return 0 }),
		"skip after Chunk": Map(Chunks(r.DistIter(), 2).Skip(1), func([]Indexed[int64]) int64 { return 0 }),
		"enumerate":        Map(Enumerate(Chunks(r.DistIter(), 2)), func(Indexed[[]Indexed[int64]]) int64 { return 0 }),
	}
	// What each error says: the adaptor and the wrong value.
	says := map[string]string{
		"filter":           "filter: invalid argument: nil function",
		"map":              "map: invalid argument: nil function",
		"step by":          "step by: invalid argument: 0 (want at least 1)",
		"skip":             "skip: invalid argument: -1 (want at least 0)",
		"take":             "take: invalid argument: -2 (want at least 0)",
		"workers":          "workers: invalid argument: -1",
		"chunk size 0":     "invalid argument: chunk size 0 (want at least 1)",
		"chunks":           "chunks: invalid argument: size 0 (want at least 1)",
		"skip after Chunk": "skip: invalid argument: after Chunks",
		"enumerate":        "enumerate: invalid argument: after Chunks",
	}
	for _, what := range slices.Sorted(maps.Keys(bad)) { // the same order on every PE: the consumers are collective
		it := bad[what]
		_, err := it.Count(ctx)
		require.ErrorIs(t, err, errdefs.ErrInvalidArg, what)
		require.ErrorContains(t, err, says[what], what)
		_, err = Sum(ctx, it)
		require.ErrorIs(t, err, errdefs.ErrInvalidArg, what)
		_, err = Collect(ctx, it, Block)
		require.ErrorIs(t, err, errdefs.ErrInvalidArg, what)
	}
	require.ErrorIs(t, r.DistIter().ForEach(ctx, nil), errdefs.ErrInvalidArg)
	_, _, err = r.DistIter().Reduce(ctx, nil)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	_, err = Collect(ctx, Map(r.DistIter(), vals), Distribution(7))
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	//lint:ignore SA1012 a nil context is the bad argument under test
	require.ErrorIs(t, r.DistIter().ForEach(nil, func(Indexed[int64]) error { return nil }), errdefs.ErrInvalidArg)
	_, err = Map(r.LocalIter(), vals).StepBy(0).Count(ctx)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	_, err = CollectLocal(ctx, Chunks(r.LocalIter(), -1))
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	_, err = Iter[Distributed, int]{}.Count(ctx)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	var nilArr *AtomicArray[int64]
	_, err = nilArr.DistIter().Count(ctx)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)

	// Zip: other lengths, distributions, sub-arrays that do not line up,
	// an adapted other, after Chunks.
	other := func(n int, d Distribution) *AtomicArray[int64] {
		a, err := NewAtomicArray[int64](ctx, w, n, d)
		require.NoError(t, err)
		return a
	}
	longer, block, same := other(n+1, Cyclic), other(n, Block), other(n, Cyclic)
	sub1, err := same.SubArray(0, n-1)
	require.NoError(t, err)
	sub2, err := same.SubArray(1, n)
	require.NoError(t, err)
	zips := map[string]error{}
	_, zips["length"] = Zip(r.DistIter(), longer.DistIter()).Count(ctx)
	_, zips["distribution"] = Zip(r.DistIter(), block.DistIter()).Count(ctx)
	_, zips["sub-arrays"] = Zip(sub1.DistIter(), sub2.DistIter()).Count(ctx)
	_, zips["adapted"] = Zip(r.DistIter(), same.DistIter().Skip(1)).Count(ctx)
	_, zips["chunks"] = Zip(Chunks(r.DistIter(), 3), same.DistIter()).Count(ctx)
	_, zips["local"] = Zip(r.LocalIter(), longer.LocalIter()).Count(ctx)
	for what, err := range zips {
		require.ErrorIs(t, err, errdefs.ErrInvalidArg, what)
		require.ErrorContains(t, err, "zip", what)
	}
	require.ErrorContains(t, zips["length"], "arrays of 19 elements by Cyclic and of 20 by Cyclic")
	require.ErrorContains(t, zips["distribution"], "arrays of 19 elements by Cyclic and of 19 by Block")
	_, err = Zip(sub1.DistIter(), block.DistIter()).Count(ctx)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg, "sub-array against a whole array of another layout")
	// A sub-array lines up with the same range of another array.
	sub3, err := longer.SubArray(0, n)
	require.NoError(t, err)
	c, err = Zip(r.DistIter(), sub3.DistIter()).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, n, c)
	for _, sub := range []*AtomicArray[int64]{sub1, sub2, sub3} {
		require.NoError(t, sub.Drop()) // references: Close waits for them
	}
	for _, a := range []*AtomicArray[int64]{longer, block, same} {
		require.NoError(t, a.Close(ctx))
	}

	// A closed array: ErrClosed from every consumer, on every PE.
	it := r.DistIter()
	lit := r.LocalIter()
	f.close(t)
	require.ErrorIs(t, it.ForEach(ctx, func(Indexed[int64]) error { return nil }), errdefs.ErrClosed)
	_, err = it.Count(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	_, err = Collect(ctx, Map(it, vals), Block)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	_, err = r.Sum(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	_, err = lit.Count(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	_, err = CollectLocal(ctx, lit)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	seq, done := lit.All()
	for range seq {
		t.Errorf("a closed array's All yielded an item")
	}
	require.ErrorIs(t, done(), errdefs.ErrClosed)
	require.NoError(t, w.Close(ctx))
}

// reductions checks the array reductions of one kind against the model.
func reductions[T Number](t *petest.T, name string, vals []T, sum, prod, mn, mx func(context.Context) (T, error), red func(context.Context, func(T, T) T) (T, error)) {
	ctx := t.Context()
	var s, p T = 0, 1
	for _, v := range vals {
		s, p = s+v, p*v
	}
	got, err := sum(ctx)
	require.NoError(t, err, name)
	require.Equal(t, s, got, "%s: sum", name)
	got, err = prod(ctx)
	require.NoError(t, err, name)
	require.Equal(t, p, got, "%s: prod", name)
	if len(vals) == 0 {
		_, err = mn(ctx)
		require.ErrorIs(t, err, errdefs.ErrInvalidArg, name)
		_, err = red(ctx, func(a, b T) T { return a })
		require.ErrorIs(t, err, errdefs.ErrInvalidArg, name)
		return
	}
	got, err = mn(ctx)
	require.NoError(t, err, name)
	require.Equal(t, slices.Min(vals), got, "%s: min", name)
	got, err = mx(ctx)
	require.NoError(t, err, name)
	require.Equal(t, slices.Max(vals), got, "%s: max", name)
	// A user reduction (the sum again, by the caller's function).
	got, err = red(ctx, func(a, b T) T { return a + b })
	require.NoError(t, err, name)
	require.Equal(t, s, got, "%s: reduce", name)
	_, err = red(ctx, nil)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg, name)
}

func scenarioArrayReductions(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	for _, d := range []Distribution{Block, Cyclic} {
		for _, n := range append([]int{0}, lengths...) {
			name := fmt.Sprintf("%v n=%d", d, n)
			vals := make([]float64, n)
			ints := make([]int32, n)
			for i := range n {
				vals[i] = []float64{1, -1, 2, 0.5, -0.25, 4}[i%6] * float64(1+i%2) // exact sums and products in any order
				ints[i] = int32(val(i)) | 1
			}
			u, err := NewUnsafeArray[float64](ctx, w, n, d)
			require.NoError(t, err)
			require.NoError(t, u.DistIterMut().ForEach(ctx, func(x Indexed[*float64]) error {
				*x.Value = vals[x.Index]
				return nil
			}))
			require.NoError(t, w.Barrier(ctx))
			reductions(t, "unsafe "+name, vals, u.Sum, u.Prod, u.Min, u.Max, u.Reduce)
			r, err := u.IntoReadOnly(ctx)
			require.NoError(t, err)
			reductions(t, "read-only "+name, vals, r.Sum, r.Prod, r.Min, r.Max, r.Reduce)
			require.NoError(t, r.Close(ctx))

			a, err := NewAtomicArray[int32](ctx, w, n, d)
			require.NoError(t, err)
			require.NoError(t, a.ForEach(ctx, func(e Elem[int32]) error { return e.Store(ints[e.Index()]) }))
			reductions(t, "atomic "+name, ints, a.Sum, a.Prod, a.Min, a.Max, a.Reduce)
			require.NoError(t, a.Close(ctx))
		}
	}
	require.NoError(t, w.Close(ctx))
}

// TestSchedules: every schedule hands out every item once, in
// contiguous pieces, and a failing body stops the hand-out.
func TestSchedules(t *testing.T) {
	for _, s := range []Schedule{Static(), Dynamic(), Chunk(1), Chunk(7), Guided(), WorkStealing()} {
		for _, n := range []int{0, 1, 5, 100, 1001} {
			for _, workers := range []int{0, 1, 3, 8} {
				name := fmt.Sprintf("%v n=%d workers=%d", s, n, workers)
				p := newPool(context.Background(), s, workers, 0)
				seen := make([]atomic.Int32, n)
				var used int
				var pieces atomic.Int64
				require.NoError(t, p.run(n, func(nw int) { used = nw }, func(w, lo, hi int) error {
					if w < 0 || w >= used || lo >= hi {
						return fmt.Errorf("worker %d of %d, piece [%d, %d)", w, used, lo, hi)
					}
					if s.kind == schedChunk && hi-lo > s.chunk {
						return fmt.Errorf("piece [%d, %d) over %d", lo, hi, s.chunk)
					}
					if s.kind == schedDynamic && hi-lo != 1 {
						return fmt.Errorf("dynamic piece [%d, %d)", lo, hi)
					}
					pieces.Add(1)
					for k := lo; k < hi; k++ {
						seen[k].Add(1)
					}
					return nil
				}), name)
				for k := range seen {
					require.Equal(t, int32(1), seen[k].Load(), "%s: item %d", name, k)
				}
				require.LessOrEqual(t, used, max(1, n), name)
				if s.kind == schedStatic {
					require.Equal(t, int64(min(used, n)), pieces.Load(), "%s: one piece per worker", name)
				}
			}
		}
	}
	// Guided's pieces shrink: sizes of one run, in hand-out order.
	p := newPool(context.Background(), Guided(), 1, 0)
	var sizes []int
	require.NoError(t, p.run(100, nil, func(_, lo, hi int) error {
		sizes = append(sizes, hi-lo)
		return nil
	}))
	require.Equal(t, []int{50, 25, 12, 6, 3, 2, 1, 1}, sizes[:8])

	// A body's error stops the others, and is returned.
	p = newPool(context.Background(), Dynamic(), 4, 0)
	var ran atomic.Int64
	err := p.run(100000, nil, func(_, lo, _ int) error {
		ran.Add(1)
		if lo == 10 {
			return errBoom
		}
		return nil
	})
	require.ErrorIs(t, err, errBoom)
	require.Less(t, ran.Load(), int64(100000))

	// A cancelled context stops the pool.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = newPool(ctx, WorkStealing(), 2, 0).run(10, nil, func(int, int, int) error { return nil })
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, newPool(context.Background(), Chunk(0), 2, 0).run(10, nil, nil), errdefs.ErrInvalidArg)
	require.Equal(t, "Chunk(4)", Chunk(4).String())
}

// writer is what the collectives' checks need of an array kind.
type writer[T Number] interface {
	Broadcast(ctx context.Context, root int, vals []T) error
	AllReduce(ctx context.Context, vals []T, op func(T, T) T) error
	AllGather(ctx context.Context) ([]T, error)
	Len() int
}

// checkColl runs Broadcast from every root and AllReduce with two ops on
// a, against the model.
func checkColl[T Number](t *petest.T, w *am.World, name string, a writer[T]) {
	ctx := t.Context()
	me, np := w.MyPE(), w.NPEs()
	n := a.Len()
	mine := func(pe int) []T { // PE pe's values
		v := make([]T, n)
		for i := range v {
			v[i] = T((i*5+pe*3)%11 + 1)
		}
		return v
	}
	for root := range np {
		vals := mine(root)
		if me != root {
			vals = nil // ignored
		}
		require.NoError(t, a.Broadcast(ctx, root, vals), "%s: broadcast from %d", name, root)
		got, err := a.AllGather(ctx)
		require.NoError(t, err, name)
		require.Equal(t, mine(root), got, "%s: broadcast from %d", name, root)
	}
	sum, mx := make([]T, n), make([]T, n)
	for pe := range np {
		for i, v := range mine(pe) {
			sum[i] += v
			mx[i] = max(mx[i], v)
		}
	}
	require.NoError(t, a.AllReduce(ctx, mine(me), func(x, y T) T { return x + y }), name)
	got, err := a.AllGather(ctx)
	require.NoError(t, err, name)
	require.Equal(t, sum, got, "%s: all-reduce sum", name)
	require.NoError(t, a.AllReduce(ctx, mine(me), func(x, y T) T { return max(x, y) }), name)
	got, err = a.AllGather(ctx)
	require.NoError(t, err, name)
	require.Equal(t, mx, got, "%s: all-reduce max", name)
	// op runs in PE order: the first PE's value, the others' ignored.
	require.NoError(t, a.AllReduce(ctx, mine(me), func(x, _ T) T { return x }), name)
	got, err = a.AllGather(ctx)
	require.NoError(t, err, name)
	require.Equal(t, mine(0), got, "%s: all-reduce in PE order", name)
}

func scenarioArrayColl(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me := w.MyPE()
	for _, d := range []Distribution{Block, Cyclic} {
		for _, n := range append([]int{0}, lengths...) {
			name := fmt.Sprintf("%v n=%d", d, n)
			a, err := NewAtomicArray[uint16](ctx, w, n, d)
			require.NoError(t, err)
			checkColl[uint16](t, w, "atomic "+name, a)
			u, err := NewUnsafeArray[float64](ctx, w, n, d)
			require.NoError(t, err)
			checkColl[float64](t, w, "unsafe "+name, u)
			if n > 3 {
				// A sub-array: the elements around it do not change.
				require.NoError(t, u.Broadcast(ctx, 0, make([]float64, n)))
				sub, err := u.SubArray(1, n-2)
				require.NoError(t, err)
				checkColl[float64](t, w, "unsafe sub-array "+name, sub)
				all, err := u.AllGather(ctx)
				require.NoError(t, err)
				require.Zero(t, all[0], name)
				require.Zero(t, all[n-2], name)
				require.Zero(t, all[n-1], name)
				require.NoError(t, sub.Drop()) // a reference: Close waits for it
			}
			require.NoError(t, a.Close(ctx))
			require.NoError(t, u.Close(ctx))
		}
	}

	// Bad arguments and a panic: an error on every PE, after which the
	// array still works.
	const n = 19
	a, err := NewAtomicArray[int64](ctx, w, n, Cyclic)
	require.NoError(t, err)
	err = a.Broadcast(ctx, 5, nil)
	require.ErrorIs(t, err, errdefs.ErrInvalidPE)
	require.ErrorContains(t, err, "root PE 5 of")
	err = a.Broadcast(ctx, 1, make([]int64, n+me)) // right only on PE 0
	require.Error(t, err)
	if me == 1 {
		require.ErrorIs(t, err, errdefs.ErrInvalidArg)
		require.ErrorContains(t, err, "broadcast from PE 1: invalid argument: 20 values for 19 elements")
	} else {
		require.ErrorContains(t, err, "PE 1 failed: ")
		require.ErrorContains(t, err, "20 values for 19 elements")
	}
	err = a.AllReduce(ctx, make([]int64, n+me), func(x, y int64) int64 { return x + y })
	if me == 0 {
		require.ErrorContains(t, err, "all-reduce: PE 1 failed: ")
	} else {
		require.ErrorIs(t, err, errdefs.ErrInvalidArg)
		require.ErrorContains(t, err, fmt.Sprintf("%d values for 19 elements", n+me))
	}
	var op func(int64, int64) int64
	if me != 1 {
		op = func(x, y int64) int64 { return x + y }
	}
	err = a.AllReduce(ctx, make([]int64, n), op)
	require.ErrorContains(t, err, "nil function")
	err = a.AllReduce(ctx, make([]int64, n), func(x, y int64) int64 {
		if me == 0 {
			panic("kaboom")
		}
		return x + y
	})
	require.ErrorContains(t, err, "PE 0")
	require.ErrorContains(t, err, "kaboom")
	ones := slices.Repeat([]int64{1}, n)
	require.NoError(t, a.AllReduce(ctx, ones, func(x, y int64) int64 { return x + y }))
	s, err := a.Sum(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(n*w.NPEs()), s)
	//lint:ignore SA1012 a nil context is the bad argument under test
	require.ErrorIs(t, a.Broadcast(nil, 0, ones), errdefs.ErrInvalidArg)
	require.NoError(t, a.Close(ctx))
	require.ErrorIs(t, a.Broadcast(ctx, 0, ones), errdefs.ErrClosed)
	require.ErrorIs(t, a.AllReduce(ctx, ones, op), errdefs.ErrClosed)
	require.NoError(t, w.Close(ctx))
}

func scenarioItersCancel(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me := w.MyPE()
	a, err := NewAtomicArray[int64](ctx, w, 100, Block)
	require.NoError(t, err)
	for _, s := range schedules {
		cctx, cancel := context.WithCancel(ctx)
		err = a.DistIter().Schedule(s.s).Workers(s.workers).ForEach(cctx, func(e Elem[int64]) error {
			if me == 1 {
				cancel()
			}
			return nil
		})
		cancel()
		if me == 1 {
			require.ErrorIs(t, err, context.Canceled, s.s.String())
		} else {
			require.ErrorContains(t, err, "PE 1", s.s.String())
			require.ErrorContains(t, err, "context canceled", s.s.String())
		}
	}
	// Collect, and the write collectives with PE 1's ctx ended before the
	// call.
	cctx, cancel := context.WithCancel(ctx)
	if me == 1 {
		cancel()
	}
	_, err = Collect(cctx, Map(a.DistIter(), func(e Elem[int64]) int64 { return 0 }), Cyclic)
	require.ErrorContains(t, err, "context canceled")
	err = a.AllReduce(cctx, make([]int64, 100), func(x, y int64) int64 { return x + y })
	require.ErrorContains(t, err, "context canceled")
	require.ErrorContains(t, a.Broadcast(cctx, 0, make([]int64, 100)), "context canceled")
	cancel()
	// Every PE is still in step.
	n, err := a.DistIter().Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	require.NoError(t, a.Close(ctx))
	require.NoError(t, w.Close(ctx))
}
