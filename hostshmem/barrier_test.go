package hostshmem_test

import (
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func scenarioBarrier(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	counter, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	slots, err := shmem.Calloc[int64](ctx, pe, n)
	require.NoError(t, err)
	local, ls := shmem.Local(pe, counter), shmem.Local(pe, slots)
	// Each round every PE updates every PE, then barriers: after the
	// barrier every update of the round is visible, and none of the next.
	for r := int64(1); r <= 200; r++ {
		for j := 0; j < n; j++ {
			require.NoError(t, shmem.AtomicAdd(pe, counter, 1, j))
			require.NoError(t, shmem.P(pe, slots.At(me), r, j))
		}
		if r%2 == 0 {
			require.NoError(t, pe.BarrierAll(ctx))
		} else {
			require.NoError(t, pe.Quiet())
			require.NoError(t, pe.SyncAll(ctx))
		}
		require.Equal(t, r*int64(n), local[0], "round %d: counter", r)
		for j, v := range ls {
			require.Equal(t, r, v, "round %d: slot of PE %d", r, j)
		}
		require.NoError(t, pe.SyncAll(ctx))
	}
}

func scenarioRing(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	token, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	const iters = 500
	for i := int64(1); i <= iters; i++ {
		if me == 0 {
			require.NoError(t, shmem.P(pe, token, i, (me+1)%n))
			require.NoError(t, pe.Quiet())
			if n > 1 {
				require.NoError(t, shmem.WaitUntil(ctx, pe, token, shmem.CmpEQ, i))
			}
		} else {
			require.NoError(t, shmem.WaitUntil(ctx, pe, token, shmem.CmpEQ, i))
			require.NoError(t, shmem.P(pe, token, i, (me+1)%n))
			require.NoError(t, pe.Quiet())
		}
	}
	require.Equal(t, int64(iters), shmem.Local(pe, token)[0])
}
