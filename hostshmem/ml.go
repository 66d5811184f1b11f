package hostshmem

import "context"

// The names ML code reaches for. Each is the OpenSHMEM collective beside
// it; in place means passing the same Sym as dest and source.

// AllReduce is Reduce: every member gets op over all members' source.
// dest may be source (in place).
func AllReduce[T Elem](ctx context.Context, t *Team, op ReduceOp, dest, source Sym[T], n int) error {
	return Reduce(ctx, t, op, dest, source, n)
}

// AllGather is FCollect: dest is every member's n elements, in member order.
func AllGather[T Elem](ctx context.Context, t *Team, dest, source Sym[T], n int) error {
	return FCollect(ctx, t, dest, source, n)
}
