package hostshmem

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allReduceOps = []ReduceOp{OpSum, OpProd, OpMin, OpMax, OpAnd, OpOr, OpXor}

func TestReduceOpString(t *testing.T) {
	var names []string
	for _, op := range allReduceOps {
		names = append(names, op.String())
	}
	assert.Equal(t, []string{"sum", "prod", "min", "max", "and", "or", "xor"}, names)
	assert.Equal(t, "ReduceOp(42)", ReduceOp(42).String())
	assert.Equal(t, "ReduceOp(-1)", ReduceOp(-1).String())
}

// reduceRef is the serial reference for one element: the reduction of xs
// (one value from each source, in order) with op.
type reduceRef[T Elem] func(op ReduceOp, xs []T) T

// fold is the reference for everything but Float16 and BFloat16: combine
// left to right with a two-argument op.
func fold[T Elem](f func(op ReduceOp, a, b T) T) reduceRef[T] {
	return func(op ReduceOp, xs []T) T {
		v := xs[0]
		for _, x := range xs[1:] {
			v = f(op, v, x)
		}
		return v
	}
}

func refInt[T kernInteger](op ReduceOp, a, b T) T {
	switch op {
	case OpSum:
		return a + b
	case OpProd:
		return a * b
	case OpMin:
		if b < a {
			return b
		}
		return a
	case OpMax:
		if b > a {
			return b
		}
		return a
	case OpAnd:
		return a & b
	case OpOr:
		return a | b
	case OpXor:
		return a ^ b
	}
	panic(op)
}

// refMinMax is min (or max) as Go's builtins define it on floats: a NaN
// wins, and -0 is less than +0.
func refMinMax(isMax bool, a, b float64) float64 {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return math.NaN()
	case a == b && a == 0:
		if math.Signbit(a) != isMax {
			return a
		}
		return b
	case (b < a) != isMax:
		return b
	}
	return a
}

func refFloat[T kernFloat](op ReduceOp, a, b T) T {
	switch op {
	case OpSum:
		return a + b
	case OpProd:
		return a * b
	case OpMin, OpMax:
		return T(refMinMax(op == OpMax, float64(a), float64(b)))
	}
	panic(op)
}

func refComplex[T kernComplex](op ReduceOp, a, b T) T {
	switch op {
	case OpSum:
		return a + b
	case OpProd:
		return a * b
	}
	panic(op)
}

// refHalf accumulates in float64 and rounds once, to float32 and then to
// 16 bits.
func refHalf[H Float16 | BFloat16](op ReduceOp, xs []H) H {
	wide := func(h H) float64 {
		if b, ok := any(h).(BFloat16); ok {
			return float64(b.Float32())
		}
		return float64(Float16(h).Float32())
	}
	v := wide(xs[0])
	for _, x := range xs[1:] {
		switch w := wide(x); op {
		case OpSum:
			v += w
		case OpProd:
			v *= w
		default:
			v = refMinMax(op == OpMax, v, w)
		}
	}
	var z H
	if _, ok := any(z).(BFloat16); ok {
		return H(BFloat16From(float32(v)))
	}
	return H(Float16From(float32(v)))
}

func genInt[T kernInteger](r *rand.Rand) T { return T(r.Uint64()) }

// genHalves draws from -4 .. 4 in steps of 1/2, sometimes a signed zero,
// an infinity or a NaN: sums and products of a dozen of them are exact in
// float32.
func genHalves(r *rand.Rand) float64 {
	switch r.IntN(64) {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1 - 2*r.IntN(2))
	case 2, 3:
		return math.Copysign(0, float64(1-2*r.IntN(2)))
	}
	return float64(r.IntN(17)-8) / 2
}

// genSmall draws ±1/2 .. ±2 in steps of 1/2: products of a dozen of them
// have at most 21 significant bits, exact in float32.
func genSmall(r *rand.Rand) float64 {
	return float64((r.IntN(4)+1)*(1-2*r.IntN(2))) / 2
}

func genFloat[T kernFloat](r *rand.Rand) T { return T(genHalves(r)) }

func genComplex[T kernComplex](r *rand.Rand) T {
	return T(complex(float64(r.IntN(9)-4), float64(r.IntN(9)-4)))
}

