package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
)

// Config says what [Measure] measures on gshmem: the same knobs as
// [PeerConfig], so both sides run the same method.
type Config struct {
	Ops                []string      // Op constants; nil means [GshmemOps]
	Sizes              []int         // putbw, bcastbw, allreduce sizes; nil means [Sizes]
	CollSizes          []int         // fcollect, alltoall block sizes; nil means [CollSizes]
	Target             time.Duration // one timed loop; default 30ms
	MinIters, MaxIters int           // defaults 5 and 10,000,000
	Reps               int           // timed loops per measurement, fastest counts; default 3
	Histo, IGather     KernelSize    // the bale kernels' sizes; zero fields: see [KernelSize]
	Randperm           KernelSize    // randperm's: Table slots and Updates darts per PE; zero fields: see [KernelSize]
	// AMSizeThreshold is the PEs' GSHMEM_AM_SIZE_THRESHOLD (0: the
	// default), which sizes the kernels' AM arena in [Config.HeapFor]; the
	// PEs size the arena by their own setting.
	AMSizeThreshold uintptr
}

// GshmemOps are the ops [Measure] knows, in table order.
var GshmemOps = []string{OpPut, OpP, OpGet, OpG, OpFetchAdd, OpBarrier, OpSync, OpBcast, OpReduce,
	OpFCollect, OpAlltoall, OpPutBW, OpBcastBW, OpAllreduce, OpDevPutSync, OpStreamAllreduceSync,
	OpDevPutBW, OpStreamAllreduce, OpHisto, OpIGather, OpRandperm}

