package am_test

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// reg holds the AM types of these tests (every PE registers the same).
var reg = am.NewRegistry()

func init() {
	am.MustRegister[Ping](reg, "test.ping")
	am.MustRegister[Square](reg, "test.square")
	am.MustRegister[WhoAmI](reg, "test.whoami")
	am.MustRegister[RingAM](reg, "test.ring")
	am.MustRegister[Bounce](reg, "test.bounce")
	am.MustRegister[Back](reg, "test.back")
	am.MustRegister[Recurse](reg, "test.recurse")
	am.MustRegister[Blob](reg, "test.blob")
	am.MustRegister[BlobView](reg, "test.blobview")
	am.MustRegister[Words](reg, "test.words")
	am.MustRegister[Fast](reg, "test.fast")
	am.MustRegister[Boom](reg, "test.boom")
	am.MustRegister[Fail](reg, "test.fail")
	am.MustRegister[DarcAdd](reg, "test.darcadd")
	am.MustRegister[DarcWalk](reg, "test.darcwalk")
	am.MustRegister[MapPut](reg, "test.mapput")
	am.MustRegister[GlobalInc](reg, "test.globalinc")
	am.MustRegister[Flood](reg, "test.flood")
}

// hits counts no-return AMs per World (test state; PEs of one process each
// have their own World).
var hits sync.Map // *am.World -> *atomic.Int64

func hitsOf(w *am.World) *atomic.Int64 {
	v, _ := hits.LoadOrStore(w, new(atomic.Int64))
	return v.(*atomic.Int64)
}

type Ping struct{ From int }

func (p Ping) Exec(ctx *am.Context) (am.Unit, error) {
	if p.From != ctx.Origin() {
		return am.Unit{}, fmt.Errorf("ping says it is from %d, origin is %d", p.From, ctx.Origin())
	}
	hitsOf(ctx.World()).Add(1)
	return am.Unit{}, nil
}

type Square struct{ X int64 }

func (s Square) Exec(ctx *am.Context) (int64, error) { return s.X*s.X + int64(ctx.MyPE()), nil }

type WhoAmI struct{}

func (WhoAmI) Exec(ctx *am.Context) (int, error) { return ctx.MyPE(), nil }

// RingAM hops around the ring Left times, counting its visits.
type RingAM struct{ Left int }

func (r RingAM) Exec(ctx *am.Context) (int, error) {
	hitsOf(ctx.World()).Add(1)
	if r.Left == 0 {
		return ctx.MyPE(), nil
	}
	return am.Exec(ctx.World(), (ctx.MyPE()+1)%ctx.NPEs(), RingAM{r.Left - 1}).Wait(ctx)
}

// Bounce returns an AM that runs back on the origin.
type Bounce struct{ Tag string }

func (b Bounce) Exec(ctx *am.Context) (am.Next[string], error) {
	return am.ReturnAM(Back{Tag: b.Tag, From: ctx.MyPE()}), nil
}

type Back struct {
	Tag  string
	From int
}

func (b Back) Exec(ctx *am.Context) (string, error) {
	return fmt.Sprintf("%s from %d ran on %d", b.Tag, b.From, ctx.MyPE()), nil
}

// Recurse fans out to the next PE Depth times and sums the PEs it visits.
type Recurse struct{ Depth int }

func (r Recurse) Exec(ctx *am.Context) (int, error) {
	if r.Depth == 0 {
		return ctx.MyPE(), nil
	}
	w := ctx.World()
	a := am.Exec(w, (ctx.MyPE()+1)%w.NPEs(), Recurse{r.Depth - 1})
	b := am.Exec(w, (ctx.MyPE()+2)%w.NPEs(), Recurse{r.Depth - 1})
	x, err := a.Wait(ctx)
	if err != nil {
		return 0, err
	}
	y, err := b.Wait(ctx)
	return x + y + ctx.MyPE(), err
}

