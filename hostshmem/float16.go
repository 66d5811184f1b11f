package hostshmem

import (
	"math"
	"strconv"
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
	switch {
	case b >= 0x47800000: // |f| >= 2¹⁶, Inf or NaN
		if b > 0x7f800000 {
			return Float16(sign | 0x7e00 | uint16(b>>13)&0x3ff)
		}
		return Float16(sign | 0x7c00)
	case b < 0x38800000: // |f| < 2⁻¹⁴: subnormal or zero
		// Adding 0.5 puts the float32 ulp at 2⁻²⁴, the Float16 subnormal
		// step, so the float32 add rounds to the nearest subnormal (even
		// on ties); the mantissa bits are then the Float16 bits.
		v := math.Float32frombits(b) + 0.5
		return Float16(sign | uint16(math.Float32bits(v)-0x3f000000))
	default:
		// Rebias the exponent (127 → 15) and round the 13 dropped bits to
		// nearest even; a carry out of the mantissa bumps the exponent,
		// up to Inf for [65520, 65536).
		b += 0xfff + (b>>13)&1 - (127-15)<<23
		return Float16(sign | uint16(b>>13))
	}
}

// Float32 is h as a float32; every Float16 is exactly representable.
func (h Float16) Float32() float32 {
	sign := uint32(h&0x8000) << 16
	em := uint32(h&0x7fff) << 13 // exponent and mantissa, float32-aligned
	switch e := em & 0x0f800000; e {
	case 0: // zero or subnormal: mant × 2⁻²⁴, normalised by a float32 subtract
		f := math.Float32frombits(em+113<<23) - 1.0/(1<<14)
		return math.Float32frombits(math.Float32bits(f) | sign)
	case 0x0f800000: // Inf or NaN
		return math.Float32frombits(sign | em | 0x7f800000)
	default:
		return math.Float32frombits(sign | (em + (127-15)<<23))
	}
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
// It panics if dst is shorter than src.
func Float16sToFloat32(dst []float32, src []Float16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = h.Float32()
	}
}

// Float32ToFloat16s sets dst[i] = Float16From(src[i]) for every i <
// len(src). It panics if dst is shorter than src.
func Float32ToFloat16s(dst []Float16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = Float16From(f)
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
