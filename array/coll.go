package array

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem/errdefs"
)

// gather is the collective read of the whole view into one slice, on the
// PEs for which want is true: a barrier, so that every PE's changes
// before the call are seen, one Get per PE that holds elements, and a
// barrier, so that no PE changes an element before every reader has it.
func (b *base[T]) gather(ctx context.Context, op string, want bool) ([]T, error) {
	if err := b.live(op); err != nil {
		return nil, err
	}
	if ctx == nil {
		return nil, fmt.Errorf("array: %s: %w: nil context", op, errdefs.ErrInvalidArg)
	}
	if err := b.pe.BarrierAll(ctx); err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	var out []T
	var rerr error
	if want {
		out = make([]T, 0, b.Len())
		seq, done := b.oneSided(ctx, b.Len())
		for _, v := range seq {
			out = append(out, v)
		}
		if rerr = done(); rerr != nil {
			out = nil
			rerr = fmt.Errorf("array: %s: %w", op, rerr)
		}
	}
	// The closing barrier runs even when this PE's read failed, its ctx
	// ended included (so without ctx's cancellation; a dead PE still
	// ends it): the others wait in it.
	if err := b.pe.BarrierAll(context.WithoutCancel(ctx)); err != nil && rerr == nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	return out, rerr
}

// Gather returns, collectively, the whole array in index order on PE
// root, and nil on the others: what every PE had stored before calling
// it (stores made during the call race with it). Every PE calls it; a
// root out of range is an error on every PE. On a LocalLockArray or
// GlobalLockArray it takes no lock: call it where no PE writes (after a
// barrier that follows the writes), or read under Read/ReadLocalData.
func (b *base[T]) Gather(ctx context.Context, root int) ([]T, error) {
	if err := b.live("gather"); err != nil {
		return nil, err
	}
	if root < 0 || root >= b.NumPEs() {
		return nil, fmt.Errorf("array: gather: %w: root PE %d of %d", errdefs.ErrInvalidPE, root, b.NumPEs())
	}
	return b.gather(ctx, "gather", b.pe.MyPE() == root)
}

// AllGather returns, collectively, the whole array in index order on
// every PE (see Gather): one Get per PE holding elements, at the
// transport's bandwidth.
func (b *base[T]) AllGather(ctx context.Context) ([]T, error) {
	return b.gather(ctx, "all-gather", true)
}
