package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/array"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
)

// KernelSize sizes one of the bale kernels ([OpHisto], [OpIGather],
// [OpRandperm]) on every PE: a table of Table int64 on the symmetric heap,
// and Updates updates (histo: atomic adds; igather: gets; randperm: darts)
// per PE in each timed loop.
//
// A zero field takes the kernel's default: Table 1000 for histo, 100000
// for igather, twice Updates for randperm (bale's target of 2N slots);
// Updates 100000 for all at the default target of 30 ms or more, and in
// proportion to a shorter target (at least 1000), so that a quick run
// (-target 1ms) stays quick as the other ops' loops do.
type KernelSize struct {
	Table   int // int64 elements per PE; the global table has NPEs*Table
	Updates int // updates per PE per timed loop (N)
}

var (
	defaultHisto   = KernelSize{Table: 1000, Updates: 100_000}
	defaultIGather = KernelSize{Table: 100_000, Updates: 100_000}
	// defaultRandperm's Table 0 stands for twice Updates (withDefaults).
	defaultRandperm = KernelSize{Updates: 100_000}
)

// defaultTarget is the default length of one timed loop, at which the
// kernels run their default Updates.
const defaultTarget = 30 * time.Millisecond

// withDefaults fills k's zero fields from def for a timed loop of target
// (see KernelSize).
func (k KernelSize) withDefaults(def KernelSize, target time.Duration) KernelSize {
	if k.Table <= 0 {
		k.Table = def.Table
	}
	if k.Updates <= 0 {
		k.Updates = def.Updates
		if target > 0 && target < defaultTarget {
			k.Updates = max(1000, int(int64(def.Updates)*int64(target)/int64(defaultTarget)))
		}
	}
	if k.Table <= 0 { // randperm: bale's factor of 2
		k.Table = 2 * k.Updates
	}
	return k
}

// kernel returns the size of op if it is one of the kernels.
func (c Config) kernel(op string) (KernelSize, bool) {
	switch op {
	case OpHisto:
		return c.Histo, true
	case OpIGather:
		return c.IGather, true
	case OpRandperm:
		return c.Randperm, true
	}
	return KernelSize{}, false
}

// kernelBytes is the symmetric memory a kernel of size k takes: its table
// twice (the direct version's and the array's), the two words of the
// histogram's check, and the array version's AM World (kernelWorld) at
// the batch AM threshold (0: the default).
func kernelBytes(k KernelSize, threshold uintptr) int {
	return 16*k.Table + 16 + 768<<10 + kernelWorld(threshold).ArenaBytes
}

// kernelWorld is the AM World the array versions of the kernels run in,
// at the batch AM threshold (GSHMEM_AM_SIZE_THRESHOLD; 0: the default of
// 64 KiB of operations): small, since batches send AMs only to PEs this
// one does not map (other nodes), but with an arena that holds a few of
// the largest batch AMs and their headers (at least 256 KiB).
func kernelWorld(threshold uintptr) am.Options {
	if threshold == 0 {
		threshold = config.DefaultAMSizeThreshold
	}
	arena := max(256<<10, 3*(int(threshold)+4<<10))
	return am.Options{RingBytes: 4 << 10, ArenaBytes: arena, DarcSlots: 16}
}

