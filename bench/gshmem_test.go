package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/errdefs"
)

// measureInproc runs Measure on npes goroutine PEs and returns PE 0's results.
func measureInproc(t *testing.T, npes int, c Config) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu  sync.Mutex
		got []Result
	)
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: npes, HeapSize: c.HeapFor(npes)}, func(ctx context.Context, pe *gshmem.PE) error {
		rs, err := Measure(ctx, pe, c)
		if pe.MyPE() != 0 && rs != nil {
			return fmt.Errorf("PE %d returned %d results, want none", pe.MyPE(), len(rs))
		}
		mu.Lock()
		got = append(got, rs...)
		mu.Unlock()
		return err
	})
	require.NoError(t, err)
	return got
}

func TestMeasureEveryOp(t *testing.T) {
	c := Config{Sizes: []int{8, 4096, 64 << 10}, CollSizes: []int{8, 4096}, Target: time.Millisecond,
		MinIters: 2, Reps: 2}
	got := measureInproc(t, 2, c)
	type key struct {
		op    string
		bytes int
	}
	var want, keys []key
	for _, op := range GshmemOps {
		for _, n := range OpSizes(op, c.Sizes, c.CollSizes) {
			want = append(want, key{op, n})
		}
	}
	refs := map[key][]string{}
	for _, r := range got {
		if r.Impl != ImplGshmem { // the device ops' references
			refs[key{r.Op, r.Bytes}] = append(refs[key{r.Op, r.Bytes}], r.Impl)
			continue
		}
		keys = append(keys, key{r.Op, r.Bytes})
		assert.Equal(t, 2, r.PEs, "%+v", r)
		assert.GreaterOrEqual(t, r.Iters, 2, "%+v", r)
		assert.Greater(t, r.NsPerOp, 0.0, "%+v", r)
	}
	assert.Equal(t, want, keys, "every op at each of its sizes, in GshmemOps order")
	wantRefs := map[key][]string{}
	for _, n := range OpSizes(OpDevPutBW, c.Sizes, c.CollSizes) {
		wantRefs[key{OpDevPutBW, n}] = []string{ImplDeviceCopy}
	}
	for _, n := range OpSizes(OpStreamAllreduce, c.Sizes, c.CollSizes) {
		wantRefs[key{OpStreamAllreduce, n}] = []string{ImplHostAllreduce, ImplDeviceCopy} // no GPU: no roofline row
	}
	wantRefs[key{OpDevPutSync, 8}] = []string{ImplDeviceCopy}
	wantRefs[key{OpStreamAllreduceSync, 1024}] = []string{ImplDeviceCopy}
	wantRefs[key{OpHisto, 8}] = []string{ImplDirect}
	wantRefs[key{OpIGather, 8}] = []string{ImplDirect}
	wantRefs[key{OpRandperm, 8}] = []string{ImplDirect}
	assert.Equal(t, wantRefs, refs, "each device op beside its reference, each kernel beside its direct version")
	for _, op := range []string{OpSync, OpBcast, OpReduce, OpFCollect, OpAlltoall, OpBcastBW, OpAllreduce} {
		assert.Contains(t, GshmemOps, op)
	}
}

// TestMeasureCollectivesOn3PEs: the checks hold where blocks and chunks
// do not divide evenly, on the push path and the large path (64 KiB).
func TestMeasureCollectivesOn3PEs(t *testing.T) {
	c := Config{Ops: OpGroups["coll"], Sizes: []int{12, 64 << 10}, CollSizes: []int{4, 64 << 10},
		Target: time.Millisecond, MinIters: 2, Reps: 1}
	got := measureInproc(t, 3, c)
	n := 0
	for _, op := range c.Ops {
		n += len(OpSizes(op, c.Sizes, c.CollSizes))
	}
	assert.Len(t, got, n)
	for _, r := range got {
		assert.Equal(t, 3, r.PEs, "%+v", r)
	}
}

func TestMeasureUnknownOp(t *testing.T) {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2}, func(ctx context.Context, pe *gshmem.PE) error {
		_, err := Measure(context.Background(), pe, Config{Ops: []string{"cswap"}})
		return err
	})
	assert.ErrorContains(t, err, `no benchmark "cswap"`)
}

