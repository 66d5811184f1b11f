package am

import (
	"math"
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type floats []float32

type numbers struct {
	F32   []float32
	F64   []float64
	I16   []int16
	U64   []uint64
	I     []int
	C128  []complex128
	Named floats
	Bools []bool
	Nil   []float64
	Zero  []int32
	B     []byte
	V     Bytes
}

func roundTrip(t *testing.T, v any, borrow bool) (any, []byte) {
	t.Helper()
	c, err := codecFor(reflect.TypeOf(v))
	require.NoError(t, err)
	var e encoder
	c.encodeValue(&e, v)
	require.NoError(t, e.err)
	require.Len(t, e.buf, c.sizeOf(v), "size matches the encoding")
	d := decoder{b: e.buf, borrow: borrow}
	got, err := c.decodeValue(&d)
	require.NoError(t, err)
	return got, e.buf
}

// TestCodecNumberSlices: slices of numbers go in one copy each way, and
// decode to what was sent (values, nil against empty, named types).
func TestCodecNumberSlices(t *testing.T) {
	v := numbers{
		F32:   []float32{1.5, -2, float32(math.Inf(1))},
		F64:   []float64{math.Pi, math.Copysign(0, -1), 1e300},
		I16:   []int16{-1, 2, math.MinInt16},
		U64:   []uint64{0, math.MaxUint64},
		I:     []int{-7, 1 << 40},
		C128:  []complex128{complex(1, -2)},
		Named: floats{3, 4},
		Bools: []bool{true, false, true},
		Zero:  []int32{},
		B:     []byte("bytes"),
		V:     Bytes("view"),
	}
	got, _ := roundTrip(t, v, false)
	assert.Equal(t, v, got)
	type holder struct {
		M  map[string][]int16
		NM map[int]bool
		NS [][]float32
		P  *[]uint64
	}
	h := holder{M: map[string][]int16{"a": {1, -1}, "nil": nil}, NS: [][]float32{nil, {2}}}
	got2, _ := roundTrip(t, h, false) // nil maps, slices and pointers size as they encode
	assert.Equal(t, h, got2)
	g := got.(numbers)
	assert.Nil(t, g.Nil)
	assert.NotNil(t, g.Zero)

	// Odd lengths and every element size: alignment of what decoding allocates.
	for n := range 20 {
		s16 := make([]int16, n)
		s64 := make([]complex128, n)
		for i := range n {
			s16[i] = int16(i * 1000)
			s64[i] = complex(float64(i), -float64(i))
		}
		got, _ := roundTrip(t, s16, false)
		assert.Equal(t, s16, got)
		got, _ = roundTrip(t, s64, false)
		assert.Equal(t, s64, got)
		if n > 0 {
			assert.Zero(t, uintptr(unsafe.Pointer(&got.([]complex128)[0]))%8, "aligned")
		}
	}
}

// TestCodecTruncated: a length that the bytes left cannot hold is an
// error, not a slice past the end.
func TestCodecTruncated(t *testing.T) {
	c, err := codecFor(reflect.TypeFor[[]float64]())
	require.NoError(t, err)
	var e encoder
	c.encodeValue(&e, []float64{1, 2, 3})
	for cut := 1; cut < len(e.buf); cut++ {
		d := decoder{b: e.buf[:cut]}
		_, err := c.decodeValue(&d)
		require.ErrorIs(t, err, errShort, "cut at %d", cut)
	}
}

// TestCodecBorrow: a Bytes decoded by a decoder that may borrow points
// into the message; without, and for []byte, it is a copy.
func TestCodecBorrow(t *testing.T) {
	type msg struct {
		V Bytes
		B []byte
	}
	c, err := codecFor(reflect.TypeFor[msg]())
	require.NoError(t, err)
	assert.True(t, c.borrows)
	in := msg{V: Bytes("in place"), B: []byte("copied")}
	for _, borrow := range []bool{true, false} {
		got, buf := roundTrip(t, in, borrow)
		m := got.(msg)
		require.Equal(t, in, m)
		inBuf := func(b []byte) bool {
			p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
			return p >= lo && p < lo+uintptr(len(buf))
		}
		assert.Equal(t, borrow, inBuf(m.V), "Bytes in place iff borrowing")
		assert.False(t, inBuf(m.B), "[]byte always copied")
	}
	plain, err := codecFor(reflect.TypeFor[struct{ B []byte }]())
	require.NoError(t, err)
	assert.False(t, plain.borrows)
}
