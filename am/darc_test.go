package am_test

import (
	"context"
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

// DarcAdd adds N to the receiver's instance of C.
type DarcAdd struct {
	C *am.Darc[atomic.Int64]
	N int64
}

func (d DarcAdd) Exec(ctx *am.Context) (int64, error) {
	return d.C.Get().Add(d.N), nil
}

// DarcWalk carries a Darc through random recursive AMs.
type DarcWalk struct {
	C    *am.Darc[atomic.Int64]
	Left int
	Seed uint64
}

func (d DarcWalk) Exec(ctx *am.Context) (int, error) {
	d.C.Get().Add(1)
	if d.Left == 0 {
		return 1, nil
	}
	w := ctx.World()
	rng := rand.New(rand.NewPCG(d.Seed, uint64(ctx.MyPE())))
	k := 1 + rng.IntN(2)
	fs := make([]*am.Future[int], k)
	for i := range fs {
		fs[i] = am.Exec(w, rng.IntN(w.NPEs()), DarcWalk{C: d.C, Left: d.Left - 1, Seed: rng.Uint64()})
	}
	total := 1
	for _, f := range fs {
		v, err := f.Wait(ctx)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

func scenarioDarc(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()
	d, err := am.NewDarc(ctx, w, atomic.Int64{})
	require.NoError(t, err)
	require.Equal(t, 1, d.LocalRefs())
	g, err := d.GlobalRefs()
	require.NoError(t, err)
	require.Equal(t, n, g)
	require.NoError(t, pe.BarrierAll(ctx)) // everyone checked before anyone sends

	for i := range 10 {
		_, err := am.ExecAll(w, DarcAdd{C: d, N: int64(me + 1)}).Wait(ctx)
		require.NoError(t, err, "round %d", i)
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.Equal(t, 1, d.LocalRefs(), "references held by AMs in flight are released")
	require.NoError(t, pe.BarrierAll(ctx))
	require.EqualValues(t, 10*n*(n+1)/2, d.Get().Load())

	// Clones count; the Darc lives while any PE holds a reference.
	c, err := d.Clone()
	require.NoError(t, err)
	require.Equal(t, 2, d.LocalRefs())
	require.NoError(t, d.Drop())
	require.ErrorIs(t, d.Drop(), am.ErrInvalidArg)
	require.Nil(t, d.Get())
	require.NoError(t, pe.BarrierAll(ctx))
	if me != 0 {
		require.NoError(t, c.Drop())
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.Equal(t, 1, w.LiveDarcs(), "PE 0 still holds a reference: the Darc lives everywhere")
	require.NoError(t, pe.BarrierAll(ctx))
	if me == 0 {
		g, err := c.GlobalRefs()
		require.NoError(t, err)
		require.Equal(t, 1, g)
		// Other PEs dropped theirs, but an AM can still reach their instance.
		_, err = am.Exec(w, n-1, DarcAdd{C: c, N: 1}).Wait(ctx)
		require.NoError(t, err)
		require.NoError(t, c.Drop())
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, w.WaitAll(ctx)) // the frees PE 0 sent
	require.NoError(t, pe.BarrierAll(ctx))
	require.Eventually(t, func() bool { return w.LiveDarcs() == 0 }, 10*time.Second, time.Millisecond, "Darc freed on every PE")
	require.NoError(t, pe.BarrierAll(ctx))
	closeWorld(t, w)
}

func scenarioDarcStress(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{Threads: 2})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()
	d, err := am.NewDarc(ctx, w, atomic.Int64{})
	require.NoError(t, err)
	total := 0
	var fs []*am.Future[int]
	for i := range 8 {
		fs = append(fs, am.Exec(w, (me+i)%n, DarcWalk{C: d, Left: 4, Seed: uint64(me*100 + i)}))
	}
	for _, f := range fs {
		v, err := f.Wait(ctx)
		require.NoError(t, err)
		total += v
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.Equal(t, 1, d.LocalRefs())
	require.NoError(t, pe.BarrierAll(ctx))
	// Sum the visits over PEs: every visit added 1 to some instance.
	sum, err := am.ExecAll(w, DarcAdd{C: d, N: 0}).Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, pe.BarrierAll(ctx))
	visits, err := am.ExecAll(w, countWalks{}).Wait(ctx)
	require.NoError(t, err)
	_ = visits
	s := int64(0)
	for _, v := range sum {
		s += v
	}
	require.GreaterOrEqual(t, s, int64(total))
	require.NoError(t, d.Drop())
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, w.WaitAll(ctx))
	require.Eventually(t, func() bool { return w.LiveDarcs() == 0 }, 10*time.Second, time.Millisecond)
	require.NoError(t, pe.BarrierAll(ctx))
	closeWorld(t, w)
}

type countWalks struct{}

func (countWalks) Exec(*am.Context) (int, error) { return 0, nil }

func init() { am.MustRegister[countWalks](reg, "test.countwalks") }

func scenarioConvert(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	var logs []string
	var mu sync.Mutex
	w, err := am.New(ctx, pe, reg, am.Options{ConvertWarn: 20 * time.Millisecond, Logf: func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, f)
		mu.Unlock()
	}})
	require.NoError(t, err)
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me := w.MyPE()
	d, err := am.NewDarc(ctx, w, map[string]int{"pe": me})
	require.NoError(t, err)
	// An extra reference blocks the conversion: it waits, says on what,
	// and gives up with ctx.
	extra, err := d.Clone()
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = am.IntoLocalRw(short, d)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "2 references on this PE")
	mu.Lock()
	require.NotEmpty(t, logs, "a slow conversion logs what it waits on")
	mu.Unlock()
	require.NoError(t, extra.Drop())
	require.NoError(t, pe.BarrierAll(ctx))

	lrw, err := am.IntoLocalRw(ctx, d)
	require.NoError(t, err)
	require.ErrorIs(t, d.Drop(), am.ErrInvalidArg, "the converted handle is consumed")
	require.NoError(t, lrw.Write(ctx, func(m *map[string]int) error { (*m)["w"] = 1; return nil }))
	grw, err := lrw.IntoGlobalRw(ctx)
	require.NoError(t, err)
	require.NoError(t, grw.Read(ctx, func(m *map[string]int) error {
		require.Equal(t, map[string]int{"pe": me, "w": 1}, *m)
		return nil
	}))
	d2, err := grw.IntoDarc(ctx)
	require.NoError(t, err)
	require.Equal(t, me, (*d2.Get())["pe"])
	lrw2, err := am.IntoLocalRw(ctx, d2)
	require.NoError(t, err)
	grw2, err := lrw2.IntoGlobalRw(ctx)
	require.NoError(t, err)
	lrw3, err := grw2.IntoLocalRw(ctx)
	require.NoError(t, err)
	d3, err := lrw3.IntoDarc(ctx)
	require.NoError(t, err)
	require.NoError(t, d3.Drop())
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, w.WaitAll(ctx))
	require.Eventually(t, func() bool { return w.LiveDarcs() == 0 }, 10*time.Second, time.Millisecond)
	require.NoError(t, pe.BarrierAll(ctx))
	closeWorld(t, w)
}

