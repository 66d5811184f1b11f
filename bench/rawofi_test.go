package bench

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RawOFI measures put, get, fadd and putbw in C against libfabric, under
// gshmem's op names, and nothing else; where cc or libfabric is missing
// it says so with ErrNoLibfabric (CI installs libfabric-dev).
func TestRawOFI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if os.Getenv("FI_TCP_IFACE") == "" {
		t.Setenv("FI_TCP_IFACE", "lo")
	}
	got, err := RawOFI(ctx, PeerConfig{
		WorkDir:  t.TempDir(),
		Ops:      []string{OpPut, OpGet, OpFetchAdd, OpBarrier, OpPutBW},
		Sizes:    []int{8, 1 << 20},
		Target:   2 * time.Millisecond,
		MinIters: 2,
		Reps:     1,
		Log:      testLog{t},
	}, "")
	if errors.Is(err, ErrNoLibfabric) {
		t.Skip(err)
	}
	require.NoError(t, err)
	type key struct {
		op    string
		bytes int
	}
	var keys []key
	for _, r := range got {
		assert.Equal(t, ImplOFI, r.Impl)
		assert.Equal(t, 2, r.PEs)
		assert.Positive(t, r.NsPerOp)
		keys = append(keys, key{r.Op, r.Bytes})
	}
	assert.ElementsMatch(t, []key{{OpPut, 8}, {OpGet, 8}, {OpFetchAdd, 8}, {OpPutBW, 8}, {OpPutBW, 1 << 20}}, keys)
}
