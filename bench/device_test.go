package bench

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/device/cuda"
)

// A reference row measured by the workers travels in its RESULT line and
// comes back with its Impl; gshmem's rows keep the caller's.
func TestReferenceLinesRoundTrip(t *testing.T) {
	rs := []Result{
		{Impl: ImplGshmem, Op: OpStreamAllreduce, Bytes: 4096, Iters: 3, NsPerOp: 1000},
		{Impl: ImplHostAllreduce, Op: OpStreamAllreduce, Bytes: 4096, Iters: 5, NsPerOp: 2000},
	}
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Line() + "\n")
	}
	got, err := ParseResults(strings.NewReader(b.String()), ImplGshmem, 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, ImplGshmem, got[0].Impl)
	assert.Equal(t, ImplHostAllreduce, got[1].Impl)
	assert.Equal(t, OpStreamAllreduce, got[1].Op)
	assert.InDelta(t, 2*float64(4096)/1000*1e9/2, got[0].BusBandwidth(), 1, "stream allreduce reports bus bandwidth")
}

func TestRoofline(t *testing.T) {
	// An H100 SXM: 2619 MHz memory clock, 5120-bit bus: about 3.35 TB/s.
	assert.InDelta(t, 3.35e12, roofline(cudaInfo(2_619_000, 5120)), 0.01e12)
	assert.Zero(t, roofline(cudaInfo(0, 0)), "a driver that does not say gives no roofline row")
}

// cudaInfo is an Info with the two fields roofline reads.
func cudaInfo(clockKHz, busBits int) cuda.Info {
	return cuda.Info{MemoryClockKHz: clockKHz, MemoryBusWidthBits: busBits}
}
