package algo

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gshmem/gshmem/hostshmem"
)

// The harness reduces one period of the inputs and tiles the result: the
// inputs must repeat with that period.
func TestInputsPeriod(t *testing.T) {
	for _, op := range []hostshmem.ReduceOp{hostshmem.OpSum, hostshmem.OpProd, hostshmem.OpMin, hostshmem.OpMax, hostshmem.OpAnd, hostshmem.OpOr, hostshmem.OpXor} {
		in := newInputs[int32](op)
		p := in.period()
		for seed := range 3 {
			for j := range 40 {
				for k := range 3 * p {
					assert.Equal(t, in.value(seed, j, k), in.value(seed, j, k+p), "%v seed %d member %d element %d", op, seed, j, k)
				}
			}
		}
	}
}

// The poison value is never a result the inputs can give, on up to 24
// members, so an element left unwritten cannot pass.
func TestPoisonUnreachable(t *testing.T) {
	for _, op := range []hostshmem.ReduceOp{hostshmem.OpSum, hostshmem.OpProd, hostshmem.OpMin, hostshmem.OpMax, hostshmem.OpAnd, hostshmem.OpOr, hostshmem.OpXor} {
		in := newInputs[int64](op)
		for members := 1; members <= 24; members++ {
			for seed := range 3 {
				for k := range in.period() {
					srcs := make([][]int64, members)
					for j := range srcs {
						srcs[j] = []int64{in.value(seed, j, k)}
					}
					got := []int64{0}
					assert.NoError(t, ReduceN(op, got, srcs))
					assert.NotEqual(t, in.poison, got[0], "%v on %d members, seed %d, element %d", op, members, seed, k)
				}
			}
		}
	}
}

// Every input and every partial result the harness can produce is exact
// in BFloat16 (8 significant bits), the narrowest type it checks, so any
// combining order gives the reference's bits.
func TestInputsExactInBFloat16(t *testing.T) {
	for _, op := range []hostshmem.ReduceOp{hostshmem.OpSum, hostshmem.OpProd, hostshmem.OpMin, hostshmem.OpMax} {
		in := newInputs[float32](op)
		for members := 1; members <= 8; members++ {
			for seed := range 3 {
				for k := range in.period() {
					acc := in.value(seed, 0, k)
					for j := 1; j < members; j++ {
						v := in.value(seed, j, k)
						switch op {
						case hostshmem.OpSum:
							acc += v
						case hostshmem.OpProd:
							acc *= v
						case hostshmem.OpMin:
							acc = min(acc, v)
						default:
							acc = max(acc, v)
						}
						assert.Equal(t, acc, hostshmem.BFloat16From(acc).Float32(), "%v partial on %d members", op, j+1)
					}
				}
			}
		}
	}
}