// kernel measures one of the bale kernels on every PE (collective), twice:
// with one operation per update (hostshmem.AtomicAdd or hostshmem.G on a
// symmetric table: the direct bound, [ImplDirect]) and with a
// distributed array of package array (an AtomicArray's BatchAdd or a
// ReadOnlyArray's BatchLoad of every index at once: [ImplGshmem]).
//
// Unlike the other ops it does not size its loops to the target: each
// loop is Updates updates on every PE, as bale's kernels run a fixed N,
// so that the versions compare at the same N. Each version runs one
// untimed loop (the warm-up) and then Reps timed loops. Before each, every
// PE draws Updates uniformly random global indices (math/rand/v2 PCG
// seeded by its PE number; untimed). A loop is timed on every PE from a
// barrier to the barrier after the last update (which completes the
// adds: a barrier implies quiet), and its time per update is the longest
// PE's loop time over Updates: the job's span, which holds where PEs
// outnumber cores (there the PEs leave the first barrier at times up to a
// time slice apart, and a PE that starts late sees a short loop, so the
// mean over PEs would understate it). The fastest loop counts.
//
// Checks: igather's values, after every loop, on every PE; histo's sum of
// every PE's table (a sum reduction over the world team), which must be
// NPEs*Updates per loop run, warm-up included.
func (m *meter) kernel(op string) ([]Result, error) {
	pe, ctx := m.pe, m.ctx
	me, npes := pe.MyPE(), pe.NPEs()
	k, _ := m.c.kernel(op)
	tsize, n := k.Table, k.Updates
	fail := func(err error) ([]Result, error) {
		return nil, fmt.Errorf("bench: %s (T=%d, N=%d) on PE %d: %w", op, tsize, n, me, err)
	}
	idx := make([]int, n) // global indices: PE g/tsize, offset g%tsize
	got := make([]int64, n)
	rng := rand.New(rand.NewPCG(uint64(me), 0))
	global := uint64(npes * tsize)
	// timed runs loop Reps+1 times (the first untimed) and returns the
	// fastest time per update.
	timed := func(loop func() error) (float64, error) {
		best := -1.0
		for rep := -1; rep < m.c.Reps; rep++ { // rep -1: the warm-up
			for i := range idx {
				idx[i] = int(rng.Uint64N(global))
			}
			fill(got, -1)
			per, err := m.timed(n, loop)
			if err != nil {
				return 0, err
			}
			if rep >= 0 && (best < 0 || per < best) {
				best = per
			}
			if op == OpIGather {
				for i, v := range got {
					if v != int64(idx[i]) {
						return 0, fmt.Errorf("request %d for index %d got %d", i, idx[i], v)
					}
				}
			}
		}
		return best, nil
	}
	runs := int64(npes) * int64(n) * int64(m.c.Reps+1)

	// One operation per update, on a symmetric table.
	table, err := alloc[int64](m, tsize)
	if err != nil {
		return fail(err)
	}
	var loop func() error
	switch op {
	case OpHisto:
		loop = func() error {
			for _, g := range idx {
				if err := shmem.AtomicAdd(pe, table.At(g%tsize), 1, g/tsize); err != nil {
					return err
				}
			}
			return nil
		}
	case OpIGather:
		local := shmem.Local(pe, table)
		for o := range local {
			local[o] = int64(me*tsize + o)
		}
		loop = func() error {
			for i, g := range idx {
				v, err := shmem.G(pe, table.At(g%tsize), g/tsize)
				if err != nil {
					return err
				}
				got[i] = v
			}
			return nil
		}
	}
	direct, err := timed(loop)
	if err != nil {
		return fail(err)
	}
	if op == OpHisto {
		sum := int64(0)
		for _, c := range shmem.Local(pe, table) {
			sum += c
		}
		if err := m.checkSum(sum, runs); err != nil {
			return fail(err)
		}
	}
	if err := shmem.Free(ctx, pe, table); err != nil {
		return fail(err)
	}

	// The array version: one batch of every index.
	batched, err := m.arrayKernel(op, tsize, idx, got, runs, timed)
	if err != nil {
		return fail(err)
	}
	return []Result{
		{Impl: ImplGshmem, Op: op, PEs: npes, Bytes: 8, Iters: n, NsPerOp: batched},
		{Impl: ImplDirect, Op: op, PEs: npes, Bytes: 8, Iters: n, NsPerOp: direct},
	}, nil
}

// arrayKernel times kernel op with a distributed array of npes*tsize
// int64 spread by Block (element g on PE g/tsize, as the direct table):
// histo a BatchAdd of 1 at every index of idx, igather a BatchLoad of idx
// into got.
func (m *meter) arrayKernel(op string, tsize int, idx []int, got []int64, runs int64, timed func(func() error) (float64, error)) (float64, error) {
	pe, ctx := m.pe, m.ctx
	w, err := am.New(ctx, pe, am.NewRegistry(), kernelWorld(pe.Config().AMSizeThreshold))
	if err != nil {
		return 0, err
	}
	defer w.Abort() // on an error path; after Close it does nothing
	size := pe.NPEs() * tsize
	var per float64
	switch op {
	case OpHisto:
		a, err := array.NewAtomicArray[int64](ctx, w, size, array.Block)
		if err != nil {
			return 0, err
		}
		one := []int64{1}
		if per, err = timed(func() error {
			_, err := a.BatchAdd(idx, one).Wait(ctx)
			return err
		}); err != nil {
			return 0, err
		}
		sum := int64(0)
		for _, v := range a.Local() {
			sum += v
		}
		if err := m.checkSum(sum, runs); err != nil {
			return 0, err
		}
		if err := a.Close(ctx); err != nil {
			return 0, err
		}
	case OpIGather:
		u, err := array.NewUnsafeArray[int64](ctx, w, size, array.Block)
		if err != nil {
			return 0, err
		}
		first, _ := u.FirstGlobalIndexForPE(pe.MyPE())
		for o := range u.LocalData() {
			u.LocalData()[o] = int64(first + o)
		}
		r, err := u.IntoReadOnly(ctx)
		if err != nil {
			return 0, err
		}
		if per, err = timed(func() error {
			vs, err := r.BatchLoad(idx).Wait(ctx)
			copy(got, vs)
			return err
		}); err != nil {
			return 0, err
		}
		if err := r.Close(ctx); err != nil {
			return 0, err
		}
	}
	return per, w.Close(ctx)
}

