package hostshmem

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// halfFormat describes a 16-bit float format for the reference code, which
// works from the definition (sign, biased exponent, mantissa) in float64
// and shares nothing with float16.go.
type halfFormat struct {
	name     string
	mantBits int    // stored mantissa bits
	bias     int    // exponent bias
	inf      uint16 // bits of +Inf
}

var (
	fmtFloat16  = halfFormat{"Float16", 10, 15, 0x7c00}
	fmtBFloat16 = halfFormat{"BFloat16", 7, 127, 0x7f80}
)

// value decodes bits by the definition. For +Inf's bits it returns the
// power of two that would come next, which is where rounding puts the
// overflow threshold.
func (f halfFormat) value(h uint16) float64 {
	expMask := uint16(f.inf)
	mant := float64(h & (1<<f.mantBits - 1))
	e := int(h&expMask) >> f.mantBits
	var v float64
	if e == 0 {
		v = math.Ldexp(mant, 1-f.bias-f.mantBits)
	} else {
		v = math.Ldexp(1+mant/float64(int(1)<<f.mantBits), e-f.bias)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

func (f halfFormat) isNaN(h uint16) bool {
	return h&f.inf == f.inf && h&(1<<f.mantBits-1) != 0
}

// positives are the values of bits 0 .. inf (inclusive), increasing.
func (f halfFormat) positives() []float64 {
	v := make([]float64, f.inf+1)
	for h := range v {
		v[h] = f.value(uint16(h))
	}
	return v
}

// round is the reference round-to-nearest-even of a non-NaN x: the nearest
// of the format's values, with ties going to the even bit pattern, and
// anything at or past the midpoint to the next power of two becoming Inf.
// Midpoints of neighbours are exact in float64, so the comparisons are.
func (f halfFormat) round(pos []float64, x float64) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	i, _ := slices.BinarySearch(pos, x) // first value >= x
	if i == len(pos) {
		return sign | f.inf
	}
	if pos[i] == x || i == 0 {
		return sign | uint16(i)
	}
	lo, hi := pos[i-1], pos[i]
	mid := (lo + hi) / 2
	switch {
	case x < mid:
		return sign | uint16(i-1)
	case x > mid:
		return sign | uint16(i)
	case (i-1)%2 == 0:
		return sign | uint16(i-1)
	default:
		return sign | uint16(i)
	}
}

var (
	f16Pos  = fmtFloat16.positives()
	bf16Pos = fmtBFloat16.positives()
)

func TestFloat16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := Float16(i)
		f := h.Float32()
		back := Float16From(f)
		if fmtFloat16.isNaN(uint16(h)) {
			// Quiet, same sign, same payload: h with the quiet bit set.
			if f == f || back != h|0x200 {
				t.Fatalf("%#04x: Float32 = %v, back = %#04x, want NaN and %#04x", i, f, back, h|0x200)
			}
			continue
		}
		want := fmtFloat16.value(uint16(h))
		if h&0x7fff == 0x7c00 {
			want = math.Inf(1 - 2*int(h>>15))
		}
		if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) || back != h {
			t.Fatalf("%#04x: Float32 = %v, want %v; back = %#04x", i, f, want, back)
		}
	}
}

// TestFloat16SlicesExhaustive: the slice helpers agree with the methods
// on every bit pattern.
func TestFloat16SlicesExhaustive(t *testing.T) {
	h := make([]Float16, 1<<16)
	b := make([]BFloat16, 1<<16)
	for i := range h {
		h[i], b[i] = Float16(i), BFloat16(i)
	}
	hf := make([]float32, len(h))
	bf := make([]float32, len(b))
	Float16sToFloat32(hf, h)
	BFloat16sToFloat32(bf, b)
	h2 := make([]Float16, len(h))
	b2 := make([]BFloat16, len(b))
	Float32ToFloat16s(h2, hf)
	Float32ToBFloat16s(b2, bf)
	for i := range h {
		if math.Float32bits(hf[i]) != math.Float32bits(h[i].Float32()) || h2[i] != Float16From(hf[i]) {
			t.Fatalf("Float16 %#04x: slices give %#08x and %#04x", i, math.Float32bits(hf[i]), h2[i])
		}
		if math.Float32bits(bf[i]) != math.Float32bits(b[i].Float32()) || b2[i] != BFloat16From(bf[i]) {
			t.Fatalf("BFloat16 %#04x: slices give %#08x and %#04x", i, math.Float32bits(bf[i]), b2[i])
		}
	}
}