// genUnit draws parts from -1, 0, 1: products of a dozen are exact.
func genUnit[T kernComplex](r *rand.Rand) T {
	return T(complex(float64(r.IntN(3)-1), float64(r.IntN(3)-1)))
}

func genSmallFloat[T kernFloat](r *rand.Rand) T { return T(genSmall(r)) }

func genFloat16(r *rand.Rand) Float16   { return Float16From(float32(genHalves(r))) }
func genBFloat16(r *rand.Rand) BFloat16 { return BFloat16From(float32(genHalves(r))) }

// sameElem is bitwise equality, except that any NaN equals any NaN.
func sameElem[T Elem](a, b T) bool {
	if bitsOf(&a) == bitsOf(&b) || a != a && b != b {
		return true
	}
	switch c, _ := classOf[T](); c {
	case classFloat16, classBFloat16:
		f := fmtFloat16
		if c == classBFloat16 {
			f = fmtBFloat16
		}
		return f.isNaN(*(*uint16)(unsafe.Pointer(&a))) && f.isNaN(*(*uint16)(unsafe.Pointer(&b)))
	}
	return false
}

// bitsOf is *p's bytes, up to 16 of them.
func bitsOf[T Elem](p *T) (b [16]byte) {
	copy(b[:], unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p)))
	return b
}

// opDefined is the table the kernels must follow, written out.
func opDefined(c elemClass, op ReduceOp) bool {
	switch op {
	case OpSum, OpProd:
		return true
	case OpMin, OpMax:
		return c != classComplex
	}
	return c == classInteger
}

type (
	myFloat32 float32
	myInt16   int16
	myUint    uint
	myC128    complex128
)

func TestReduceAllTypes(t *testing.T) {
	t.Run("int8", func(t *testing.T) { testReduce(t, fold(refInt[int8]), genInt[int8], nil) })
	t.Run("int16", func(t *testing.T) { testReduce(t, fold(refInt[int16]), genInt[int16], nil) })
	t.Run("int32", func(t *testing.T) { testReduce(t, fold(refInt[int32]), genInt[int32], nil) })
	t.Run("int64", func(t *testing.T) { testReduce(t, fold(refInt[int64]), genInt[int64], nil) })
	t.Run("int", func(t *testing.T) { testReduce(t, fold(refInt[int]), genInt[int], nil) })
	t.Run("uint8", func(t *testing.T) { testReduce(t, fold(refInt[uint8]), genInt[uint8], nil) })
	t.Run("uint16", func(t *testing.T) { testReduce(t, fold(refInt[uint16]), genInt[uint16], nil) })
	t.Run("uint32", func(t *testing.T) { testReduce(t, fold(refInt[uint32]), genInt[uint32], nil) })
	t.Run("uint64", func(t *testing.T) { testReduce(t, fold(refInt[uint64]), genInt[uint64], nil) })
	t.Run("uint", func(t *testing.T) { testReduce(t, fold(refInt[uint]), genInt[uint], nil) })
	t.Run("uintptr", func(t *testing.T) { testReduce(t, fold(refInt[uintptr]), genInt[uintptr], nil) })
	t.Run("float32", func(t *testing.T) { testReduce(t, fold(refFloat[float32]), genFloat[float32], genSmallFloat[float32]) })
	t.Run("float64", func(t *testing.T) { testReduce(t, fold(refFloat[float64]), genFloat[float64], genSmallFloat[float64]) })
	t.Run("complex64", func(t *testing.T) {
		testReduce(t, fold(refComplex[complex64]), genComplex[complex64], genUnit[complex64])
	})
	t.Run("complex128", func(t *testing.T) {
		testReduce(t, fold(refComplex[complex128]), genComplex[complex128], genUnit[complex128])
	})
	t.Run("Float16", func(t *testing.T) {
		testReduce(t, refHalf[Float16], genFloat16, func(r *rand.Rand) Float16 {
			return Float16From(float32(genSmall(r)))
		})
	})
	t.Run("BFloat16", func(t *testing.T) {
		testReduce(t, refHalf[BFloat16], genBFloat16, func(r *rand.Rand) BFloat16 {
			return BFloat16From(float32(genSmall(r)))
		})
	})
	// Defined types reduce as their underlying types.
	t.Run("myFloat32", func(t *testing.T) {
		testReduce(t, fold(refFloat[myFloat32]), genFloat[myFloat32], genSmallFloat[myFloat32])
	})
	t.Run("myInt16", func(t *testing.T) { testReduce(t, fold(refInt[myInt16]), genInt[myInt16], nil) })
	t.Run("myUint", func(t *testing.T) { testReduce(t, fold(refInt[myUint]), genInt[myUint], nil) })
	t.Run("myC128", func(t *testing.T) { testReduce(t, fold(refComplex[myC128]), genComplex[myC128], genUnit[myC128]) })
}

