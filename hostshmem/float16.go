package hostshmem

import (
	"math"
	"strconv"
	"sync"
)

// Float16 is an IEEE 754 binary16 number: 1 sign bit, 5 exponent bits, 10
// mantissa bits. It holds the bits; convert with Float16From and Float32.
// As an Elem it moves like a uint16, and reductions on it compute in float32
// (see OpSum).
type Float16 uint16

// BFloat16 is a bfloat16 number: the top 16 bits of a float32 (1 sign bit,
// 8 exponent bits, 7 mantissa bits). Convert with BFloat16From and Float32.
type BFloat16 uint16

// Float16From rounds f to the nearest Float16, ties to even. Values of
// magnitude 65520 and above become ±Inf, values below 2⁻¹⁴ become
// subnormals or ±0, the sign of zero is kept, and a NaN stays a NaN: quiet,
// with its sign and the top 9 bits of its payload.
func Float16From(f float32) Float16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	b &= 0x7fffffff
	if b-0x38800000 < 0x47800000-0x38800000 { // 2⁻¹⁴ <= |f| < 2¹⁶
		// Rebias the exponent (127 → 15) and round the 13 dropped bits to
		// nearest even; a carry out of the mantissa bumps the exponent,
		// up to Inf for [65520, 65536).
		return Float16(sign | uint16((b+0xfff+(b>>13)&1-(127-15)<<23)>>13))
	}
	return Float16(sign | float16Edge(b))
}

// float16Edge is Float16From for the magnitudes (bits b) outside the
// normal range: zero, subnormals, overflow, Inf and NaN.
func float16Edge(b uint32) uint16 {
	switch {
	case b > 0x7f800000: // NaN
		return 0x7e00 | uint16(b>>13)&0x3ff
	case b >= 0x47800000: // |f| >= 2¹⁶, or Inf
		return 0x7c00
	default: // |f| < 2⁻¹⁴
		// Adding 0.5 puts the float32 ulp at 2⁻²⁴, the Float16 subnormal
		// step, so the float32 add rounds to the nearest subnormal (even
		// on ties); the mantissa bits are then the Float16 bits.
		return uint16(math.Float32bits(math.Float32frombits(b)+0.5) - 0x3f000000)
	}
}

// Float32 is h as a float32; every Float16 is exactly representable.
func (h Float16) Float32() float32 {
	em := uint32(h&0x7fff) << 13                         // exponent and mantissa, float32-aligned
	if e := em & 0x0f800000; e-0x00800000 < 0x0f000000 { // exponent 1..30
		em += (127 - 15) << 23
	} else {
		em = float32Edge(em)
	}
	return math.Float32frombits(em | uint32(h&0x8000)<<16)
}

// float32Edge is Float32 for the magnitudes (Float16 bits em<<13) with
// exponent 0 or 31: zero, subnormals, Inf and NaN.
func float32Edge(em uint32) uint32 {
	if em >= 0x0f800000 { // Inf or NaN
		return em | 0x7f800000
	}
	// mant × 2⁻²⁴: 2⁻¹⁴ × 1.mant less 2⁻¹⁴, exactly, in float32.
	return math.Float32bits(math.Float32frombits(em+113<<23) - 1.0/(1<<14))
}

// String formats h with the fewest digits that read back as h, e.g. "0.1"
// for Float16From(0.1); also "+Inf", "-Inf" and "NaN".
func (h Float16) String() string {
	return shortest(h.Float32(), 5, func(f float32) bool { return Float16From(f) == h })
}

// BFloat16From rounds f to the nearest BFloat16, ties to even. Values too
// large become ±Inf, the sign of zero is kept, and a NaN stays a NaN: quiet,
// with its sign and the top 6 bits of its payload.
func BFloat16From(f float32) BFloat16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return BFloat16(b>>16 | 0x40)
	}
	b += 0x7fff + (b>>16)&1
	return BFloat16(b >> 16)
}

// Float32 is b as a float32, exactly.
func (b BFloat16) Float32() float32 { return math.Float32frombits(uint32(b) << 16) }

// String formats b with the fewest digits that read back as b, e.g. "0.1"
// for BFloat16From(0.1); also "+Inf", "-Inf" and "NaN".
func (b BFloat16) String() string {
	return shortest(b.Float32(), 4, func(f float32) bool { return BFloat16From(f) == b })
}

// shortest formats f with the fewest significant digits, from 1 up, that
// same accepts after parsing, laid out as Go formats a float64 with 'g'
// and precision -1 (as numpy prints float16: 65504 is "65500"). digits is
// the count that always suffices for the 16-bit type; the float32 form is
// the fallback.
func shortest(f float32, digits int, same func(float32) bool) string {
	if f != f || math.IsInf(float64(f), 0) || f == 0 {
		return strconv.FormatFloat(float64(f), 'g', -1, 32)
	}
	for p := 1; p <= digits; p++ {
		s := strconv.FormatFloat(float64(f), 'e', p-1, 32)
		// The decimal has at most 5 digits, so v is the float64 nearest
		// it, and formatting v shortest gives those digits back.
		if v, err := strconv.ParseFloat(s, 64); err == nil && same(float32(v)) {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	return strconv.FormatFloat(float64(f), 'g', -1, 32)
}

// Float16sToFloat32 sets dst[i] = src[i].Float32() for every i < len(src).
// It panics if dst is shorter than src. It looks the values up in a 256 KiB
// table, built on first use: more than twice as fast as the arithmetic,
// whose branches also mispredict on data that mixes zeros and normals.
func Float16sToFloat32(dst []float32, src []Float16) {
	dst = dst[:len(src)]
	if len(src) == 0 {
		return
	}
	t := float16Table()
	for i, h := range src {
		dst[i] = math.Float32frombits(t[h])
	}
}

// float16Table holds the float32 bits of every Float16. It is read-only
// once built.
var float16Table = sync.OnceValue(func() *[1 << 16]uint32 {
	t := new([1 << 16]uint32)
	for i := range t {
		t[i] = math.Float32bits(Float16(i).Float32())
	}
	return t
})

// Float32ToFloat16s sets dst[i] = Float16From(src[i]) for every i <
// len(src). It panics if dst is shorter than src.
func Float32ToFloat16s(dst []Float16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		// Float16From, with its normal path written out: it is too big
		// for the compiler to inline.
		b := math.Float32bits(f)
		sign := uint16(b>>16) & 0x8000
		b &= 0x7fffffff
		if b-0x38800000 < 0x47800000-0x38800000 {
			dst[i] = Float16(sign | uint16((b+0xfff+(b>>13)&1-(127-15)<<23)>>13))
		} else {
			dst[i] = Float16(sign | float16Edge(b))
		}
	}
}

// BFloat16sToFloat32 sets dst[i] = src[i].Float32() for every i < len(src).
// It panics if dst is shorter than src.
func BFloat16sToFloat32(dst []float32, src []BFloat16) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = math.Float32frombits(uint32(b) << 16)
	}
}

// Float32ToBFloat16s sets dst[i] = BFloat16From(src[i]) for every i <
// len(src). It panics if dst is shorter than src.
func Float32ToBFloat16s(dst []BFloat16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = BFloat16From(f)
	}
}
