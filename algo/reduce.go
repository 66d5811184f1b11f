package algo

import "github.com/gshmem/gshmem/hostshmem"

// The reduce helpers: hostshmem's kernel, under the names the algorithms
// use. It combines left to right (the same sources in the same order give
// the same bits on every PE), follows Go's min and max for floats (a NaN
// wins, min(-0, +0) is -0), and computes 16-bit floats in float32,
// rounding once per element per call.

// CheckOp reports whether op is defined on T: nil, or an error wrapping
// hostshmem.ErrInvalidArg that names op and T. Sum and prod are defined on
// every type; min and max on all but complex types; and, or and xor on
// integer types only (not on Float16 or BFloat16).
func CheckOp[T hostshmem.Elem](op hostshmem.ReduceOp) error {
	return hostshmem.CheckReduceOp[T](op)
}

// ReduceInto sets dst[i] = dst[i] op src[i] for every i < len(dst). src
// must be at least as long as dst. Float16 and BFloat16 are computed in
// float32 and rounded back to 16 bits, so a chain of ReduceInto rounds
// once per step (ReduceN over all the sources rounds once).
func ReduceInto[T hostshmem.Elem](op hostshmem.ReduceOp, dst, src []T) error {
	return hostshmem.ReduceN(op, dst, [][]T{dst, src})
}

// ReduceN sets dst[i] = srcs[0][i] op srcs[1][i] op ... for every i <
// len(dst). srcs must be non-empty and each at least as long as dst. dst
// may be any of the sources, element for element (in place).
func ReduceN[T hostshmem.Elem](op hostshmem.ReduceOp, dst []T, srcs [][]T) error {
	return hostshmem.ReduceN(op, dst, srcs)
}