// testReduce checks every op on T against ref: undefined ones fail with
// ErrInvalidArg, defined ones match ref element for element for several
// source counts and lengths, written to a fresh dst and in place over the
// first, a middle and the last source. genProd, if set, draws the inputs
// of products.
func testReduce[T Elem](t *testing.T, ref reduceRef[T], gen, genProd func(*rand.Rand) T) {
	var z T
	c, _ := classOf[T]()
	r := rand.New(rand.NewPCG(uint64(c), uint64(unsafe.Sizeof(z))))
	// A length past the block size of the path T takes, not a multiple of
	// it, for source counts that cover the ways blocks end: k = 5, 9 and
	// 13 leave 1, 2 and 3 sources after the full groups of the scratch
	// path; the 16-bit path has blocks from k = 2 and goes 3 sources at a
	// time from the second. The blocking is the same for every op, so two
	// ops suffice; short lengths test every op's kernels.
	long, longK := scratchBytes/int(unsafe.Sizeof(z))+5, []int{5, 9, 13}
	if c == classFloat16 || c == classBFloat16 {
		long, longK = 2*halfBlock+7, []int{2, 3, 5, 9}
	}
	for _, op := range allReduceOps {
		if !opDefined(c, op) {
			for _, err := range []error{
				checkReduceOp[T](op),
				reduceN(op, make([]T, 4), [][]T{make([]T, 4), make([]T, 4)}),
			} {
				require.ErrorIs(t, err, ErrInvalidArg)
				require.ErrorContains(t, err, fmt.Sprintf("%v is not defined for %T", op, z))
			}
			continue
		}
		require.NoError(t, checkReduceOp[T](op))
		g := gen
		if op == OpProd && genProd != nil {
			g = genProd
		}
		for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 13} {
			lens := []int{0, 1, 13}
			if (op == OpSum || op == OpMin) && slices.Contains(longK, k) {
				lens = append(lens, long)
			}
			for _, n := range lens {
				srcs := make([][]T, k)
				for j := range srcs {
					srcs[j] = make([]T, n+j%2) // some sources longer than dst
					for i := range srcs[j] {
						srcs[j][i] = g(r)
					}
				}
				want := make([]T, n)
				xs := make([]T, k)
				for i := range want {
					for j := range srcs {
						xs[j] = srcs[j][i]
					}
					want[i] = ref(op, xs)
				}
				check := func(how string, got []T) {
					t.Helper()
					for i := range want {
						if !sameElem(got[i], want[i]) {
							t.Fatalf("%v k=%d n=%d %s: element %d: got %v, want %v (inputs %v)",
								op, k, n, how, i, got[i], want[i], column(srcs, i))
						}
					}
				}
				dst := make([]T, n)
				require.NoError(t, reduceN(op, dst, srcs))
				check("fresh dst", dst)
				if n < 13 {
					continue
				}
				for _, a := range []int{0, k / 2, k - 1} {
					in := make([][]T, k)
					for j := range srcs {
						in[j] = append([]T(nil), srcs[j]...)
					}
					require.NoError(t, reduceN(op, in[a][:n], in))
					check("dst = srcs["+strconv.Itoa(a)+"]", in[a])
				}
			}
		}
	}
}

func column[T Elem](srcs [][]T, i int) []T {
	var col []T
	for _, s := range srcs {
		col = append(col, s[i])
	}
	return col
}