func TestBFloat16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		b := BFloat16(i)
		f := b.Float32()
		back := BFloat16From(f)
		if math.Float32bits(f) != uint32(i)<<16 {
			t.Fatalf("%#04x: Float32 bits %#08x", i, math.Float32bits(f))
		}
		if fmtBFloat16.isNaN(uint16(b)) {
			if back != b|0x40 {
				t.Fatalf("%#04x: back = %#04x, want quiet NaN %#04x", i, back, b|0x40)
			}
			continue
		}
		if b&0x7fff != 0x7f80 && float64(f) != fmtBFloat16.value(uint16(b)) {
			t.Fatalf("%#04x: Float32 = %v, want %v", i, f, fmtBFloat16.value(uint16(b)))
		}
		if back != b {
			t.Fatalf("%#04x: back = %#04x", i, back)
		}
	}
}

// checkRound compares Float16From(x) (f16) or BFloat16From(x) with the
// reference.
func checkRound(t *testing.T, f16 bool, x float32) {
	var got, want uint16
	switch {
	case f16 && x != x:
		got, want = uint16(Float16From(x))&0x7e00, 0x7e00
	case f16:
		got, want = uint16(Float16From(x)), fmtFloat16.round(f16Pos, float64(x))
	case x != x:
		got, want = uint16(BFloat16From(x))&0x7fc0, 0x7fc0
	default:
		got, want = uint16(BFloat16From(x)), fmtBFloat16.round(bf16Pos, float64(x))
	}
	if got != want {
		t.Errorf("Float16 %v: x = %v (%#08x): got %#04x, want %#04x", f16, x, math.Float32bits(x), got, want)
	}
}

// TestFloat16Halfway rounds every midpoint between neighbouring 16-bit
// values, and the float32 values either side of it, in both signs.
func TestFloat16Halfway(t *testing.T) {
	for _, f16 := range []bool{true, false} {
		pos := bf16Pos
		if f16 {
			pos = f16Pos
		}
		for i := 1; i < len(pos); i++ {
			mid := float32((pos[i-1] + pos[i]) / 2)
			if float64(mid) != (pos[i-1]+pos[i])/2 {
				t.Fatalf("midpoint %d not exact", i)
			}
			for _, x := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, math.MaxFloat32)} {
				checkRound(t, f16, x)
				checkRound(t, f16, -x)
			}
		}
	}
}

func TestFloat16RandomRounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		x := math.Float32frombits(rng.Uint32()) // every exponent, NaNs too
		checkRound(t, true, x)
		checkRound(t, false, x)
		// In Float16's range, where its subnormals and rounding live.
		checkRound(t, true, float32(math.Ldexp(rng.Float64(), rng.IntN(44)-26)))
	}
}

func TestFloat16Boundaries(t *testing.T) {
	f32 := func(b uint32) float32 { return math.Float32frombits(b) }
	cases := []struct {
		x    float32
		want Float16
	}{
		{0, 0},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},                                 // largest finite
		{math.Nextafter32(65520, 0), 0x7bff},            // just under the tie
		{65520, 0x7c00},                                 // tie to even: Inf
		{65536, 0x7c00},                                 // past the range
		{-65520, 0xfc00},                                //
		{float32(math.Inf(1)), 0x7c00},                  //
		{float32(math.Inf(-1)), 0xfc00},                 //
		{math.MaxFloat32, 0x7c00},                       //
		{0x1p-14, 0x0400},                               // smallest normal
		{0x1p-14 - 0x1p-24, 0x03ff},                     // largest subnormal
		{0x1p-14 - 0x1p-25, 0x0400},                     // tie to even, up into normals
		{0x1p-24, 0x0001},                               // smallest subnormal
		{0x1p-25, 0x0000},                               // tie to even: 0
		{math.Nextafter32(0x1p-25, 1), 0x0001},          // just over the tie
		{-0x1p-25, 0x8000},                              // -0 keeps its sign
		{0x3p-25, 0x0002},                               // 1.5 steps: tie to even 2
		{0x5p-25, 0x0002},                               // 2.5 steps: tie to even 2
		{f32(1), 0x0000},                                // float32 subnormal
		{1 + 0x1p-11, 0x3c00},                           // tie to even below
		{1 + 3*0x1p-11, 0x3c02},                         // tie to even above
		{f32(0x7fc00000), 0x7e00},                       // quiet NaN
		{f32(0x7f800001), 0x7e00},                       // signalling NaN, payload below the kept bits
		{f32(0xffa00000), 0xfe00 | 0x100},               // negative NaN keeps sign and top payload
		{f32(0x7f802000), 0x7e01},                       // payload bit kept
		{float32(math.Nextafter(65504, 65520)), 0x7bff}, // rounds down
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Float16From(c.x), "Float16From(%v) bits %#08x", c.x, math.Float32bits(c.x))
	}

	bcases := []struct {
		x    float32
		want BFloat16
	}{
		{0, 0},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3f80},
		{math.MaxFloat32, 0x7f80},       // max float32 is past max bfloat16 + half ulp
		{f32(0x7f7f7fff), 0x7f7f},       // just under the tie
		{f32(0x7f7f8000), 0x7f80},       // tie at the top, odd: Inf
		{f32(0x7f7e8000), 0x7f7e},       // tie, even: down
		{f32(0x00008000), 0x0000},       // float32 subnormal tie to even 0
		{f32(0x00018000), 0x0002},       // tie to even up
		{f32(0x00008001), 0x0001},       // just over
		{f32(0x80008000), 0x8000},       // -0
		{float32(math.Inf(-1)), 0xff80}, //
		{f32(0x7f800001), 0x7fc0},       // signalling NaN with low payload stays NaN
		{f32(0xff810000), 0xffc1},       // sign and payload
	}
	for _, c := range bcases {
		assert.Equal(t, c.want, BFloat16From(c.x), "BFloat16From(%v) bits %#08x", c.x, math.Float32bits(c.x))
	}
}

