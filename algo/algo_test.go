package algo_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/algo"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

func run(t *testing.T, npes int, fn func(ctx context.Context, pe *gshmem.PE) error) {
	t.Helper()
	require.NoError(t, gshmem.RunWith(context.Background(), gshmem.Config{NPEs: npes, HeapSize: 1 << 20}, fn))
}

func TestChunk(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for parts := 1; parts <= 9; parts++ {
			next := 0
			for i := 0; i < parts; i++ {
				lo, hi := algo.Chunk(n, parts, i)
				require.Equal(t, next, lo, "n %d parts %d: part %d starts where %d ended", n, parts, i, i-1)
				size := hi - lo
				assert.True(t, size == n/parts || size == n/parts+1, "n %d parts %d: part %d has %d", n, parts, i, size)
				next = hi
			}
			assert.Equal(t, n, next, "n %d parts %d: parts cover n", n, parts)
		}
	}
}

func TestMod(t *testing.T) {
	assert.Equal(t, 2, algo.Mod(-1, 3))
	assert.Equal(t, 0, algo.Mod(-3, 3))
	assert.Equal(t, 1, algo.Mod(4, 3))
}

func TestNeighbours(t *testing.T) {
	run(t, 5, func(ctx context.Context, pe *gshmem.PE) error {
		me := pe.MyPE()
		w := pe.TeamWorld()
		assert.Equal(t, (me+1)%5, algo.Next(w))
		assert.Equal(t, (me+4)%5, algo.Prev(w))
		// Odd PEs 1, 3: world PE numbers, wrapping within the team.
		odd, err := w.SplitStrided(ctx, 1, 2, 2, nil)
		if err != nil {
			return err
		}
		if odd != nil {
			assert.Equal(t, 4-me, algo.Next(odd))
			assert.Equal(t, 4-me, algo.Prev(odd))
			one, err := odd.SplitStrided(ctx, 0, 1, 1, nil)
			if err != nil {
				return err
			}
			if one != nil {
				assert.Equal(t, me, algo.Next(one), "a team of one is its own neighbour")
			}
		}
		return nil
	})
}

func TestWorkspace(t *testing.T) {
	run(t, 3, func(ctx context.Context, pe *gshmem.PE) error {
		ws, err := algo.NewWorkspace[float32](ctx, pe, 10)
		if err != nil {
			return err
		}
		assert.Equal(t, pe, ws.PE())
		assert.Equal(t, 10, ws.MaxElems())
		assert.Equal(t, 6, ws.Slots())
		assert.Equal(t, 4, ws.Slot(5, 4).Len())
		assert.ErrorIs(t, ws.Slot(6, 1).Err(), shmem.ErrOutOfRange)
		assert.ErrorIs(t, ws.Slot(0, 11).Err(), shmem.ErrOutOfRange)
		assert.ErrorIs(t, ws.Signal(6).Err(), shmem.ErrOutOfRange)
		assert.Equal(t, uintptr(64), ws.Signal(1).Offset()-ws.Signal(0).Offset(), "a cache line apart")
		for k := range ws.Slots() {
			v, err := shmem.SignalFetch(pe, ws.Signal(k))
			require.NoError(t, err)
			assert.Zero(t, v)
		}

		buf, err := shmem.Malloc[float32](ctx, pe, 20)
		if err != nil {
			return err
		}
		w := pe.TeamWorld()
		a, b := buf.Slice(0, 10), buf.Slice(10, 20)
		_, err = ws.Begin(nil, shmem.OpSum, a, b, 1)
		assert.ErrorIs(t, err, shmem.ErrTeam)
		_, err = ws.Begin(w, shmem.OpSum, a, b, 11)
		assert.ErrorIs(t, err, shmem.ErrInvalidArg)
		_, err = ws.Begin(w, shmem.OpSum, a.Slice(0, 2), b, 3)
		assert.ErrorIs(t, err, shmem.ErrOutOfRange)
		_, err = ws.Begin(w, shmem.OpSum, a, buf.Slice(5, 15), 6)
		assert.ErrorIs(t, err, shmem.ErrOverlap)
		_, err = ws.Begin(w, shmem.OpAnd, a, b, 1)
		assert.ErrorIs(t, err, shmem.ErrInvalidArg)
		_, err = ws.Begin(w, shmem.OpSum, a, buf.Slice(5, 15), 5)
		assert.NoError(t, err, "the first 5 elements do not overlap")
		e, err := ws.Begin(w, shmem.OpSum, a, a, 10)
		assert.NoError(t, err, "in place")
		assert.Equal(t, uint64(2), e)
		// Bound to the world team now.
		sub, err := w.SplitStrided(ctx, 0, 1, 2, nil)
		if err != nil {
			return err
		}
		if sub != nil {
			_, err = ws.Begin(sub, shmem.OpSum, a, b, 1)
			assert.ErrorIs(t, err, shmem.ErrTeam)
			assert.ErrorContains(t, err, "make one workspace per team")
		}
		return ws.Free(ctx)
	})
}