func (c Config) withDefaults() Config {
	if c.Ops == nil {
		c.Ops = GshmemOps
	}
	if c.Sizes == nil {
		c.Sizes = Sizes
	}
	if c.CollSizes == nil {
		c.CollSizes = CollSizes
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
	c.Histo = c.Histo.withDefaults(defaultHisto, c.Target)
	c.IGather = c.IGather.withDefaults(defaultIGather, c.Target)
	c.Randperm = c.Randperm.withDefaults(defaultRandperm, c.Target)
	return c
}

// HeapFor is the symmetric heap a PE needs to run c on npes PEs: the
// largest buffers one op takes (each op allocates its own and frees them
// after), plus 1 MiB.
func (c Config) HeapFor(npes int) uintptr {
	c = c.withDefaults()
	need := 0
	for _, op := range c.Ops {
		need = max(need, bufBytes(op, npes, OpSizes(op, c.Sizes, c.CollSizes)))
		if k, ok := c.kernel(op); ok {
			need = max(need, kernelBytes(k, c.AMSizeThreshold))
		}
	}
	return uintptr(need) + 1<<20
}

// DeviceHeapFor is the device heap a PE needs to run c: two buffers of the
// largest size of a device op (each op frees its own), plus 1 MiB.
func (c Config) DeviceHeapFor() uintptr {
	c = c.withDefaults()
	need := 0
	for _, op := range c.Ops {
		if slices.Contains(DeviceOps, op) {
			need = max(need, 4*slices.Max(append([]int{0}, OpSizes(op, c.Sizes, c.CollSizes)...)))
		}
	}
	return uintptr(need) + 1<<20
}

// bufBytes is the symmetric memory op takes on npes PEs at sizes.
func bufBytes(op string, npes int, sizes []int) int {
	n := slices.Max(append([]int{0}, sizes...))
	switch op {
	case OpPutBW:
		return n
	case OpBcastBW, OpAllreduce, OpStreamAllreduce:
		return 2 * n
	case OpFCollect:
		return n + npes*n
	case OpAlltoall:
		return 2 * npes * n
	}
	return 64 // the fixed-size ops
}

// Measure runs the gshmem benchmarks on every PE of pe's job (it is
// collective: every PE must call it with the same c) and returns the
// results on PE 0 (nil elsewhere), in the order of c.Ops. Point-to-point
// ops run from PE 0 to PE 1 while the other PEs wait; collectives run on
// the world team, and the kernels (histo, igather, randperm) on every PE. Each op is
// measured as the peer programs measure it (see the package doc), and each
// collective's and kernel's result is checked afterwards.
func Measure(ctx context.Context, pe *shmem.PE, c Config) ([]Result, error) {
	c = c.withDefaults()
	if pe.NPEs() < 2 {
		return nil, fmt.Errorf("bench: %d PE: need at least 2", pe.NPEs())
	}
	for _, op := range c.Ops {
		if !slices.Contains(GshmemOps, op) {
			return nil, fmt.Errorf("bench: gshmem has no benchmark %q (have %v)", op, GshmemOps)
		}
	}
	m, err := newMeter(ctx, pe, c)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, op := range c.Ops {
		var rs []Result
		switch op {
		case OpPut, OpP, OpGet, OpG, OpFetchAdd:
			rs, err = m.pointToPoint(op)
		case OpBarrier, OpSync:
			rs, err = m.barrier(op)
		case OpPutBW:
			rs, err = m.putBW()
		case OpDevPutBW, OpStreamAllreduce, OpDevPutSync, OpStreamAllreduceSync:
			rs, err = m.deviceMeasure(op)
		case OpHisto, OpIGather:
			rs, err = m.kernel(op)
		case OpRandperm:
			rs, err = m.randperm()
		default:
			rs, err = m.collective(op)
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
	word  shmem.Sym[uint64]  // [0]: the point-to-point target; [1]: share's
	table shmem.Sym[float64] // one per PE: onPE0's
}

// newMeter allocates a meter's symmetric words (collective).
func newMeter(ctx context.Context, pe *shmem.PE, c Config) (*meter, error) {
	m := &meter{ctx: ctx, pe: pe, c: c}
	var err error
	if m.word, err = shmem.Calloc[uint64](ctx, pe, 8); err != nil {
		return nil, err
	}
	if m.table, err = shmem.Calloc[float64](ctx, pe, pe.NPEs()); err != nil {
		return nil, err
	}
	return m, nil
}

// How a measurement runs, as the peer programs' MEASURE macro does.
type timing int

const (
	// pe0Loop: PE 0 alone runs the loop while the others wait; the result
	// is PE 0's loop time over the iterations.
	pe0Loop timing = iota
	// allLoop: every PE runs the loop; the result is the mean over PEs of
	// each PE's loop time over the iterations.
	allLoop
	// allPerCall: every PE runs the loop, which times each call on its
	// own and returns the sum (see perCall); the result is the mean over
	// PEs of each PE's sum over the iterations.
	allPerCall
)

// measure measures loop (which runs n operations) the package's way and
// returns the result on PE 0 (the NsPerOp of other PEs' is meaningless):
// warm-up rounds of doubling length until PE 0's round took Target/8 (with
// a barrier before each round where every PE runs), then Reps timed loops
// sized by PE 0 from its last round to take Target, each after a barrier;
// the fastest counts. With allPerCall the time of a loop is what loop
// returns; otherwise the loop's wall time (loop's return is ignored).
func (m *meter) measure(op string, bytes int, how timing, loop func(n int) (time.Duration, error)) (Result, error) {
	pe, all := m.pe, how != pe0Loop
	me := pe.MyPE()
	fail := func(err error) (Result, error) {
		return Result{}, fmt.Errorf("bench: %s %d: %w", op, bytes, err)
	}
	iters, best := 0, -1.0
	if all || me == 0 {
		for n := 1; ; n *= 2 {
			if all {
				if err := pe.BarrierAll(m.ctx); err != nil {
					return fail(err)
				}
			}
			t0 := mono()
			if _, err := loop(n); err != nil {
				return fail(err)
			}
			dt := mono() - t0
			v := uint64(0)
			if me == 0 && n >= 2 && (dt >= m.c.Target/8 || n >= m.c.MaxIters) {
				v = uint64(m.itersFor(dt, n))
			}
			if all {
				var err error
				if v, err = m.share(v); err != nil {
					return fail(err)
				}
			}
			if v > 0 {
				iters = int(v)
				break
			}
		}
		for range m.c.Reps {
			if all {
				if err := pe.BarrierAll(m.ctx); err != nil {
					return fail(err)
				}
			}
			t0 := mono()
			acc, err := loop(iters)
			if err != nil {
				return fail(err)
			}
			if how != allPerCall {
				acc = mono() - t0
			}
			per := float64(acc.Nanoseconds()) / float64(iters)
			if all {
				if per, err = m.meanOverPEs(per); err != nil {
					return fail(err)
				}
			}
			if best < 0 || per < best {
				best = per
			}
		}
	}
	if err := pe.BarrierAll(m.ctx); err != nil {
		return fail(err)
	}
	return Result{Impl: ImplGshmem, Op: op, PEs: pe.NPEs(), Bytes: bytes, Iters: iters, NsPerOp: best}, nil
}

// itersFor turns a warm-up round (n iterations took dt) into the length of
// the timed loop: enough to fill Target, within [MinIters, MaxIters].
func (m *meter) itersFor(dt time.Duration, n int) int {
	want := float64(m.c.MaxIters)
	if dt > 0 {
		want = float64(n) * float64(m.c.Target) / float64(dt)
	}
	return int(min(max(want, float64(m.c.MinIters)), float64(m.c.MaxIters)))
}

// clockBase is the origin of mono.
var clockBase = time.Now()

// mono reads the monotonic clock alone (time.Now also reads the wall
// clock), as the peers' now_ns reads CLOCK_MONOTONIC alone: a per-call
// timing pays two clock reads on both sides.
func mono() time.Duration { return time.Since(clockBase) }

// perCall returns a loop that times each call of f on its own, with an
// untimed barrier after it, and returns the sum of the calls' times: the
// OSU method for collectives, as the peer programs use it.
func (m *meter) perCall(f func() error) func(n int) (time.Duration, error) {
	return func(n int) (time.Duration, error) {
		var acc time.Duration
		for range n {
			t0 := mono()
			if err := f(); err != nil {
				return 0, err
			}
			acc += mono() - t0
			if err := m.pe.BarrierAll(m.ctx); err != nil {
				return 0, err
			}
		}
		return acc, nil
	}
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

// meanOverPEs returns, on PE 0, the mean of every PE's x. Collective.
func (m *meter) meanOverPEs(x float64) (float64, error) {
	xs, err := m.onPE0(x)
	sum := 0.0
	for _, v := range xs {
		sum += v
	}
	return sum / float64(m.pe.NPEs()), err
}

// maxOverPEs returns, on PE 0, the largest of every PE's x. Collective.
func (m *meter) maxOverPEs(x float64) (float64, error) {
	xs, err := m.onPE0(x)
	if len(xs) == 0 {
		return 0, err
	}
	return slices.Max(xs), err
}

// onPE0 returns, on PE 0, every PE's x in PE order (nil elsewhere).
// Collective.
func (m *meter) onPE0(x float64) ([]float64, error) {
	pe := m.pe
	if err := shmem.P(pe, m.table.At(pe.MyPE()), x, 0); err != nil {
		return nil, err
	}
	if err := pe.BarrierAll(m.ctx); err != nil {
		return nil, err
	}
	var xs []float64
	if pe.MyPE() == 0 {
		xs = slices.Clone(shmem.Local(pe, m.table))
	}
	return xs, pe.BarrierAll(m.ctx)
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
	case OpP: // the single-element forms OpenSHMEM codes use most
		loop = func(n int) error {
			for range n {
				if err := shmem.P(pe, w, 42, 1); err != nil {
					return err
				}
				if err := pe.Quiet(); err != nil {
					return err
				}
			}
			return nil
		}
	case OpG:
		loop = func(n int) error {
			for range n {
				v, err := shmem.G(pe, w, 1)
				if err != nil {
					return err
				}
				dst[0] += v
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
	r, err := m.measure(op, 8, pe0Loop, func(n int) (time.Duration, error) { return 0, loop(n) })
	return []Result{r}, err
}

// barrier measures BarrierAll (OpBarrier) or the world team's Sync
// (OpSync) in a tight loop on every PE.
func (m *meter) barrier(op string) ([]Result, error) {
	pe, world := m.pe, m.pe.TeamWorld()
	call := func() error { return pe.BarrierAll(m.ctx) }
	if op == OpSync {
		call = func() error { return world.Sync(m.ctx) }
	}
	r, err := m.measure(op, 0, allLoop, func(n int) (time.Duration, error) {
		for range n {
			if err := call(); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})
	return []Result{r}, err
}

func (m *meter) putBW() ([]Result, error) {
	pe := m.pe
	sizes := OpSizes(OpPutBW, m.c.Sizes, m.c.CollSizes)
	if len(sizes) == 0 {
		return nil, nil
	}
	big, err := alloc[byte](m, slices.Max(sizes))
	if err != nil {
		return nil, err
	}
	src := make([]byte, big.Len())
	for i := range src {
		src[i] = byte(i)
	}
	var out []Result
	for _, size := range sizes {
		dst, s := big.Slice(0, size), src[:size]
		r, err := m.measure(OpPutBW, size, pe0Loop, func(n int) (time.Duration, error) {
			for range n {
				if err := shmem.PutMem(pe, dst, s, 1); err != nil {
					return 0, err
				}
				if err := pe.Quiet(); err != nil {
					return 0, err
				}
			}
			return 0, nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, shmem.Free(m.ctx, pe, big)
}

// alloc allocates n elements of T on the symmetric heap, each page written
// to (so no page fault is measured).
func alloc[T shmem.Elem](m *meter, n int) (shmem.Sym[T], error) {
	s, err := shmem.Calloc[T](m.ctx, m.pe, max(n, 1))
	if err != nil {
		return s, fmt.Errorf("bench: %w (run with %s=%d)", err, config.EnvSymSize, m.c.HeapFor(m.pe.NPEs()))
	}
	return s, nil
}

// collective measures one of the team collectives on the world team, at
// each of its sizes, call by call with an untimed barrier between calls.
// Buffers are allocated for the op and freed after it.
func (m *meter) collective(op string) ([]Result, error) {
	pe, world := m.pe, m.pe.TeamWorld()
	me, npes := pe.MyPE(), pe.NPEs()
	sizes := OpSizes(op, m.c.Sizes, m.c.CollSizes)
	if len(sizes) == 0 {
		return nil, nil
	}
	big := slices.Max(sizes)
	var out []Result
	run := func(bytes int, call func() error, check func() error) error {
		r, err := m.measure(op, bytes, allPerCall, m.perCall(call))
		if err != nil {
			return err
		}
		if err := check(); err != nil {
			return fmt.Errorf("bench: %s of %d B on PE %d: %w", op, bytes, me, err)
		}
		out = append(out, r)
		return nil
	}
	switch op {
	case OpBcast, OpBcastBW:
		// Source and dest are distinct objects, as in the shmem peer.
		src, err := alloc[byte](m, big)
		if err != nil {
			return nil, err
		}
		dst, err := alloc[byte](m, big)
		if err != nil {
			return nil, err
		}
		if me == 0 {
			fill(shmem.Local(pe, src), 1)
		}
		for _, n := range sizes {
			fill(shmem.Local(pe, dst)[:n], 0)
			err := run(n, func() error {
				return shmem.Broadcast(m.ctx, world, dst, src, n, 0)
			}, func() error { return checkAll(shmem.Local(pe, dst)[:n], 1) })
			if err != nil {
				return nil, err
			}
		}
		return out, freeAll(m, src, dst)
	case OpReduce:
		v, err := alloc[int64](m, 2)
		if err != nil {
			return nil, err
		}
		src, dst := v.Slice(0, 1), v.Slice(1, 2)
		shmem.Local(pe, src)[0] = int64(me + 1)
		want := int64(npes * (npes + 1) / 2)
		err = run(8, func() error {
			return shmem.Reduce(m.ctx, world, shmem.OpSum, dst, src, 1)
		}, func() error { return checkAll(shmem.Local(pe, dst), want) })
		if err != nil {
			return nil, err
		}
		return out, shmem.Free(m.ctx, pe, v)
	case OpAllreduce:
		src, err := alloc[float32](m, big/4)
		if err != nil {
			return nil, err
		}
		dst, err := alloc[float32](m, big/4)
		if err != nil {
			return nil, err
		}
		fill(shmem.Local(pe, src), float32(me+1))
		want := float32(npes * (npes + 1) / 2)
		for _, n := range sizes {
			s, d := src.Slice(0, n/4), dst.Slice(0, n/4)
			fill(shmem.Local(pe, d), 0)
			err := run(n, func() error {
				return shmem.AllReduce(m.ctx, world, shmem.OpSum, d, s, n/4)
			}, func() error { return checkAll(shmem.Local(pe, d), want) })
			if err != nil {
				return nil, err
			}
		}
		return out, freeAll(m, src, dst)
	case OpFCollect:
		src, err := alloc[byte](m, big)
		if err != nil {
			return nil, err
		}
		dst, err := alloc[byte](m, npes*big)
		if err != nil {
			return nil, err
		}
		fill(shmem.Local(pe, src), byte(me+1))
		for _, n := range sizes {
			d := shmem.Local(pe, dst)[:npes*n]
			fill(d, 0)
			err := run(n, func() error {
				return shmem.FCollect(m.ctx, world, dst, src, n)
			}, func() error {
				for i := range npes {
					if err := checkAll(d[i*n:(i+1)*n], byte(i+1)); err != nil {
						return fmt.Errorf("block %d: %w", i, err)
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		return out, freeAll(m, src, dst)
	case OpAlltoall:
		src, err := alloc[byte](m, npes*big)
		if err != nil {
			return nil, err
		}
		dst, err := alloc[byte](m, npes*big)
		if err != nil {
			return nil, err
		}
		for _, n := range sizes {
			s, d := shmem.Local(pe, src), shmem.Local(pe, dst)[:npes*n]
			for j := range npes {
				fill(s[j*n:(j+1)*n], a2aByte(me, j))
			}
			fill(d, 0)
			err := run(n, func() error {
				return shmem.AllToAll(m.ctx, world, dst, src, n)
			}, func() error {
				for i := range npes {
					if err := checkAll(d[i*n:(i+1)*n], a2aByte(i, me)); err != nil {
						return fmt.Errorf("block %d: %w", i, err)
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		return out, freeAll(m, src, dst)
	}
	return nil, fmt.Errorf("bench: gshmem has no benchmark %q (have %v)", op, GshmemOps)
}

// a2aByte is the byte PE from sends to PE to in the alltoall check, as in
// the peer programs.
func a2aByte(from, to int) byte { return byte(from*31 + to + 1) }

func fill[T comparable](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}

// checkAll reports the first element of s that is not want.
func checkAll[T comparable](s []T, want T) error {
	for i, v := range s {
		if v != want {
			return fmt.Errorf("element %d is %v, want %v", i, v, want)
		}
	}
	return nil
}

func freeAll[T shmem.Elem](m *meter, s ...shmem.Sym[T]) error {
	for i := len(s) - 1; i >= 0; i-- {
		if err := shmem.Free(m.ctx, m.pe, s[i]); err != nil {
			return err
		}
	}
	return nil
}
