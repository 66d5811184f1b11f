package streams_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/device/cuda"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

// Without a GPU, Launch refuses at once and names the way out; with one it
// is the CUDA engine's (exercised by examples/device_put).
func TestLaunchNeedsGPU(t *testing.T) {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 1, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20, Device: gshmem.DeviceCPU}, func(ctx context.Context, pe *gshmem.PE) error {
		s, err := streams.New(pe)
		require.NoError(t, err)
		defer s.Close(context.Background())
		assert.Equal(t, "cpu", s.Engine())
		err = s.Launch(nil, cuda.Dim3{}, cuda.Dim3{}, 0)
		require.ErrorIs(t, err, shmem.ErrInvalidArg)
		_, err = device.LoadModule(ctx, pe, []byte("// not even PTX"))
		require.ErrorIs(t, err, device.ErrNoGPU)
		assert.Contains(t, s.AllReduceAlgorithm(pe.TeamWorld(), 64, false), "CPU engine")
		return nil
	})
	require.NoError(t, err)
}

// wantEngine is the engine New picks for pe: "cuda" where pe's device heap
// is on a GPU, "cpu" otherwise (TestValidate held only without a GPU).
func wantEngine(pe *shmem.PE) string {
	if device.Of(pe).Kind() == device.GPU {
		return "cuda"
	}
	return "cpu"
}
