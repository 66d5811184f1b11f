package algo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/testseam"
)

// ErrWrongResult: an algorithm left a wrong value in dest, changed its
// source, or wrote past n. CheckAllReduce's error wraps it and names the
// member, the call, the element, what it found and what it wanted.
var ErrWrongResult = errors.New("algo: wrong result")

// errElsewhere is what CheckAllReduce returns on PEs that found nothing
// wrong themselves while another PE did; Check leaves it out.
var errElsewhere = fmt.Errorf("%w on another PE", ErrWrongResult)

// The calls CheckAllReduce makes, back to back, with no synchronisation in
// between: a fast member starts the next call while a slow one is still in
// the last, which is where flow-control bugs show.
var calls = [...]string{"out of place", "in place", "out of place again"}

// CheckAllReduce runs alg three times back to back on team t (out of
// place, in place, then out of place on new data), with op on n elements,
// and checks every member's results against a serial reference computed
// locally: every element of dest, the source of the out-of-place calls
// (unchanged) and one element past n in each buffer (untouched).
//
// It is collective over the world team, because it allocates its buffers:
// every PE calls it, with its own team and workspace, in the same order.
// A PE that is in no team passes t == nil and only takes part in the
// allocation and the barriers; PEs of disjoint teams run concurrently.
// ws must serve t and hold n elements.
//
// Inputs are small integers chosen per op so that every partial result is
// exact in every type, Float16 and BFloat16 included: sum in [-4, 4], prod
// in {±1, ±2}, min and max in [-50, 50], and, or and xor in [0, 127]. So
// any correct algorithm, whatever order it combines in, must match the
// reference bit for bit (for up to 24 members; sums of more may reach the
// poison value 99 that marks unwritten elements).
//
// It returns nil when every member's results are right; otherwise, on the
// PEs that found a mismatch, an error wrapping ErrWrongResult describing
// the first one, and on the others an error wrapping ErrWrongResult that
// says it was found elsewhere. An error from alg is returned as it is, on
// the PE that got it; the others may then wait for that PE until ctx ends.
func CheckAllReduce[T hostshmem.Elem](ctx context.Context, ws *Workspace[T], t *hostshmem.Team, alg AllReduce[T], op hostshmem.ReduceOp, n int) error {
	pe := ws.PE()
	if err := CheckOp[T](op); err != nil {
		return err
	}
	// Buffers: one flag word, then 5 objects of n+1 elements (a guard
	// past n): source 1, dest 1, the in-place buffer, source 2, dest 2.
	flag, err := hostshmem.Calloc[uint64](ctx, pe, 1)
	if err != nil {
		return err
	}
	all, err := hostshmem.Malloc[T](ctx, pe, 5*(n+1))
	if err != nil {
		return errors.Join(err, hostshmem.Free(ctx, pe, flag))
	}
	buf := func(i int) hostshmem.Sym[T] { return all.Slice(i*(n+1), (i+1)*(n+1)) }
	in := newInputs[T](op)
	var members, me int
	if t != nil && t.MyPE() >= 0 {
		members, me = t.NPEs(), t.MyPE()
		for i := range 5 {
			b := hostshmem.Local(pe, buf(i))
			for k := range b {
				b[k] = in.poison
			}
		}
		fill := func(b []T, seed int) {
			for k := range n {
				b[k] = in.value(seed, me, k)
			}
		}
		fill(hostshmem.Local(pe, buf(0)), 0)
		fill(hostshmem.Local(pe, buf(2)), 1)
		fill(hostshmem.Local(pe, buf(3)), 2)
	}
	// Every member's buffers are ready before any member starts.
	if err := pe.BarrierAll(ctx); err != nil {
		return err
	}
	if members > 0 {
		first := func(i int) hostshmem.Sym[T] { return buf(i).Slice(0, n) }
		args := [...][2]int{{1, 0}, {2, 2}, {4, 3}} // dest, source
		for c, a := range args {
			if err := alg(ctx, ws, t, op, first(a[0]), first(a[1]), n); err != nil {
				return fmt.Errorf("algo: %v of %d elements, call %d (%s), on %v: %w", op, n, c+1, calls[c], t, err)
			}
		}
	}
	if err := pe.BarrierAll(ctx); err != nil { // completes any puts into our dests
		return err
	}
	var mismatch error
	if members > 0 {
		mismatch = in.compare(pe, t, op, n, buf)
		if mismatch != nil {
			if _, err := hostshmem.AtomicFetchAdd(pe, flag, 1, 0); err != nil {
				return err
			}
		}
	}
	if err := pe.BarrierAll(ctx); err != nil {
		return err
	}
	bad, err := hostshmem.G(pe, flag, 0)
	if err != nil {
		return err
	}
	if err := pe.BarrierAll(ctx); err != nil { // everyone has read the flag
		return err
	}
	if err := errors.Join(hostshmem.Free(ctx, pe, all), hostshmem.Free(ctx, pe, flag)); err != nil {
		return err
	}
	if mismatch == nil && bad > 0 {
		return errElsewhere
	}
	return mismatch
}

