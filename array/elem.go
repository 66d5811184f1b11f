package array

import (
	"fmt"
	"math"
	"reflect"
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
type elems[T Number] struct {
	c     shmem.Comm
	words shmem.Sym[byte] // the data, a whole number of 8-byte words
	tr    traits
}

// newElems works on data, which must start 8-byte aligned and span a
// multiple of 8 bytes.
func newElems[T Number](c shmem.Comm, data shmem.Sym[byte]) *elems[T] {
	return &elems[T]{c: c, words: data, tr: traitsOf[T]()}
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

// word locates element off: the 4- or 8-byte word that holds it (as a
// one-element Sym of 8 or 4 bytes) and the element's bit shift in it.
func (e *elems[T]) word(off int) (w64 shmem.Sym[uint64], w32 shmem.Sym[uint32], shift uint) {
	b := uintptr(off) * e.tr.size
	if e.tr.size == 8 {
		return shmem.As[uint64](e.words.Slice(int(b), int(b)+8)), w32, 0
	}
	w := b &^ 3
	return w64, shmem.As[uint32](e.words.Slice(int(w), int(w)+4)), uint(b-w) * 8
}

// loadWord reads the word of element off on PE pe.
func (e *elems[T]) loadWord(pe, off int) (uint64, error) {
	w64, w32, _ := e.word(off)
	if e.tr.size == 8 {
		return shmem.AtomicFetch(e.c, w64, pe)
	}
	v, err := shmem.AtomicFetch(e.c, w32, pe)
	return uint64(v), err
}

// casWord writes new to the word of element off on PE pe if it holds
// old, and returns what it held.
func (e *elems[T]) casWord(pe, off int, old, new uint64) (uint64, error) {
	w64, w32, _ := e.word(off)
	if e.tr.size == 8 {
		return shmem.AtomicCompareSwap(e.c, w64, old, new, pe)
	}
	v, err := shmem.AtomicCompareSwap(e.c, w32, uint32(old), uint32(new), pe)
	return uint64(v), err
}

// extract and replace get and set element off's bits in its word.
func (e *elems[T]) extract(off int, w uint64) T {
	_, _, shift := e.word(off)
	return valueOf[T](w >> shift)
}

func (e *elems[T]) replace(off int, w uint64, v T) uint64 {
	if e.tr.size >= 4 {
		return bitsOf(v)
	}
	_, _, shift := e.word(off)
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
		var got uint64
		got, err = e.casWord(pe, off, w, e.replace(off, w, combine(e.tr, op, old, v)))
		if err == nil && got == w {
			return old, nil
		}
		w = got
	}
	return v, err
}

// native does op with one atomic of a whole word where there is one:
// ok is false where apply needs its compare-and-swap loop.
func (e *elems[T]) native(pe, off int, op Op, v T) (old T, ok bool, err error) {
	w64, w32, _ := e.word(off)
	b := bitsOf(v)
	var r uint64
	switch {
	case op == OpLoad:
		r, err = e.loadWord(pe, off)
	case op == OpStore && e.tr.size == 8:
		err = shmem.AtomicSet(e.c, w64, b, pe)
		return v, true, err
	case op == OpStore:
		err = shmem.AtomicSet(e.c, w32, uint32(b), pe)
		return v, true, err
	case op == OpSwap && e.tr.size == 8:
		r, err = shmem.AtomicSwap(e.c, w64, b, pe)
	case op == OpSwap:
		var r32 uint32
		r32, err = shmem.AtomicSwap(e.c, w32, uint32(b), pe)
		r = uint64(r32)
	case e.tr.float:
		return v, false, nil
	case e.tr.size == 8:
		switch op {
		case OpAdd:
			r, err = shmem.AtomicFetchAdd(e.c, w64, b, pe)
		case OpSub:
			r, err = shmem.AtomicFetchAdd(e.c, w64, -b, pe)
		case OpAnd:
			r, err = shmem.AtomicFetchAnd(e.c, w64, b, pe)
		case OpOr:
			r, err = shmem.AtomicFetchOr(e.c, w64, b, pe)
		case OpXor:
			r, err = shmem.AtomicFetchXor(e.c, w64, b, pe)
		default:
			return v, false, nil
		}
	default:
		var r32 uint32
		b32 := uint32(b)
		switch op {
		case OpAdd:
			r32, err = shmem.AtomicFetchAdd(e.c, w32, b32, pe)
		case OpSub:
			r32, err = shmem.AtomicFetchAdd(e.c, w32, -b32, pe)
		case OpAnd:
			r32, err = shmem.AtomicFetchAnd(e.c, w32, b32, pe)
		case OpOr:
			r32, err = shmem.AtomicFetchOr(e.c, w32, b32, pe)
		case OpXor:
			r32, err = shmem.AtomicFetchXor(e.c, w32, b32, pe)
		default:
			return v, false, nil
		}
		r = uint64(r32)
	}
	return valueOf[T](r), true, err
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
		var got uint64
		got, err = e.casWord(pe, off, w, e.replace(off, w, v))
		if err == nil && got == w {
			return old, true, nil
		}
		w = got
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
