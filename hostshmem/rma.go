package hostshmem

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"unsafe"
)

// Put copies src into dst on PE pe. It returns once src may be reused; the
// data is visible at pe after Quiet. len(src) may be less than dst.Len().
func Put[T Elem](c Comm, dst Sym[T], src []T, pe int) error {
	return put(c.comm(), "put", opBlocking, dst, src, pe)
}

// PutNBI is Put that may return before src may be reused: src belongs to
// the runtime until the next Quiet on c.
func PutNBI[T Elem](c Comm, dst Sym[T], src []T, pe int) error {
	return put(c.comm(), "put_nbi", opNBI, dst, src, pe)
}

func put[T Elem](c *Ctx, op string, k opKind, dst Sym[T], src []T, pe int) error {
	p, pe, err := c.live(op, k, pe)
	if err != nil {
		return err
	}
	r, err := target(p, op, dst, len(src), pe)
	if err != nil {
		return err
	}
	b := asBytes(src)
	if r == nil {
		return p.rma.Put(pe, dst.off, b)
	}
	if pe == p.me && overlaps(r, b) && unsafe.SliceData(r) != unsafe.SliceData(b) {
		return fmt.Errorf("gshmem: %s: %w: source overlaps %v on this PE", op, ErrOverlap, dst)
	}
	p.copier.Copy(r, b)
	p.fab.Notify(pe, dst.off, uintptr(len(b)))
	return nil
}

// Get copies len(dst) elements of src on PE pe into dst and returns when dst
// holds them.
func Get[T Elem](c Comm, dst []T, src Sym[T], pe int) error {
	return get(c.comm(), "get", opBlocking, dst, src, pe)
}

// GetNBI is Get that may return before dst is filled: dst belongs to the
// runtime until the next Quiet on c.
func GetNBI[T Elem](c Comm, dst []T, src Sym[T], pe int) error {
	return get(c.comm(), "get_nbi", opNBI, dst, src, pe)
}

func get[T Elem](c *Ctx, op string, k opKind, dst []T, src Sym[T], pe int) error {
	p, pe, err := c.live(op, k, pe)
	if err != nil {
		return err
	}
	r, err := target(p, op, src, len(dst), pe)
	if err != nil {
		return err
	}
	b := asBytes(dst)
	if r == nil {
		return p.rma.Get(pe, src.off, b)
	}
	if pe == p.me && overlaps(r, b) && unsafe.SliceData(r) != unsafe.SliceData(b) {
		return fmt.Errorf("gshmem: %s: %w: destination overlaps %v on this PE", op, ErrOverlap, src)
	}
	p.copier.Copy(b, r)
	return nil
}

// PutMem copies bytes into dst on PE pe (OpenSHMEM putmem); use Bytes to
// view any Sym as bytes.
func PutMem(c Comm, dst Sym[byte], src []byte, pe int) error {
	return put(c.comm(), "putmem", opBlocking, dst, src, pe)
}

// GetMem copies bytes from src on PE pe (OpenSHMEM getmem).
func GetMem(c Comm, dst []byte, src Sym[byte], pe int) error {
	return get(c.comm(), "getmem", opBlocking, dst, src, pe)
}

// P writes the single value v to the first element of dst on PE pe.
func P[T Elem](c Comm, dst Sym[T], v T, pe int) error {
	p, pe, err := c.comm().live("p", opBlocking, pe)
	if err != nil {
		return err
	}
	r, err := target(p, "p", dst, 1, pe)
	if err != nil {
		return err
	}
	if r == nil {
		// A copy declared here, not v: the transport keeps its address,
		// which moves a variable to the heap, and a parameter's move
		// would cost every P an allocation, mapped or not.
		w := v
		return p.rma.Put(pe, dst.off, unsafe.Slice((*byte)(unsafe.Pointer(&w)), sizeOf[T]()))
	}
	*(*T)(unsafe.Pointer(&r[0])) = v
	p.fab.Notify(pe, dst.off, uintptr(len(r)))
	return nil
}

// G reads the first element of src on PE pe.
func G[T Elem](c Comm, src Sym[T], pe int) (T, error) {
	p, pe, err := c.comm().live("g", opBlocking, pe)
	if err != nil {
		return *new(T), err
	}
	r, err := target(p, "g", src, 1, pe)
	if err != nil {
		return *new(T), err
	}
	if r == nil {
		var v T // declared on this path only: see P
		err = p.rma.Get(pe, src.off, unsafe.Slice((*byte)(unsafe.Pointer(&v)), sizeOf[T]()))
		return v, err
	}
	return *(*T)(unsafe.Pointer(&r[0])), nil
}