// TestReduceRoundOnce: a 16-bit sum rounds once, at the end, not after
// each source. Per-step rounding would lose every 1 added to 2048 (ulp 2
// there, ties to even), and every 1 added to 256 in bfloat16.
func TestReduceRoundOnce(t *testing.T) {
	f16 := []Float16{Float16From(2048)}
	bf16 := []BFloat16{BFloat16From(256)}
	for range 8 {
		f16 = append(f16, Float16From(1))
		bf16 = append(bf16, BFloat16From(1))
	}
	stepF16 := f16[0]
	for _, x := range f16[1:] {
		stepF16 = Float16From(stepF16.Float32() + x.Float32())
	}
	require.Equal(t, Float16From(2048), stepF16, "per-step rounding would lose the ones")

	gotF16 := make([]Float16, 1)
	require.NoError(t, reduceN(OpSum, gotF16, columns(f16)))
	assert.Equal(t, Float16From(2056), gotF16[0])

	gotBF16 := make([]BFloat16, 1)
	require.NoError(t, reduceN(OpSum, gotBF16, columns(bf16)))
	assert.Equal(t, BFloat16From(264), gotBF16[0])

	// Eight copies of 0.1: the once-rounded float64 sum, not the
	// step-rounded one.
	tenth := make([]Float16, 8)
	for i := range tenth {
		tenth[i] = Float16From(0.1)
	}
	step := tenth[0]
	for _, x := range tenth[1:] {
		step = Float16From(step.Float32() + x.Float32())
	}
	want := refHalf(OpSum, tenth)
	require.NotEqual(t, step, want, "test values must tell the two apart")
	require.NoError(t, reduceN(OpSum, gotF16, columns(tenth)))
	assert.Equal(t, want, gotF16[0], "got %v, step-rounded %v, once-rounded %v", gotF16[0], step, want)

	// A product: 1.001 (in Float16, 1+2⁻¹⁰) to the 8th is 1+8·2⁻¹⁰+...,
	// rounded once.
	p := make([]Float16, 8)
	for i := range p {
		p[i] = Float16From(1 + 0x1p-10)
	}
	require.NoError(t, reduceN(OpProd, gotF16, columns(p)))
	assert.Equal(t, refHalf(OpProd, p), gotF16[0])
}

// columns makes one single-element source per value.
func columns[T Elem](xs []T) [][]T {
	srcs := make([][]T, len(xs))
	for i := range xs {
		srcs[i] = xs[i : i+1]
	}
	return srcs
}

func TestReduceFloatMinMax(t *testing.T) {
	nan, negZero := math.NaN(), math.Copysign(0, -1)
	for _, c := range []struct {
		op   ReduceOp
		in   []float64
		want float64
	}{
		{OpMin, []float64{1, nan, 0}, nan},
		{OpMax, []float64{nan, 1, 2}, nan},
		{OpMin, []float64{3, 2, nan}, nan},
		{OpMin, []float64{0, negZero}, negZero},
		{OpMin, []float64{negZero, 0}, negZero},
		{OpMax, []float64{negZero, 0}, 0},
		{OpMax, []float64{0, negZero, negZero}, 0},
		{OpMin, []float64{math.Inf(1), -5, 7}, -5},
		{OpMax, []float64{math.Inf(-1), -5, 7, 1, 2}, 7},
	} {
		for _, check := range []func(t *testing.T){
			func(t *testing.T) { checkMinMax[float64](t, c.op, c.in, c.want) },
			func(t *testing.T) { checkMinMax[float32](t, c.op, c.in, c.want) },
			func(t *testing.T) { checkMinMaxHalf[Float16](t, Float16From, c.op, c.in, c.want) },
			func(t *testing.T) { checkMinMaxHalf[BFloat16](t, BFloat16From, c.op, c.in, c.want) },
		} {
			check(t)
		}
	}
}

func checkMinMax[T kernFloat](t *testing.T, op ReduceOp, in []float64, want float64) {
	xs := make([]T, len(in))
	for i, x := range in {
		xs[i] = T(x)
	}
	got := make([]T, 1)
	require.NoError(t, reduceN(op, got, columns(xs)))
	g := float64(got[0])
	if math.IsNaN(want) {
		assert.True(t, math.IsNaN(g), "%T %v%v = %v, want NaN", got[0], op, in, g)
		return
	}
	assert.Equal(t, want, g, "%T %v%v", got[0], op, in)
	assert.Equal(t, math.Signbit(want), math.Signbit(g), "%T %v%v sign", got[0], op, in)
}

