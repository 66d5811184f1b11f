package hostshmem

import (
	"fmt"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
)

// AMOInt is the set of types every atomic operation takes: 32- and 64-bit
// integers.
type AMOInt interface {
	~int32 | ~uint32 | ~int64 | ~uint64 | ~int | ~uint
}

// AMOStd is the set of types the standard atomics (fetch, set, swap,
// compare-swap is integers only) take: AMOInt plus float32 and float64.
type AMOStd interface {
	AMOInt | ~float32 | ~float64
}

func amoBits[T AMOStd](v T) uint64 {
	if unsafe.Sizeof(v) == 4 {
		return uint64(*(*uint32)(unsafe.Pointer(&v)))
	}
	return *(*uint64)(unsafe.Pointer(&v))
}

func amoFromBits[T AMOStd](b uint64) T {
	var v T
	if unsafe.Sizeof(v) == 4 {
		*(*uint32)(unsafe.Pointer(&v)) = uint32(b)
	} else {
		*(*uint64)(unsafe.Pointer(&v)) = b
	}
	return v
}

// amo applies op to the first element of s on PE pe and returns its
// previous value; k says whether it is a non-blocking operation.
func amo[T AMOStd](c Comm, name string, k opKind, op fabric.AMOOp, s Sym[T], pe int, operand, cmp T) (T, error) {
	var zero T
	p, pe, err := c.comm().live(name, k, pe)
	if err != nil {
		return zero, err
	}
	if _, err := target(p, name, s, 1, pe); err != nil {
		return zero, err
	}
	sz := unsafe.Sizeof(zero)
	if s.off%sz != 0 {
		return zero, fmt.Errorf("gshmem: %s: %w: offset %d is not %d-byte aligned", name, ErrInvalidArg, s.off, sz)
	}
	// The fabric applies the AMO and wakes watchers without a second
	// locked instruction (the AMO's own lock orders it).
	if sz == 4 {
		o, err := p.rma.AMO32(pe, s.off, op, uint32(amoBits(operand)), uint32(amoBits(cmp)))
		if err != nil {
			return zero, fmt.Errorf("gshmem: %s: %w", name, err)
		}
		return amoFromBits[T](uint64(o)), nil
	}
	o, err := p.rma.AMO64(pe, s.off, op, amoBits(operand), amoBits(cmp))
	if err != nil {
		return zero, fmt.Errorf("gshmem: %s: %w", name, err)
	}
	return amoFromBits[T](o), nil
}

// AtomicFetch atomically reads the first element of src on PE pe.
func AtomicFetch[T AMOStd](c Comm, src Sym[T], pe int) (T, error) {
	var z T
	return amo(c, "atomic_fetch", opBlocking, fabric.AMOFetch, src, pe, z, z)
}

// AtomicSet atomically writes v to the first element of dst on PE pe.
func AtomicSet[T AMOStd](c Comm, dst Sym[T], v T, pe int) error {
	_, err := amo(c, "atomic_set", opBlocking, fabric.AMOSet, dst, pe, v, v)
	return err
}

// AtomicSwap atomically writes v to dst on PE pe and returns the old value.
func AtomicSwap[T AMOStd](c Comm, dst Sym[T], v T, pe int) (T, error) {
	return amo(c, "atomic_swap", opBlocking, fabric.AMOSwap, dst, pe, v, v)
}

// AtomicCompareSwap atomically writes v to dst on PE pe if it holds cond,
// and returns the value it held.
func AtomicCompareSwap[T AMOInt](c Comm, dst Sym[T], cond, v T, pe int) (T, error) {
	return amo(c, "atomic_compare_swap", opBlocking, fabric.AMOCompareSwap, dst, pe, v, cond)
}

// AtomicFetchInc atomically adds 1 to dst on PE pe and returns the old value.
func AtomicFetchInc[T AMOInt](c Comm, dst Sym[T], pe int) (T, error) {
	return amo(c, "atomic_fetch_inc", opBlocking, fabric.AMOAdd, dst, pe, 1, 0)
}

// AtomicInc atomically adds 1 to dst on PE pe.
func AtomicInc[T AMOInt](c Comm, dst Sym[T], pe int) error {
	_, err := amo(c, "atomic_inc", opBlocking, fabric.AMOAdd, dst, pe, 1, 0)
	return err
}

// AtomicFetchAdd atomically adds v to dst on PE pe and returns the old value.
func AtomicFetchAdd[T AMOInt](c Comm, dst Sym[T], v T, pe int) (T, error) {
	return amo(c, "atomic_fetch_add", opBlocking, fabric.AMOAdd, dst, pe, v, 0)
}

// AtomicAdd atomically adds v to dst on PE pe.
func AtomicAdd[T AMOInt](c Comm, dst Sym[T], v T, pe int) error {
	_, err := amo(c, "atomic_add", opBlocking, fabric.AMOAdd, dst, pe, v, 0)
	return err
}

// AtomicFetchAnd atomically ands v into dst on PE pe and returns the old value.
func AtomicFetchAnd[T AMOInt](c Comm, dst Sym[T], v T, pe int) (T, error) {
	return amo(c, "atomic_fetch_and", opBlocking, fabric.AMOAnd, dst, pe, v, 0)
}

// AtomicAnd atomically ands v into dst on PE pe.
func AtomicAnd[T AMOInt](c Comm, dst Sym[T], v T, pe int) error {
	_, err := amo(c, "atomic_and", opBlocking, fabric.AMOAnd, dst, pe, v, 0)
	return err
}

