package algo

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gshmem/gshmem/hostshmem"
)

// The reduce helpers. hostshmem has the same kernel (faster: table-driven
// 16-bit conversions, pooled blocks) unexported as reduceN; these stand in
// for it until it is exported, and follow its rules exactly: the ops each
// type supports, Go's min and max for floats (a NaN wins, min(-0, +0) is
// -0), 16-bit floats computed in float32 and rounded once per element.

// CheckOp reports whether op is defined on T: nil, or an error wrapping
// hostshmem.ErrInvalidArg that names op and T. Sum and prod are defined on
// every type; min and max on all but complex types; and, or and xor on
// integer types only (not on Float16 or BFloat16).
func CheckOp[T hostshmem.Elem](op hostshmem.ReduceOp) error {
	c, _ := classOf[T]()
	var ok bool
	switch op {
	case hostshmem.OpSum, hostshmem.OpProd:
		ok = true
	case hostshmem.OpMin, hostshmem.OpMax:
		ok = c != classComplex
	case hostshmem.OpAnd, hostshmem.OpOr, hostshmem.OpXor:
		ok = c == classInteger
	default:
		return fmt.Errorf("algo: reduce: %w: unknown op %v", hostshmem.ErrInvalidArg, op)
	}
	if !ok {
		var z T
		return fmt.Errorf("algo: reduce: %w: %v is not defined for %T", hostshmem.ErrInvalidArg, op, z)
	}
	return nil
}

// ReduceInto sets dst[i] = dst[i] op src[i] for every i < len(dst). src
// must be at least as long as dst. Float16 and BFloat16 are computed in
// float32 and rounded back to 16 bits, so a chain of ReduceInto rounds
// once per step (ReduceN over all the sources rounds once).
func ReduceInto[T hostshmem.Elem](op hostshmem.ReduceOp, dst, src []T) error {
	return ReduceN(op, dst, [][]T{dst, src})
}

// ReduceN sets dst[i] = srcs[0][i] op srcs[1][i] op ... for every i <
// len(dst), combining left to right, so the same sources in the same order
// give the same bits everywhere. srcs must be non-empty and each at least
// as long as dst. dst may be any of the sources, element for element
// (in place); other overlaps give unspecified results.
func ReduceN[T hostshmem.Elem](op hostshmem.ReduceOp, dst []T, srcs [][]T) error {
	if err := CheckOp[T](op); err != nil {
		return err
	}
	if len(srcs) == 0 {
		return fmt.Errorf("algo: reduce: %w: no sources", hostshmem.ErrInvalidArg)
	}
	for j, s := range srcs {
		if len(s) < len(dst) {
			return fmt.Errorf("algo: reduce: %w: source %d has %d elements, destination %d", hostshmem.ErrInvalidArg, j, len(s), len(dst))
		}
	}
	switch d := any(dst).(type) {
	case []hostshmem.Float16:
		reduceHalf(op, d, any(srcs).([][]hostshmem.Float16), hostshmem.Float16sToFloat32, hostshmem.Float32ToFloat16s)
		return nil
	case []hostshmem.BFloat16:
		reduceHalf(op, d, any(srcs).([][]hostshmem.BFloat16), hostshmem.BFloat16sToFloat32, hostshmem.Float32ToBFloat16s)
		return nil
	}
	_, k := classOf[T]()
	switch k {
	case reflect.Int8:
		reduceAs(dst, srcs, ints[int8](op))
	case reflect.Int16:
		reduceAs(dst, srcs, ints[int16](op))
	case reflect.Int32:
		reduceAs(dst, srcs, ints[int32](op))
	case reflect.Int64:
		reduceAs(dst, srcs, ints[int64](op))
	case reflect.Int:
		reduceAs(dst, srcs, ints[int](op))
	case reflect.Uint8:
		reduceAs(dst, srcs, ints[uint8](op))
	case reflect.Uint16:
		reduceAs(dst, srcs, ints[uint16](op))
	case reflect.Uint32:
		reduceAs(dst, srcs, ints[uint32](op))
	case reflect.Uint64:
		reduceAs(dst, srcs, ints[uint64](op))
	case reflect.Uint:
		reduceAs(dst, srcs, ints[uint](op))
	case reflect.Uintptr:
		reduceAs(dst, srcs, ints[uintptr](op))
	case reflect.Float32:
		reduceAs(dst, srcs, ordered[float32](op))
	case reflect.Float64:
		reduceAs(dst, srcs, ordered[float64](op))
	case reflect.Complex64:
		reduceAs(dst, srcs, complexes[complex64](op))
	case reflect.Complex128:
		reduceAs(dst, srcs, complexes[complex128](op))
	default:
		panic("algo: reduce: unexpected kind " + k.String())
	}
	return nil
}

