package hostshmem

import (
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"unsafe"
)

// ReduceOp is the operation a reduction applies elementwise across PEs.
type ReduceOp int

// The reduction operations. Sum and prod are defined on every Elem type;
// min and max on all but complex types; and, or and xor only on integer
// types (not on floats, complex numbers, Float16 or BFloat16).
//
// Integer sum and prod wrap around in two's complement, as in C. Float min
// and max follow Go's builtin min and max: if any input is a NaN the result
// is a NaN, and min(-0, +0) is -0 (max, +0). Float16 and BFloat16 sum,
// prod, min and max compute in float32 across all inputs and round to 16
// bits once per element. Floats are combined in source order,
// ((s0 op s1) op s2) ..., whatever the number of sources or the length, so
// a reduction over the same inputs in the same order gives the same bits
// on every PE.
const (
	OpSum ReduceOp = iota
	OpProd
	OpMin
	OpMax
	OpAnd
	OpOr
	OpXor
)

var reduceOpNames = [...]string{"sum", "prod", "min", "max", "and", "or", "xor"}

// String is the op's lower-case name, e.g. "sum".
func (op ReduceOp) String() string {
	if op >= 0 && int(op) < len(reduceOpNames) {
		return reduceOpNames[op]
	}
	return "ReduceOp(" + strconv.Itoa(int(op)) + ")"
}

// Type sets the kernels are written over. Each is the underlying types of
// one class of Elem; reduceN reinterprets a []T as the []U of T's
// underlying type before it calls them, so every kernel is compiled for a
// concrete machine type.
type (
	kernInteger interface {
		~int8 | ~int16 | ~int32 | ~int64 | ~int |
			~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint | ~uintptr
	}
	kernFloat   interface{ ~float32 | ~float64 }
	kernComplex interface{ ~complex64 | ~complex128 }
	kernOrdered interface{ kernInteger | kernFloat }
	kernNumber  interface {
		kernInteger | kernFloat | kernComplex
	}
)

// elemClass says which ops a type supports and which path reduces it.
type elemClass uint8

const (
	classInteger elemClass = iota
	classFloat
	classComplex
	classFloat16
	classBFloat16
)

