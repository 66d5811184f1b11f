package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestMemmove(t *testing.T) {
	sizes := []int{8, 4096, 0, 1 << 20}
	got := memmove(sizes, time.Millisecond, 2)
	if assert.Len(t, got, 3, "size 0 is skipped") {
		for i, n := range []int{8, 4096, 1 << 20} {
			r := got[i]
			assert.Equal(t, ImplMemmove, r.Impl)
			assert.Equal(t, OpMemmove, r.Op)
			assert.Equal(t, 1, r.PEs)
			assert.Equal(t, n, r.Bytes)
			assert.GreaterOrEqual(t, r.Iters, 5)
			assert.Greater(t, r.NsPerOp, 0.0)
			assert.Greater(t, r.Bandwidth(), 0.0)
		}
	}
	assert.Empty(t, memmove(nil, time.Millisecond, 2))
}
