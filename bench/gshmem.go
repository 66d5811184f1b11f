package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Config says what [Measure] measures on gshmem: the same knobs as
// [PeerConfig], so both sides run the same method.
type Config struct {
	Ops                []string      // Op constants; nil means put, get, fadd, barrier, putbw
	Sizes              []int         // putbw sizes; nil means [Sizes]
	Target             time.Duration // one timed loop; default 30ms
	MinIters, MaxIters int           // defaults 5 and 10,000,000
	Reps               int           // timed loops per measurement, fastest counts; default 3
}

// GshmemOps are the ops [Measure] knows.
var GshmemOps = []string{OpPut, OpGet, OpFetchAdd, OpBarrier, OpPutBW}

func (c Config) withDefaults() Config {
	if c.Ops == nil {
		c.Ops = GshmemOps
	}
	if c.Sizes == nil {
		c.Sizes = Sizes
	}
	if c.Target <= 0 {
		c.Target = 30 * time.Millisecond
	}
	if c.MinIters <= 0 {
		c.MinIters = 5
	}
	if c.MaxIters <= 0 {
		c.MaxIters = 10_000_000
	}
	if c.Reps <= 0 {
		c.Reps = 3
	}
	return c
}

// HeapFor is the symmetric heap a PE needs to run c.
func (c Config) HeapFor() uintptr {
	c = c.withDefaults()
	return uintptr(slices.Max(c.Sizes)) + 1<<20
}

