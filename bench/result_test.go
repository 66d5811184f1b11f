package bench

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseResults(t *testing.T) {
	in := `# shmem_bench npes=2 spec=1.4
--------------------------------------------------------------------------
WARNING: a warning from the MPI runtime
RESULT put 8 729243 50.052

RESULT barrier 0 77051 398.328
  RESULT putbw 1048576 731 41223.94
RESULTS are not results
`
	got, err := ParseResults(strings.NewReader(in), ImplShmem, 2)
	require.NoError(t, err)
	assert.Equal(t, []Result{
		{Impl: ImplShmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 729243, NsPerOp: 50.052},
		{Impl: ImplShmem, Op: OpBarrier, PEs: 2, Bytes: 0, Iters: 77051, NsPerOp: 398.328},
		{Impl: ImplShmem, Op: OpPutBW, PEs: 2, Bytes: 1048576, Iters: 731, NsPerOp: 41223.94},
	}, got)
}

func TestParseResultsMalformed(t *testing.T) {
	for _, tc := range []struct{ line, why string }{
		{"RESULT put 8 100", "want 5 fields"},
		{"RESULT put 8 100 1.5 extra", "want 5 fields"},
		{"RESULT", "want 5 fields"},
		{"RESULT put eight 100 1.5", `bytes "eight"`},
		{"RESULT put -8 100 1.5", `bytes "-8"`},
		{"RESULT put 8 0 1.5", `iters "0"`},
		{"RESULT put 8 1e3 1.5", `iters "1e3"`},
		{"RESULT put 8 100 fast", `ns_per_op "fast"`},
		{"RESULT put 8 100 0", `ns_per_op "0"`},
		{"RESULT put 8 100 NaN", `ns_per_op "NaN"`},
		{"RESULT put 8 100 +Inf", `ns_per_op "+Inf"`},
	} {
		in := "# banner\nRESULT get 8 10 20.5\n" + tc.line + "\nRESULT fadd 8 10 30\n"
		got, err := ParseResults(strings.NewReader(in), ImplShmem, 2)
		require.Error(t, err, tc.line)
		assert.Contains(t, err.Error(), "line 3", tc.line)
		assert.Contains(t, err.Error(), `"`+tc.line+`"`, "error names the line")
		assert.Contains(t, err.Error(), tc.why, tc.line)
		assert.Len(t, got, 1, "results before the bad line are returned")
	}
}

func TestResultLineRoundTrip(t *testing.T) {
	r := Result{Impl: ImplGshmem, Op: OpPutBW, PEs: 4, Bytes: 4096, Iters: 12345, NsPerOp: 81.25}
	assert.Equal(t, "RESULT putbw 4096 12345 81.250", r.Line())
	got, err := ParseResults(strings.NewReader(r.Line()), ImplGshmem, 4)
	require.NoError(t, err)
	assert.Equal(t, []Result{r}, got)
}

func TestBandwidth(t *testing.T) {
	r := Result{Op: OpPutBW, PEs: 2, Bytes: 1 << 20, NsPerOp: 1e5}
	assert.InDelta(t, 1048576e4, r.Bandwidth(), 1)
	assert.Equal(t, r.Bandwidth(), r.BusBandwidth(), "a put's bus bandwidth is its bandwidth")

	ar := Result{Op: OpAllreduce, PEs: 4, Bytes: 1e6, NsPerOp: 1e6}
	assert.InDelta(t, 1e9, ar.Bandwidth(), 1e-3)
	assert.InDelta(t, 1.5e9, ar.BusBandwidth(), 1e-3, "2(N-1)/N for N=4")
	ar.PEs = 2
	assert.InDelta(t, 1e9, ar.BusBandwidth(), 1e-3, "2(N-1)/N for N=2")

	assert.Zero(t, Result{Bytes: 8}.Bandwidth(), "no time, no bandwidth")
}