// IPut is a strided put: element i*srcStride of src goes to element
// i*dstStride of dst on PE pe, for i in [0, n). Strides are in elements and
// at least 1. Every count and stride is checked before any data moves.
func IPut[T Elem](c Comm, dst Sym[T], src []T, dstStride, srcStride, n int, pe int) error {
	p, pe, err := c.comm().live("iput", opBlocking, pe)
	if err != nil {
		return err
	}
	span, err := strides("iput", len(src), dstStride, srcStride, n)
	if err != nil {
		return err
	}
	r, err := target(p, "iput", dst, span, pe)
	if err != nil || n == 0 {
		return err
	}
	sz := sizeOf[T]()
	if r == nil {
		for i := 0; i < n; i++ {
			if err := p.rma.Put(pe, dst.off+uintptr(i*dstStride)*sz, asBytes(src[i*srcStride:i*srcStride+1])); err != nil {
				return err
			}
		}
		return nil
	}
	d := unsafe.Slice((*T)(unsafe.Pointer(&r[0])), span)
	for i := 0; i < n; i++ {
		d[i*dstStride] = src[i*srcStride]
	}
	p.fab.Notify(pe, dst.off, uintptr(len(r)))
	return nil
}

// IGet is a strided get: element i*srcStride of src on PE pe goes to
// element i*dstStride of dst, for i in [0, n). Strides are in elements and
// at least 1. Every count and stride is checked before any data moves.
func IGet[T Elem](c Comm, dst []T, src Sym[T], dstStride, srcStride, n int, pe int) error {
	p, pe, err := c.comm().live("iget", opBlocking, pe)
	if err != nil {
		return err
	}
	span, err := strides("iget", len(dst), srcStride, dstStride, n)
	if err != nil {
		return err
	}
	r, err := target(p, "iget", src, span, pe)
	if err != nil || n == 0 {
		return err
	}
	sz := sizeOf[T]()
	if r == nil {
		for i := 0; i < n; i++ {
			if err := p.rma.Get(pe, src.off+uintptr(i*srcStride)*sz, asBytes(dst[i*dstStride:i*dstStride+1])); err != nil {
				return err
			}
		}
		return nil
	}
	s := unsafe.Slice((*T)(unsafe.Pointer(&r[0])), span)
	for i := 0; i < n; i++ {
		dst[i*dstStride] = s[i*srcStride]
	}
	return nil
}

// strides checks a strided transfer of n elements between a symmetric
// object (stride symStride) and a local slice of length local (stride
// localStride), and returns the elements of the object it spans:
// (n-1)*symStride+1, or 0 when n is 0. Every product is checked for
// overflow, so the loops that index with i*stride cannot wrap.
func strides(op string, local, symStride, localStride, n int) (int, error) {
	if n < 0 || symStride < 1 || localStride < 1 {
		return 0, fmt.Errorf("gshmem: %s: %w: %d elements with strides %d (symmetric) and %d (local); want n >= 0 and strides >= 1",
			op, ErrInvalidArg, n, symStride, localStride)
	}
	if n == 0 {
		return 0, nil
	}
	symSpan, ok1 := stridedSpan(n, symStride)
	localSpan, ok2 := stridedSpan(n, localStride)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("gshmem: %s: %w: %d elements at strides %d (symmetric) and %d (local) span more than %d elements",
			op, ErrInvalidArg, n, symStride, localStride, math.MaxInt)
	}
	if localSpan > local {
		return 0, fmt.Errorf("gshmem: %s: %w: %d elements at stride %d need %d local elements, have %d",
			op, ErrOutOfRange, n, localStride, localSpan, local)
	}
	return symSpan, nil
}

// stridedSpan is (n-1)*stride+1 for n, stride >= 1, and false when that
// overflows int.
func stridedSpan(n, stride int) (int, bool) {
	hi, lo := bits.Mul(uint(n-1), uint(stride))
	if hi != 0 || lo >= math.MaxInt {
		return 0, false
	}
	return int(lo) + 1, true
}

// Quiet completes every put, get and atomic issued on c: their effects are
// visible at their targets and NBI buffers are free again.
func Quiet(c Comm) error {
	return c.comm().quiet("quiet")
}

// Fence orders the puts and atomics issued on c: those issued before Fence
// reach each target PE before those issued after it.
func Fence(c Comm) error {
	p, _, err := c.comm().live("fence", opBlocking, 0)
	if err != nil {
		return err
	}
	if p.closed() {
		return errFinalized("fence")
	}
	// On x86-64 stores to a load/store mapping reach memory in program
	// order (TSO; memmove's non-temporal stores end with SFENCE). Elsewhere
	// order them the strong way.
	if runtime.GOARCH == "amd64" {
		return nil
	}
	return p.fab.Quiet()
}

// Quiet is Quiet on p's default context.
func (p *PE) Quiet() error { return Quiet(p) }

// Fence is Fence on p's default context.
func (p *PE) Fence() error { return Fence(p) }
