package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gshmem/gshmem/am"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Active-message ops (`gpurun bench -ops am`). They run between PE 0 and
// PE 1 (amrate: every PE), on gshmem only; the table compares amrtt with
// pingpong and ambw with memmove, measured in the same run.
const (
	OpPingPong = "pingpong" // raw flag ping-pong over shm: put 8 bytes to PE 1, wait for its echo (round trip)
	OpAMRTT    = "amrtt"    // an empty AM to PE 1 returning an int, waited for (round trip), Bytes 0
	OpAMRate   = "amrate"   // small AMs (Bytes of payload) from every PE to the next, many in flight: time per AM per PE
	OpAMBW     = "ambw"     // an AM carrying Bytes of payload ([]byte: the handler gets its own copy) to PE 1, waited for (bandwidth)
	OpAMBWView = "ambwview" // as ambw with an am.Bytes payload, which a large AM's handler reads in place in the sender's arena
)

// AMOps are the active-message ops, in table order.
var AMOps = []string{OpPingPong, OpAMRTT, OpAMRate, OpAMBW, OpAMBWView}

// AMSizes are the payload sizes of OpAMBW and OpAMBWView: 1 B to 16 MiB.
var AMSizes = []int{1, 8, 64, 512, 4 << 10, 32 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20}

// AMRateSizes are the payloads of OpAMRate.
var AMRateSizes = []int{8, 64}

// amArena is the large-message arena the AM benchmarks use (16 MiB
// payloads plus their encoding).
const amArena = 40 << 20

// AMHeap is the symmetric heap a PE needs for the AM ops.
func AMHeap(npes int) uintptr { return amArena + uintptr(npes)*(256<<10) + 4<<20 }

func init() { OpGroups["am"] = AMOps }

// splitAMOps separates the AM op names (and the "am" group) from the rest.
func splitAMOps(names []string) (amOps, rest []string, err error) {
	want := map[string]bool{}
	for _, n := range names {
		switch {
		case n == "am":
			for _, op := range AMOps {
				want[op] = true
			}
		case slices.Contains(AMOps, n):
			want[n] = true
		default:
			rest = append(rest, n)
		}
	}
	for _, op := range AMOps {
		if want[op] {
			amOps = append(amOps, op)
		}
	}
	return amOps, rest, nil
}

// Empty is the AM of OpAMRTT: it returns the PE it ran on.
type Empty struct{}

// Exec runs on PE 1.
func (Empty) Exec(ctx *am.Context) (int, error) { return ctx.MyPE(), nil }

// Small is the AM of OpAMRate.
type Small struct{ P []byte }

// Exec returns nothing.
func (Small) Exec(*am.Context) (am.Unit, error) { return am.Unit{}, nil }

// Payload is the AM of OpAMBW: it returns its length.
type Payload struct{ P []byte }

// Exec runs on PE 1.
func (p Payload) Exec(*am.Context) (int, error) { return len(p.P), nil }

// View is the AM of OpAMBWView: it returns its length.
type View struct{ P am.Bytes }

// Exec runs on PE 1.
func (p View) Exec(*am.Context) (int, error) { return len(p.P), nil }

func amRegistry() *am.Registry {
	r := am.NewRegistry()
	am.MustRegister[Empty](r, "bench.empty")
	am.MustRegister[Small](r, "bench.small")
	am.MustRegister[Payload](r, "bench.payload")
	am.MustRegister[View](r, "bench.view")
	return r
}

// RTTCycles is how many times the raw ping-pong and the AM round trip
// alternate when both are measured: each row is the median of its
// cycles, so that the ratio compares the two under the same conditions
// (on a noisy machine the ping-pong alone moves by 2x between runs).
const RTTCycles = 7