// classOf classifies T. Float16 and BFloat16 are recognised by their exact
// types; other types by their underlying kind, so a type defined as
// float32 reduces like float32 (and one defined as Float16, like uint16).
//
// The predeclared types are matched by a type switch: every collective
// classifies its element type, and asking reflect took 7% of a 2-PE
// broadcast's profile (a 2-PE 8-byte reduce, which asks three times:
// 180 -> 171 ns).
func classOf[T Elem]() (elemClass, reflect.Kind) {
	var z T
	switch any(z).(type) {
	case Float16:
		return classFloat16, reflect.Uint16
	case BFloat16:
		return classBFloat16, reflect.Uint16
	case int8:
		return classInteger, reflect.Int8
	case int16:
		return classInteger, reflect.Int16
	case int32:
		return classInteger, reflect.Int32
	case int64:
		return classInteger, reflect.Int64
	case int:
		return classInteger, reflect.Int
	case uint8:
		return classInteger, reflect.Uint8
	case uint16:
		return classInteger, reflect.Uint16
	case uint32:
		return classInteger, reflect.Uint32
	case uint64:
		return classInteger, reflect.Uint64
	case uint:
		return classInteger, reflect.Uint
	case uintptr:
		return classInteger, reflect.Uintptr
	case float32:
		return classFloat, reflect.Float32
	case float64:
		return classFloat, reflect.Float64
	case complex64:
		return classComplex, reflect.Complex64
	case complex128:
		return classComplex, reflect.Complex128
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

// checkReduceOp reports whether op is defined on T: nil, or an error
// wrapping ErrInvalidArg that names op and T, such as
// "gshmem: reduce: invalid argument: xor is not defined for float32".
// Collectives call it once before they move any data.
func checkReduceOp[T Elem](op ReduceOp) error {
	c, _ := classOf[T]()
	return checkOpClass[T](op, c)
}

func checkOpClass[T Elem](op ReduceOp, c elemClass) error {
	var ok bool
	switch op {
	case OpSum, OpProd:
		ok = true
	case OpMin, OpMax:
		ok = c != classComplex
	case OpAnd, OpOr, OpXor:
		ok = c == classInteger
	default:
		return fmt.Errorf("gshmem: reduce: %w: unknown op %v", ErrInvalidArg, op)
	}
	if !ok {
		var z T
		return fmt.Errorf("gshmem: reduce: %w: %v is not defined for %T", ErrInvalidArg, op, z)
	}
	return nil
}

// reduceN sets dst[i] = srcs[0][i] op srcs[1][i] op ... op srcs[k-1][i]
// for every i < len(dst), combining left to right. srcs must be non-empty
// and each at least as long as dst. dst may be the same memory as any of
// the sources, element for element (dst[i] and srcs[j][i] at one address);
// other overlaps give unspecified results. It returns an error wrapping
// ErrInvalidArg if op is not defined on T (see checkReduceOp) or the
// lengths do not fit. It does not allocate, beyond refilling scratchPool
// after a garbage collection empties it.
func reduceN[T Elem](op ReduceOp, dst []T, srcs [][]T) error {
	c, k := classOf[T]()
	if err := checkOpClass[T](op, c); err != nil {
		return err
	}
	if len(srcs) == 0 {
		return fmt.Errorf("gshmem: reduce: %w: no sources", ErrInvalidArg)
	}
	n := len(dst)
	for j, s := range srcs {
		if len(s) < n {
			return fmt.Errorf("gshmem: reduce: %w: source %d has %d elements, destination %d",
				ErrInvalidArg, j, len(s), n)
		}
	}
	switch {
	case n == 0:
		return nil
	case len(srcs) == 1:
		copy(dst, srcs[0][:n])
		return nil
	case c == classFloat16 || c == classBFloat16:
		reduceHalf(op, c == classBFloat16, asKind[uint16](dst), asKinds[uint16](srcs))
		return nil
	}
	switch k {
	case reflect.Int8:
		reduceInts(op, asKind[int8](dst), asKinds[int8](srcs))
	case reflect.Int16:
		reduceInts(op, asKind[int16](dst), asKinds[int16](srcs))
	case reflect.Int32:
		reduceInts(op, asKind[int32](dst), asKinds[int32](srcs))
	case reflect.Int64:
		reduceInts(op, asKind[int64](dst), asKinds[int64](srcs))
	case reflect.Int:
		reduceInts(op, asKind[int](dst), asKinds[int](srcs))
	case reflect.Uint8:
		reduceInts(op, asKind[uint8](dst), asKinds[uint8](srcs))
	case reflect.Uint16:
		reduceInts(op, asKind[uint16](dst), asKinds[uint16](srcs))
	case reflect.Uint32:
		reduceInts(op, asKind[uint32](dst), asKinds[uint32](srcs))
	case reflect.Uint64:
		reduceInts(op, asKind[uint64](dst), asKinds[uint64](srcs))
	case reflect.Uint:
		reduceInts(op, asKind[uint](dst), asKinds[uint](srcs))
	case reflect.Uintptr:
		reduceInts(op, asKind[uintptr](dst), asKinds[uintptr](srcs))
	case reflect.Float32:
		reduceFloats(op, asKind[float32](dst), asKinds[float32](srcs))
	case reflect.Float64:
		reduceFloats(op, asKind[float64](dst), asKinds[float64](srcs))
	case reflect.Complex64:
		reduceComplexes(op, asKind[complex64](dst), asKinds[complex64](srcs))
	case reflect.Complex128:
		reduceComplexes(op, asKind[complex128](dst), asKinds[complex128](srcs))
	default:
		panic("gshmem: reduce: unexpected kind " + k.String())
	}
	return nil
}

// asKind views s as a slice of T's underlying type U, which the caller
// has checked; the two have the same size and layout.
func asKind[U, T Elem](s []T) []U {
	return unsafe.Slice((*U)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// asKinds views srcs as slices of U, as asKind does; a []T and a []U have
// the same header, so the outer slice is reused as it is.
func asKinds[U, T Elem](srcs [][]T) [][]U {
	return *(*[][]U)(unsafe.Pointer(&srcs))
}

// kernels combines 2, 3 or 4 equal-length inputs into d, reading every
// input's element i before writing d[i], so d may alias any input.
type kernels[U any] struct {
	k2 func(d, a, b []U)
	k3 func(d, a, b, c []U)
	k4 func(d, a, b, c, e []U)
}

func reduceInts[U kernInteger](op ReduceOp, dst []U, srcs [][]U) {
	switch op {
	case OpSum:
		run(kernels[U]{kernSum2[U], kernSum3[U], kernSum4[U]}, dst, srcs)
	case OpProd:
		run(kernels[U]{kernProd2[U], kernProd3[U], kernProd4[U]}, dst, srcs)
	case OpMin:
		run(kernels[U]{kernMin2[U], kernMin3[U], kernMin4[U]}, dst, srcs)
	case OpMax:
		run(kernels[U]{kernMax2[U], kernMax3[U], kernMax4[U]}, dst, srcs)
	case OpAnd:
		run(kernels[U]{kernAnd2[U], kernAnd3[U], kernAnd4[U]}, dst, srcs)
	case OpOr:
		run(kernels[U]{kernOr2[U], kernOr3[U], kernOr4[U]}, dst, srcs)
	case OpXor:
		run(kernels[U]{kernXor2[U], kernXor3[U], kernXor4[U]}, dst, srcs)
	}
}

func reduceFloats[U kernFloat](op ReduceOp, dst []U, srcs [][]U) {
	switch op {
	case OpSum:
		run(kernels[U]{kernSum2[U], kernSum3[U], kernSum4[U]}, dst, srcs)
	case OpProd:
		run(kernels[U]{kernProd2[U], kernProd3[U], kernProd4[U]}, dst, srcs)
	case OpMin:
		run(kernels[U]{kernMin2[U], kernMin3[U], kernMin4[U]}, dst, srcs)
	case OpMax:
		run(kernels[U]{kernMax2[U], kernMax3[U], kernMax4[U]}, dst, srcs)
	}
}

func reduceComplexes[U kernComplex](op ReduceOp, dst []U, srcs [][]U) {
	switch op {
	case OpSum:
		run(kernels[U]{kernSum2[U], kernSum3[U], kernSum4[U]}, dst, srcs)
	case OpProd:
		run(kernels[U]{kernProd2[U], kernProd3[U], kernProd4[U]}, dst, srcs)
	}
}

// scratchBytes is the size of a block of partial results: small enough
// that the block and the source blocks combined into it stay in L1.
const scratchBytes = 8 << 10

type scratch [scratchBytes / 8]uint64

// scratchPool holds block buffers for reductions over more than four
// sources and for 16-bit floats. On the stack they would be zeroed on
// every call, and run's would escape (its kernels are function values)
// and be allocated too.
var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// run reduces srcs (at least 2, each at least len(dst) long) into dst with
// k. Up to four sources take one pass of one fused kernel. More go block by
// block: the first four into a scratch block, three more at a time into
// the same block, and the last one to three together with the block into
// dst, so dst is written only after every input element i has been read.
func run[U any](k kernels[U], dst []U, srcs [][]U) {
	n := len(dst)
	switch len(srcs) {
	case 2:
		k.k2(dst, srcs[0][:n], srcs[1][:n])
		return
	case 3:
		k.k3(dst, srcs[0][:n], srcs[1][:n], srcs[2][:n])
		return
	case 4:
		k.k4(dst, srcs[0][:n], srcs[1][:n], srcs[2][:n], srcs[3][:n])
		return
	}
	sp := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sp)
	var z U
	buf := unsafe.Slice((*U)(unsafe.Pointer(sp)), scratchBytes/unsafe.Sizeof(z))
	for lo := 0; lo < n; lo += len(buf) {
		hi := min(lo+len(buf), n)
		acc := buf[:hi-lo]
		k.k4(acc, srcs[0][lo:hi], srcs[1][lo:hi], srcs[2][lo:hi], srcs[3][lo:hi])
		rest := srcs[4:]
		for ; len(rest) > 3; rest = rest[3:] {
			k.k4(acc, acc, rest[0][lo:hi], rest[1][lo:hi], rest[2][lo:hi])
		}
		switch len(rest) {
		case 1:
			k.k2(dst[lo:hi], acc, rest[0][lo:hi])
		case 2:
			k.k3(dst[lo:hi], acc, rest[0][lo:hi], rest[1][lo:hi])
		case 3:
			k.k4(dst[lo:hi], acc, rest[0][lo:hi], rest[1][lo:hi], rest[2][lo:hi])
		}
	}
}

// halfBlock is the number of 16-bit elements reduceHalf widens at a time:
// four float32 blocks of it fill a scratch buffer.
const halfBlock = scratchBytes / 4 / 4

// reduceHalf reduces Float16 (bf false) or BFloat16 (bf true) bits, at
// least two sources, in float32: block by block it widens the first source
// into an accumulator, widens the others three at a time and folds them in
// with the float32 kernels, then rounds the accumulator into dst once.
// Its blocks come from scratchPool rather than the stack, where Go would
// zero them on every call, small ones too.
func reduceHalf(op ReduceOp, bf bool, dst []uint16, srcs [][]uint16) {
	sp := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sp)
	buf := (*[4][halfBlock]float32)(unsafe.Pointer(sp))
	acc, t1, t2, t3 := &buf[0], &buf[1], &buf[2], &buf[3]
	widen := func(d []float32, s []uint16) {
		if bf {
			BFloat16sToFloat32(d, asKind[BFloat16](s))
		} else {
			Float16sToFloat32(d, asKind[Float16](s))
		}
	}
	n := len(dst)
	for lo := 0; lo < n; lo += halfBlock {
		hi := min(lo+halfBlock, n)
		m := hi - lo
		a := acc[:m]
		widen(a, srcs[0][lo:hi])
		for rest := srcs[1:]; len(rest) > 0; {
			switch len(rest) {
			case 1:
				widen(t1[:m], rest[0][lo:hi])
				float32Kernel2(op, a, a, t1[:m])
				rest = rest[1:]
			case 2:
				widen(t1[:m], rest[0][lo:hi])
				widen(t2[:m], rest[1][lo:hi])
				float32Kernel3(op, a, a, t1[:m], t2[:m])
				rest = rest[2:]
			default:
				widen(t1[:m], rest[0][lo:hi])
				widen(t2[:m], rest[1][lo:hi])
				widen(t3[:m], rest[2][lo:hi])
				float32Kernel4(op, a, a, t1[:m], t2[:m], t3[:m])
				rest = rest[3:]
			}
		}
		if bf {
			Float32ToBFloat16s(asKind[BFloat16](dst[lo:hi]), a)
		} else {
			Float32ToFloat16s(asKind[Float16](dst[lo:hi]), a)
		}
	}
}

// float32Kernel2, 3 and 4 are the float32 kernels for op.
func float32Kernel2(op ReduceOp, d, a, b []float32) {
	switch op {
	case OpSum:
		kernSum2(d, a, b)
	case OpProd:
		kernProd2(d, a, b)
	case OpMin:
		kernMin2(d, a, b)
	case OpMax:
		kernMax2(d, a, b)
	}
}

func float32Kernel3(op ReduceOp, d, a, b, c []float32) {
	switch op {
	case OpSum:
		kernSum3(d, a, b, c)
	case OpProd:
		kernProd3(d, a, b, c)
	case OpMin:
		kernMin3(d, a, b, c)
	case OpMax:
		kernMax3(d, a, b, c)
	}
}

func float32Kernel4(op ReduceOp, d, a, b, c, e []float32) {
	switch op {
	case OpSum:
		kernSum4(d, a, b, c, e)
	case OpProd:
		kernProd4(d, a, b, c, e)
	case OpMin:
		kernMin4(d, a, b, c, e)
	case OpMax:
		kernMax4(d, a, b, c, e)
	}
}

// The kernels. Each reads a[i], b[i], ... before it writes d[i], combines
// left to right, and reslices its inputs to len(d) first so the loop runs
// without bounds checks.

func kernSum2[U kernNumber](d, a, b []U) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i]
	}
}

