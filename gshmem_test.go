package gshmem_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/fabric"
)

func noEnv(string) string { return "" }

// A PE that enters a barrier the others never reach (they finalized and
// left) is told so at once instead of waiting forever.
func TestBarrierAfterPeersFinalized(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var second time.Duration
	err := gshmem.RunWith(ctx, gshmem.Options{NPEs: 3, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20, Getenv: noEnv}, func(pe *gshmem.PE) error {
		if pe.MyPE() != 0 {
			return nil // Run finalizes: one barrier, then the PE leaves
		}
		if err := pe.BarrierAll(ctx); err != nil { // the others' finalize
			return err
		}
		start := time.Now()
		err := pe.BarrierAll(ctx) // nobody else will come
		second = time.Since(start)
		return err
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, fabric.ErrPeerDead)
	assert.Contains(t, err.Error(), "PE 0: ")
	assert.Contains(t, err.Error(), "no peer is left")
	assert.Less(t, second, 2*time.Second)
}
