package hostshmem

// Building blocks for writing collective algorithms outside this package
// (see package algo for reference algorithms written with them).

// ReduceN sets dst[i] = srcs[0][i] op srcs[1][i] op ... for every
// i < len(dst), combining left to right, so the same sources in the same
// order give the same bits on every PE. srcs must be non-empty and each at
// least as long as dst; dst may be any of the sources, element for element.
// Float16 and BFloat16 are computed in float32 and rounded once. It returns
// an error wrapping ErrInvalidArg if op is not defined on T or the lengths
// do not fit.
func ReduceN[T Elem](op ReduceOp, dst []T, srcs [][]T) error { return reduceN(op, dst, srcs) }

// CheckReduceOp returns nil if op is defined on T, else an error wrapping
// ErrInvalidArg naming op and T.
func CheckReduceOp[T Elem](op ReduceOp) error { return checkReduceOp[T](op) }

// PE is the PE t belongs to: the one to issue puts, gets and waits on for
// t's members (whose world numbers WorldPE gives). Nil for the null team.
func (t *Team) PE() *PE {
	if t == nil {
		return nil
	}
	return t.p
}

// Peer returns PE pe's copy of s as a slice when pe's memory is mapped
// into this process (the inproc and shm transports), and nil wherever Ptr
// returns an error: an RMA-only or network transport (use Get), an object
// in GPU memory, an invalid or empty s, a bad pe, a finalized p. Ptr says
// why. Reads must be ordered after the peer's writes by a signal or a
// sync, and the slice must not be used after Finalize.
func Peer[T Elem](p *PE, s Sym[T], pe int) []T {
	v, _ := ptr(p, "peer", s, pe)
	return v
}