func recurseWant(pe, n, depth int) int {
	if depth == 0 {
		return pe
	}
	return recurseWant((pe+1)%n, n, depth-1) + recurseWant((pe+2)%n, n, depth-1) + pe
}

// Blob carries bytes and returns their CRC and length.
type Blob struct {
	Data []byte
	Seed uint64
}

func (b Blob) Exec(*am.Context) ([2]uint64, error) {
	return [2]uint64{uint64(crc32.ChecksumIEEE(b.Data)), uint64(len(b.Data))}, nil
}

// Words carries a mix of field kinds and returns a summary string.
// BlobView is Blob with a payload its handler reads in place.
type BlobView struct {
	Data am.Bytes
	Seed uint64
}

func (b BlobView) Exec(*am.Context) ([2]uint64, error) {
	return [2]uint64{uint64(crc32.ChecksumIEEE(b.Data)), uint64(len(b.Data))}, nil
}

type Words struct {
	S   []string
	M   map[string]int32
	P   *float64
	Arr [3]int16
	B   bool
	C   complex128
}

func (w Words) Exec(*am.Context) (string, error) {
	sum := int32(0)
	for _, v := range w.M {
		sum += v
	}
	p := 0.0
	if w.P != nil {
		p = *w.P
	}
	return fmt.Sprintf("%s|%d|%g|%v|%v|%v", strings.Join(w.S, ","), sum, p, w.Arr, w.B, w.C), nil
}

// Fast encodes itself (the fast path).
type Fast struct{ A, B uint32 }

func (f Fast) AppendBinary(b []byte) ([]byte, error) {
	return append(b, byte(f.A), byte(f.A>>8), byte(f.B), byte(f.B>>8)), nil
}

func (f *Fast) UnmarshalBinary(b []byte) error {
	if len(b) != 4 {
		return fmt.Errorf("Fast: %d bytes", len(b))
	}
	f.A, f.B = uint32(b[0])|uint32(b[1])<<8, uint32(b[2])|uint32(b[3])<<8
	return nil
}

func (f Fast) Exec(*am.Context) (uint32, error) { return f.A + f.B, nil }

type Boom struct{}

func (Boom) Exec(*am.Context) (int, error) { panic("kaboom") }

type Fail struct{ Why string }

func (f Fail) Exec(*am.Context) (int, error) { return 0, errors.New(f.Why) }

func newWorld(t *petest.T, pe *hostshmem.PE, opt am.Options) *am.World {
	w, err := am.New(t.Context(), pe, reg, opt)
	require.NoError(t, err)
	return w
}

func closeWorld(t *petest.T, w *am.World) {
	require.NoError(t, w.Close(t.Context()))
}