func TestSizes(t *testing.T) {
	assert.Equal(t, 8, Sizes[0])
	assert.Equal(t, 64<<20, Sizes[len(Sizes)-1])
	assert.Len(t, Sizes, 24)
	for i := 1; i < len(Sizes); i++ {
		assert.Equal(t, 2*Sizes[i-1], Sizes[i])
	}
}

func TestExpandOps(t *testing.T) {
	ops, err := ExpandOps([]string{"coll"})
	require.NoError(t, err)
	assert.Equal(t, []string{OpBarrier, OpSync, OpBcast, OpReduce, OpFCollect, OpAlltoall, OpBcastBW, OpAllreduce}, ops)
	ops, err = ExpandOps([]string{OpPutBW, "p2p", OpFCollect, OpPut})
	require.NoError(t, err)
	assert.Equal(t, []string{OpPut, OpP, OpGet, OpG, OpFetchAdd, OpBarrier, OpFCollect, OpPutBW}, ops, "GshmemOps order, once each")
	ops, err = ExpandOps([]string{"all"})
	require.NoError(t, err)
	assert.Equal(t, GshmemOps, ops)
	_, err = ExpandOps([]string{"put", "colls"})
	assert.ErrorContains(t, err, `unknown benchmark "colls"`)
}

func TestOpSizes(t *testing.T) {
	sizes, csizes := []int{6, 8, 1 << 20}, []int{3, 1024}
	assert.Equal(t, []int{8}, OpSizes(OpPut, sizes, csizes))
	assert.Equal(t, []int{0}, OpSizes(OpSync, sizes, csizes))
	assert.Equal(t, []int{4}, OpSizes(OpBcast, sizes, csizes))
	assert.Equal(t, []int{8}, OpSizes(OpReduce, sizes, csizes))
	assert.Equal(t, sizes, OpSizes(OpPutBW, sizes, csizes))
	assert.Equal(t, []int{8, 1 << 20}, OpSizes(OpAllreduce, sizes, csizes))
	assert.Equal(t, []int{8, 1 << 20}, OpSizes(OpBcastBW, sizes, csizes))
	assert.Equal(t, []int{1024}, OpSizes(OpFCollect, sizes, csizes))
	assert.Equal(t, []int{1024}, OpSizes(OpAlltoall, sizes, csizes))
	assert.Nil(t, OpSizes(OpMemmove, sizes, csizes))
	assert.Equal(t, []int{6, 8, 1 << 20}, sizes, "not modified")
	for _, op := range GshmemOps {
		assert.NotEmpty(t, OpSizes(op, Sizes, CollSizes), op)
	}
}

func TestBusBandwidthCollectives(t *testing.T) {
	r := Result{Op: OpAllreduce, PEs: 4, Bytes: 1000, NsPerOp: 1000}
	assert.InDelta(t, 1.5e9, r.BusBandwidth(), 1, "2(N-1)/N of 1 GB/s")
	r.Op = OpBcastBW
	assert.InDelta(t, 1e9, r.BusBandwidth(), 1, "broadcast: the algorithm bandwidth")
	assert.True(t, IsBandwidth(OpBcastBW))
	assert.False(t, IsBandwidth(OpFCollect))
	assert.False(t, IsBandwidth(OpAlltoall))
	assert.False(t, IsBandwidth(OpSync))
}

func TestMedian(t *testing.T) {
	r := func(impl string, pes int, ns float64) Result {
		return Result{Impl: impl, Op: OpBarrier, PEs: pes, NsPerOp: ns, Iters: int(ns)}
	}
	got := Median([]Result{
		r(ImplGshmem, 2, 500), r(ImplShmem, 2, 40), r(ImplGshmem, 2, 300), r(ImplGshmem, 2, 900),
		r(ImplGshmem, 4, 7), r(ImplShmem, 2, 60), r(ImplGshmem, 2, 400), r(ImplGshmem, 2, 100),
	})
	assert.Equal(t, []Result{
		r(ImplGshmem, 2, 400), // 100 300 [400] 500 900
		r(ImplShmem, 2, 40),   // [40] 60: the lower middle
		r(ImplGshmem, 4, 7),
	}, got)
	assert.Empty(t, Median(nil))
}
