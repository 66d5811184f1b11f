package streams_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/device"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

// Without a GPU no CUstream exists: WithCUstream is refused and names why,
// a stream has no CUstream, and Submit has nothing to wait for.
func TestCUstreamNeedsGPU(t *testing.T) {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 1, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20, Device: gshmem.DeviceCPU}, func(ctx context.Context, pe *gshmem.PE) error {
		_, err := streams.New(pe, streams.WithCUstream(0x1234))
		require.ErrorIs(t, err, device.ErrNoGPU)
		assert.Contains(t, err.Error(), "0x1234")
		_, err = streams.New(pe, streams.WithCUstream(0x1234), streams.WithCPU())
		require.ErrorIs(t, err, shmem.ErrInvalidArg)

		s, err := streams.New(pe)
		require.NoError(t, err)
		h, ok := s.CUstream()
		assert.False(t, ok)
		assert.Zero(t, h)
		require.NoError(t, s.Submit(ctx))
		require.NoError(t, s.Close(ctx))
		require.ErrorIs(t, s.Submit(ctx), streams.ErrClosed)
		return nil
	})
	require.NoError(t, err)
}

// On a GPU a stream borrowed from another's CUstream runs its ops there
// and, closed, leaves the CUstream to its owner, which goes on using it.
func TestCUstreamBorrowed(t *testing.T) {
	noGPU := false
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 1, HeapSize: 1 << 20, DeviceHeapSize: 4 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		if device.Of(pe).Kind() != device.GPU {
			noGPU = true
			return nil
		}
		owner, err := streams.New(pe)
		require.NoError(t, err)
		defer owner.Close(ctx)
		h, ok := owner.CUstream()
		require.True(t, ok)
		s, err := streams.New(pe, streams.WithCUstream(h))
		require.NoError(t, err)
		got, ok := s.CUstream()
		require.True(t, ok)
		require.Equal(t, h, got)

		src, err := shmem.MallocOn[int64](ctx, pe, shmem.Device, 64)
		require.NoError(t, err)
		dst, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 64)
		require.NoError(t, err)
		v := make([]int64, 64)
		for i := range v {
			v[i] = int64(i * 3)
		}
		require.NoError(t, shmem.Put(pe, src, v, 0))
		require.NoError(t, streams.Put(s, dst, src, 0))
		require.NoError(t, s.Submit(ctx))
		require.NoError(t, s.Quiet())
		require.NoError(t, s.Close(ctx))

		// The owner's CUstream is alive: its ops still run.
		require.NoError(t, streams.Get(owner, src, dst, 0))
		require.NoError(t, owner.Synchronize(ctx))
		w := make([]int64, 64)
		require.NoError(t, shmem.Get(pe, w, dst, 0))
		assert.Equal(t, v, w)
		return nil
	})
	require.NoError(t, err)
	if noGPU {
		t.Skip("no GPU: the PE runs the CPU fallback")
	}
}
