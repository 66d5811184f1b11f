package array

import (
	"fmt"
	"math"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Number is the element types with arithmetic: the integers and the
// floats (complex numbers have no order and no 16-byte atomics).
type Number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~int |
		~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint | ~uintptr |
		~float32 | ~float64
}

// Op is an element operation.
type Op uint8

// The element operations. Load, Store and Swap take every Number; Add,
// Sub, Mul and Div too; Rem, And, Or, Xor, Shl and Shr integers only.
// Shl and Shr take their operand as the shift count (at least 0); Shr of
// a signed integer keeps its sign. Integer Div and Rem by 0 are errors.
const (
	OpLoad Op = iota
	OpStore
	OpSwap
	OpAdd
	OpSub
	OpMul
	OpDiv
	OpRem
	OpAnd
	OpOr
	OpXor
	OpShl
	OpShr
	numOps
)

var opNames = [numOps]string{"load", "store", "swap", "add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr"}

// String is the operation's name as Lamellar spells it.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// intOnly reports whether o is defined on integers only.
func (o Op) intOnly() bool { return o >= OpRem && o <= OpShr }

// traits are what the operations need to know of an element type.
type traits struct {
	size   uintptr
	float  bool
	signed bool
	name   string
}

func traitsOf[T Number]() traits {
	t := reflect.TypeFor[T]()
	tr := traits{size: t.Size(), name: t.String()}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		tr.float = true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		tr.signed = true
	}
	return tr
}

// elems does the element operations of one array's data, a symmetric
// object of words: every element is read and changed with the atomics of
// the 4- or 8-byte word that holds it (elements of 1 or 2 bytes share a
// word with their neighbours), through hostshmem, which uses the CPU's
// atomics on a PE it maps and the fabric's otherwise. Integers of 4 and 8
// bytes add, and, or, xor, swap, load and store with one atomic; every
// other operation is a compare-and-swap loop on the word.
//
// On a PE this one maps (hostshmem.Ptr), the words are changed in place
// with sync/atomic, which is what hostshmem's atomics do there, without
// the call; on another, with hostshmem's atomics, which reach it over
// the fabric.
type elems[T Number] struct {
	c      shmem.Comm
	words  shmem.Sym[byte] // the data, a whole number of 8-byte words
	w64    shmem.Sym[uint64]
	w32    shmem.Sym[uint32]
	mapped [][]byte // each PE's data where this PE maps it, else nil
	tr     traits
}

// newElems works on data, which must start 8-byte aligned and span a
// multiple of 8 bytes, on PE p.
func newElems[T Number](p *shmem.PE, data shmem.Sym[byte]) *elems[T] {
	e := &elems[T]{c: p, words: data, w64: shmem.As[uint64](data), w32: shmem.As[uint32](data), tr: traitsOf[T]()}
	e.mapped = make([][]byte, p.NPEs())
	for pe := range e.mapped {
		if b, err := shmem.Ptr(p, data, pe); err == nil && len(b) == data.Len() {
			e.mapped[pe] = b
		}
	}
	return e
}

// bitsOf and valueOf convert between an element and its bits in the low
// bytes of a uint64.
func bitsOf[T Number](v T) uint64 {
	switch unsafe.Sizeof(v) {
	case 1:
		return uint64(*(*uint8)(unsafe.Pointer(&v)))
	case 2:
		return uint64(*(*uint16)(unsafe.Pointer(&v)))
	case 4:
		return uint64(*(*uint32)(unsafe.Pointer(&v)))
	}
	return *(*uint64)(unsafe.Pointer(&v))
}

func valueOf[T Number](b uint64) T {
	var v T
	switch unsafe.Sizeof(v) {
	case 1:
		*(*uint8)(unsafe.Pointer(&v)) = uint8(b)
	case 2:
		*(*uint16)(unsafe.Pointer(&v)) = uint16(b)
	case 4:
		*(*uint32)(unsafe.Pointer(&v)) = uint32(b)
	default:
		*(*uint64)(unsafe.Pointer(&v)) = b
	}
	return v
}

// check returns an error when op with operand v is not defined on T.
func (e *elems[T]) check(op Op, v T) error {
	switch {
	case op >= numOps:
		return fmt.Errorf("array: %w: %v", errdefs.ErrInvalidArg, op)
	case op.intOnly() && e.tr.float:
		return fmt.Errorf("array: %w: %v is not defined on %s", errdefs.ErrInvalidArg, op, e.tr.name)
	case (op == OpDiv || op == OpRem) && !e.tr.float && v == 0:
		return fmt.Errorf("array: %w: integer %v by 0", errdefs.ErrInvalidArg, op)
	case (op == OpShl || op == OpShr) && v < 0:
		return fmt.Errorf("array: %w: %v by %v, a negative count", errdefs.ErrInvalidArg, op, v)
	}
	return nil
}