// AtomicFetchOr atomically ors v into dst on PE pe and returns the old value.
func AtomicFetchOr[T AMOInt](c Comm, dst Sym[T], v T, pe int) (T, error) {
	return amo(c, "atomic_fetch_or", opBlocking, fabric.AMOOr, dst, pe, v, 0)
}

// AtomicOr atomically ors v into dst on PE pe.
func AtomicOr[T AMOInt](c Comm, dst Sym[T], v T, pe int) error {
	_, err := amo(c, "atomic_or", opBlocking, fabric.AMOOr, dst, pe, v, 0)
	return err
}

// AtomicFetchXor atomically xors v into dst on PE pe and returns the old value.
func AtomicFetchXor[T AMOInt](c Comm, dst Sym[T], v T, pe int) (T, error) {
	return amo(c, "atomic_fetch_xor", opBlocking, fabric.AMOXor, dst, pe, v, 0)
}

// AtomicXor atomically xors v into dst on PE pe.
func AtomicXor[T AMOInt](c Comm, dst Sym[T], v T, pe int) error {
	_, err := amo(c, "atomic_xor", opBlocking, fabric.AMOXor, dst, pe, v, 0)
	return err
}

// The non-blocking fetching atomics (OpenSHMEM 1.5 shmem_atomic_*_nbi)
// store the value the word held in *fetch instead of returning it. *fetch
// belongs to the runtime until the next Quiet on c: read it only after
// that Quiet, and do not write it before. (On every transport gshmem has
// today the atomic, and the store into *fetch, are done when the call
// returns; a program must not count on that.) A nil fetch is an error
// matching ErrInvalidArg, and so is every error the blocking form
// returns, before anything is stored in *fetch.

// amoNBI is amo for the non-blocking fetching atomics.
func amoNBI[T AMOStd](c Comm, name string, fetch *T, op fabric.AMOOp, s Sym[T], pe int, operand, cmp T) error {
	if fetch == nil {
		return fmt.Errorf("gshmem: %s: %w: nil fetch destination", name, ErrInvalidArg)
	}
	v, err := amo(c, name, opNBI, op, s, pe, operand, cmp)
	if err != nil {
		return err
	}
	*fetch = v
	return nil
}

// AtomicFetchNBI is AtomicFetch that stores the value in *fetch, which is
// valid after the next Quiet on c (shmem_atomic_fetch_nbi).
func AtomicFetchNBI[T AMOStd](c Comm, fetch *T, src Sym[T], pe int) error {
	var z T
	return amoNBI(c, "atomic_fetch_nbi", fetch, fabric.AMOFetch, src, pe, z, z)
}

// AtomicSwapNBI is AtomicSwap that stores the old value in *fetch, which
// is valid after the next Quiet on c (shmem_atomic_swap_nbi).
func AtomicSwapNBI[T AMOStd](c Comm, fetch *T, dst Sym[T], v T, pe int) error {
	return amoNBI(c, "atomic_swap_nbi", fetch, fabric.AMOSwap, dst, pe, v, v)
}

// AtomicCompareSwapNBI is AtomicCompareSwap that stores the value dst held
// in *fetch, which is valid after the next Quiet on c
// (shmem_atomic_compare_swap_nbi).
func AtomicCompareSwapNBI[T AMOInt](c Comm, fetch *T, dst Sym[T], cond, v T, pe int) error {
	return amoNBI(c, "atomic_compare_swap_nbi", fetch, fabric.AMOCompareSwap, dst, pe, v, cond)
}

// AtomicFetchIncNBI is AtomicFetchInc that stores the old value in *fetch,
// which is valid after the next Quiet on c (shmem_atomic_fetch_inc_nbi).
func AtomicFetchIncNBI[T AMOInt](c Comm, fetch *T, dst Sym[T], pe int) error {
	return amoNBI(c, "atomic_fetch_inc_nbi", fetch, fabric.AMOAdd, dst, pe, 1, 0)
}

// AtomicFetchAddNBI is AtomicFetchAdd that stores the old value in *fetch,
// which is valid after the next Quiet on c (shmem_atomic_fetch_add_nbi).
func AtomicFetchAddNBI[T AMOInt](c Comm, fetch *T, dst Sym[T], v T, pe int) error {
	return amoNBI(c, "atomic_fetch_add_nbi", fetch, fabric.AMOAdd, dst, pe, v, 0)
}

// AtomicFetchAndNBI is AtomicFetchAnd that stores the old value in *fetch,
// which is valid after the next Quiet on c (shmem_atomic_fetch_and_nbi).
func AtomicFetchAndNBI[T AMOInt](c Comm, fetch *T, dst Sym[T], v T, pe int) error {
	return amoNBI(c, "atomic_fetch_and_nbi", fetch, fabric.AMOAnd, dst, pe, v, 0)
}

// AtomicFetchOrNBI is AtomicFetchOr that stores the old value in *fetch,
// which is valid after the next Quiet on c (shmem_atomic_fetch_or_nbi).
func AtomicFetchOrNBI[T AMOInt](c Comm, fetch *T, dst Sym[T], v T, pe int) error {
	return amoNBI(c, "atomic_fetch_or_nbi", fetch, fabric.AMOOr, dst, pe, v, 0)
}

// AtomicFetchXorNBI is AtomicFetchXor that stores the old value in *fetch,
// which is valid after the next Quiet on c (shmem_atomic_fetch_xor_nbi).
func AtomicFetchXorNBI[T AMOInt](c Comm, fetch *T, dst Sym[T], v T, pe int) error {
	return amoNBI(c, "atomic_fetch_xor_nbi", fetch, fabric.AMOXor, dst, pe, v, 0)
}