// MapPut inserts into the receiver's map.
type MapPut struct {
	M   *am.LocalRwDarc[map[string]int]
	Key string
	Val int
}

func (p MapPut) Exec(ctx *am.Context) (am.Unit, error) {
	return am.Unit{}, p.M.Write(ctx, func(m *map[string]int) error { (*m)[p.Key] += p.Val; return nil })
}

// GlobalInc increments the receiver's instance under the global lock.
type GlobalInc struct{ G *am.GlobalRwDarc[int] }

func (g GlobalInc) Exec(ctx *am.Context) (am.Unit, error) {
	return am.Unit{}, g.G.Write(ctx, func(v *int) error { *v++; return nil })
}

func scenarioRw(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()
	m, err := am.NewLocalRwDarc(ctx, w, map[string]int{})
	require.NoError(t, err)
	for i := range 100 {
		am.Exec(w, i%n, MapPut{M: m, Key: strings.Repeat("k", 1+i%5), Val: 1})
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	total := 0
	require.NoError(t, m.Read(ctx, func(mp *map[string]int) error {
		for _, v := range *mp {
			total += v
		}
		return nil
	}))
	want := 0
	for i := range 100 {
		if i%n == me {
			want++
		}
	}
	require.Equal(t, want*n, total)

	g, err := am.NewGlobalRwDarc(ctx, w, 0)
	require.NoError(t, err)
	for range 20 {
		am.Exec(w, 0, GlobalInc{G: g})
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	if me == 0 {
		require.NoError(t, g.Read(ctx, func(v *int) error { require.Equal(t, 20*n, *v); return nil }))
	}
	require.NoError(t, g.CollectiveWrite(ctx, func(v *int) error { *v = -me; return nil }))
	require.NoError(t, g.Read(ctx, func(v *int) error { require.Equal(t, -me, *v); return nil }))
	require.NoError(t, m.Drop())
	require.NoError(t, g.Drop())
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, w.WaitAll(ctx))
	require.Eventually(t, func() bool { return w.LiveDarcs() == 0 }, 10*time.Second, time.Millisecond)
	require.NoError(t, pe.BarrierAll(ctx))
	closeWorld(t, w)
}
