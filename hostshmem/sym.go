package hostshmem

import (
	"fmt"
	"math"
	"unsafe"
)

// Elem is the set of element types a symmetric object may hold: fixed-size
// numbers with no pointers inside.
type Elem interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~int |
		~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint | ~uintptr |
		~float32 | ~float64 | ~complex64 | ~complex128
}

// Sym is a symmetric object: n elements of T at the same offset of every
// PE's symmetric heap. It is a small value; copy it freely. The zero Sym is
// an empty object.
type Sym[T Elem] struct {
	off uintptr // byte offset in the symmetric space
	n   int     // elements
	tag symTag  // its heap and the serial of its allocation
	bad *symError
}

// symTag is a Sym's heap (low byte) and the serial of the allocation it is
// (a part of; 0 for none) in its high 32 bits: one word, so that a Sym is
// four words and a call passing one keeps its arguments in registers.
type symTag uint64

func mkTag(space Space, id uint32) symTag { return symTag(space) | symTag(id)<<32 }

func (t symTag) space() Space { return Space(t) }
func (t symTag) id() uint32   { return uint32(t >> 32) }

// Space says which of a PE's two symmetric heaps an object lives in. The
// two share one offset space: device offsets start where the host heap
// ends, so an offset alone names the heap, on every PE alike.
type Space uint8

// The symmetric heaps.
const (
	// Host is the host symmetric heap (GSHMEM_SYMMETRIC_SIZE).
	Host Space = iota
	// Device is the device symmetric heap (GSHMEM_DEVICE_SYMMETRIC_SIZE):
	// GPU memory when the PE has a GPU, host memory on the CPU fallback.
	Device
)

// String is "host" or "device".
func (s Space) String() string {
	switch s {
	case Host:
		return "host"
	case Device:
		return "device"
	}
	return fmt.Sprintf("Space(%d)", int(s))
}

// symError is why a Sym is invalid: an out-of-range At(lo) or
// Slice(lo, hi) of an object of n elements, Bytes of an object of lo
// elements of hi bytes each that no byte count holds, or As of n bytes at
// offset lo that do not hold whole, aligned elements of hi bytes.
type symError struct {
	op     string
	lo, hi int
	n      int
}

func (e *symError) Error() string {
	switch e.op {
	case "As":
		return fmt.Sprintf("As: %v: %d bytes at offset %d are not whole elements of %d bytes, aligned", ErrInvalidArg, e.n, e.lo, e.hi)
	case "Bytes":
		return fmt.Sprintf("Bytes: %v: %d elements of %d bytes overflow the address space", ErrOutOfRange, e.lo, e.hi)
	case "At":
		return fmt.Sprintf("Sym.At(%d): %v: object has %d elements", e.lo, ErrOutOfRange, e.n)
	}
	return fmt.Sprintf("Sym.Slice(%d, %d): %v: object has %d elements", e.lo, e.hi, ErrOutOfRange, e.n)
}

func (e *symError) Unwrap() error {
	if e.op == "As" {
		return ErrInvalidArg
	}
	return ErrOutOfRange
}

// maxElemSize is the size of the largest Elem (complex128).
const maxElemSize = 16

func sizeOf[T Elem]() uintptr {
	var z T
	return unsafe.Sizeof(z)
}

// Len is the number of elements.
func (s Sym[T]) Len() int { return s.n }

// Space is the heap the object lives in.
func (s Sym[T]) Space() Space { return s.tag.space() }

// Offset is the object's byte offset in the symmetric space.
func (s Sym[T]) Offset() uintptr { return s.off }

// Size is the object's length in bytes.
func (s Sym[T]) Size() uintptr { return uintptr(s.n) * sizeOf[T]() }

// Err is non-nil when s came from an out-of-range At or Slice (or a Bytes
// that overflows); every operation on such a Sym returns this error.
func (s Sym[T]) Err() error {
	if s.bad != nil {
		return s.bad
	}
	return nil
}

// At is the one-element object holding element i.
func (s Sym[T]) At(i int) Sym[T] {
	if s.bad != nil {
		return s
	}
	if i < 0 || i >= s.n {
		return Sym[T]{bad: &symError{op: "At", lo: i, n: s.n}}
	}
	return Sym[T]{off: s.off + uintptr(i)*sizeOf[T](), n: 1, tag: s.tag}
}

// Slice is the object holding elements [lo, hi).
func (s Sym[T]) Slice(lo, hi int) Sym[T] {
	if s.bad != nil {
		return s
	}
	if lo < 0 || hi < lo || hi > s.n {
		return Sym[T]{bad: &symError{op: "Slice", lo: lo, hi: hi, n: s.n}}
	}
	return Sym[T]{off: s.off + uintptr(lo)*sizeOf[T](), n: hi - lo, tag: s.tag}
}

// String describes the object, e.g. "Sym[float32]{off=65536 len=8}" or
// "Sym[float32]{device off=134283264 len=8}".
func (s Sym[T]) String() string {
	if s.bad != nil {
		return "Sym{" + s.bad.Error() + "}"
	}
	var z T
	if s.tag.space() != Host {
		return fmt.Sprintf("Sym[%T]{%v off=%d len=%d}", z, s.tag.space(), s.off, s.n)
	}
	return fmt.Sprintf("Sym[%T]{off=%d len=%d}", z, s.off, s.n)
}

// Bytes views s as bytes, for the byte-level PutMem and GetMem. A Sym too
// long to count in bytes (no allocation makes one) gives an invalid Sym.
func Bytes[T Elem](s Sym[T]) Sym[byte] {
	if s.bad != nil {
		return Sym[byte]{bad: s.bad}
	}
	n, ok := bytesOf[T](s.n)
	if !ok || n > math.MaxInt {
		return Sym[byte]{bad: &symError{op: "Bytes", lo: s.n, hi: int(sizeOf[T]())}}
	}
	return Sym[byte]{off: s.off, n: int(n), tag: s.tag}
}

// As views the bytes of s as elements of U (its bits, as an unsafe
// conversion of a pointer would): the atomics of a 4- or 8-byte word on an
// object of another type of that size, say. The object's bytes must be a
// whole number of U, at an offset aligned for U; otherwise the Sym is
// invalid, with an error matching ErrInvalidArg.
func As[U, T Elem](s Sym[T]) Sym[U] {
	b := Bytes(s)
	if b.bad != nil {
		return Sym[U]{bad: b.bad}
	}
	u := sizeOf[U]()
	if uintptr(b.n)%u != 0 || b.off%u != 0 {
		return Sym[U]{bad: &symError{op: "As", lo: int(b.off), hi: int(u), n: b.n}}
	}
	return Sym[U]{off: b.off, n: b.n / int(u), tag: b.tag}
}

// Local returns this PE's copy of s as a slice that aliases the symmetric
// heap: writes to it are visible to peers' gets, and peers' puts show up in
// it. It returns nil for an empty or invalid Sym, after Finalize, for an
// object in GPU memory (use Get and Put, package streams or a kernel) and
// for one that does not lie inside this PE's region (a Sym of a PE with a
// bigger heap).
func Local[T Elem](p *PE, s Sym[T]) []T {
	if s.bad != nil || p.closed() {
		return nil
	}
	return view[T](p.local, s.off, s.n)
}

// asBytes views a slice of T as bytes without copying.
func asBytes[T Elem](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), uintptr(len(v))*sizeOf[T]())
}