// compare checks this member's buffers after the three calls.
func (in *inputs[T]) compare(pe *hostshmem.PE, t *hostshmem.Team, op hostshmem.ReduceOp, n int, buf func(int) hostshmem.Sym[T]) error {
	members, me := t.NPEs(), t.MyPE()
	want := make([]T, n+1)
	srcs := make([][]T, members)
	for j := range srcs {
		srcs[j] = make([]T, min(n, in.period()))
	}
	where := func(c int) string {
		return fmt.Sprintf("%v of %d elements on %v, call %d (%s): member %d (PE %d)", op, n, t, c+1, calls[c], me, pe.MyPE())
	}
	check := func(c int, what string, got []T, wantFn func(k int) T) error {
		for k := range got {
			w := wantFn(k)
			if got[k] != w {
				what := what
				if k == n {
					what += " guard past n"
				}
				return fmt.Errorf("%w: %s, %s element %d: got %v, want %v", ErrWrongResult, where(c), what, k, got[k], w)
			}
		}
		return nil
	}
	for c, b := range [...][2]int{{1, 0}, {2, 2}, {4, 3}} { // dest, source
		seed := c
		// Inputs repeat every in.period elements, and so does the result:
		// reduce one period.
		p := min(n, in.period())
		for j := range srcs {
			for k := range p {
				srcs[j][k] = in.value(seed, j, k)
			}
		}
		if err := ReduceN(op, want[:p], srcs); err != nil {
			return err
		}
		for k := p; k < n; k++ {
			want[k] = want[k%p]
		}
		want[n] = in.poison
		if err := check(c, "dest", hostshmem.Local(pe, buf(b[0])), func(k int) T { return want[k] }); err != nil {
			return err
		}
		if b[0] == b[1] {
			continue
		}
		src := func(k int) T {
			if k == n {
				return in.poison
			}
			return in.value(seed, me, k)
		}
		if err := check(c, "source", hostshmem.Local(pe, buf(b[1])), src); err != nil {
			return err
		}
	}
	return nil
}

// inputs makes the deterministic, exactly reducible values of one op.
type inputs[T hostshmem.Elem] struct {
	op     hostshmem.ReduceOp
	poison T      // marks elements an algorithm should not leave alone
	conv   [256]T // conv[x+64] is the integer x in [-64, 191] as a T
}

func newInputs[T hostshmem.Elem](op hostshmem.ReduceOp) *inputs[T] {
	in := &inputs[T]{op: op}
	for i := range in.conv {
		in.conv[i] = fromInt[T](i - 64)
	}
	switch op {
	case hostshmem.OpProd:
		in.poison = fromInt[T](3) // never a product of ±1s and ±2s
	case hostshmem.OpAnd, hostshmem.OpOr, hostshmem.OpXor:
		in.poison = fromInt[T](-1) // all ones: never a combination of 7-bit values
	default:
		in.poison = fromInt[T](99)
	}
	return in
}

var prodValues = [...]int{1, -1, 2, 1, -2, 1, 1, -1}

// period is how often value repeats along k, whatever the seed and member.
func (in *inputs[T]) period() int {
	switch in.op {
	case hostshmem.OpSum:
		return 3
	case hostshmem.OpProd:
		return len(prodValues)
	case hostshmem.OpMin, hostshmem.OpMax:
		return 101
	}
	return 128
}

// value is element k of member j's source in the call with seed.
func (in *inputs[T]) value(seed, j, k int) T {
	var x int
	switch in.op {
	case hostshmem.OpSum:
		x = (j*7+k*3+seed*5)%9 - 4
	case hostshmem.OpProd:
		x = prodValues[(j*3+k+seed)%len(prodValues)]
	case hostshmem.OpMin, hostshmem.OpMax:
		x = (j*37+k*11+seed*13)%101 - 50
	default:
		x = (j*131 + k*29 + seed*7 + j*k) % 128
	}
	return in.conv[x+64]
}

// fromInt converts a small integer to T (wrapping for unsigned types).
func fromInt[T hostshmem.Elem](x int) T {
	var v T
	switch p := any(&v).(type) {
	case *hostshmem.Float16:
		*p = hostshmem.Float16From(float32(x))
		return v
	case *hostshmem.BFloat16:
		*p = hostshmem.BFloat16From(float32(x))
		return v
	}
	r := reflect.ValueOf(&v).Elem()
	switch {
	case r.CanInt():
		r.SetInt(int64(x))
	case r.CanUint():
		r.SetUint(uint64(x))
	case r.CanFloat():
		r.SetFloat(float64(x))
	default:
		r.SetComplex(complex(float64(x), 0))
	}
	return v
}

