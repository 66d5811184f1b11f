package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
)

// TestRun runs the ring on 2 and 3 in-process PEs; run checks the data.
func TestRun(t *testing.T) {
	for _, np := range []int{2, 3} {
		err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: np, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20}, run)
		require.NoError(t, err)
	}
}
