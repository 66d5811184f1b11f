package am

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/hostshmem"
)

// TestNewDarcOnClosedWorld: NewDarc on a closed World is ErrClosed on
// every PE and writes nothing into the symmetric memory the World gave
// back, which a later allocation now owns; neither do the operations of
// Darcs made before Close that reach their counts or global lock.
func TestNewDarcOnClosedWorld(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2
	_, pes, ws := InprocWorlds(t, ctx, NewRegistry(), n, Options{Threads: 1})
	defer func() {
		for _, pe := range pes {
			pe.Abort()
		}
	}()
	ds := make([]*Darc[int], n)
	gs := make([]*GlobalRwDarc[int], n)
	require.NoError(t, errors.Join(OnEachPE(n, func(i int) (err error) {
		if ds[i], err = NewDarc(ctx, ws[i], i); err != nil {
			return err
		}
		gs[i], err = NewGlobalRwDarc(ctx, ws[i], i)
		return err
	})...))
	lo, hi := ws[0].area.Offset(), ws[0].area.Offset()+ws[0].area.Size()
	require.NoError(t, errors.Join(OnEachPE(n, func(i int) error { return ws[i].Close(ctx) })...))

	// A later allocation takes the memory of the World's queues and Darc slots.
	_, largest := pes[0].HeapFree()
	later := make([]hostshmem.Sym[byte], n)
	require.NoError(t, errors.Join(OnEachPE(n, func(i int) (err error) {
		later[i], err = hostshmem.Calloc[byte](ctx, pes[i], int(largest))
		return err
	})...))
	require.LessOrEqual(t, later[0].Offset(), lo)
	require.GreaterOrEqual(t, later[0].Offset()+later[0].Size(), hi, "the later allocation covers the World's area")

	errs := OnEachPE(n, func(i int) error {
		d, err := NewDarc(ctx, ws[i], 7)
		assert.True(t, d == nil, "no Darc")
		return err
	})
	for i, err := range errs {
		require.ErrorIs(t, err, ErrClosed, "PE %d", i)
		require.ErrorContains(t, err, "new Darc", "PE %d", i)
	}
	for i := range n {
		_, err := ds[i].Clone()
		assert.ErrorIs(t, err, ErrClosed, "Clone")
		_, err = ds[i].GlobalRefs()
		assert.ErrorIs(t, err, ErrClosed, "GlobalRefs")
		assert.ErrorIs(t, gs[i].Write(ctx, func(*int) error { return nil }), ErrClosed, "GlobalRwDarc.Write")
		assert.ErrorIs(t, gs[i].CollectiveWrite(ctx, func(*int) error { return nil }), ErrClosed, "CollectiveWrite")
		_, err = IntoLocalRw(ctx, ds[i])
		assert.ErrorIs(t, err, ErrClosed, "IntoLocalRw")
		assert.ErrorIs(t, ds[i].Drop(), ErrClosed, "Drop")
		assert.ErrorIs(t, gs[i].Drop(), ErrClosed, "Drop")
		assert.Equal(t, i, *ds[i].Get(), "the instance itself is Go memory: still readable")
	}
	for i, pe := range pes {
		mem := hostshmem.Local(pe, later[i])
		for off, b := range mem {
			if b != 0 {
				t.Fatalf("PE %d: byte %d of the later allocation is %#x: NewDarc wrote into memory it had given back", i, off, b)
			}
		}
	}
}

// TestNewDarcAfterFinalize: a World outlives its PE (Finalize aborts it);
// creating a Darc on it then is ErrClosed, not a fault on unmapped memory,
// and so are the other Darc constructors.
func TestNewDarcAfterFinalize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2
	_, pes, ws := InprocWorlds(t, ctx, NewRegistry(), n, Options{Threads: 1})
	require.NoError(t, errors.Join(OnEachPE(n, func(i int) error { return pes[i].Finalize(ctx) })...))
	for i, w := range ws {
		_, err := NewDarc(ctx, w, 1)
		require.ErrorIs(t, err, ErrClosed, "PE %d", i)
		_, err = NewLocalRwDarc(ctx, w.Team(nil), 1)
		require.ErrorIs(t, err, ErrClosed, "PE %d", i)
		_, err = NewGlobalRwDarc(ctx, w.NewTaskGroup(), 1)
		require.ErrorIs(t, err, ErrClosed, "PE %d", i)
	}
}

// block is an AM that holds its handler goroutine until its World stops.
type block struct{}

func (block) Exec(ctx *Context) (Unit, error) {
	<-ctx.Done()
	return Unit{}, nil
}

// TestWaitAfterAbort: an AM still queued when its World is aborted fails
// with ErrClosed instead of running later on a stopped World, and waiting
// on it after the PE is finalized returns at once rather than polling
// unmapped queues.
func TestWaitAfterAbort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2
	reg := NewRegistry()
	MustRegister[block](reg, "internal.block")
	_, pes, ws := InprocWorlds(t, ctx, reg, n, Options{Threads: 1})
	busy := ExecLocal(ws[0], block{}) // holds the only handler goroutine (or is queued too)
	queued := ExecLocal(ws[0], block{})
	ws[0].Abort()
	_, err := queued.Wait(ctx)
	require.ErrorIs(t, err, ErrClosed)
	_, err = busy.Wait(ctx) // ran and returned when the World stopped, or failed queued
	if err != nil {
		require.ErrorIs(t, err, ErrClosed)
	}
	require.NoError(t, errors.Join(OnEachPE(n, func(i int) error { return pes[i].Finalize(ctx) })...))
	_, err = ExecLocal(ws[0], block{}).Wait(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, ws[1].WaitAll(ctx), "nothing pending on the aborted World")
	_, err = Exec(ws[1], 0, block{}).Wait(ctx)
	require.ErrorIs(t, err, ErrClosed)
}