func TestHeapFor(t *testing.T) {
	c := Config{Ops: []string{OpPut, OpBarrier}}
	assert.Equal(t, uintptr(64+1<<20), c.HeapFor(2))
	c = Config{Ops: []string{OpPutBW}, Sizes: []int{8, 1 << 20}}
	assert.Equal(t, uintptr(2<<20), c.HeapFor(2))
	c = Config{Ops: []string{OpAllreduce, OpFCollect}, Sizes: []int{1 << 20}, CollSizes: []int{1 << 20}}
	assert.Equal(t, uintptr(5<<20+1<<20), c.HeapFor(4), "fcollect: 1 block + 4 gathered")
	c.Ops = append(c.Ops, OpAlltoall)
	assert.Equal(t, uintptr(8<<20+1<<20), c.HeapFor(4), "alltoall: 4 blocks each way")
	assert.Equal(t, uintptr(2*64<<20+1<<20), Config{}.HeapFor(2), "defaults: allreduce of 64 MiB")
}

// TestMeasureKernels: the bale kernels on 2 and 3 PEs (where the global
// table does not split evenly into powers of two), with arrays and with
// one operation per update, run their fixed N per loop and pass their
// checks (the histogram's sum, every gathered value, every dart of the
// permutation in its slot and the filled slots' count).
func TestMeasureKernels(t *testing.T) {
	for _, npes := range []int{2, 3} {
		c := Config{Ops: OpGroups["array"], Histo: KernelSize{Table: 7, Updates: 500},
			IGather: KernelSize{Table: 13, Updates: 300}, Randperm: KernelSize{Updates: 400}, Reps: 2}
		got := measureInproc(t, npes, c)
		require.Len(t, got, 6)
		for i, want := range []struct {
			op    string
			impl  string
			iters int
		}{{OpHisto, ImplGshmem, 500}, {OpHisto, ImplDirect, 500}, {OpIGather, ImplGshmem, 300}, {OpIGather, ImplDirect, 300},
			{OpRandperm, ImplGshmem, 400}, {OpRandperm, ImplDirect, 400}} {
			r := got[i]
			assert.Equal(t, want.op, r.Op)
			assert.Equal(t, want.impl, r.Impl)
			assert.Equal(t, npes, r.PEs)
			assert.Equal(t, 8, r.Bytes)
			assert.Equal(t, want.iters, r.Iters, "a fixed N per loop")
			assert.Greater(t, r.NsPerOp, 0.0)
		}
	}
}

func TestKernelSizeDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	assert.Equal(t, KernelSize{Table: 1000, Updates: 100_000}, c.Histo)
	assert.Equal(t, KernelSize{Table: 100_000, Updates: 100_000}, c.IGather)
	assert.Equal(t, KernelSize{Table: 200_000, Updates: 100_000}, c.Randperm, "randperm: twice as many slots as darts")
	c = Config{Target: 3 * time.Millisecond, IGather: KernelSize{Updates: 7}}.withDefaults()
	assert.Equal(t, KernelSize{Table: 1000, Updates: 10_000}, c.Histo, "a shorter target, fewer updates")
	assert.Equal(t, KernelSize{Table: 100_000, Updates: 7}, c.IGather, "a set field is kept")
	assert.Equal(t, KernelSize{Table: 20_000, Updates: 10_000}, c.Randperm, "twice the scaled darts")
	c = Config{Target: time.Microsecond}.withDefaults()
	assert.Equal(t, 1000, c.Histo.Updates, "at least 1000")
	c = Config{Target: time.Second}.withDefaults()
	assert.Equal(t, 100_000, c.Histo.Updates, "a longer target keeps bale's N")
	assert.Equal(t, uintptr(16*100_000+16+1<<20+1<<20), Config{Ops: []string{OpIGather}}.HeapFor(2), "two tables (direct, array) and the array's World")
	assert.Equal(t, uintptr(16*100_000+16+768<<10+3*(1<<20+4<<10)+1<<20), Config{Ops: []string{OpIGather}, AMSizeThreshold: 1 << 20}.HeapFor(2),
		"a larger batch AM threshold, an arena that holds three of its AMs")
}

// TestMeasureRandpermTooFewSlots: fewer slots than darts would never
// finish; it is an error that says so.
func TestMeasureRandpermTooFewSlots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 8 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		_, err := Measure(ctx, pe, Config{Ops: []string{OpRandperm}, Randperm: KernelSize{Table: 5, Updates: 10}})
		return err
	})
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	require.ErrorContains(t, err, "5 slots per PE for 10 darts per PE")
}
