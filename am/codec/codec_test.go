package codec

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
	V     inPlace
}

// inPlace is the test's Config.InPlace (am's Bytes).
type inPlace []byte

// testConfig is am's Config without its Ext (the Darc handles).
var testConfig = Config{InPlace: reflect.TypeFor[inPlace]()}

func roundTrip(t *testing.T, v any, borrow bool) (any, []byte) {
	t.Helper()
	c, err := Compile(reflect.TypeOf(v), testConfig)
	require.NoError(t, err)
	var e Encoder
	c.Encode(&e, v)
	require.NoError(t, e.Err())
	require.Len(t, e.Buf, c.Size(v), "size matches the encoding")
	var d Decoder
	d.Reset(e.Buf, borrow, nil)
	got, err := c.Decode(&d)
	require.NoError(t, err)
	return got, e.Buf
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
		V:     inPlace("view"),
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
	c, err := Compile(reflect.TypeFor[[]float64](), testConfig)
	require.NoError(t, err)
	var e Encoder
	c.Encode(&e, []float64{1, 2, 3})
	for cut := 1; cut < len(e.Buf); cut++ {
		var d Decoder
		d.Reset(e.Buf[:cut], false, nil)
		_, err := c.Decode(&d)
		require.ErrorIs(t, err, ErrShort, "cut at %d", cut)
	}
}

// TestCodecBorrow: an InPlace slice decoded by a decoder that may borrow points
// into the message; without, and for []byte, it is a copy.
func TestCodecBorrow(t *testing.T) {
	type msg struct {
		V inPlace
		B []byte
	}
	c, err := Compile(reflect.TypeFor[msg](), testConfig)
	require.NoError(t, err)
	assert.True(t, c.Borrows())
	in := msg{V: inPlace("in place"), B: []byte("copied")}
	for _, borrow := range []bool{true, false} {
		got, buf := roundTrip(t, in, borrow)
		m := got.(msg)
		require.Equal(t, in, m)
		inBuf := func(b []byte) bool {
			p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
			return p >= lo && p < lo+uintptr(len(buf))
		}
		assert.Equal(t, borrow, inBuf(m.V), "InPlace in place iff borrowing")
		assert.False(t, inBuf(m.B), "[]byte always copied")
	}
	plain, err := Compile(reflect.TypeFor[struct{ B []byte }](), testConfig)
	require.NoError(t, err)
	assert.False(t, plain.Borrows())
}

// TestCodecEncodeAllocs: encoding numbers, strings, and slices and structs
// of them into a buffer with room allocates nothing (the AM hot path).
func TestCodecEncodeAllocs(t *testing.T) {
	type small struct {
		A int64
		S string
		F []float64
		P [4]uint16
	}
	v := small{A: -3, S: "seven", F: []float64{1, 2, 3}, P: [4]uint16{1, 2, 3, 4}}
	c, err := Compile(reflect.TypeFor[small](), testConfig)
	require.NoError(t, err)
	i, err := For[int](testConfig)
	require.NoError(t, err)
	var sv, x any = v, 12345 // boxed once, here
	e := Encoder{Buf: make([]byte, 0, 256)}
	allocs := testing.AllocsPerRun(100, func() {
		e.Reset(e.Buf[:0], nil)
		c.Encode(&e, sv)
		i.Encode(&e, x)
	})
	require.NoError(t, e.Err())
	assert.Zero(t, allocs)
}