type elemClass int

const (
	classInteger elemClass = iota
	classFloat
	classComplex
	classHalf // Float16 and BFloat16
)

// classOf classifies T: Float16 and BFloat16 by their exact types (a type
// defined as Float16 reduces like uint16, as in hostshmem), the rest by
// their underlying kind.
func classOf[T hostshmem.Elem]() (elemClass, reflect.Kind) {
	var z T
	switch any(z).(type) {
	case hostshmem.Float16, hostshmem.BFloat16:
		return classHalf, reflect.Uint16
	}
	k := reflect.TypeFor[T]().Kind()
	switch k {
	case reflect.Float32, reflect.Float64:
		return classFloat, k
	case reflect.Complex64, reflect.Complex128:
		return classComplex, k
	}
	return classInteger, k
}

// block is how many elements the kernels accumulate at a time.
const block = 256

// reduceAs reduces slices of T as slices of U, T's underlying type (same
// size and layout), block by block: each block of the result is gathered
// in acc before dst is written, which is what makes dst == srcs[j] safe.
func reduceAs[U, T hostshmem.Elem](dst []T, srcs [][]T, combine func(acc, s []U)) {
	d := unsafe.Slice((*U)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst))
	ss := *(*[][]U)(unsafe.Pointer(&srcs)) // a []T and a []U have the same header
	var buf [block]U
	for lo := 0; lo < len(d); lo += block {
		hi := min(lo+block, len(d))
		acc := buf[:hi-lo]
		copy(acc, ss[0][lo:hi])
		for _, s := range ss[1:] {
			combine(acc, s[lo:hi])
		}
		copy(d[lo:hi], acc)
	}
}

// reduceHalf reduces 16-bit floats in float32 blocks, rounding once.
func reduceHalf[H hostshmem.Float16 | hostshmem.BFloat16](op hostshmem.ReduceOp, dst []H, srcs [][]H, widen func([]float32, []H), narrow func([]H, []float32)) {
	combine := ordered[float32](op)
	var acc, tmp [block]float32
	for lo := 0; lo < len(dst); lo += block {
		hi := min(lo+block, len(dst))
		a, t := acc[:hi-lo], tmp[:hi-lo]
		widen(a, srcs[0][lo:hi])
		for _, s := range srcs[1:] {
			widen(t, s[lo:hi])
			combine(a, t)
		}
		narrow(dst[lo:hi], a)
	}
}

type (
	integer interface {
		~int8 | ~int16 | ~int32 | ~int64 | ~int |
			~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint | ~uintptr
	}
	float      interface{ ~float32 | ~float64 }
	complexNum interface{ ~complex64 | ~complex128 }
)

// ordered is acc[i] = acc[i] op s[i] for sum, prod, min and max.
func ordered[U integer | float](op hostshmem.ReduceOp) func(acc, s []U) {
	switch op {
	case hostshmem.OpSum:
		return func(acc, s []U) {
			for i := range acc {
				acc[i] += s[i]
			}
		}
	case hostshmem.OpProd:
		return func(acc, s []U) {
			for i := range acc {
				acc[i] *= s[i]
			}
		}
	case hostshmem.OpMin:
		return func(acc, s []U) {
			for i := range acc {
				acc[i] = min(acc[i], s[i])
			}
		}
	default: // OpMax; CheckOp let nothing else through
		return func(acc, s []U) {
			for i := range acc {
				acc[i] = max(acc[i], s[i])
			}
		}
	}
}

// ints is ordered plus and, or and xor.
func ints[U integer](op hostshmem.ReduceOp) func(acc, s []U) {
	switch op {
	case hostshmem.OpAnd:
		return func(acc, s []U) {
			for i := range acc {
				acc[i] &= s[i]
			}
		}
	case hostshmem.OpOr:
		return func(acc, s []U) {
			for i := range acc {
				acc[i] |= s[i]
			}
		}
	case hostshmem.OpXor:
		return func(acc, s []U) {
			for i := range acc {
				acc[i] ^= s[i]
			}
		}
	}
	return ordered[U](op)
}

// complexes is sum and prod.
func complexes[U complexNum](op hostshmem.ReduceOp) func(acc, s []U) {
	if op == hostshmem.OpProd {
		return func(acc, s []U) {
			for i := range acc {
				acc[i] *= s[i]
			}
		}
	}
	return func(acc, s []U) {
		for i := range acc {
			acc[i] += s[i]
		}
	}
}
