package hostshmem_test

import (
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func scenarioSignal(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next, prev := (me+1)%n, (me+n-1)%n
	const N, rounds = 1000, 60
	data, err := shmem.Calloc[int64](ctx, pe, N)
	require.NoError(t, err)
	sigs, err := shmem.Calloc[uint64](ctx, pe, 3)
	require.NoError(t, err)
	sig, ack, sum := sigs.At(0), sigs.At(1), sigs.At(2)

	// Rounds of put-with-signal (set) around the ring, acknowledged back:
	// whoever sees round r's signal must see round r's data in full.
	buf := make([]int64, N)
	local := shmem.Local(pe, data)
	for r := 1; r <= rounds; r++ {
		for i := range buf {
			buf[i] = int64(me*1_000_000 + r*1000 + i)
		}
		put := shmem.PutSignal[int64]
		if r%2 == 0 {
			put = shmem.PutSignalNBI[int64]
		}
		require.NoError(t, put(pe, data, buf, sig, uint64(r), shmem.SignalSet, next))
		got, err := shmem.SignalWaitUntil(ctx, pe, sig, shmem.CmpGE, uint64(r))
		require.NoError(t, err)
		require.Equal(t, uint64(r), got, "signal value in round %d", r)
		for i := 0; i < N; i += 97 {
			require.Equal(t, int64(prev*1_000_000+r*1000+i), local[i], "round %d element %d arrived after its signal", r, i)
		}
		require.Equal(t, int64(prev*1_000_000+r*1000+N-1), local[N-1])
		// Acknowledge to prev; wait for next's acknowledgement of my data.
		require.NoError(t, shmem.AtomicSet(pe, ack, uint64(r), prev))
		_, err = shmem.SignalWaitUntil(ctx, pe, ack, shmem.CmpGE, uint64(r))
		require.NoError(t, err)
	}
	require.NoError(t, pe.BarrierAll(ctx))

	// Signal add: every PE puts its slot into PE 0 and adds 1 to one signal.
	slots, err := shmem.Calloc[int32](ctx, pe, n)
	require.NoError(t, err)
	require.NoError(t, shmem.PutSignal(pe, slots.At(me), []int32{int32(100 + me)}, sum, 1, shmem.SignalAdd, 0))
	if me == 0 {
		got, err := shmem.SignalWaitUntil(ctx, pe, sum, shmem.CmpEQ, uint64(n))
		require.NoError(t, err)
		assert.Equal(t, uint64(n), got)
		for i, v := range shmem.Local(pe, slots) {
			assert.Equal(t, int32(100+i), v, "slot %d", i)
		}
		f, err := shmem.SignalFetch(pe, sum)
		require.NoError(t, err)
		assert.Equal(t, uint64(n), f)
	}
	require.NoError(t, pe.BarrierAll(ctx))

	// A bad signal operation is an error, and so is a signal inside the data.
	err = shmem.PutSignal(pe, data, buf[:1], sig, 1, shmem.SignalOp(7), next)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	require.NoError(t, pe.BarrierAll(ctx))
}
