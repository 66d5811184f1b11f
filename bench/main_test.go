package bench

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlagsConfig(t *testing.T) {
	f := newFlags("test", &bytes.Buffer{})
	require.NoError(t, f.fs.Parse([]string{"-n", "2,4", "-ops", "coll,put", "-max-size", "64k", "-target", "5ms"}))
	c, err := f.config()
	require.NoError(t, err)
	assert.Equal(t, []string{OpPut, OpBarrier, OpSync, OpBcast, OpReduce, OpFCollect, OpAlltoall, OpBcastBW, OpAllreduce}, c.Ops)
	assert.Equal(t, 8, c.Sizes[0])
	assert.Equal(t, 64<<10, c.Sizes[len(c.Sizes)-1])
	assert.Equal(t, []int{8, 1024, 64 << 10}, c.CollSizes)
	assert.Equal(t, 5*time.Millisecond, c.Target)
	counts, err := f.peCounts()
	require.NoError(t, err)
	assert.Equal(t, []int{2, 4}, counts)
	// The workers get every flag back, -n included (they ignore it), and
	// the ops of their phase.
	args := f.argsWithOps([]string{OpPut, OpBarrier})
	assert.Contains(t, args, "-n=2,4")
	assert.Contains(t, args, "-ops=put,barrier")
	assert.Contains(t, args, "-max-size=64k")
	assert.NotContains(t, args, "-ops=coll,put")
}

// A round measures the latency ops, on every side, before the sized
// ones, so that a latency row and its peers' are seconds apart.
func TestPhases(t *testing.T) {
	ps := phases([]string{OpPut, OpPutBW, OpBarrier, OpAllreduce, OpHisto, OpFCollect}, []string{OpAMRTT})
	require.Len(t, ps, 2)
	assert.Equal(t, phase{name: "latency", ops: []string{OpPut, OpBarrier, OpFCollect}}, ps[0])
	assert.Equal(t, phase{name: "bandwidth", ops: []string{OpPutBW, OpAllreduce, OpHisto}, amOps: []string{OpAMRTT}}, ps[1])

	ps = phases([]string{OpPutBW}, nil)
	assert.Equal(t, []phase{{name: "bandwidth", ops: []string{OpPutBW}}}, ps, "no empty phase")
	ps = phases(nil, []string{OpAMRTT})
	assert.Equal(t, []phase{{name: "bandwidth", amOps: []string{OpAMRTT}}}, ps)
	assert.Empty(t, phases(nil, nil))
}

// Main's rounds build each peer program once; a nil builds builds every
// time, and a failed build stays failed.
func TestBuildsOnce(t *testing.T) {
	calls := 0
	build := func() error { calls++; return nil }
	b := builds{}
	for range 3 {
		require.NoError(t, b.do("/w/a", build))
	}
	assert.Equal(t, 1, calls)
	require.NoError(t, b.do("/w/b", build))
	assert.Equal(t, 2, calls)

	var none builds
	require.NoError(t, none.do("/w/a", build))
	require.NoError(t, none.do("/w/a", build))
	assert.Equal(t, 4, calls)

	boom := errors.New("boom")
	fail := func() error { calls++; return boom }
	assert.ErrorIs(t, b.do("/w/c", fail), boom)
	assert.ErrorIs(t, b.do("/w/c", fail), boom)
	assert.Equal(t, 5, calls)
}

func TestFlagsDefaults(t *testing.T) {
	f := newFlags("test", &bytes.Buffer{})
	require.NoError(t, f.fs.Parse(nil))
	c, err := f.config()
	require.NoError(t, err)
	assert.Equal(t, GshmemOps, c.Ops, "all of them")
	assert.Equal(t, Sizes, c.Sizes)
	assert.Equal(t, CollSizes, c.CollSizes)
	counts, err := f.peCounts()
	require.NoError(t, err)
	assert.Equal(t, []int{2}, counts)
}