func scenarioBasic(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()

	// No-return AMs to one PE, to all, and around a ring.
	_, err := am.Exec(w, (me+1)%n, Ping{me}).Wait(ctx)
	require.NoError(t, err)
	_, err = am.ExecAll(w, Ping{me}).Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.EqualValues(t, 1+n, hitsOf(w).Load(), "pings received")
	require.NoError(t, pe.BarrierAll(ctx))

	// A forgotten future still runs (launching is eager).
	for i := range 10 {
		am.Exec(w, i%n, Ping{me})
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	mine := 0
	for i := range 10 {
		if i%n == me {
			mine++
		}
	}
	require.EqualValues(t, 1+n+n*mine, hitsOf(w).Load())
	require.NoError(t, pe.BarrierAll(ctx))

	// Results, and exec_all in PE order.
	for x := int64(-3); x < 40; x += 7 {
		r, err := am.Exec(w, int(x+10)%n, Square{x}).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, x*x+(x+10)%int64(n), r)
	}
	who, err := am.ExecAll(w, WhoAmI{}).Wait(ctx)
	require.NoError(t, err)
	for i, v := range who {
		require.Equal(t, i, v)
	}
	// Local AMs.
	r, err := am.ExecLocal(w, Square{5}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(25+me), r)
	// Select on completion.
	f := am.Exec(w, (me+1)%n, WhoAmI{})
	select {
	case <-f.Done():
	case <-time.After(30 * time.Second):
		t.Errorf("no completion")
	}
	v, err := f.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, (me+1)%n, v)

	// Ring: one AM visits every PE twice.
	require.NoError(t, pe.BarrierAll(ctx))
	before := hitsOf(w).Load()
	require.NoError(t, pe.BarrierAll(ctx))
	if me == 0 {
		last, err := am.Exec(w, 1%n, RingAM{Left: 2*n - 1}).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, last)
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.EqualValues(t, 2, hitsOf(w).Load()-before, "ring visits")

	// Typed groups: results in insertion order.
	g := am.NewTypedGroup[Square](w)
	for i := range 20 {
		g.Add(i%n, Square{int64(i)})
	}
	g.AddAll(Square{2})
	rs, err := g.Wait(ctx)
	require.NoError(t, err)
	require.Len(t, rs, 20+n)
	for i := range 20 {
		require.Equal(t, int64(i*i+i%n), rs[i])
	}
	for p := range n {
		require.Equal(t, int64(4+p), rs[20+p])
	}
	// Task groups and teams.
	tg := w.NewTaskGroup()
	fs := make([]*am.Future[uint32], 50)
	for i := range fs {
		fs[i] = am.Exec(tg, i%n, Fast{uint32(i), 7})
	}
	require.NoError(t, tg.WaitAll(ctx))
	for i, f := range fs {
		require.True(t, f.Ready())
		v, err := f.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, uint32(i+7), v)
	}
	if n >= 2 {
		even, err := pe.TeamWorld().SplitStrided(ctx, 0, 2, (n+1)/2, nil)
		require.NoError(t, err)
		if even != nil {
			tm := w.Team(even)
			who, err := am.ExecAll(tm, WhoAmI{}).Wait(ctx)
			require.NoError(t, err)
			for i, v := range who {
				require.Equal(t, 2*i, v)
			}
			_, err = am.Exec(tm, even.NPEs(), WhoAmI{}).Wait(ctx)
			require.ErrorIs(t, err, am.ErrInvalidArg)
			require.NoError(t, tm.WaitAll(ctx))
			require.NoError(t, even.Destroy(ctx))
		}
	}
	// Mixed kinds through the default codec.
	p := 2.5
	s, err := am.Exec(w, (me+1)%n, Words{S: []string{"a", "bc"}, M: map[string]int32{"x": 1, "y": -5}, P: &p, Arr: [3]int16{1, -2, 3}, B: true, C: 1 + 2i}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "a,bc|-4|2.5|[1 -2 3]|true|(1+2i)", s)
	closeWorld(t, w)
}

func scenarioReturnAM(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()
	for i := range n {
		nx, err := am.Exec(w, i, Bounce{Tag: "t"}).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("t from %d ran on %d", i, me), nx.Value())
	}
	all, err := am.ExecAll(w, Bounce{Tag: "all"}).Wait(ctx)
	require.NoError(t, err)
	for i, nx := range all {
		require.Equal(t, fmt.Sprintf("all from %d ran on %d", i, me), nx.Value())
	}
	closeWorld(t, w)
}

func scenarioRecursive(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	// One handler goroutine: nested waits must not starve it.
	w := newWorld(t, pe, am.Options{Threads: 1})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()
	for d := range 6 {
		got, err := am.Exec(w, (me+1)%n, Recurse{Depth: d}).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, recurseWant((me+1)%n, n, d), got, "depth %d", d)
	}
	last, err := am.Exec(w, me, RingAM{Left: 3 * n}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, (me+3*n)%n, last)
	closeWorld(t, w)
}