// Measure runs the gshmem benchmarks on every PE of pe's job (it is
// collective: every PE must call it with the same c) and returns the
// results on PE 0 (nil elsewhere). Point-to-point ops run from PE 0 to
// PE 1 while the other PEs wait; barrier runs on every PE and reports the
// mean over PEs.
func Measure(ctx context.Context, pe *shmem.PE, c Config) ([]Result, error) {
	c = c.withDefaults()
	if pe.NPEs() < 2 {
		return nil, fmt.Errorf("bench: %d PE: need at least 2", pe.NPEs())
	}
	m := &meter{ctx: ctx, pe: pe, c: c}
	var err error
	if m.word, err = shmem.Calloc[uint64](ctx, pe, 8); err != nil {
		return nil, err
	}
	if m.table, err = shmem.Calloc[float64](ctx, pe, pe.NPEs()); err != nil {
		return nil, err
	}
	big := 8
	if slices.Contains(c.Ops, OpPutBW) {
		big = slices.Max(c.Sizes)
	}
	if m.big, err = shmem.Malloc[byte](ctx, pe, big); err != nil {
		return nil, fmt.Errorf("bench: %w (run with %s=%d)", err, "GSHMEM_SYMMETRIC_SIZE", c.HeapFor())
	}
	var out []Result
	for _, op := range c.Ops {
		var rs []Result
		switch op {
		case OpPut, OpGet, OpFetchAdd:
			rs, err = m.pointToPoint(op)
		case OpBarrier:
			rs, err = m.barrier()
		case OpPutBW:
			rs, err = m.putBW()
		default:
			err = fmt.Errorf("bench: gshmem has no benchmark %q (have %v)", op, GshmemOps)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if pe.MyPE() != 0 {
		return nil, nil
	}
	return out, nil
}

type meter struct {
	ctx   context.Context
	pe    *shmem.PE
	c     Config
	word  shmem.Sym[uint64]
	table shmem.Sym[float64]
	big   shmem.Sym[byte]
}

// time measures loop (which runs n operations) the package's way: warm-up
// rounds of doubling length until one takes Target/8, then the fastest of
// Reps timed loops sized to take Target. With all set, every PE runs the
// loops in lockstep and PE 0's calibration is shared; else PE 0 alone runs
// them while the others wait at the closing barrier.
func (m *meter) time(all bool, loop func(n int) error) (iters int, best time.Duration, err error) {
	me := m.pe.MyPE()
	if all || me == 0 {
		n := 1
		for {
			t0 := time.Now()
			if err := loop(n); err != nil {
				return 0, 0, err
			}
			dt := time.Since(t0)
			done := n >= 2 && (dt >= m.c.Target/8 || n >= m.c.MaxIters)
			if all {
				v := uint64(0)
				if done {
					v = 1
				}
				if v, err = m.share(v); err != nil {
					return 0, 0, err
				}
				done = v == 1
			}
			if done {
				iters = int(float64(n) * float64(m.c.Target) / float64(max(dt, 1)))
				break
			}
			n *= 2
		}
		iters = min(max(iters, m.c.MinIters), m.c.MaxIters)
		if all {
			v, err := m.share(uint64(iters))
			if err != nil {
				return 0, 0, err
			}
			iters = int(v)
		}
		best = -1
		for range m.c.Reps {
			t0 := time.Now()
			if err := loop(iters); err != nil {
				return 0, 0, err
			}
			if dt := time.Since(t0); best < 0 || dt < best {
				best = dt
			}
		}
	}
	return iters, best, m.pe.BarrierAll(m.ctx)
}

// share makes PE 0's v every PE's.
func (m *meter) share(v uint64) (uint64, error) {
	pe := m.pe
	if err := pe.BarrierAll(m.ctx); err != nil {
		return 0, err
	}
	if pe.MyPE() == 0 {
		for j := 1; j < pe.NPEs(); j++ {
			if err := shmem.P(pe, m.word.At(1), v, j); err != nil {
				return 0, err
			}
		}
	}
	if err := pe.BarrierAll(m.ctx); err != nil {
		return 0, err
	}
	if pe.MyPE() == 0 {
		return v, nil
	}
	return shmem.Local(pe, m.word)[1], nil
}

func (m *meter) result(op string, bytes, iters int, d time.Duration) Result {
	return Result{Impl: ImplGshmem, Op: op, PEs: m.pe.NPEs(), Bytes: bytes, Iters: iters,
		NsPerOp: float64(d.Nanoseconds()) / float64(max(iters, 1))}
}

func (m *meter) pointToPoint(op string) ([]Result, error) {
	pe, w := m.pe, m.word.At(0)
	src, dst := []uint64{42}, make([]uint64, 1)
	var loop func(n int) error
	switch op {
	case OpPut: // 8-byte put + quiet: delivered, not just issued
		loop = func(n int) error {
			for range n {
				if err := shmem.Put(pe, w, src, 1); err != nil {
					return err
				}
				if err := pe.Quiet(); err != nil {
					return err
				}
			}
			return nil
		}
	case OpGet:
		loop = func(n int) error {
			for range n {
				if err := shmem.Get(pe, dst, w, 1); err != nil {
					return err
				}
			}
			return nil
		}
	case OpFetchAdd:
		loop = func(n int) error {
			for range n {
				if _, err := shmem.AtomicFetchAdd(pe, w, 1, 1); err != nil {
					return err
				}
			}
			return nil
		}
	}
	iters, best, err := m.time(false, loop)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", op, err)
	}
	return []Result{m.result(op, 8, iters, best)}, nil
}

func (m *meter) barrier() ([]Result, error) {
	pe := m.pe
	iters, best, err := m.time(true, func(n int) error {
		for range n {
			if err := pe.BarrierAll(m.ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: barrier: %w", err)
	}
	// The mean over PEs of each PE's time per barrier.
	mine := float64(best.Nanoseconds()) / float64(max(iters, 1))
	if err := shmem.P(pe, m.table.At(pe.MyPE()), mine, 0); err != nil {
		return nil, err
	}
	if err := pe.BarrierAll(m.ctx); err != nil {
		return nil, err
	}
	sum := 0.0
	for _, v := range shmem.Local(pe, m.table) {
		sum += v
	}
	r := m.result(OpBarrier, 0, iters, 0)
	r.NsPerOp = sum / float64(pe.NPEs())
	return []Result{r}, nil
}

func (m *meter) putBW() ([]Result, error) {
	pe := m.pe
	src := make([]byte, m.big.Len())
	for i := range src {
		src[i] = byte(i)
	}
	var out []Result
	for _, size := range m.c.Sizes {
		if size <= 0 || size > len(src) {
			continue
		}
		dst, s := m.big.Slice(0, size), src[:size]
		iters, best, err := m.time(false, func(n int) error {
			for range n {
				if err := shmem.PutMem(pe, dst, s, 1); err != nil {
					return err
				}
				if err := pe.Quiet(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("bench: putbw %d: %w", size, err)
		}
		out = append(out, m.result(OpPutBW, size, iters, best))
	}
	return out, nil
}