func checkMinMaxHalf[H Float16 | BFloat16](t *testing.T, from func(float32) H, op ReduceOp, in []float64, want float64) {
	xs := make([]H, len(in))
	for i, x := range in {
		xs[i] = from(float32(x))
	}
	got := make([]H, 1)
	require.NoError(t, reduceN(op, got, columns(xs)))
	w := from(float32(want))
	if math.IsNaN(want) {
		assert.True(t, sameElem(got[0], w), "%T %v%v = %v, want NaN", got[0], op, in, got[0])
		return
	}
	assert.Equal(t, w, got[0], "%T %v%v", got[0], op, in)
}

func TestReduceIntWraps(t *testing.T) {
	got := make([]int8, 2)
	require.NoError(t, reduceN(OpSum, got, [][]int8{{127, -128}, {1, -1}}))
	assert.Equal(t, []int8{-128, 127}, got)
	require.NoError(t, reduceN(OpProd, got, [][]int8{{16, -128}, {16, -1}}))
	assert.Equal(t, []int8{0, -128}, got)
	u := make([]uint32, 1)
	require.NoError(t, reduceN(OpSum, u, [][]uint32{{math.MaxUint32}, {2}, {5}}))
	assert.Equal(t, []uint32{6}, u)
}

func TestReduceErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{checkReduceOp[float32](OpXor), "gshmem: reduce: invalid argument: xor is not defined for float32"},
		{checkReduceOp[complex128](OpMin), "gshmem: reduce: invalid argument: min is not defined for complex128"},
		{checkReduceOp[Float16](OpAnd), "gshmem: reduce: invalid argument: and is not defined for hostshmem.Float16"},
		{checkReduceOp[BFloat16](OpOr), "gshmem: reduce: invalid argument: or is not defined for hostshmem.BFloat16"},
		{checkReduceOp[myFloat32](OpOr), "gshmem: reduce: invalid argument: or is not defined for hostshmem.myFloat32"},
		{checkReduceOp[int](ReduceOp(42)), "gshmem: reduce: invalid argument: unknown op ReduceOp(42)"},
		{reduceN(ReduceOp(-1), []int{1}, [][]int{{1}}), "gshmem: reduce: invalid argument: unknown op ReduceOp(-1)"},
		{reduceN(OpSum, []int{1}, nil), "gshmem: reduce: invalid argument: no sources"},
		{reduceN(OpSum, make([]int, 3), [][]int{make([]int, 3), make([]int, 2)}),
			"gshmem: reduce: invalid argument: source 1 has 2 elements, destination 3"},
	} {
		require.Error(t, c.err)
		assert.True(t, errors.Is(c.err, ErrInvalidArg), "%v", c.err)
		assert.Equal(t, c.want, c.err.Error())
	}
	// A failed reduction leaves dst alone.
	dst := []float32{7}
	require.Error(t, reduceN(OpAnd, dst, [][]float32{{1}, {2}}))
	assert.Equal(t, []float32{7}, dst)
	// An empty dst is fine with any sources.
	require.NoError(t, reduceN(OpSum, []int{}, [][]int{nil, {1}}))
	require.NoError(t, checkReduceOp[uintptr](OpXor))
}

func TestReduceNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race sync.Pool drops items at random, so the pooled blocks allocate; checked in normal builds")
	}
	const n = 5000
	mk := func(k int) ([]float32, [][]float32) {
		srcs := make([][]float32, k)
		for j := range srcs {
			srcs[j] = make([]float32, n)
		}
		return make([]float32, n), srcs
	}
	d2, s2 := mk(2)
	d9, s9 := mk(9)
	h := make([]Float16, n)
	hs := [][]Float16{h, h, h, h, h}
	i := make([]int64, n)
	is := [][]int64{i, i, i, i, i, i}
	assert.Zero(t, testing.AllocsPerRun(20, func() {
		_ = reduceN(OpSum, d2, s2)
		_ = reduceN(OpMax, d9, s9)
		_ = reduceN(OpProd, h, hs)
		_ = reduceN(OpXor, i, is)
	}))
}

// The benchmarks reduce 1 MiB of dst: BenchmarkReduceN the production
// path, BenchmarkReduceNStrategy the alternatives it was chosen over.
const benchBytes = 1 << 20

func benchSrcs[T Elem](k, n int, gen func(i int) T) [][]T {
	srcs := make([][]T, k)
	for j := range srcs {
		srcs[j] = make([]T, n)
		for i := range srcs[j] {
			srcs[j][i] = gen(i + j)
		}
	}
	return srcs
}