// combine is the value op leaves in an element that held old. op and v
// passed check.
func combine[T Number](tr traits, op Op, old, v T) T {
	switch op {
	case OpStore, OpSwap:
		return v
	case OpAdd:
		return old + v
	case OpSub:
		return old - v
	case OpMul:
		return old * v
	case OpDiv:
		return old / v // the most negative integer / -1 wraps to itself, as Rust's wrapping_div does
	case OpRem:
		if tr.signed {
			return T(int64(old) % int64(v))
		}
		return T(uint64(old) % uint64(v))
	case OpAnd:
		return T(uint64(old) & uint64(v))
	case OpOr:
		return T(uint64(old) | uint64(v))
	case OpXor:
		return T(uint64(old) ^ uint64(v))
	case OpShl:
		if uint64(v) >= 64 {
			return 0
		}
		return T(uint64(old) << uint64(v))
	case OpShr:
		if tr.signed {
			return T(int64(old) >> min(uint64(v), 63))
		}
		if uint64(v) >= 64 {
			return 0
		}
		return T(uint64(old) >> uint64(v))
	}
	return old
}

// word locates element off: the index of the 4- or 8-byte word that holds
// it (in w64 or w32, by the element's size) and the element's bit shift
// in it.
func (e *elems[T]) word(off int) (w int, shift uint) {
	b := uintptr(off) * e.tr.size
	if e.tr.size == 8 {
		return int(b / 8), 0
	}
	return int(b / 4), uint(b%4) * 8
}

// peerData is PE pe's data as elements where this PE maps it, else nil:
// plain loads (a ReadOnlyArray's) read it directly.
func (e *elems[T]) peerData(pe int) []T {
	m := e.mapped[pe]
	if len(m) < int(e.tr.size) {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&m[0])), uintptr(len(m))/e.tr.size)
}

// ptr returns the word of element off on PE pe where this PE maps it.
func (e *elems[T]) ptr(pe, off int) unsafe.Pointer {
	m := e.mapped[pe]
	if m == nil {
		return nil
	}
	w, _ := e.word(off)
	if e.tr.size == 8 {
		return unsafe.Pointer(&m[w*8])
	}
	return unsafe.Pointer(&m[w*4])
}

// loadWord reads the word of element off on PE pe.
func (e *elems[T]) loadWord(pe, off int) (uint64, error) {
	w, _ := e.word(off)
	if p := e.ptr(pe, off); p != nil {
		if e.tr.size == 8 {
			return atomic.LoadUint64((*uint64)(p)), nil
		}
		return uint64(atomic.LoadUint32((*uint32)(p))), nil
	}
	if e.tr.size == 8 {
		return shmem.AtomicFetch(e.c, e.w64.At(w), pe)
	}
	v, err := shmem.AtomicFetch(e.c, e.w32.At(w), pe)
	return uint64(v), err
}

// casWord writes new to the word of element off on PE pe if it holds
// old, and returns what it held and whether it wrote.
func (e *elems[T]) casWord(pe, off int, old, new uint64) (uint64, bool, error) {
	w, _ := e.word(off)
	if p := e.ptr(pe, off); p != nil {
		if e.tr.size == 8 {
			if atomic.CompareAndSwapUint64((*uint64)(p), old, new) {
				return old, true, nil
			}
			return atomic.LoadUint64((*uint64)(p)), false, nil
		}
		if atomic.CompareAndSwapUint32((*uint32)(p), uint32(old), uint32(new)) {
			return old, true, nil
		}
		return uint64(atomic.LoadUint32((*uint32)(p))), false, nil
	}
	if e.tr.size == 8 {
		v, err := shmem.AtomicCompareSwap(e.c, e.w64.At(w), old, new, pe)
		return v, err == nil && v == old, err
	}
	v, err := shmem.AtomicCompareSwap(e.c, e.w32.At(w), uint32(old), uint32(new), pe)
	return uint64(v), err == nil && v == uint32(old), err
}

// extract and replace get and set element off's bits in its word.
func (e *elems[T]) extract(off int, w uint64) T {
	_, shift := e.word(off)
	return valueOf[T](w >> shift)
}

func (e *elems[T]) replace(off int, w uint64, v T) uint64 {
	if e.tr.size >= 4 {
		return bitsOf(v)
	}
	_, shift := e.word(off)
	mask := uint64(1)<<(8*e.tr.size) - 1
	return w&^(mask<<shift) | (bitsOf(v)&mask)<<shift
}

// apply does op with operand v on element off (of the whole array's data)
// on PE pe, atomically, and returns the value the element held before
// (for OpStore on a word of its own, v: such a store reads nothing).
func (e *elems[T]) apply(pe, off int, op Op, v T) (T, error) {
	if err := e.check(op, v); err != nil {
		return v, err
	}
	if e.tr.size >= 4 {
		if old, ok, err := e.native(pe, off, op, v); ok {
			return old, err
		}
	}
	w, err := e.loadWord(pe, off)
	for err == nil {
		old := e.extract(off, w)
		if op == OpLoad {
			return old, nil
		}
		var ok bool
		w, ok, err = e.casWord(pe, off, w, e.replace(off, w, combine(e.tr, op, old, v)))
		if ok {
			return old, nil
		}
	}
	return v, err
}