func TestFloat16Slices(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, 1000)
	for i := range src {
		src[i] = math.Float32frombits(rng.Uint32())
	}
	h := make([]Float16, len(src))
	b := make([]BFloat16, len(src))
	Float32ToFloat16s(h, src)
	Float32ToBFloat16s(b, src)
	hf := make([]float32, len(src)+1)
	bf := make([]float32, len(src)+1)
	hf[len(src)], bf[len(src)] = 42, 42
	Float16sToFloat32(hf, h)
	BFloat16sToFloat32(bf, b)
	for i, x := range src {
		require.Equal(t, Float16From(x), h[i])
		require.Equal(t, BFloat16From(x), b[i])
		require.Equal(t, math.Float32bits(h[i].Float32()), math.Float32bits(hf[i]))
		require.Equal(t, math.Float32bits(b[i].Float32()), math.Float32bits(bf[i]))
	}
	require.Equal(t, float32(42), hf[len(src)], "wrote past len(src)")
	require.Equal(t, float32(42), bf[len(src)], "wrote past len(src)")

	require.Panics(t, func() { Float16sToFloat32(make([]float32, 2), make([]Float16, 3)) })
	require.Panics(t, func() { Float32ToBFloat16s(make([]BFloat16, 2), make([]float32, 3)) })
	require.NotPanics(t, func() { Float16sToFloat32(nil, nil) })
}

func TestFloat16String(t *testing.T) {
	for _, c := range []struct {
		h    Float16
		want string
	}{
		{Float16From(0.1), "0.1"},
		{Float16From(1), "1"},
		{Float16From(-2.5), "-2.5"},
		{Float16From(65504), "65500"}, // as numpy prints it
		{Float16From(2048), "2048"},
		{Float16From(1e-5), "1e-05"},
		{0x0001, "6e-08"},
		{0x8000, "-0"},
		{0x7c00, "+Inf"},
		{0xfc00, "-Inf"},
		{0x7e00, "NaN"},
	} {
		assert.Equal(t, c.want, c.h.String(), "%#04x", uint16(c.h))
	}
	for _, c := range []struct {
		b    BFloat16
		want string
	}{
		{BFloat16From(0.1), "0.1"},
		{BFloat16From(3), "3"},
		{0x7f7f, "3.39e+38"},
		{BFloat16From(100), "100"},
		{0xff80, "-Inf"},
		{0x7fc0, "NaN"},
	} {
		assert.Equal(t, c.want, c.b.String(), "%#04x", uint16(c.b))
	}
	// Every value's string reads back as the same bits.
	for i := range 1 << 16 {
		h, b := Float16(i), BFloat16(i)
		if s := h.String(); !fmtFloat16.isNaN(uint16(h)) {
			if f, err := strconv.ParseFloat(s, 32); err != nil || Float16From(float32(f)) != h {
				t.Fatalf("%#04x: %q reads back as %v, %v", i, s, f, err)
			}
		}
		if s := b.String(); !fmtBFloat16.isNaN(uint16(b)) {
			if f, err := strconv.ParseFloat(s, 32); err != nil || BFloat16From(float32(f)) != b {
				t.Fatalf("%#04x: %q reads back as %v, %v", i, s, f, err)
			}
		}
	}
}

func BenchmarkFloat16Convert(b *testing.B) {
	const n = 1 << 16
	f := make([]float32, n)
	h := make([]Float16, n)
	bf := make([]BFloat16, n)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range f {
		f[i] = float32(rng.NormFloat64())
	}
	b.Run("Float32ToFloat16s", func(b *testing.B) {
		b.SetBytes(n * 4)
		for b.Loop() {
			Float32ToFloat16s(h, f)
		}
	})
	b.Run("Float16sToFloat32", func(b *testing.B) {
		b.SetBytes(n * 4)
		for b.Loop() {
			Float16sToFloat32(f, h)
		}
	})
	b.Run("Float32ToBFloat16s", func(b *testing.B) {
		b.SetBytes(n * 4)
		for b.Loop() {
			Float32ToBFloat16s(bf, f)
		}
	})
	b.Run("BFloat16sToFloat32", func(b *testing.B) {
		b.SetBytes(n * 4)
		for b.Loop() {
			BFloat16sToFloat32(f, bf)
		}
	})
}
