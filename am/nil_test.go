package am_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
)

// TestNilArguments: every exported function and method, called with a nil
// (or zero) receiver, Launcher, context or function, returns
// ErrInvalidArg, or a documented zero value from a getter, and never
// panics. MustRegister is the one that panics, by design.
func TestNilArguments(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2
	_, pes, ws := am.InprocWorlds(t, ctx, reg, n, am.Options{Threads: 1})
	defer func() {
		for i := range ws {
			ws[i].Abort()
			pes[i].Abort()
		}
	}()
	// Live handles, for the nil context and nil function cases.
	ds := make([]*am.Darc[int], n)
	ls := make([]*am.LocalRwDarc[int], n)
	gs := make([]*am.GlobalRwDarc[int], n)
	require.NoError(t, errors.Join(am.OnEachPE(n, func(i int) (err error) {
		if ds[i], err = am.NewDarc(ctx, ws[i], 1); err != nil {
			return err
		}
		if ls[i], err = am.NewLocalRwDarc(ctx, ws[i], 2); err != nil {
			return err
		}
		gs[i], err = am.NewGlobalRwDarc(ctx, ws[i], 3)
		return err
	})...))
	w, d, l, g := ws[0], ds[0], ls[0], gs[0]
	live := am.Exec(w, 1, WhoAmI{})

	var (
		nw   *am.World
		nt   *am.Team
		ng   *am.TaskGroup
		nf   *am.Future[int]
		nd   *am.Darc[int]
		nl   *am.LocalRwDarc[int]
		nr   *am.GlobalRwDarc[int]
		nc   *am.Context
		nreg *am.Registry
		nctx context.Context
		nfn  func(*int) error
		fn   = func(*int) error { return nil }
		ntg  *am.TypedGroup[WhoAmI, int]
	)
	launchers := map[string]am.Launcher{
		"nil Launcher":   nil,
		"nil World":      nw,
		"zero World":     &am.World{},
		"nil Team":       nt,
		"zero Team":      &am.Team{},
		"nil TaskGroup":  ng,
		"zero TaskGroup": &am.TaskGroup{},
	}
	type errCase struct {
		name string
		call func() error
	}
	cases := []errCase{
		{"New nil PE", func() error { _, err := am.New(ctx, nil, reg, am.Options{}); return err }},
		{"New nil registry", func() error { _, err := am.New(ctx, pes[0], nil, am.Options{}); return err }},
		{"New nil context", func() error { _, err := am.New(nctx, pes[0], reg, am.Options{}); return err }},
		{"Register nil registry", func() error { return am.Register[WhoAmI](nreg, "x") }},

		{"World.Close nil", func() error { return nw.Close(ctx) }},
		{"World.Close zero", func() error { return (&am.World{}).Close(ctx) }},
		{"World.Close nil context", func() error { return w.Close(nctx) }},
		{"World.Barrier nil", func() error { return nw.Barrier(ctx) }},
		{"World.Barrier nil context", func() error { return w.Barrier(nctx) }},
		{"World.WaitAll nil", func() error { return nw.WaitAll(ctx) }},
		{"World.WaitAll zero", func() error { return (&am.World{}).WaitAll(ctx) }},
		{"World.WaitAll nil context", func() error { return w.WaitAll(nctx) }},
		{"World.WaitAll nil *Context", func() error { return w.WaitAll(nc) }},
		{"World.WaitAll zero *Context", func() error { return w.WaitAll(&am.Context{}) }},
		{"Team.WaitAll nil", func() error { return nt.WaitAll(ctx) }},
		{"Team.WaitAll zero", func() error { return (&am.Team{}).WaitAll(ctx) }},
		{"Team.WaitAll nil context", func() error { return w.Team(nil).WaitAll(nctx) }},
		{"TaskGroup.WaitAll nil", func() error { return ng.WaitAll(ctx) }},
		{"TaskGroup.WaitAll zero", func() error { return (&am.TaskGroup{}).WaitAll(ctx) }},
		{"TaskGroup.WaitAll nil context", func() error { return w.NewTaskGroup().WaitAll(nctx) }},

		{"Future.Wait nil", func() error { _, err := nf.Wait(ctx); return err }},
		{"Future.Wait zero", func() error { _, err := (&am.Future[int]{}).Wait(ctx); return err }},
		{"Future.Wait nil context", func() error { _, err := live.Wait(nctx); return err }},
		{"Future.Wait nil *Context", func() error { _, err := live.Wait(nc); return err }},

		{"TypedGroup.Wait nil", func() error { _, err := ntg.Wait(ctx); return err }},
		{"TypedGroup.Wait nil context", func() error { _, err := am.NewTypedGroup[WhoAmI, int](w).Wait(nctx); return err }},

		{"Darc.Clone nil", func() error { _, err := nd.Clone(); return err }},
		{"Darc.Clone zero", func() error { _, err := (&am.Darc[int]{}).Clone(); return err }},
		{"Darc.Drop nil", func() error { return nd.Drop() }},
		{"Darc.GlobalRefs nil", func() error { _, err := nd.GlobalRefs(); return err }},
		{"IntoLocalRw nil", func() error { _, err := am.IntoLocalRw(ctx, nd); return err }},
		{"IntoGlobalRw nil", func() error { _, err := am.IntoGlobalRw(ctx, nd); return err }},
		{"IntoLocalRw nil context", func() error { _, err := am.IntoLocalRw(nctx, d); return err }},
		{"IntoGlobalRw nil context", func() error { _, err := am.IntoGlobalRw(nctx, d); return err }},

		{"LocalRwDarc.Read nil", func() error { return nl.Read(ctx, fn) }},
		{"LocalRwDarc.Write nil", func() error { return nl.Write(ctx, fn) }},
		{"LocalRwDarc.Read nil context", func() error { return l.Read(nctx, fn) }},
		{"LocalRwDarc.Write nil context", func() error { return l.Write(nctx, fn) }},
		{"LocalRwDarc.Read nil function", func() error { return l.Read(ctx, nfn) }},
		{"LocalRwDarc.Write nil function", func() error { return l.Write(ctx, nfn) }},
		{"LocalRwDarc.Clone nil", func() error { _, err := nl.Clone(); return err }},
		{"LocalRwDarc.Drop nil", func() error { return nl.Drop() }},
		{"LocalRwDarc.IntoDarc nil", func() error { _, err := nl.IntoDarc(ctx); return err }},
		{"LocalRwDarc.IntoGlobalRw nil", func() error { _, err := nl.IntoGlobalRw(ctx); return err }},
		{"LocalRwDarc.IntoDarc nil context", func() error { _, err := l.IntoDarc(nctx); return err }},

		{"GlobalRwDarc.Read nil", func() error { return nr.Read(ctx, fn) }},
		{"GlobalRwDarc.Write nil", func() error { return nr.Write(ctx, fn) }},
		{"GlobalRwDarc.CollectiveWrite nil", func() error { return nr.CollectiveWrite(ctx, fn) }},
		{"GlobalRwDarc.Read nil context", func() error { return g.Read(nctx, fn) }},
		{"GlobalRwDarc.Write nil function", func() error { return g.Write(ctx, nfn) }},
		{"GlobalRwDarc.CollectiveWrite nil function", func() error { return g.CollectiveWrite(ctx, nfn) }},
		{"GlobalRwDarc.CollectiveWrite nil context", func() error { return g.CollectiveWrite(nctx, fn) }},
		{"GlobalRwDarc.Clone nil", func() error { _, err := nr.Clone(); return err }},
		{"GlobalRwDarc.Drop nil", func() error { return nr.Drop() }},
		{"GlobalRwDarc.IntoDarc nil", func() error { _, err := nr.IntoDarc(ctx); return err }},
		{"GlobalRwDarc.IntoLocalRw nil", func() error { _, err := nr.IntoLocalRw(ctx); return err }},
		{"GlobalRwDarc.IntoLocalRw nil context", func() error { _, err := g.IntoLocalRw(nctx); return err }},
	}
	for name, l := range launchers {
		cases = append(cases,
			errCase{"Exec " + name, func() error { _, err := am.Exec(l, 0, WhoAmI{}).Wait(ctx); return err }},
			errCase{"ExecLocal " + name, func() error { _, err := am.ExecLocal(l, WhoAmI{}).Wait(ctx); return err }},
			errCase{"ExecAll " + name, func() error { _, err := am.ExecAll(l, WhoAmI{}).Wait(ctx); return err }},
			errCase{"NewDarc " + name, func() error { _, err := am.NewDarc(ctx, l, 0); return err }},
			errCase{"NewLocalRwDarc " + name, func() error { _, err := am.NewLocalRwDarc(ctx, l, 0); return err }},
			errCase{"NewGlobalRwDarc " + name, func() error { _, err := am.NewGlobalRwDarc(ctx, l, 0); return err }},
			errCase{"TypedGroup.Add " + name, func() error {
				tg := am.NewTypedGroup[WhoAmI, int](l)
				tg.Add(0, WhoAmI{})
				_, err := tg.Wait(ctx)
				return err
			}},
			errCase{"TypedGroup.AddAll " + name, func() error {
				tg := am.NewTypedGroup[WhoAmI, int](l)
				tg.AddAll(WhoAmI{})
				_, err := tg.Wait(ctx)
				return err
			}},
		)
	}
	for _, name := range []string{"NewDarc", "NewLocalRwDarc", "NewGlobalRwDarc"} {
		cases = append(cases, errCase{name + " nil context", func() error {
			var err error
			switch name {
			case "NewDarc":
				_, err = am.NewDarc(nctx, w, 0)
			case "NewLocalRwDarc":
				_, err = am.NewLocalRwDarc(nctx, w, 0)
			default:
				_, err = am.NewGlobalRwDarc(nctx, w, 0)
			}
			return err
		}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = c.call() })
			require.ErrorIs(t, err, am.ErrInvalidArg)
		})
	}

	// Getters return their documented zero values; procedures do nothing.
	t.Run("getters", func(t *testing.T) {
		require.NotPanics(t, func() {
			assert.Nil(t, nw.PE())
			assert.Equal(t, -1, nw.MyPE())
			assert.Equal(t, -1, nw.NPEs())
			assert.Equal(t, 0, nw.Threads())
			assert.Equal(t, 0, nw.LiveDarcs())
			assert.Nil(t, nw.Team(nil))
			assert.Nil(t, nw.NewTaskGroup())
			assert.Nil(t, nt.NewTaskGroup())
			nw.Abort()
			(&am.World{}).Abort()

			assert.Nil(t, nc.World())
			assert.Equal(t, -1, nc.MyPE())
			assert.Equal(t, -1, nc.NPEs())
			assert.Equal(t, -1, nc.Origin())
			assert.Equal(t, -1, (&am.Context{}).MyPE())

			assert.True(t, nf.Ready(), "a nil Future's Wait returns at once")
			assert.True(t, (&am.Future[int]{}).Ready())
			select {
			case <-nf.Done():
			default:
				t.Error("a nil Future's Done is not closed")
			}
			<-(&am.Future[int]{}).Done()

			assert.Nil(t, nd.Get())
			assert.Nil(t, (&am.Darc[int]{}).Get())
			assert.Zero(t, nd.LocalRefs())
			assert.Zero(t, (&am.Darc[int]{}).LocalRefs())
			assert.Zero(t, nl.LocalRefs())
			assert.Zero(t, nr.LocalRefs())

			ntg.Add(0, WhoAmI{})
			ntg.AddAll(WhoAmI{})
			assert.Zero(t, ntg.Len())

			assert.Empty(t, nreg.Names())
			var zreg am.Registry // a zero Registry is an empty one
			assert.NoError(t, am.Register[WhoAmI](&zreg, "who"))
			assert.Equal(t, []string{"who"}, zreg.Names())

			var ne *am.Error
			assert.NotEmpty(t, ne.Error())
			assert.False(t, ne.Is(am.ErrHandler))
		})
		assert.Panics(t, func() { am.MustRegister[WhoAmI](nreg, "x") }, "MustRegister panics on any error, by design")
	})

	// The live World is unharmed.
	v, err := live.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	require.NoError(t, errors.Join(am.OnEachPE(n, func(i int) error {
		return errors.Join(ds[i].Drop(), ls[i].Drop(), gs[i].Drop(), ws[i].Close(ctx))
	})...))
}
