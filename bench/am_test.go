package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlagsAMOps(t *testing.T) {
	f := newFlags("test", &bytes.Buffer{})
	require.NoError(t, f.fs.Parse([]string{"-ops", "am,put"}))
	c, am, err := f.configAM()
	require.NoError(t, err)
	assert.Equal(t, AMOps, am)
	assert.Equal(t, []string{OpPut}, c.Ops)
	require.NoError(t, f.fs.Parse([]string{"-ops", "amrtt"}))
	c, am, err = f.configAM()
	require.NoError(t, err)
	assert.Equal(t, []string{OpAMRTT}, am)
	assert.Empty(t, c.Ops, "no gshmem op: Measure measures nothing")
	require.NoError(t, f.fs.Parse([]string{"-ops", "all"}))
	_, am, err = f.configAM()
	require.NoError(t, err)
	assert.Empty(t, am, "the AM group is not in all")
}

func TestWriteAMSummary(t *testing.T) {
	ours := []Result{
		{Impl: ImplGshmem, Op: OpPingPong, PEs: 2, Bytes: 8, NsPerOp: 500},
		{Impl: ImplGshmem, Op: OpAMRTT, PEs: 2, Bytes: 0, NsPerOp: 1500},
		{Impl: ImplGshmem, Op: OpAMRate, PEs: 2, Bytes: 8, NsPerOp: 250},
		{Impl: ImplGshmem, Op: OpAMBW, PEs: 2, Bytes: 1 << 20, NsPerOp: 1e6},
		{Impl: ImplGshmem, Op: OpAMBWView, PEs: 2, Bytes: 1 << 20, NsPerOp: 2e5},
	}
	mm := []Result{{Impl: ImplMemmove, Op: OpMemmove, PEs: 1, Bytes: 1 << 20, NsPerOp: 1e5}}
	var b strings.Builder
	WriteAMSummary(&b, ours, mm)
	s := b.String()
	assert.Contains(t, s, "1500 ns = 3.00x the flag ping-pong (500 ns)")
	assert.Contains(t, s, "4.00 M AMs/s per PE")
	assert.Contains(t, s, "AM payload 1MiB on 2 PEs: 1.05 GB/s = 0.10 of memmove")
	assert.Contains(t, s, "AM payload (am.Bytes) 1MiB on 2 PEs: 5.24 GB/s = 0.50 of memmove")
	var tb bytes.Buffer
	require.NoError(t, WriteTable(&tb, ours, nil, mm))
	assert.Regexp(t, `(?s)Latency.*amrtt.*Bandwidth.*ambw.*ambwview`, tb.String(), "ambw and ambwview are bandwidth rows")
}
