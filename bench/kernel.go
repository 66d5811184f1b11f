package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	shmem "github.com/gshmem/gshmem/hostshmem"
)

// KernelSize sizes one of the bale kernels ([OpHisto], [OpIGather]) on
// every PE: a table of Table int64 on the symmetric heap, and Updates
// updates (histo: atomic adds; igather: gets) per PE in each timed loop.
//
// A zero field takes the kernel's default: Table 1000 for histo, 100000
// for igather; Updates 100000 for both at the default target of 30 ms or
// more, and in proportion to a shorter target (at least 1000), so that a
// quick run (-target 1ms) stays quick as the other ops' loops do.
type KernelSize struct {
	Table   int // int64 elements per PE; the global table has NPEs*Table
	Updates int // updates per PE per timed loop (N)
}

var (
	defaultHisto   = KernelSize{Table: 1000, Updates: 100_000}
	defaultIGather = KernelSize{Table: 100_000, Updates: 100_000}
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
	return k
}

// kernel returns the size of op if it is one of the kernels.
func (c Config) kernel(op string) (KernelSize, bool) {
	switch op {
	case OpHisto:
		return c.Histo, true
	case OpIGather:
		return c.IGather, true
	}
	return KernelSize{}, false
}

// kernelBytes is the symmetric memory a kernel of size k takes: its table
// and the two words of the histogram's check.
func kernelBytes(k KernelSize) int { return 8*k.Table + 16 }

// kernel measures one of the bale kernels on every PE (collective).
//
// Unlike the other ops it does not size its loops to the target: each
// loop is Updates updates on every PE, as bale's kernels run a fixed N,
// so that the array versions of issue 14 can be compared at the same N. It
// runs one untimed loop (the warm-up) and then Reps timed loops. Before
// each, every PE draws Updates uniformly random global indices (math/rand/v2
// PCG seeded by its PE number; untimed). A loop is timed on every PE from
// a barrier to the barrier after the last update (which completes the
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
	table, err := alloc[int64](m, tsize)
	if err != nil {
		return fail(err)
	}
	idx := make([]int64, n) // global indices: PE g/tsize, offset g%tsize
	var got []int64
	var loop func() error
	switch op {
	case OpHisto:
		loop = func() error {
			for _, g := range idx {
				if err := shmem.AtomicAdd(pe, table.At(int(g)%tsize), 1, int(g)/tsize); err != nil {
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
		got = make([]int64, n)
		loop = func() error {
			for i, g := range idx {
				v, err := shmem.G(pe, table.At(int(g)%tsize), int(g)/tsize)
				if err != nil {
					return err
				}
				got[i] = v
			}
			return nil
		}
	}
	rng := rand.New(rand.NewPCG(uint64(me), 0))
	global := uint64(npes * tsize)
	best := -1.0
	for rep := -1; rep < m.c.Reps; rep++ { // rep -1: the warm-up
		for i := range idx {
			idx[i] = int64(rng.Uint64N(global))
		}
		if op == OpIGather {
			fill(got, -1)
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return fail(err)
		}
		t0 := mono()
		if err := loop(); err != nil {
			return fail(err)
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return fail(err)
		}
		per, err := m.maxOverPEs(float64((mono() - t0).Nanoseconds()) / float64(n))
		if err != nil {
			return fail(err)
		}
		if rep >= 0 && (best < 0 || per < best) {
			best = per
		}
		for i, v := range got {
			if v != idx[i] {
				return fail(fmt.Errorf("request %d for index %d got %d", i, idx[i], v))
			}
		}
	}
	if op == OpHisto {
		if err := m.checkHisto(table, int64(npes)*int64(n)*int64(m.c.Reps+1)); err != nil {
			return fail(err)
		}
	}
	if err := shmem.Free(ctx, pe, table); err != nil {
		return fail(err)
	}
	return []Result{{Impl: ImplGshmem, Op: op, PEs: npes, Bytes: 8, Iters: n, NsPerOp: best}}, nil
}

// checkHisto reports an error unless the sum of table over every PE is
// want. Collective: the sum is a reduction over the world team.
func (m *meter) checkHisto(table shmem.Sym[int64], want int64) error {
	pe := m.pe
	v, err := alloc[int64](m, 2)
	if err != nil {
		return err
	}
	sum := int64(0)
	for _, c := range shmem.Local(pe, table) {
		sum += c
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
