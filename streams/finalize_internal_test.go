package streams

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/hostshmem"
)

// TestFinalizeStopsAStuckStream: a stream left open with a signal wait that
// nothing will satisfy does not hold Finalize forever: once its op makes no
// progress for the stall bound, Finalize stops the stream's waits and
// returns an error naming the op (it hung before).
func TestFinalizeStopsAStuckStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var finalized error
	start := time.Now()
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20, Device: gshmem.DeviceCPU},
		func(ctx context.Context, pe *gshmem.PE) error {
			sig, err := hostshmem.Calloc[uint64](ctx, pe, 1)
			if err != nil {
				return err
			}
			if pe.MyPE() != 0 {
				return nil
			}
			s, err := New(pe)
			if err != nil {
				return err
			}
			s.stall = 50 * time.Millisecond
			if err := SignalWait(s, sig, hostshmem.CmpEQ, 1); err != nil { // nobody signals
				return err
			}
			finalized = pe.Finalize(ctx)
			return nil
		})
	t.Logf("RunWith: %v", err)
	require.Error(t, finalized)
	assert.Contains(t, finalized.Error(), "made no progress for 50ms while its PE finalized")
	assert.Less(t, time.Since(start), 30*time.Second)
}
