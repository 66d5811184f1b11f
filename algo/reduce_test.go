package algo_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/algo"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

var allOps = []shmem.ReduceOp{shmem.OpSum, shmem.OpProd, shmem.OpMin, shmem.OpMax, shmem.OpAnd, shmem.OpOr, shmem.OpXor}

// sameBits compares two values bit for bit, except that any NaN equals any
// NaN (which NaN a min or max returns is not specified).
func sameBits[T shmem.Elem](a, b T) bool {
	switch x := any(a).(type) {
	case float32:
		y := any(b).(float32)
		return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y
	case float64:
		y := any(b).(float64)
		return math.Float64bits(x) == math.Float64bits(y) || x != x && y != y
	case shmem.Float16:
		y := any(b).(shmem.Float16)
		return x == y || x.Float32() != x.Float32() && y.Float32() != y.Float32()
	case shmem.BFloat16:
		y := any(b).(shmem.BFloat16)
		return x == y || x.Float32() != x.Float32() && y.Float32() != y.Float32()
	}
	return a == b
}

// testReduceNMatchesBuiltin fills 3 PEs with random bits (NaNs,
// infinities, subnormals and inexact sums included), reduces them with
// hostshmem.AllReduce and, from copies of every source, with ReduceN, and
// wants the same bits: ReduceN is a faithful stand-in for hostshmem's
// kernel. 300 elements cross a block edge of both.
func testReduceNMatchesBuiltin[T shmem.Elem](t *testing.T, random func(*rand.Rand) T) {
	const n, npes = 300, 3
	ctx := context.Background()
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: npes, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		src, err := shmem.Malloc[T](ctx, pe, n)
		if err != nil {
			return err
		}
		dst, err := shmem.Malloc[T](ctx, pe, n)
		if err != nil {
			return err
		}
		r := rand.New(rand.NewPCG(uint64(pe.MyPE()), 7))
		for k := range shmem.Local(pe, src) {
			shmem.Local(pe, src)[k] = random(r)
		}
		srcs := make([][]T, npes)
		for j := range srcs {
			srcs[j] = make([]T, n)
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		for j := range srcs {
			if err := shmem.Get(pe, srcs[j], src, j); err != nil {
				return err
			}
		}
		for _, op := range allOps {
			if algo.CheckOp[T](op) != nil {
				continue
			}
			if err := shmem.AllReduce(ctx, pe.TeamWorld(), op, dst, src, n); err != nil {
				return err
			}
			want := shmem.Local(pe, dst)
			got := make([]T, n)
			require.NoError(t, algo.ReduceN(op, got, srcs))
			for k := range got {
				if !sameBits(got[k], want[k]) {
					assert.Failf(t, "ReduceN differs from hostshmem", "%v element %d: got %v, hostshmem %v (inputs %v %v %v)", op, k, got[k], want[k], srcs[0][k], srcs[1][k], srcs[2][k])
					break
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
}

func TestReduceNMatchesBuiltin(t *testing.T) {
	t.Run("float32", func(t *testing.T) {
		testReduceNMatchesBuiltin(t, func(r *rand.Rand) float32 { return math.Float32frombits(r.Uint32()) })
	})
	t.Run("float32 normal", func(t *testing.T) {
		testReduceNMatchesBuiltin(t, func(r *rand.Rand) float32 { return float32(r.NormFloat64()) })
	})
	t.Run("float64", func(t *testing.T) {
		testReduceNMatchesBuiltin(t, func(r *rand.Rand) float64 { return r.NormFloat64() * 1e3 })
	})
	t.Run("Float16", func(t *testing.T) {
		testReduceNMatchesBuiltin(t, func(r *rand.Rand) shmem.Float16 { return shmem.Float16(r.Uint32()) })
	})
	t.Run("BFloat16", func(t *testing.T) {
		testReduceNMatchesBuiltin(t, func(r *rand.Rand) shmem.BFloat16 { return shmem.BFloat16(r.Uint32()) })
	})
	t.Run("int32", func(t *testing.T) {
		testReduceNMatchesBuiltin(t, func(r *rand.Rand) int32 { return int32(r.Uint32()) })
	})
	t.Run("uint8", func(t *testing.T) {
		testReduceNMatchesBuiltin(t, func(r *rand.Rand) uint8 { return uint8(r.Uint32()) })
	})
	t.Run("complex64", func(t *testing.T) {
		testReduceNMatchesBuiltin(t, func(r *rand.Rand) complex64 {
			return complex(float32(r.NormFloat64()), float32(r.NormFloat64()))
		})
	})
}

func TestReduceInPlace(t *testing.T) {
	a := []float64{1, 2, 3}
	b := []float64{10, 20, 30}
	c := []float64{100, 200, 300}
	// dst is the middle source: every source is read before dst is written.
	require.NoError(t, algo.ReduceN(shmem.OpSum, b, [][]float64{a, b, c}))
	assert.Equal(t, []float64{111, 222, 333}, b)
	require.NoError(t, algo.ReduceInto(shmem.OpMax, a, []float64{0, 5, 0}))
	assert.Equal(t, []float64{1, 5, 3}, a)
}

func TestReduceHalfRoundsOnce(t *testing.T) {
	// 2048 + 1 + 1 in Float16 (11 significant bits): pairwise rounding
	// loses both ones (2048+1 is a tie, rounded to even 2048), one
	// rounding at the end keeps them.
	h := shmem.Float16From
	srcs := [][]shmem.Float16{{h(2048)}, {h(1)}, {h(1)}}
	once := []shmem.Float16{0}
	require.NoError(t, algo.ReduceN(shmem.OpSum, once, srcs))
	assert.Equal(t, float32(2050), once[0].Float32())
	pairwise := []shmem.Float16{h(2048)}
	require.NoError(t, algo.ReduceInto(shmem.OpSum, pairwise, srcs[1]))
	require.NoError(t, algo.ReduceInto(shmem.OpSum, pairwise, srcs[2]))
	assert.Equal(t, float32(2048), pairwise[0].Float32())
}

func TestReduceErrors(t *testing.T) {
	assert.ErrorIs(t, algo.CheckOp[float32](shmem.OpXor), shmem.ErrInvalidArg)
	assert.EqualError(t, algo.CheckOp[float32](shmem.OpXor), "gshmem: reduce: invalid argument: xor is not defined for float32")
	assert.ErrorIs(t, algo.CheckOp[complex64](shmem.OpMin), shmem.ErrInvalidArg)
	assert.ErrorIs(t, algo.CheckOp[shmem.Float16](shmem.OpAnd), shmem.ErrInvalidArg)
	assert.ErrorIs(t, algo.CheckOp[int8](shmem.ReduceOp(42)), shmem.ErrInvalidArg)
	assert.NoError(t, algo.CheckOp[uint16](shmem.OpAnd))
	assert.ErrorIs(t, algo.ReduceN(shmem.OpSum, []int32{0}, nil), shmem.ErrInvalidArg)
	assert.ErrorIs(t, algo.ReduceN(shmem.OpSum, []int32{0, 0}, [][]int32{{1, 2}, {1}}), shmem.ErrInvalidArg)
	assert.ErrorIs(t, algo.ReduceInto(shmem.OpXor, []float64{1}, []float64{2}), shmem.ErrInvalidArg)
}