func scenarioMix(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{ArenaBytes: 3 << 20, RingBytes: 16 << 10})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()
	rng := rand.New(rand.NewPCG(uint64(me), 42))
	sizes := []int{0, 1, 7, 8, 100, 1000, 4095, 4096, 4097, 20000, 65536, 300000, 1 << 20, 2 << 20}
	type pending struct {
		blob *am.Future[[2]uint64]
		sq   *am.Future[int64]
		fast *am.Future[uint32]
		want [2]uint64
		x    int64
		pe   int
	}
	var ps []pending
	for i := range 300 {
		dst := rng.IntN(n)
		var p pending
		p.pe = dst
		k := rng.IntN(4)
		if i%40 == 0 { // the large ones: Blob and BlobView in turn
			k = 3 * (i / 40 % 2)
		}
		switch k {
		case 0, 3:
			sz := sizes[rng.IntN(len(sizes))]
			if i%40 != 0 && sz > 5000 {
				sz = rng.IntN(5000)
			}
			data := make([]byte, sz)
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			p.want = [2]uint64{uint64(crc32.ChecksumIEEE(data)), uint64(sz)}
			if k == 0 {
				p.blob = am.Exec(w, dst, Blob{Data: data, Seed: uint64(i)})
			} else { // read in place when large
				p.blob = am.Exec(w, dst, BlobView{Data: data, Seed: uint64(i)})
			}
		case 1:
			p.x = rng.Int64N(1000)
			p.sq = am.Exec(w, dst, Square{p.x})
		default:
			p.x = int64(rng.IntN(1000))
			p.fast = am.Exec(w, dst, Fast{uint32(p.x), 1})
		}
		ps = append(ps, p)
		if i%50 == 49 {
			require.NoError(t, w.WaitAll(ctx))
		}
	}
	for _, p := range ps {
		switch {
		case p.blob != nil:
			got, err := p.blob.Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, p.want, got)
		case p.sq != nil:
			got, err := p.sq.Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, p.x*p.x+int64(p.pe), got)
		default:
			got, err := p.fast.Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, uint32(p.x+1), got)
		}
	}
	// Too large for the arena: a clear error, nothing breaks.
	_, err := am.Exec(w, (me+1)%n, Blob{Data: make([]byte, 4<<20)}).Wait(ctx)
	require.ErrorIs(t, err, am.ErrTooLarge)
	require.ErrorContains(t, err, "exceed the arena of 3145728")
	closeWorld(t, w)
}

type onlyHere struct{ X int }

func (o onlyHere) Exec(*am.Context) (int, error) { return o.X, nil }

type notRegistered struct{}

func (notRegistered) Exec(*am.Context) (int, error) { return 0, nil }