// Config says what Check runs. Zero fields take the defaults.
type Config struct {
	// NPEs are the job sizes to run on, each a fresh in-process job
	// (default 1, 2, 3, 4, 5, 8). On each, the algorithm runs on the world
	// team and then, concurrently, on the even PEs (from 3 PEs up) and
	// the odd PEs (from 4 up), two teams made with SplitStrided.
	NPEs []int
	// Elems are the element counts (default 0, 1, 3, 7, 100, 4099).
	Elems []int
	// Ops are the operations, those defined on T (default sum, prod, min,
	// max, and for integer types and, or, xor).
	Ops []hostshmem.ReduceOp
	// NoSubTeams runs on the world team only.
	NoSubTeams bool
	// RMAOnly makes the PEs reach each other only through the fabric's
	// puts, gets and atomics, never by loads and stores, the way they will
	// over a network transport.
	RMAOnly bool
	// Timeout bounds each job (default 1 minute), so a deadlocked
	// algorithm fails instead of hanging.
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.NPEs == nil {
		c.NPEs = []int{1, 2, 3, 4, 5, 8}
	}
	if c.Elems == nil {
		c.Elems = []int{0, 1, 3, 7, 100, 4099}
	}
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
	return c
}

// opsFor is c.Ops, or every op defined on T.
func opsFor[T hostshmem.Elem](ops []hostshmem.ReduceOp) []hostshmem.ReduceOp {
	if ops != nil {
		return ops
	}
	for _, op := range []hostshmem.ReduceOp{hostshmem.OpSum, hostshmem.OpProd, hostshmem.OpMin, hostshmem.OpMax, hostshmem.OpAnd, hostshmem.OpOr, hostshmem.OpXor} {
		if CheckOp[T](op) == nil {
			ops = append(ops, op)
		}
	}
	return ops
}

// Check runs CheckAllReduce on in-process jobs for every job size, team,
// op and element count of cfg, each team with its own workspace, and
// returns the first failure (nil if there is none). A job stops at its
// first failure.
func Check[T hostshmem.Elem](ctx context.Context, alg AllReduce[T], cfg Config) error {
	cfg = cfg.withDefaults()
	ops := opsFor[T](cfg.Ops)
	maxN := 0
	for _, n := range cfg.Elems {
		maxN = max(maxN, n)
	}
	var z T
	sz := int(reflect.TypeOf(z).Size())
	for _, npes := range cfg.NPEs {
		// Two workspaces, the harness's buffers, and room for the
		// allocator's alignment.
		heap := 2*(2*npes*maxN*sz+2*npes*wordsPerSignal*8) + 5*(maxN+1)*sz + 64<<10
		// A wrong result ends the job cleanly on every PE (they agree on
		// it), so it is kept here rather than returned from fn, which
		// would make every peer of the PE fail too.
		found := make([]error, npes)
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		if cfg.RMAOnly {
			ctx = testseam.WithRMAOnly(ctx)
		}
		// In process, whatever the environment.
		err := gshmem.RunWith(ctx, gshmem.Config{NPEs: npes, HeapSize: uintptr(heap)}, func(ctx context.Context, pe *gshmem.PE) error {
			return checkJob(ctx, pe, alg, cfg, ops, maxN, &found[pe.MyPE()])
		})
		cancel()
		if err := errors.Join(append(found, err)...); err != nil {
			return fmt.Errorf("algo: %d PEs: %w", npes, err)
		}
	}
	return nil
}

// checkJob is one PE's part of a Check job. It stops at the first wrong
// result, which the PE that saw it stores in *found.
func checkJob[T hostshmem.Elem](ctx context.Context, pe *hostshmem.PE, alg AllReduce[T], cfg Config, ops []hostshmem.ReduceOp, maxN int, found *error) error {
	world := pe.TeamWorld()
	npes := pe.NPEs()
	teams := []*hostshmem.Team{world}
	if !cfg.NoSubTeams && npes >= 3 {
		// This PE's sub-team: the even PEs or the odd ones; nil on PE 1 of
		// 3, which is in neither.
		var sub *hostshmem.Team
		for _, odd := range []int{0, 1} {
			size := (npes + 1 - odd) / 2
			if size < 2 {
				continue
			}
			t, err := world.SplitStrided(ctx, odd, 2, size, nil)
			if err != nil {
				return err
			}
			if t != nil {
				sub = t
				defer func() {
					if err := t.Destroy(ctx); err != nil && *found == nil {
						*found = err
					}
				}()
			}
		}
		teams = append(teams, sub)
	}
	for _, t := range teams {
		ws, err := NewWorkspace[T](ctx, pe, maxN)
		if err != nil {
			return err
		}
		for _, op := range ops {
			for _, n := range cfg.Elems {
				err := CheckAllReduce(ctx, ws, t, alg, op, n)
				switch {
				case errors.Is(err, errElsewhere):
					return nil
				case errors.Is(err, ErrWrongResult):
					*found = err
					return nil
				case err != nil:
					return err
				}
			}
		}
		if err := ws.Free(ctx); err != nil {
			return err
		}
	}
	return nil
}

// TestAllReduce checks alg with Check's defaults (every job size, team, op
// and element count listed in Config) and fails tb with what went wrong.
// It is the one line a test of a new algorithm needs, once per element
// type:
//
//	func TestMyAlg(t *testing.T) { algo.TestAllReduce(t, MyAlg[float32]) }
func TestAllReduce[T hostshmem.Elem](tb testing.TB, alg AllReduce[T]) {
	tb.Helper()
	if err := Check(context.Background(), alg, Config{}); err != nil {
		tb.Fatal(err)
	}
}