// MeasureAM runs the AM ops on every PE of pe's job (collective) and
// returns PE 0's results, measured as in the package doc: warm-up rounds
// of doubling length until one takes Target/8, then Reps timed loops, the
// fastest counting. pingpong, amrtt and ambw time PE 0's loop while PE 1
// answers (pingpong: in its main goroutine; the AMs: on its handler
// goroutines, its main goroutine waiting in the World's barrier); amrate
// times every PE's loop and takes the mean. pingpong and amrtt, when both
// are asked for, alternate RTTCycles times and report their medians.
func MeasureAM(ctx context.Context, pe *shmem.PE, c Config, ops []string) ([]Result, error) {
	c = c.withDefaults()
	if pe.NPEs() < 2 {
		return nil, fmt.Errorf("bench: %d PE: need at least 2", pe.NPEs())
	}
	m, err := newMeter(ctx, pe, c)
	if err != nil {
		return nil, err
	}
	var out []Result
	w, err := am.New(ctx, pe, amRegistry(), am.Options{ArenaBytes: amArena})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	var rtt []loop2
	if slices.Contains(ops, OpPingPong) {
		pp, err := m.pingPong()
		if err != nil {
			return nil, err
		}
		defer pp.free()
		rtt = append(rtt, pp.loop2)
	}
	if slices.Contains(ops, OpAMRTT) {
		rtt = append(rtt, loop2{op: OpAMRTT, w: w, loop0: func(n int) error {
			for range n {
				v, err := am.Exec(w, 1, Empty{}).Wait(ctx)
				if err != nil {
					return err
				}
				if v != 1 {
					return fmt.Errorf("empty AM ran on PE %d, not 1", v)
				}
			}
			return nil
		}})
	}
	if len(rtt) > 0 {
		rs, err := m.alternate(rtt)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	for _, op := range ops {
		var rs []Result
		switch op {
		case OpPingPong, OpAMRTT: // above
		case OpAMRate:
			for _, sz := range AMRateSizes {
				r, err := m.amRate(w, sz)
				if err != nil {
					return nil, err
				}
				rs = append(rs, r)
			}
		case OpAMBW, OpAMBWView:
			for _, sz := range AMSizes {
				buf := prefaulted(sz)
				r, err := m.twoSided(loop2{op: op, bytes: sz, w: w, loop0: func(n int) error {
					for range n {
						var f *am.Future[int]
						if op == OpAMBW {
							f = am.Exec(w, 1, Payload{P: buf})
						} else {
							f = am.Exec(w, 1, View{P: buf})
						}
						v, err := f.Wait(ctx)
						if err != nil {
							return err
						}
						if v != sz {
							return fmt.Errorf("payload of %d bytes arrived as %d", sz, v)
						}
					}
					return nil
				}})
				if err != nil {
					return nil, err
				}
				rs = append(rs, r)
			}
		default:
			return nil, fmt.Errorf("bench: no AM benchmark %q (have %v)", op, AMOps)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if err := w.Close(ctx); err != nil {
		return nil, err
	}
	if pe.MyPE() != 0 {
		return nil, nil
	}
	return out, nil
}

// loop2 is a measurement between PE 0 and PE 1: PE 0 times loop0 while
// PE 1 runs loop1 (nil: nothing, it waits in the barrier that ends each
// round) and the other PEs wait. With a World, that barrier is the
// World's (it runs arriving AMs' handlers, as a PE serving AMs does);
// without, hostshmem's.
type loop2 struct {
	op           string
	bytes        int
	loop0, loop1 func(n int) error
	w            *am.World
}

func (m *meter) fail2(l loop2, err error) error {
	return fmt.Errorf("bench: %s %d: %w", l.op, l.bytes, err)
}

// round runs l n times and returns PE 0's time.
func (m *meter) round(l loop2, n int) (time.Duration, error) {
	pe := m.pe
	me := pe.MyPE()
	if err := pe.BarrierAll(m.ctx); err != nil {
		return 0, err
	}
	t0 := mono()
	var err error
	switch {
	case me == 0:
		err = l.loop0(n)
	case me == 1 && l.loop1 != nil:
		err = l.loop1(n)
	}
	dt := mono() - t0
	if err != nil {
		return 0, err
	}
	if l.w != nil {
		return dt, l.w.Barrier(m.ctx)
	}
	return dt, pe.BarrierAll(m.ctx)
}

// sizeRounds runs warm-up rounds of doubling length until one takes
// Target/8 and returns the iterations of a timed round (the same on every
// PE).
func (m *meter) sizeRounds(l loop2) (int, error) {
	for n := 1; ; n *= 2 {
		dt, err := m.round(l, n)
		if err != nil {
			return 0, m.fail2(l, err)
		}
		v := uint64(0)
		if m.pe.MyPE() == 0 && n >= 2 && (dt >= m.c.Target/8 || n >= m.c.MaxIters) {
			v = uint64(m.itersFor(dt, n))
		}
		if v, err = m.share(v); err != nil {
			return 0, m.fail2(l, err)
		}
		if v > 0 {
			return int(v), nil
		}
	}
}

// best runs Reps timed rounds of iters and returns the fastest time per
// iteration.
func (m *meter) best(l loop2, iters int) (float64, error) {
	best := -1.0
	for range m.c.Reps {
		dt, err := m.round(l, iters)
		if err != nil {
			return 0, m.fail2(l, err)
		}
		if per := float64(dt.Nanoseconds()) / float64(iters); best < 0 || per < best {
			best = per
		}
	}
	return best, nil
}

// twoSided measures l: sized, then the fastest of Reps rounds.
func (m *meter) twoSided(l loop2) (Result, error) {
	iters, err := m.sizeRounds(l)
	if err != nil {
		return Result{}, err
	}
	ns, err := m.best(l, iters)
	return Result{Impl: ImplGshmem, Op: l.op, PEs: m.pe.NPEs(), Bytes: l.bytes, Iters: iters, NsPerOp: ns}, err
}

// alternate measures ls in turn, RTTCycles times over (once when there is
// one), each time as twoSided does, and reports the median of each.
func (m *meter) alternate(ls []loop2) ([]Result, error) {
	cycles := RTTCycles
	if len(ls) == 1 {
		cycles = 1
	}
	iters := make([]int, len(ls))
	for i, l := range ls {
		var err error
		if iters[i], err = m.sizeRounds(l); err != nil {
			return nil, err
		}
	}
	ns := make([][]float64, len(ls))
	for range cycles {
		for i, l := range ls {
			v, err := m.best(l, iters[i])
			if err != nil {
				return nil, err
			}
			ns[i] = append(ns[i], v)
		}
	}
	out := make([]Result, len(ls))
	for i, l := range ls {
		slices.Sort(ns[i])
		out[i] = Result{Impl: ImplGshmem, Op: l.op, PEs: m.pe.NPEs(), Bytes: l.bytes, Iters: iters[i], NsPerOp: ns[i][len(ns[i])/2]}
	}
	return out, nil
}

// pingPongLoop is the raw shm round trip and the flags it uses.
type pingPongLoop struct {
	loop2
	free func()
}

// pingPong is the raw shm round trip the AM round trip compares with: PE 0
// puts i into PE 1's flag and waits for PE 1 to put i into its own, both
// in their main goroutines (the World's handler goroutines idle meanwhile,
// asleep on the AM area, which the flags are not in).
func (m *meter) pingPong() (pingPongLoop, error) {
	pe := m.pe
	flags, err := shmem.Calloc[uint64](m.ctx, pe, 16) // [0]: PE 0's flag, [8]: PE 1's, on lines of their own
	if err != nil {
		return pingPongLoop{}, err
	}
	seq := uint64(0)
	return pingPongLoop{loop2: loop2{op: OpPingPong, bytes: 8, loop0: func(n int) error {
		for range n {
			seq++
			if err := shmem.P(pe, flags.At(8), seq, 1); err != nil {
				return err
			}
			if err := shmem.WaitUntil(m.ctx, pe, flags.At(0), shmem.CmpEQ, seq); err != nil {
				return err
			}
		}
		return nil
	}, loop1: func(n int) error {
		for range n {
			seq++
			if err := shmem.WaitUntil(m.ctx, pe, flags.At(8), shmem.CmpEQ, seq); err != nil {
				return err
			}
			if err := shmem.P(pe, flags.At(0), seq, 0); err != nil {
				return err
			}
		}
		return nil
	}}, free: func() { shmem.Free(m.ctx, pe, flags) }}, nil
}

// amRate: every PE sends n AMs of sz payload bytes to the next PE without
// waiting, then waits for all; the result is the mean over PEs of the time
// per AM.
func (m *meter) amRate(w *am.World, sz int) (Result, error) {
	p := prefaulted(sz)
	next := (m.pe.MyPE() + 1) % m.pe.NPEs()
	r, err := m.measure(OpAMRate, sz, allLoop, func(n int) (time.Duration, error) {
		for range n {
			am.Exec(w, next, Small{P: p})
		}
		if err := w.WaitAll(m.ctx); err != nil {
			return 0, err
		}
		// Every PE's AMs have run when anyone leaves: the barriers of
		// measure that follow (hostshmem's, which run no handlers) find
		// nothing in flight to this PE.
		return 0, w.Barrier(m.ctx)
	})
	return r, err
}

// WriteAMSummary prints, after the table, what the AM rows mean together:
// the AM round trip as a multiple of the raw ping-pong of the same run,
// AMs per second per PE, and the AM bandwidth as a fraction of memmove.
func WriteAMSummary(out io.Writer, ours, memmove []Result) {
	var b strings.Builder
	byKey := map[string]Result{}
	for _, r := range ours {
		byKey[fmt.Sprintf("%s/%d/%d", r.Op, r.PEs, r.Bytes)] = r
	}
	for _, r := range ours {
		switch r.Op {
		case OpAMRTT:
			if pp, ok := byKey[fmt.Sprintf("%s/%d/8", OpPingPong, r.PEs)]; ok && pp.NsPerOp > 0 {
				fmt.Fprintf(&b, "AM round trip on %d PEs: %.0f ns = %.2fx the flag ping-pong (%.0f ns) of this run (medians of %d alternating measurements)\n",
					r.PEs, r.NsPerOp, r.NsPerOp/pp.NsPerOp, pp.NsPerOp, RTTCycles)
			}
		case OpAMRate:
			if r.NsPerOp > 0 {
				fmt.Fprintf(&b, "small AMs (%d B) on %d PEs: %.2f M AMs/s per PE\n", r.Bytes, r.PEs, 1e3/r.NsPerOp)
			}
		}
	}
	for _, r := range ours {
		if (r.Op != OpAMBW && r.Op != OpAMBWView) || r.NsPerOp <= 0 {
			continue
		}
		what := "AM payload"
		if r.Op == OpAMBWView {
			what = "AM payload (am.Bytes)"
		}
		for _, mm := range memmove {
			if mm.Bytes == r.Bytes && mm.NsPerOp > 0 {
				fmt.Fprintf(&b, "%s %s on %d PEs: %.2f GB/s = %.2f of memmove (%.2f GB/s)\n", what, formatSize(r.Bytes), r.PEs,
					float64(r.Bytes)/r.NsPerOp, mm.NsPerOp/r.NsPerOp, float64(mm.Bytes)/mm.NsPerOp)
			}
		}
	}
	if b.Len() > 0 {
		fmt.Fprintf(out, "\nActive messages\n%s", b.String())
	}
}
