package array

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

var scenarios = petest.Scenarios{
	"elem":       scenarioElem,
	"elem-race":  scenarioElemRace,
	"elem-wrong": scenarioElemWrong,
}

func TestMain(m *testing.M) {
	maps.Copy(scenarios, iterScenarios)
	petest.Main(m, scenarios)
}

// TestElemOps: every operation on every element type, on an element of
// another PE, against a model (the same combination on a plain value),
// fetch results included.
func TestElemOps(t *testing.T) { petest.Both(t, scenarios, "elem", 2, 3) }

// TestElemAtomic: PEs change neighbouring elements of one word at once,
// and one element from every PE: no update is lost.
func TestElemAtomic(t *testing.T) { petest.Both(t, scenarios, "elem-race", 2, 4) }

// TestElemWrongOp: operations a type does not have are errors that say so.
func TestElemWrongOp(t *testing.T) { petest.Both(t, scenarios, "elem-wrong", 2) }

// data allocates n elements of T's worth of words on every PE.
func data[T Number](t *petest.T, pe *shmem.PE, n int) (*elems[T], shmem.Sym[byte]) {
	nb := (n*int(traitsOf[T]().size) + 7) &^ 7
	s, err := shmem.Align[byte](context.Background(), pe, 8, max(nb, 8))
	require.NoError(t, err)
	clear(shmem.Local(pe, s))
	require.NoError(t, pe.BarrierAll(context.Background()))
	return newElems[T](pe, s), s
}

// opsOn runs every operation T has on element k of the next PE, and
// checks each old value and the final one against the model.
func opsOn[T Number](t *petest.T, pe *shmem.PE, vals []T) {
	const n = 13
	e, s := data[T](t, pe, n)
	defer func() { require.NoError(t, shmem.Free(context.Background(), pe, s)) }()
	next := (pe.MyPE() + 1) % pe.NPEs()
	ops := []Op{OpStore, OpLoad, OpSwap, OpAdd, OpSub, OpMul, OpDiv}
	if !e.tr.float {
		ops = append(ops, OpRem, OpAnd, OpOr, OpXor, OpShl, OpShr)
	}
	for k := range n {
		model := T(0)
		for j, op := range ops {
			v := vals[(k+j)%len(vals)]
			if op == OpShl || op == OpShr {
				v = T(k % 3)
			}
			if (op == OpDiv || op == OpRem) && v == 0 {
				v = 1
			}
			old, err := e.apply(next, k, op, v)
			require.NoError(t, err, "%s %v %v on element %d", e.tr.name, op, v, k)
			if op != OpStore {
				require.Equal(t, model, old, "%s: %v %v on element %d: old value", e.tr.name, op, v, k)
			}
			model = combine(e.tr, op, model, v)
		}
		got, err := e.apply(next, k, OpLoad, 0)
		require.NoError(t, err)
		require.Equal(t, model, got, "%s element %d", e.tr.name, k)
		// Compare-exchange: a miss returns the value, a hit writes.
		miss := model + 1
		if miss == model { // a large float
			miss = -model
		}
		old, ok, err := e.compareExchange(next, k, miss, 7, 0)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, model, old)
		old, ok, err = e.compareExchange(next, k, model, 7, 0)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, model, old)
		if e.tr.float {
			near, eps := 7.25, 0.5 // variables: constants would not convert to integer types
			old, ok, err = e.compareExchange(next, k, T(near), 9, T(eps))
			require.NoError(t, err)
			require.True(t, ok, "within epsilon")
			require.Equal(t, T(7), old)
		}
	}
	// Neighbours of every element are untouched by its operations: the
	// last element of the next PE's data and this PE's own are intact.
	require.NoError(t, pe.BarrierAll(context.Background()))
}

func scenarioElem(t *petest.T, pe *shmem.PE) {
	opsOn[uint8](t, pe, []uint8{3, 250, 7, 0, 1})
	opsOn[int8](t, pe, []int8{-3, 100, 7, -128, 1})
	opsOn[uint16](t, pe, []uint16{3, 65000, 7, 1})
	opsOn[int16](t, pe, []int16{-3, 30000, -7, 1})
	opsOn[uint32](t, pe, []uint32{3, 1 << 31, 7, 1})
	opsOn[int32](t, pe, []int32{-3, 1 << 30, -7, 1})
	opsOn[uint64](t, pe, []uint64{3, 1 << 63, 7, 1})
	opsOn[int64](t, pe, []int64{-3, -1 << 63, 7, -1})
	opsOn[int](t, pe, []int{-3, 1 << 40, 7, 1})
	opsOn[float32](t, pe, []float32{1.5, -2.25, 3, 0.5})
	opsOn[float64](t, pe, []float64{1.5, -2.25, 3e100, 0.5})
}

// race adds 1 to every element of PE 0's data from every PE, rounds
// times, and checks the sums.
func race[T Number](t *petest.T, pe *shmem.PE) {
	const n, rounds = 9, 40
	e, s := data[T](t, pe, n)
	defer func() { require.NoError(t, shmem.Free(context.Background(), pe, s)) }()
	for range rounds {
		for k := range n {
			_, err := e.apply(0, k, OpAdd, 1)
			require.NoError(t, err)
		}
	}
	require.NoError(t, pe.BarrierAll(context.Background()))
	for k := range n {
		got, err := e.apply(0, k, OpLoad, 0)
		require.NoError(t, err)
		require.Equal(t, T(rounds*pe.NPEs()), got, "%s element %d", e.tr.name, k)
	}
	require.NoError(t, pe.BarrierAll(context.Background()))
}

func scenarioElemRace(t *petest.T, pe *shmem.PE) {
	race[uint8](t, pe)
	race[int16](t, pe)
	race[int32](t, pe)
	race[float32](t, pe)
	race[float64](t, pe)
	race[uint64](t, pe)
}

func scenarioElemWrong(t *petest.T, pe *shmem.PE) {
	f, fs := data[float64](t, pe, 2)
	i, is := data[int32](t, pe, 2)
	for _, op := range []Op{OpRem, OpAnd, OpOr, OpXor, OpShl, OpShr} {
		_, err := f.apply(0, 0, op, 1)
		require.ErrorIs(t, err, errdefs.ErrInvalidArg)
		require.ErrorContains(t, err, fmt.Sprintf("%v is not defined on float64", op))
	}
	_, err := i.apply(0, 0, OpDiv, 0)
	require.ErrorContains(t, err, "integer div by 0")
	_, err = i.apply(0, 0, OpRem, 0)
	require.ErrorContains(t, err, "integer rem by 0")
	_, err = i.apply(0, 0, OpShl, -1)
	require.ErrorContains(t, err, "shl by -1, a negative count")
	_, err = i.apply(0, 0, Op(99), 1)
	require.ErrorContains(t, err, "Op(99)")
	require.NoError(t, shmem.Free(context.Background(), pe, is))
	require.NoError(t, shmem.Free(context.Background(), pe, fs))
}
