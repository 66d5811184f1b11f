package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
)

// TestRun runs the example on 3 in-process PEs on both sides of the push
// threshold; run checks every element of the result itself.
func TestRun(t *testing.T) {
	for _, n := range []int{100, 100_000} {
		err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 3, HeapSize: 4 << 20},
			func(ctx context.Context, pe *gshmem.PE) error { return run(ctx, pe, n, 2) })
		require.NoError(t, err)
	}
}
