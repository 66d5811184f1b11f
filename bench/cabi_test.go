package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/cbuild"
)

// TestCABI runs the Open MPI peer's own program, shmem_bench.c, on
// gshmem's C interface: every op it knows at 2 PEs, with sizes on both
// sides of the collectives' push threshold (2 KiB), so that shmem_bench's
// own checks of the results (bcastbw's bytes, histo's sums, ...) run on
// libgshmem.so, and the results are complete.
func TestCABI(t *testing.T) {
	if err := cbuild.Available(); err != nil {
		t.Skip(err)
	}
	sizes, csizes := []int{8, 4096, 1 << 20}, []int{8, 4096}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	got, err := CABI(ctx, PeerConfig{
		WorkDir:   t.TempDir(),
		Sizes:     sizes,
		CollSizes: csizes,
		Target:    2 * time.Millisecond,
		MinIters:  2,
		Reps:      1,
		Histo:     KernelSize{Table: 10, Updates: 1000},
		IGather:   KernelSize{Table: 100, Updates: 1000},
		Randperm:  KernelSize{Updates: 1000},
		Log:       testLog{t},
	}, false)
	require.NoError(t, err)
	ops := map[string]bool{}
	for _, r := range got {
		assert.Equal(t, ImplGshmemC, r.Impl)
		assert.Equal(t, 2, r.PEs, "%+v", r)
		assert.Greater(t, r.NsPerOp, 0.0, "%+v", r)
		ops[r.Op] = true
	}
	for _, op := range shmemOps {
		assert.True(t, ops[op], "no result for %s", op)
	}
}