// checkSum reports an error unless the sum of every PE's sum is want.
// Collective: a reduction over the world team.
func (m *meter) checkSum(sum, want int64) error {
	pe := m.pe
	v, err := alloc[int64](m, 2)
	if err != nil {
		return err
	}
	shmem.Local(pe, v)[0] = sum
	src, dst := v.Slice(0, 1), v.Slice(1, 2)
	if err := shmem.Reduce(m.ctx, pe.TeamWorld(), shmem.OpSum, dst, src, 1); err != nil {
		return err
	}
	if got := shmem.Local(pe, dst)[0]; got != want {
		return fmt.Errorf("the tables sum to %d, want %d", got, want)
	}
	return shmem.Free(m.ctx, pe, v)
}

// timed runs loop (n updates on each PE) between two barriers, the way
// every kernel is timed, and returns the longest PE's time per update.
func (m *meter) timed(n int, loop func() error) (float64, error) {
	if err := m.pe.BarrierAll(m.ctx); err != nil {
		return 0, err
	}
	t0 := mono()
	if err := loop(); err != nil {
		return 0, err
	}
	if err := m.pe.BarrierAll(m.ctx); err != nil {
		return 0, err
	}
	return m.maxOverPEs(float64((mono() - t0).Nanoseconds()) / float64(n))
}

