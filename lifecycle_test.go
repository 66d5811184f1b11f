package gshmem_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/streams"
)

// ping is an AM that answers with the PE it ran on.
type ping struct{}

func (ping) Exec(ctx *am.Context) (int, error) { return ctx.MyPE(), nil }

var lifeReg = am.NewRegistry()

func init() { am.MustRegister[ping](lifeReg, "gshmem_test.ping") }

// A device heap, an AM World and a stream that a PE's program left open
// are closed by Finalize in reverse order of creation (the stream, then
// the World, then the device heap), before the PE's memory goes, and each
// reports that it is closed when used afterwards. Markers the PE owns
// between them see the order: each finds what was made after it closed and
// what was made before it still open.
func TestFinalizeClosesWhatThePEOwns(t *testing.T) {
	const n = 2
	const devHeap = 1 << 20
	model := petest.NewDeviceModel(t, n, devHeap)
	type left struct {
		dev *recDevice
		w   *am.World
		s   *streams.Stream
		log *[]string
	}
	var mu sync.Mutex
	got := make([]left, n)
	petest.RunPEs(t, n, hostshmem.Config{DeviceHeap: devHeap, DeviceExternal: true}, func(pe *hostshmem.PE) error {
		ctx := context.Background()
		me := pe.MyPE()
		var log []string
		dev := &recDevice{DeviceMemory: model.For(me), log: &log, mu: &mu}
		require.NoError(t, pe.AttachDevice(dev))
		l := left{dev: dev, log: &log}
		mark := func(name string, check func(ctx context.Context)) {
			_, err := pe.Own(marker{name: name, close: func(ctx context.Context) {
				mu.Lock()
				log = append(log, name)
				mu.Unlock()
				check(ctx)
			}})
			require.NoError(t, err)
		}
		mark("after the device heap", func(ctx context.Context) {
			_, err := am.ExecLocal(l.w, ping{}).Wait(ctx)
			assert.ErrorIs(t, err, am.ErrClosed, "PE %d: the World closed before the marker made before it", me)
			assert.False(t, dev.closed.Load(), "PE %d: the device heap is closed last", me)
		})
		w, err := am.New(ctx, pe, lifeReg, am.Options{Threads: 1})
		require.NoError(t, err)
		l.w = w
		mark("after the World", func(ctx context.Context) {
			assert.ErrorIs(t, l.s.Synchronize(ctx), streams.ErrClosed, "PE %d: the stream closed before the marker made before it", me)
			got, err := am.ExecLocal(w, ping{}).Wait(ctx)
			assert.NoError(t, err, "PE %d: the World is still open", me)
			assert.Equal(t, me, got)
		})
		s, err := streams.New(pe)
		require.NoError(t, err)
		l.s = s
		mark("after the stream", func(ctx context.Context) {
			assert.NoError(t, s.Synchronize(ctx), "PE %d: the stream is still open", me)
		})
		// Work under way on both: Finalize drains it before its barrier.
		var ran atomic.Bool
		require.NoError(t, s.Go(func(context.Context) error { ran.Store(true); return nil }))
		f := am.Exec(w, (me+1)%n, ping{})
		assert.Equal(t, 5, pe.Owned(), "the World, the stream and three markers")
		mu.Lock()
		got[me] = l
		mu.Unlock()
		t.Cleanup(func() {
			assert.True(t, ran.Load(), "PE %d: the stream's op ran before it closed", me)
			v, err := f.Wait(context.Background())
			assert.NoError(t, err, "PE %d: the AM launched and never waited on ran before the World stopped", me)
			assert.Equal(t, (me+1)%n, v)
		})
		return nil // everything left open
	})
	ctx := context.Background()
	for me, l := range got {
		require.NotNil(t, l.log, "PE %d ran", me)
		assert.Equal(t, []string{"after the stream", "after the World", "after the device heap", "device heap"}, *l.log, "PE %d: what closed, in order", me)
		assert.ErrorIs(t, l.s.Synchronize(ctx), streams.ErrClosed, "PE %d's stream after Finalize", me)
		assert.ErrorIs(t, l.s.Go(func(context.Context) error { return nil }), streams.ErrClosed, "PE %d's stream after Finalize", me)
		_, err := am.Exec(l.w, 0, ping{}).Wait(ctx)
		assert.ErrorIs(t, err, am.ErrClosed, "PE %d's World after Finalize", me)
		assert.ErrorIs(t, l.dev.Put(me, hostshmem.DeviceReservedBytes, []byte{1}), hostshmem.ErrFinalized, "PE %d's device heap after Finalize", me)
	}
	assert.Equal(t, n, model.Closed())
}

// marker is a Resource that runs close when its PE closes it.
type marker struct {
	name  string
	close func(ctx context.Context)
}

func (m marker) Drain(context.Context) error { return nil }

func (m marker) Close(ctx context.Context) error { m.close(ctx); return nil }

func (m marker) String() string { return "marker " + m.name }

// recDevice is device memory that logs its close and fails once closed,
// as package device's heap does.
type recDevice struct {
	hostshmem.DeviceMemory
	closed atomic.Bool
	log    *[]string
	mu     *sync.Mutex
}

func (d *recDevice) Close(ctx context.Context) error {
	d.closed.Store(true)
	d.mu.Lock()
	*d.log = append(*d.log, "device heap")
	d.mu.Unlock()
	return d.DeviceMemory.Close(ctx)
}

func (d *recDevice) Put(pe int, off uintptr, src []byte) error {
	if d.closed.Load() {
		return fmt.Errorf("put: the device heap is closed: %w", hostshmem.ErrFinalized)
	}
	return d.DeviceMemory.Put(pe, off, src)
}
