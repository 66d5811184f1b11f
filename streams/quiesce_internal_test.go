package streams

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/hostshmem"
)

// TestQuiesceHoldsLaterOps: a load window's quiesce (the stream's
// device.QuiesceFunc) returns only once every op enqueued before it has
// finished, holds back the ops enqueued after it -- they stay queued
// while the window is open -- and lets them run at resume. A quiesce
// whose context ends while an earlier op still runs fails, naming the
// stream, and holds nothing back.
func TestQuiesceHoldsLaterOps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 1, HeapSize: 1 << 20}, func(ctx context.Context, pe *hostshmem.PE) error {
		s, err := New(pe, WithCPU())
		require.NoError(t, err)
		defer s.Close(ctx)

		release := make(chan struct{})
		var first, later atomic.Bool
		require.NoError(t, s.Go(func(context.Context) error { <-release; first.Store(true); return nil }))

		// The earlier op has not finished: a bounded quiesce gives up.
		qctx, qcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = s.quiesce(qctx)
		qcancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), s.String())

		close(release)
		resume, err := s.quiesce(ctx)
		require.NoError(t, err)
		assert.True(t, first.Load(), "quiesce returned before the op enqueued before it finished")

		require.NoError(t, s.Go(func(context.Context) error { later.Store(true); return nil }))
		ev, err := s.Record()
		require.NoError(t, err)
		// Held: the op after the window waits in the queue, so an event
		// after it cannot complete while the window is open.
		sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err = ev.Synchronize(sctx)
		scancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.False(t, later.Load(), "an op enqueued after quiesce ran inside the load window")

		resume()
		resume() // a second resume is harmless
		require.NoError(t, s.Synchronize(ctx))
		assert.True(t, later.Load())
		return nil
	})
	require.NoError(t, err)
}