func kernSum3[U kernNumber](d, a, b, c []U) {
	a, b, c = a[:len(d)], b[:len(d)], c[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i] + c[i]
	}
}

func kernSum4[U kernNumber](d, a, b, c, e []U) {
	a, b, c, e = a[:len(d)], b[:len(d)], c[:len(d)], e[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i] + c[i] + e[i]
	}
}

func kernProd2[U kernNumber](d, a, b []U) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] * b[i]
	}
}

func kernProd3[U kernNumber](d, a, b, c []U) {
	a, b, c = a[:len(d)], b[:len(d)], c[:len(d)]
	for i := range d {
		d[i] = a[i] * b[i] * c[i]
	}
}

func kernProd4[U kernNumber](d, a, b, c, e []U) {
	a, b, c, e = a[:len(d)], b[:len(d)], c[:len(d)], e[:len(d)]
	for i := range d {
		d[i] = a[i] * b[i] * c[i] * e[i]
	}
}

func kernMin2[U kernOrdered](d, a, b []U) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = min(a[i], b[i])
	}
}

func kernMin3[U kernOrdered](d, a, b, c []U) {
	a, b, c = a[:len(d)], b[:len(d)], c[:len(d)]
	for i := range d {
		d[i] = min(a[i], b[i], c[i])
	}
}