func TestMainBadFlags(t *testing.T) {
	for _, tc := range []struct{ args, msg string }{
		{"-n 1", `-n "1"`},
		{"-n 2,x", `-n "2,x"`},
		{"-ops barrier,colls", `unknown benchmark "colls"`},
		{"-max-size 12q", `-max-size "12q"`},
		{"-rounds 0", "-rounds 0: want at least 1"},
	} {
		var out, errOut bytes.Buffer
		code := Main(t.Context(), strings.Fields(tc.args), &out, &errOut, []string{"/nonexistent"})
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, errOut.String(), tc.msg, tc.args)
		assert.Empty(t, out.String(), tc.args)
	}
}

// -inproc measures on goroutine PEs of this process: no worker is started
// (self names no program), and the rows come back labelled as a worker's.
func TestMainInproc(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(t.Context(), strings.Fields("-inproc -n 2 -ops dev -max-size 4k -target 1ms -reps 1 -peers=false -memmove=false"),
		&out, &errOut, []string{"/nonexistent"})
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, errOut.String(), "gshmem on 2 PEs (in-process)")
	assert.Contains(t, out.String(), OpStreamAllreduce)
	assert.Contains(t, out.String(), OpDevPutBW)
}

// -rounds runs gshmem that many times per PE count and prints each row
// once: p and g, the single-element forms, are rows of their own.
func TestMainRounds(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(t.Context(), strings.Fields("-inproc -n 2 -ops p,g,putbw -max-size 64 -target 1ms -reps 1 -rounds 3 -peers=false -memmove=false"),
		&out, &errOut, []string{"/nonexistent"})
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, errOut.String(), "2 PEs, round 3 of 3")
	assert.Equal(t, 3, strings.Count(errOut.String(), "gshmem on 2 PEs (in-process), latency"))
	assert.Equal(t, 3, strings.Count(errOut.String(), "gshmem on 2 PEs (in-process), bandwidth"))
	assert.Len(t, regexp.MustCompile(`(?m)^putbw +64B +2 `).FindAllString(out.String(), -1), 1, out.String())
	for _, op := range []string{OpP, OpG} {
		assert.Len(t, regexp.MustCompile(`(?m)^`+op+` +8B +2 `).FindAllString(out.String(), -1), 1, "one %s row: %s", op, out.String())
	}
}

// -ops array runs the kernels end to end (N scaled down by the short
// target) and prints them as rates.
func TestMainKernels(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(t.Context(), strings.Fields("-inproc -n 2 -ops array -target 1ms -reps 1 -peers=false -memmove=false"),
		&out, &errOut, []string{"/nonexistent"})
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "Rate per PE, 1 Mupd/s")
	for _, op := range []string{OpHisto, OpIGather, OpRandperm} {
		assert.Regexp(t, `(?m)^`+op+` +8B +2 +[0-9.]+[Mk]upd/s +[0-9.]+[Mk]upd/s +[0-9.]+x$`, out.String(), "the array version beside the direct one")
	}
	assert.NotContains(t, out.String(), "Latency")
}

// GSHMEM_AM_SIZE_THRESHOLD sizes the kernels' AM arena (a batch AM of
// up to 1 MiB of operations fits it), and a bad value is a usage error
// that names it.
func TestMainAMSizeThreshold(t *testing.T) {
	t.Setenv("GSHMEM_AM_SIZE_THRESHOLD", "1m")
	var out, errOut bytes.Buffer
	code := Main(t.Context(), strings.Fields("-inproc -n 2 -ops randperm -target 1ms -reps 1 -peers=false -memmove=false"),
		&out, &errOut, []string{"/nonexistent"})
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), OpRandperm)

	t.Setenv("GSHMEM_AM_SIZE_THRESHOLD", "12q")
	out.Reset()
	errOut.Reset()
	code = Main(t.Context(), strings.Fields("-inproc -n 2 -ops randperm"), &out, &errOut, []string{"/nonexistent"})
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut.String(), `GSHMEM_AM_SIZE_THRESHOLD="12q"`)
}
