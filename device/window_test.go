package device_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/device"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// The load window on goroutine PEs with fake streams: no PE loads before
// every PE's streams are quiet, and no stream goes on before every PE has
// loaded. (On a GPU, a load that overlaps a peer's spinning kernel in the
// shared context never ends.)
func TestWindowOrder(t *testing.T) {
	const n = 3
	var quiet, loaded, resumed atomic.Int32
	var mu sync.Mutex
	events := map[int][]string{}
	note := func(pe int, e string) {
		mu.Lock()
		defer mu.Unlock()
		events[pe] = append(events[pe], e)
	}
	petest.RunPEs(t, n, shmem.Config{}, func(pe *shmem.PE) error {
		me := pe.MyPE()
		var q device.Quiescers
		for s := range 2 {
			q.Add(fmt.Sprintf("stream %d of PE %d", s, me), func(ctx context.Context) (func(), error) {
				time.Sleep(time.Duration(me) * 10 * time.Millisecond) // PE 2 is slowest to drain
				quiet.Add(1)
				note(me, fmt.Sprintf("quiet %d", s))
				return func() {
					if l := loaded.Load(); l != n {
						t.Errorf("PE %d resumed stream %d with %d of %d PEs loaded", me, s, l, n)
					}
					resumed.Add(1)
					note(me, fmt.Sprintf("resume %d", s))
				}, nil
			})
		}
		remove := q.Add("a closed stream", func(context.Context) (func(), error) {
			return nil, errors.New("a removed quiescer ran")
		})
		remove()
		return device.Window(context.Background(), pe, &q, "load module", func() (func(), error) {
			if got := quiet.Load(); got != 2*n {
				t.Errorf("PE %d loads with %d of %d streams quiet", me, got, 2*n)
			}
			note(me, "load")
			loaded.Add(1)
			return func() { t.Errorf("PE %d: undo after a good load", me) }, nil
		})
	})
	assert.EqualValues(t, 2*n, resumed.Load())
	for pe := range n {
		assert.Equal(t, []string{"quiet 0", "quiet 1", "load", "resume 1", "resume 0"}, events[pe], "PE %d", pe)
	}
}

// One PE's load fails: every PE fails, the others naming it, and each
// undoes its own load before its streams go on.
func TestWindowFailure(t *testing.T) {
	const n = 3
	boom := errors.New("CUDA_ERROR_INVALID_PTX")
	var undone atomic.Int32
	errs := make([]error, n)
	petest.RunPEs(t, n, shmem.Config{}, func(pe *shmem.PE) error {
		me := pe.MyPE()
		var q device.Quiescers
		undid := false
		q.Add("stream", func(context.Context) (func(), error) {
			return func() {
				if me != 1 && !undid {
					t.Errorf("PE %d resumed its stream before unloading", me)
				}
			}, nil
		})
		errs[me] = device.Window(context.Background(), pe, &q, "load module", func() (func(), error) {
			if me == 1 {
				return nil, boom
			}
			return func() { undid = true; undone.Add(1) }, nil
		})
		return nil
	})
	assert.EqualValues(t, n-1, undone.Load(), "every PE that loaded unloads")
	require.ErrorIs(t, errs[1], boom)
	for _, pe := range []int{0, 2} {
		require.ErrorIs(t, errs[pe], device.ErrPeerFailed, "PE %d", pe)
		assert.Contains(t, errs[pe].Error(), "PE 1 failed")
		assert.Contains(t, errs[pe].Error(), "load module")
	}
}

// A stream that never drains: the window waits no longer than the
// caller's context, says which stream it waited for, and every PE fails.
func TestWindowStuckStream(t *testing.T) {
	const n = 2
	errs := make([]error, n)
	petest.RunPEs(t, n, shmem.Config{}, func(pe *shmem.PE) error {
		me := pe.MyPE()
		var q device.Quiescers
		ctx := context.Background()
		if me == 0 {
			q.Add("stream 7 of PE 0", func(ctx context.Context) (func(), error) {
				<-ctx.Done() // a kernel spinning for ever
				return nil, ctx.Err()
			})
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
		}
		errs[me] = device.Window(ctx, pe, &q, "load module", func() (func(), error) {
			t.Errorf("PE %d loaded although PE 0's stream never drained", me)
			return nil, nil
		})
		return nil
	})
	require.ErrorIs(t, errs[0], context.DeadlineExceeded)
	assert.Contains(t, errs[0].Error(), "waiting for stream 7 of PE 0 to finish its device work")
	// PE 0 took part in the step with its context done, to tell PE 1.
	require.Error(t, errs[1])
	assert.Contains(t, errs[1].Error(), "PE 0")
	assert.Contains(t, errs[1].Error(), "quieting the device work of every PE")
}