// randperm measures bale's random permutation by dart throwing
// ([OpRandperm]) on every PE (collective), twice, as kernel does: with
// one hostshmem.AtomicCompareSwap per throw on a symmetric table
// ([ImplDirect]) and with an AtomicArray's BatchCompareExchange of every
// dart still in flight, round after round ([ImplGshmem]). The target is
// NPEs*Table int64 slots (slot g on PE g/Table at offset g%Table, as
// Block spreads an array), set to -1 before each loop (untimed); each PE
// throws Updates darts, its numbers me*Updates+i, at uniformly random
// slots (math/rand/v2 PCG seeded by its PE number, drawn in the loop:
// each miss draws again), swapping -1 for the dart, until every one has
// landed. A loop is timed, as kernel's are, from a barrier to the barrier
// after the last dart landed; NsPerOp is the longest PE's loop time per
// dart (throws included), the fastest loop counting.
//
// Checks, after every loop: each dart of each PE is in the slot it landed
// in, and the slots that are not -1 over every PE (a sum reduction) are
// NPEs*Updates: so every number of 0..NPEs*Updates-1 is there exactly once,
// and the filled slots in order are a permutation of them.
func (m *meter) randperm() ([]Result, error) {
	pe, ctx := m.pe, m.ctx
	me, npes := pe.MyPE(), pe.NPEs()
	k := m.c.Randperm
	tsize, n := k.Table, k.Updates
	fail := func(err error) ([]Result, error) {
		return nil, fmt.Errorf("bench: %s (T=%d, N=%d) on PE %d: %w", OpRandperm, tsize, n, me, err)
	}
	if tsize < n {
		return fail(fmt.Errorf("%w: %d slots per PE for %d darts per PE: every dart needs a slot", errdefs.ErrInvalidArg, tsize, n))
	}
	rng := rand.New(rand.NewPCG(uint64(me), 0))
	global := uint64(npes * tsize)
	slot := make([]int, n) // where each of this PE's darts landed
	timed := func(reset, loop func() error, check func(filled int64) error, filled func() (int64, error)) (float64, error) {
		best := -1.0
		for rep := -1; rep < m.c.Reps; rep++ { // rep -1: the warm-up
			if err := reset(); err != nil {
				return 0, err
			}
			per, err := m.timed(n, loop)
			if err != nil {
				return 0, err
			}
			if rep >= 0 && (best < 0 || per < best) {
				best = per
			}
			f, err := filled()
			if err != nil {
				return 0, err
			}
			if err := check(f); err != nil {
				return 0, err
			}
		}
		return best, nil
	}
	dart := func(i int) int64 { return int64(me*n + i) }
	// checkSum is collective: every PE calls check, even one whose darts
	// are wrong, so that no PE waits alone in the reduction.
	check := func(get func(slots []int) ([]int64, error)) func(int64) error {
		return func(filled int64) error {
			got, err := get(slot)
			if err != nil {
				return err
			}
			var bad error
			for i, v := range got {
				if v != dart(i) {
					bad = fmt.Errorf("dart %d landed in slot %d, which holds %d", dart(i), slot[i], v)
					break
				}
			}
			if err := m.checkSum(filled, int64(npes*n)); err != nil {
				return fmt.Errorf("filled slots: %w", err)
			}
			return bad
		}
	}

	// One compare-and-swap per throw, on a symmetric table.
	table, err := alloc[int64](m, tsize)
	if err != nil {
		return fail(err)
	}
	local := shmem.Local(pe, table)
	direct, err := timed(
		func() error { fill(local, -1); return nil },
		func() error {
			for i := range n {
				for {
					g := int(rng.Uint64N(global))
					old, err := shmem.AtomicCompareSwap(pe, table.At(g%tsize), -1, dart(i), g/tsize)
					if err != nil {
						return err
					}
					if old == -1 {
						slot[i] = g
						break
					}
				}
			}
			return nil
		},
		check(func(slots []int) ([]int64, error) {
			got := make([]int64, len(slots))
			for i, g := range slots {
				v, err := shmem.G(pe, table.At(g%tsize), g/tsize)
				if err != nil {
					return nil, err
				}
				got[i] = v
			}
			return got, nil
		}),
		func() (int64, error) { return countFilled(local), nil })
	if err != nil {
		return fail(err)
	}
	if err := shmem.Free(ctx, pe, table); err != nil {
		return fail(err)
	}

	// The array version: every dart in flight in one batch, then the
	// misses, until none is left.
	w, err := am.New(ctx, pe, am.NewRegistry(), kernelWorld(pe.Config().AMSizeThreshold))
	if err != nil {
		return fail(err)
	}
	defer w.Abort() // on an error path; after Close it does nothing
	a, err := array.NewAtomicArray[int64](ctx, w, npes*tsize, array.Block)
	if err != nil {
		return fail(err)
	}
	first, _ := a.FirstGlobalIndexForPE(me)
	mine := make([]int, a.NumElemsLocal()) // this PE's slots
	for o := range mine {
		mine[o] = first + o
	}
	left, idx, vals := make([]int, n), make([]int, n), make([]int64, n)
	none := []int64{-1}
	batched, err := timed(
		func() error {
			_, err := a.BatchStore(mine, none).Wait(ctx)
			return err
		},
		func() error {
			left = left[:n]
			for i := range left {
				left[i] = i
			}
			for len(left) > 0 {
				for k, i := range left {
					idx[k], vals[k] = int(rng.Uint64N(global)), dart(i)
				}
				res, err := a.BatchCompareExchange(idx[:len(left)], none, vals[:len(left)]).Wait(ctx)
				if err != nil {
					return err
				}
				missed := left[:0]
				for k, x := range res {
					if x.Swapped {
						slot[left[k]] = idx[k]
					} else {
						missed = append(missed, left[k])
					}
				}
				left = missed
			}
			return nil
		},
		check(func(slots []int) ([]int64, error) { return a.BatchLoad(slots).Wait(ctx) }),
		func() (int64, error) {
			vs, err := a.BatchLoad(mine).Wait(ctx)
			return countFilled(vs), err
		})
	if err != nil {
		return fail(err)
	}
	if err := a.Close(ctx); err != nil {
		return fail(err)
	}
	if err := w.Close(ctx); err != nil {
		return fail(err)
	}
	return []Result{
		{Impl: ImplGshmem, Op: OpRandperm, PEs: npes, Bytes: 8, Iters: n, NsPerOp: batched},
		{Impl: ImplDirect, Op: OpRandperm, PEs: npes, Bytes: 8, Iters: n, NsPerOp: direct},
	}, nil
}

// countFilled is the number of slots of s that hold a dart (not -1).
func countFilled(s []int64) int64 {
	c := int64(0)
	for _, v := range s {
		if v != -1 {
			c++
		}
	}
	return c
}