// applyAt is apply for element i of an array (at offset off of PE pe),
// its error naming the element.
func (e *elems[T]) applyAt(pe, off, i int, op Op, v T) (T, error) {
	old, err := e.apply(pe, off, op, v)
	if err != nil {
		err = fmt.Errorf("array: %v of element %d: %w", op, i, err)
	}
	return old, err
}

// native does op with one atomic of a whole word where there is one:
// ok is false where apply needs its compare-and-swap loop.
func (e *elems[T]) native(pe, off int, op Op, v T) (old T, ok bool, err error) {
	if op == OpLoad {
		r, err := e.loadWord(pe, off)
		return valueOf[T](r), true, err
	}
	if e.tr.float && op != OpStore && op != OpSwap {
		return v, false, nil
	}
	b := bitsOf(v)
	if op == OpSub {
		op, b = OpAdd, -b
	}
	var r uint64
	if p := e.ptr(pe, off); p != nil {
		if e.tr.size == 8 {
			r, ok = native64((*uint64)(p), op, b)
		} else {
			var r32 uint32
			r32, ok = native32((*uint32)(p), op, uint32(b))
			r = uint64(r32)
		}
	} else {
		w, _ := e.word(off)
		if e.tr.size == 8 {
			r, ok, err = remote(e.c, e.w64.At(w), pe, op, b)
		} else {
			var r32 uint32
			r32, ok, err = remote(e.c, e.w32.At(w), pe, op, uint32(b))
			r = uint64(r32)
		}
	}
	if op == OpStore {
		return v, ok, err
	}
	return valueOf[T](r), ok, err
}

// native64 and native32 do op with one CPU atomic on a word this PE maps,
// and return the word's value before (for OpStore, nothing): ok is false
// for an op with no such atomic.
func native64(p *uint64, op Op, b uint64) (uint64, bool) {
	switch op {
	case OpStore:
		atomic.StoreUint64(p, b)
		return 0, true
	case OpSwap:
		return atomic.SwapUint64(p, b), true
	case OpAdd:
		return atomic.AddUint64(p, b) - b, true
	case OpAnd:
		return atomic.AndUint64(p, b), true
	case OpOr:
		return atomic.OrUint64(p, b), true
	}
	return 0, false
}

func native32(p *uint32, op Op, b uint32) (uint32, bool) {
	switch op {
	case OpStore:
		atomic.StoreUint32(p, b)
		return 0, true
	case OpSwap:
		return atomic.SwapUint32(p, b), true
	case OpAdd:
		return atomic.AddUint32(p, b) - b, true
	case OpAnd:
		return atomic.AndUint32(p, b), true
	case OpOr:
		return atomic.OrUint32(p, b), true
	}
	return 0, false
}

// remote does op with one of hostshmem's atomics on a word of 4 or 8
// bytes, and returns its value before (for OpStore, nothing): ok is false
// for an op with no such atomic.
func remote[W uint32 | uint64](c shmem.Comm, w shmem.Sym[W], pe int, op Op, b W) (W, bool, error) {
	var r W
	var err error
	switch op {
	case OpStore:
		return 0, true, shmem.AtomicSet(c, w, b, pe)
	case OpSwap:
		r, err = shmem.AtomicSwap(c, w, b, pe)
	case OpAdd:
		r, err = shmem.AtomicFetchAdd(c, w, b, pe)
	case OpAnd:
		r, err = shmem.AtomicFetchAnd(c, w, b, pe)
	case OpOr:
		r, err = shmem.AtomicFetchOr(c, w, b, pe)
	case OpXor:
		r, err = shmem.AtomicFetchXor(c, w, b, pe)
	default:
		return 0, false, nil
	}
	return r, true, err
}

// compareExchange writes v to element off on PE pe if it holds cur (for
// floats: if it is within eps of cur; eps is 0 for the exact form), and
// returns what it held and whether it wrote.
func (e *elems[T]) compareExchange(pe, off int, cur, v, eps T) (T, bool, error) {
	w, err := e.loadWord(pe, off)
	for err == nil {
		old := e.extract(off, w)
		if !e.matches(old, cur, eps) {
			return old, false, nil
		}
		var ok bool
		w, ok, err = e.casWord(pe, off, w, e.replace(off, w, v))
		if ok {
			return old, true, nil
		}
	}
	return cur, false, err
}

// matches reports whether an element holding old counts as holding cur:
// the same bits, or for floats with eps > 0, within eps.
func (e *elems[T]) matches(old, cur, eps T) bool {
	if e.tr.float && eps > 0 {
		return math.Abs(float64(old)-float64(cur)) <= float64(eps)
	}
	return bitsOf(old) == bitsOf(cur)
}