func kernMin4[U kernOrdered](d, a, b, c, e []U) {
	a, b, c, e = a[:len(d)], b[:len(d)], c[:len(d)], e[:len(d)]
	for i := range d {
		d[i] = min(a[i], b[i], c[i], e[i])
	}
}

func kernMax2[U kernOrdered](d, a, b []U) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = max(a[i], b[i])
	}
}

func kernMax3[U kernOrdered](d, a, b, c []U) {
	a, b, c = a[:len(d)], b[:len(d)], c[:len(d)]
	for i := range d {
		d[i] = max(a[i], b[i], c[i])
	}
}

func kernMax4[U kernOrdered](d, a, b, c, e []U) {
	a, b, c, e = a[:len(d)], b[:len(d)], c[:len(d)], e[:len(d)]
	for i := range d {
		d[i] = max(a[i], b[i], c[i], e[i])
	}
}

func kernAnd2[U kernInteger](d, a, b []U) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] & b[i]
	}
}

func kernAnd3[U kernInteger](d, a, b, c []U) {
	a, b, c = a[:len(d)], b[:len(d)], c[:len(d)]
	for i := range d {
		d[i] = a[i] & b[i] & c[i]
	}
}

func kernAnd4[U kernInteger](d, a, b, c, e []U) {
	a, b, c, e = a[:len(d)], b[:len(d)], c[:len(d)], e[:len(d)]
	for i := range d {
		d[i] = a[i] & b[i] & c[i] & e[i]
	}
}

func kernOr2[U kernInteger](d, a, b []U) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] | b[i]
	}
}

func kernOr3[U kernInteger](d, a, b, c []U) {
	a, b, c = a[:len(d)], b[:len(d)], c[:len(d)]
	for i := range d {
		d[i] = a[i] | b[i] | c[i]
	}
}

func kernOr4[U kernInteger](d, a, b, c, e []U) {
	a, b, c, e = a[:len(d)], b[:len(d)], c[:len(d)], e[:len(d)]
	for i := range d {
		d[i] = a[i] | b[i] | c[i] | e[i]
	}
}

func kernXor2[U kernInteger](d, a, b []U) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
}

func kernXor3[U kernInteger](d, a, b, c []U) {
	a, b, c = a[:len(d)], b[:len(d)], c[:len(d)]
	for i := range d {
		d[i] = a[i] ^ b[i] ^ c[i]
	}
}

func kernXor4[U kernInteger](d, a, b, c, e []U) {
	a, b, c, e = a[:len(d)], b[:len(d)], c[:len(d)], e[:len(d)]
	for i := range d {
		d[i] = a[i] ^ b[i] ^ c[i] ^ e[i]
	}
}
