package streams_test

import (
	"fmt"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/streams"
)

// scenarioColl runs every stream collective on every element type, every
// reduction, both heaps, a small (one-shot) and a large (direct-load) size, against a
// serial reference computed with hostshmem.ReduceN.
func scenarioColl(t *petest.T, pe *shmem.PE) {
	s := newStream(t, pe)
	for _, sp := range []shmem.Space{shmem.Host, shmem.Device} {
		collCase[float32](t, pe, s, sp)
		collCase[shmem.Float16](t, pe, s, sp)
		collCase[shmem.BFloat16](t, pe, s, sp)
		collCase[int32](t, pe, s, sp)
		collCase[int64](t, pe, s, sp)
	}
	require.NoError(t, s.Close(t.Context()))
}

// fromInt converts a small integer to T exactly.
func fromInt[T streams.CollElem](v int) T {
	var z T
	switch any(z).(type) {
	case float32:
		return any(float32(v)).(T)
	case shmem.Float16:
		return any(shmem.Float16From(float32(v))).(T)
	case shmem.BFloat16:
		return any(shmem.BFloat16From(float32(v))).(T)
	case int32:
		return any(int32(v)).(T)
	default:
		return any(int64(v)).(T)
	}
}

// input is element i of PE j's source for reduction op: small integers,
// so every result is exact in every type.
func input[T streams.CollElem](op shmem.ReduceOp, j, i int) T {
	if op == shmem.OpProd {
		return fromInt[T]((j+i)%3 + 1)
	}
	return fromInt[T]((j*7+i*3)%11 - 5)
}

func collCase[T streams.CollElem](t *petest.T, pe *shmem.PE, s *streams.Stream, space shmem.Space) {
	ctx := t.Context()
	me, np := pe.MyPE(), pe.NPEs()
	team := pe.TeamWorld()
	name := fmt.Sprintf("%T on %v", *new(T), space)
	inputs := func(op shmem.ReduceOp, j, k int) []T {
		v := make([]T, k)
		for i := range v {
			v[i] = input[T](op, j, i)
		}
		return v
	}
	for _, n := range []int{7, 1500} {
		src, err := shmem.MallocOn[T](ctx, pe, space, n*np)
		require.NoError(t, err)
		ar, err := shmem.MallocOn[T](ctx, pe, space, n)
		require.NoError(t, err)
		rs, err := shmem.MallocOn[T](ctx, pe, space, n)
		require.NoError(t, err)
		all, err := shmem.MallocOn[T](ctx, pe, space, n*np)
		require.NoError(t, err)
		a2a, err := shmem.MallocOn[T](ctx, pe, space, n*np)
		require.NoError(t, err)
		bc, err := shmem.MallocOn[T](ctx, pe, space, n)
		require.NoError(t, err)

		for _, op := range []shmem.ReduceOp{shmem.OpSum, shmem.OpProd, shmem.OpMin, shmem.OpMax} {
			require.NoError(t, shmem.Put(pe, src, inputs(op, me, n*np), me)) // no op in flight reads src
			require.NoError(t, streams.AllReduce(s, team, op, ar, src.Slice(0, n), n))
			require.NoError(t, streams.ReduceScatter(s, team, op, rs, src, n))
			require.NoError(t, s.Synchronize(ctx), "%s %v n=%d", name, op, n)

			srcs := make([][]T, np)
			for j := range srcs {
				srcs[j] = inputs(op, j, n*np)
			}
			want := make([]T, n)
			heads := make([][]T, np)
			for j := range heads {
				heads[j] = srcs[j][:n]
			}
			require.NoError(t, shmem.ReduceN(op, want, heads))
			assert.Equal(t, want, mine(t, pe, ar), "allreduce %s %v n=%d", name, op, n)
			blocks := make([][]T, np)
			for j := range blocks {
				blocks[j] = srcs[j][me*n : (me+1)*n]
			}
			require.NoError(t, shmem.ReduceN(op, want, blocks))
			assert.Equal(t, want, mine(t, pe, rs), "reduce_scatter %s %v n=%d", name, op, n)

			// In place: ar = sum(ar) over the team.
			require.NoError(t, streams.AllReduce(s, team, op, ar, ar, n))
			require.NoError(t, s.Synchronize(ctx))
			before := make([]T, n)
			require.NoError(t, shmem.ReduceN(op, before, heads))
			same := make([][]T, np)
			for j := range same {
				same[j] = before
			}
			require.NoError(t, shmem.ReduceN(op, want, same))
			assert.Equal(t, want, mine(t, pe, ar), "allreduce in place %s %v n=%d", name, op, n)
		}

		require.NoError(t, shmem.Put(pe, src, inputs(shmem.OpSum, me, n*np), me))
		root := np - 1
		require.NoError(t, streams.AllGather(s, team, all, src.Slice(0, n), n))
		require.NoError(t, streams.AllToAll(s, team, a2a, src, n))
		require.NoError(t, streams.Broadcast(s, team, bc, src, n, root))
		require.NoError(t, s.Synchronize(ctx), "%s n=%d", name, n)
		var wantAll, wantA2A []T
		for j := 0; j < np; j++ {
			in := inputs(shmem.OpSum, j, n*np)
			wantAll = append(wantAll, in[:n]...)
			wantA2A = append(wantA2A, in[me*n:(me+1)*n]...)
		}
		assert.Equal(t, wantAll, mine(t, pe, all), "allgather %s n=%d", name, n)
		assert.Equal(t, wantA2A, mine(t, pe, a2a), "alltoall %s n=%d", name, n)
		assert.Equal(t, inputs(shmem.OpSum, root, n), mine(t, pe, bc), "broadcast %s n=%d", name, n)

		for _, x := range []shmem.Sym[T]{bc, a2a, all, rs, ar, src} {
			require.NoError(t, shmem.Free(ctx, pe, x))
		}
	}
}

// mine reads this PE's copy of s with Get, which works on either heap, GPU
// memory included (Local has no slice of GPU memory).
func mine[T shmem.Elem](t require.TestingT, pe *shmem.PE, s shmem.Sym[T]) []T {
	v := make([]T, s.Len())
	require.NoError(t, shmem.Get(pe, v, s, pe.MyPE()))
	return v
}