func BenchmarkReduceN(b *testing.B) {
	for _, k := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("float32/sum/k=%d", k), func(b *testing.B) {
			benchReduce(b, OpSum, k, func(i int) float32 { return float32(i % 7) })
		})
	}
	for _, k := range []int{2, 8} {
		b.Run(fmt.Sprintf("float32/max/k=%d", k), func(b *testing.B) {
			benchReduce(b, OpMax, k, func(i int) float32 { return float32(i % 7) })
		})
		b.Run(fmt.Sprintf("int32/sum/k=%d", k), func(b *testing.B) {
			benchReduce(b, OpSum, k, func(i int) int32 { return int32(i) })
		})
		b.Run(fmt.Sprintf("float64/sum/k=%d", k), func(b *testing.B) {
			benchReduce(b, OpSum, k, func(i int) float64 { return float64(i % 7) })
		})
		b.Run(fmt.Sprintf("Float16/sum/k=%d", k), func(b *testing.B) {
			benchReduce(b, OpSum, k, func(i int) Float16 { return Float16From(float32(i % 7)) })
		})
		b.Run(fmt.Sprintf("BFloat16/sum/k=%d", k), func(b *testing.B) {
			benchReduce(b, OpSum, k, func(i int) BFloat16 { return BFloat16From(float32(i % 7)) })
		})
	}
}

// BenchmarkReduceNSmall is the fixed cost of a call: 16 elements.
func BenchmarkReduceNSmall(b *testing.B) {
	for _, k := range []int{2, 8} {
		srcs := benchSrcs(k, 16, func(i int) float32 { return float32(i) })
		dst := make([]float32, 16)
		b.Run(fmt.Sprintf("float32/sum/k=%d", k), func(b *testing.B) {
			for b.Loop() {
				_ = reduceN(OpSum, dst, srcs)
			}
		})
		hs := benchSrcs(k, 16, func(i int) Float16 { return Float16From(float32(i)) })
		hd := make([]Float16, 16)
		b.Run(fmt.Sprintf("Float16/sum/k=%d", k), func(b *testing.B) {
			for b.Loop() {
				_ = reduceN(OpSum, hd, hs)
			}
		})
	}
}

func benchReduce[T Elem](b *testing.B, op ReduceOp, k int, gen func(int) T) {
	var z T
	n := benchBytes / int(unsafe.Sizeof(z))
	srcs := benchSrcs(k, n, gen)
	dst := make([]T, n)
	b.SetBytes(benchBytes)
	for b.Loop() {
		if err := reduceN(op, dst, srcs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReduceNStrategy compares ways to sum k float32 sources:
//
//   - fused4: the production path (up to 4 sources per pass, in blocks);
//   - pairwise: dst = s0+s1 over the whole length, then dst += sj for each
//     further source (which breaks when dst aliases a later source);
//   - blocked2: like fused4 but two sources per pass.
func BenchmarkReduceNStrategy(b *testing.B) {
	n := benchBytes / 4
	for _, k := range []int{2, 4, 8} {
		srcs := benchSrcs(k, n, func(i int) float32 { return float32(i % 7) })
		dst := make([]float32, n)
		b.Run(fmt.Sprintf("fused4/k=%d", k), func(b *testing.B) {
			b.SetBytes(benchBytes)
			for b.Loop() {
				_ = reduceN(OpSum, dst, srcs)
			}
		})
		b.Run(fmt.Sprintf("pairwise/k=%d", k), func(b *testing.B) {
			b.SetBytes(benchBytes)
			for b.Loop() {
				kernSum2(dst, srcs[0], srcs[1])
				for _, s := range srcs[2:] {
					kernSum2(dst, dst, s)
				}
			}
		})
		b.Run(fmt.Sprintf("blocked2/k=%d", k), func(b *testing.B) {
			b.SetBytes(benchBytes)
			var acc [scratchBytes / 4]float32
			for b.Loop() {
				for lo := 0; lo < n; lo += len(acc) {
					hi := min(lo+len(acc), n)
					a := acc[:hi-lo]
					kernSum2(a, srcs[0][lo:hi], srcs[1][lo:hi])
					for _, s := range srcs[2:] {
						kernSum2(a, a, s[lo:hi])
					}
					copy(dst[lo:hi], a)
				}
			}
		})
	}
}
