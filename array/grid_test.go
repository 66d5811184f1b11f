package array

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["op-grid"] = scenarioOpGrid }

// TestAtomicArrayOpGrid: every operation, through the array's API (the
// single-element form and the batch form, fetching and not), on every
// element type × {Block, Cyclic} × the grid's lengths × 2, 3 and 4 PEs,
// against a model; fetch results in the batch's order.
func TestAtomicArrayOpGrid(t *testing.T) { petest.Both(t, scenarios, "op-grid", 2, 3, 4) }

func scenarioOpGrid(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	for _, d := range []Distribution{Block, Cyclic} {
		for _, n := range lengths {
			opGrid[uint8](t, w, d, n)
			opGrid[int8](t, w, d, n)
			opGrid[uint16](t, w, d, n)
			opGrid[int16](t, w, d, n)
			opGrid[uint32](t, w, d, n)
			opGrid[int32](t, w, d, n)
			opGrid[uint64](t, w, d, n)
			opGrid[int64](t, w, d, n)
			opGrid[int](t, w, d, n)
			opGrid[uint](t, w, d, n)
			opGrid[float32](t, w, d, n)
			opGrid[float64](t, w, d, n)
		}
	}
	require.NoError(t, w.Close(t.Context()))
}

// opGrid runs every operation T has on one array. Each PE changes the
// elements i with i%npes == me (so that no two PEs race on one element
// and every PE reaches elements of every PE), each operation by turns in
// one of four forms: Apply (fetching), the op's own non-fetching method,
// BatchApply over its elements backwards (fetch results checked in batch
// order), or a non-fetching batch. After each operation every PE loads
// the whole array and checks it against the model.
func opGrid[T Number](t *petest.T, w *am.World, d Distribution, n int) {
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	tr := traitsOf[T]()
	a, err := NewAtomicArray[T](ctx, w, n, d)
	require.NoError(t, err)
	model := make([]T, n)
	all := make([]int, n)
	for i := range n {
		all[i] = i
		model[i] = T(i%7 + 1)
	}
	if me == 0 {
		require.NoError(t, ignore(a.BatchStore(all, model).Wait(ctx)))
	}
	require.NoError(t, w.Barrier(ctx))
	ops := []Op{OpLoad, OpStore, OpSwap, OpAdd, OpSub, OpMul, OpDiv}
	if !tr.float {
		ops = append(ops, OpRem, OpAnd, OpOr, OpXor, OpShl, OpShr)
	}
	operand := func(op Op, i int) T {
		if op == OpShl || op == OpShr {
			return T(i % 3)
		}
		return T((i+int(op))%5 + 1) // never 0: Div and Rem
	}
	for j, op := range ops {
		name := fmt.Sprintf("%s %v n=%d: %v", tr.name, d, n, op)
		var mine []int
		for i := n - 1; i >= 0; i-- {
			if i%npes == me {
				mine = append(mine, i)
			}
		}
		vals := make([]T, len(mine))
		for k, i := range mine {
			vals[k] = operand(op, i)
		}
		switch form := j % 4; {
		case form == 0 || op == OpLoad:
			for k, i := range mine {
				old, err := a.Apply(op, i, vals[k]).Wait(ctx)
				require.NoError(t, err, "%s on element %d", name, i)
				if op != OpStore {
					require.Equal(t, model[i], old, "%s on element %d: the value before", name, i)
				}
			}
		case form == 1:
			for k, i := range mine {
				require.NoError(t, ignore(method(ctx, a, op, i, vals[k]).Wait(ctx)), "%s on element %d", name, i)
			}
		case form == 2:
			old, err := a.BatchApply(op, mine, vals).Wait(ctx)
			require.NoError(t, err, name)
			require.Len(t, old, len(mine))
			for k, i := range mine {
				if op != OpStore {
					require.Equal(t, model[i], old[k], "%s: batch position %d (element %d)", name, k, i)
				}
			}
		default:
			require.NoError(t, ignore(batchMethod(ctx, a, op, mine, vals).Wait(ctx)), name)
		}
		// Every PE's model: the same operations on every stripe.
		for i := range n {
			model[i] = combine(tr, op, model[i], operand(op, i))
		}
		require.NoError(t, w.Barrier(ctx))
		got, err := a.BatchLoad(all).Wait(ctx)
		require.NoError(t, err, name)
		require.Equal(t, model, got, name)
		require.NoError(t, w.Barrier(ctx))
	}
	require.NoError(t, a.Close(ctx))
}

// method is the AtomicArray method of op that does not fetch (Load and
// Swap fetch: they have no other form).
func method[T Number](ctx context.Context, a *AtomicArray[T], op Op, i int, v T) *am.Future[am.Unit] {
	f := map[Op]func(int, T) *am.Future[am.Unit]{
		OpStore: a.Store, OpAdd: a.Add, OpSub: a.Sub, OpMul: a.Mul, OpDiv: a.Div, OpRem: a.Rem,
		OpAnd: a.And, OpOr: a.Or, OpXor: a.Xor, OpShl: a.Shl, OpShr: a.Shr,
	}[op]
	if f == nil {
		_, err := a.Apply(op, i, v).Wait(ctx)
		return am.Completed(am.Unit{}, err)
	}
	return f(i, v)
}

// batchMethod is the non-fetching batch of op: BatchStore and BatchAdd
// where the array has them, else BatchApply with its results dropped.
func batchMethod[T Number](ctx context.Context, a *AtomicArray[T], op Op, idx []int, vals []T) *am.Future[am.Unit] {
	switch op {
	case OpStore:
		return a.BatchStore(idx, vals)
	case OpAdd:
		return a.BatchAdd(idx, vals)
	}
	_, err := a.BatchApply(op, idx, vals).Wait(ctx)
	return am.Completed(am.Unit{}, err)
}