func scenarioFailures(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	// A registry per PE: PE 0 knows one more type than the others.
	r := am.NewRegistry()
	am.MustRegister[Boom](r, "test.boom")
	am.MustRegister[Fail](r, "test.fail")
	am.MustRegister[WhoAmI](r, "test.whoami")
	if pe.MyPE() == 0 {
		am.MustRegister[onlyHere](r, "test.onlyhere")
	}
	require.ErrorIs(t, am.Register[Fail](r, "test.fail"), am.ErrDuplicate)
	require.ErrorIs(t, am.Register[Fail](r, "test.fail2"), am.ErrDuplicate)
	w, err := am.New(ctx, pe, r, am.Options{})
	require.NoError(t, err)
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()
	dst := (me + 1) % n

	_, err = am.Exec(w, dst, Boom{}).Wait(ctx)
	var ae *am.Error
	require.ErrorAs(t, err, &ae)
	require.ErrorIs(t, err, am.ErrPanic)
	require.Equal(t, dst, ae.PE)
	require.Equal(t, "test.boom", ae.AM)
	require.Contains(t, ae.Msg, "kaboom")

	_, err = am.Exec(w, dst, Fail{Why: "no luck"}).Wait(ctx)
	require.ErrorIs(t, err, am.ErrHandler)
	require.ErrorContains(t, err, "no luck")
	require.ErrorContains(t, err, fmt.Sprintf("PE %d", dst))
	_, err = am.ExecLocal(w, Boom{}).Wait(ctx)
	require.ErrorIs(t, err, am.ErrPanic)

	// The PE that panicked keeps running.
	v, err := am.Exec(w, dst, WhoAmI{}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, dst, v)

	if me == 0 {
		_, err = am.Exec(w, 1, onlyHere{3}).Wait(ctx)
		require.ErrorIs(t, err, am.ErrUnregistered)
		require.ErrorContains(t, err, "test.onlyhere")
		require.ErrorContains(t, err, "PE 1")
		v, err := am.Exec(w, 0, onlyHere{3}).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, v)
	}
	_, err = am.Exec(w, dst, notRegistered{}).Wait(ctx)
	require.ErrorIs(t, err, am.ErrUnregistered)
	require.ErrorContains(t, err, "notRegistered")
	_, err = am.Exec(w, n, WhoAmI{}).Wait(ctx)
	require.ErrorIs(t, err, hostshmem.ErrInvalidPE)
	require.ErrorIs(t, err, am.ErrInvalidArg, "as before the kinds were shared")
	require.ErrorContains(t, err, fmt.Sprintf("PE out of range: PE %d not in [0, %d)", n, n))
	_, err = am.Exec(w, -1, WhoAmI{}).Wait(ctx)
	require.ErrorIs(t, err, hostshmem.ErrInvalidPE)
	require.ErrorIs(t, err, am.ErrInvalidArg)

	// A wait that times out says so; the AM still completes.
	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-short.Done()
	f := am.Exec(w, dst, WhoAmI{})
	if _, err := f.Wait(short); err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	_, err = f.Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, w.Close(ctx))
	_, err = am.Exec(w, dst, WhoAmI{}).Wait(ctx)
	require.ErrorIs(t, err, am.ErrClosed)
}

// Aggregation: many small AMs in flight.
func scenarioAggregate(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{RingBytes: 8 << 10})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()
	const k = 5000
	fs := make([]*am.Future[int64], k)
	for i := range fs {
		fs[i] = am.Exec(w, (me+i)%n, Square{int64(i)})
	}
	require.NoError(t, w.WaitAll(ctx))
	for i, f := range fs {
		v, err := f.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(i*i+(me+i)%n), v)
	}
	closeWorld(t, w)
}

// Flood carries a payload; its handler counts it and returns its index.
type Flood struct {
	I int
	P []byte
}

func (f Flood) Exec(ctx *am.Context) (int, error) {
	hitsOf(ctx.World()).Add(1)
	return f.I, nil
}

// scenarioFlood: every PE floods every other one with small AMs, many more
// than its ring holds, without waiting; then WaitAll and Barrier, round
// after round. With every PE's queues full at once, each sender must keep
// draining its own while it waits for room; after Barrier, every AM sent
// to this PE before it has run. It checks completion and counts only (the
// scenario's context bounds it), never speed.
func scenarioFlood(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{RingBytes: 4096, FlushBytes: 1024})
	defer w.Abort()
	defer hits.Delete(w)
	me, n := w.MyPE(), w.NPEs()
	const rounds, k = 8, 3000
	p := make([]byte, 64)
	for r := range rounds {
		fs := make([]*am.Future[int], 0, k)
		for i := range k {
			dst := (me + 1 + i%(n-1)) % n
			fs = append(fs, am.Exec(w, dst, Flood{I: i, P: p}))
		}
		require.NoError(t, w.WaitAll(ctx))
		require.NoError(t, w.Barrier(ctx))
		// Peers that left the barrier first may have begun the next round.
		require.GreaterOrEqual(t, hitsOf(w).Load(), int64((r+1)*k), "AMs run here after round %d's barrier", r)
		for i, f := range fs {
			v, err := f.Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, i, v)
		}
	}
	require.EqualValues(t, rounds*k, hitsOf(w).Load(), "AMs run here")
	closeWorld(t, w)
}
