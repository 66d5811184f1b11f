package hostshmem_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	inprocfab "github.com/gshmem/gshmem/fabric/inproc"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// maxLooks is the most looks a poll paced by pol (PollBackoff) makes in a
// wait of el: its sleeps never end early, so it looks once first, then
// once after each sleep that fits in el, and once more for slack.
func maxLooks(pol fabric.WaitPolicy, el time.Duration) int64 {
	n := int64(2)
	for d, sum := pol.MinTick, time.Duration(0); sum+d <= el; d = min(2*d, pol.MaxTick) {
		sum += d
		n++
	}
	return n
}

// A host wait on a variable in GPU memory polls it at the pace of the
// fabric's WaitPolicy (reload, check, sleep MinTick doubling to MaxTick)
// instead of reloading it in the fabric's spin loop: a wait that lasts a
// while copies the variable from the device a bounded number of times,
// far fewer than the fabric's spins, and still sees the peer's write.
func TestWaitGPUMemoryPolls(t *testing.T) {
	const dev = 1 << 20
	model := petest.NewDeviceModel(t, 2, dev)
	petest.RunPEs(t, 2, shmem.Config{DeviceHeap: dev, DeviceExternal: true}, func(pe *shmem.PE) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		me := pe.MyPE()
		require.NoError(t, pe.AttachDevice(model.For(me)))
		flag, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
		require.NoError(t, err)
		require.NoError(t, pe.BarrierAll(ctx))
		pol := fabric.PolicyOf(pe.Fabric())
		const early = 8 // looks PE 0 has made when PE 1 writes
		if me == 0 {
			t0 := time.Now()
			require.NoError(t, shmem.WaitUntil(ctx, pe, flag, shmem.CmpEQ, 1))
			el := time.Since(t0)
			looks := model.Gets(0)
			assert.GreaterOrEqual(t, looks, int64(early))
			assert.LessOrEqual(t, looks, maxLooks(pol, el), "reloads in a wait of %v", el)
			assert.Less(t, looks, int64(pol.Spin/8), "far fewer reloads than the fabric's spins")
		} else {
			// PE 0 is well into its wait when it has looked this often.
			require.Eventually(t, func() bool { return model.Gets(0) >= early }, 20*time.Second, 50*time.Microsecond)
			require.NoError(t, shmem.P(pe, flag, 1, 0))
		}
		// The multi-variable waits and signal waits poll the same way.
		sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 2)
		require.NoError(t, err)
		require.NoError(t, pe.BarrierAll(ctx))
		before := model.Gets(me)
		require.NoError(t, shmem.PutSignal(pe, flag, []uint64{7}, sig.At(1), 1, shmem.SignalSet, 1-me))
		_, err = shmem.SignalWaitUntil(ctx, pe, sig.At(1), shmem.CmpEQ, 1)
		require.NoError(t, err)
		require.NoError(t, shmem.WaitUntilAll(ctx, pe, sig.Slice(1, 2), nil, shmem.CmpEQ, 1))
		assert.Less(t, model.Gets(me)-before, int64(pol.Spin/8))
		return pe.BarrierAll(ctx)
	})
}

// A peer's death ends a poll on GPU memory with an error naming the peer,
// though the wait's context never ends.
func TestWaitGPUMemoryPeerDeath(t *testing.T) {
	const dev = 1 << 20
	model := petest.NewDeviceModel(t, 2, dev)
	job, err := inprocfab.New(2, shmem.RegionSize(1<<20))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			pe, err := shmem.New(job.Fabric(i), shmem.Config{DeviceHeap: dev, DeviceExternal: true})
			if !assert.NoError(t, err, "PE %d", i) {
				job.Fail(i, "new")
				job.Fabric(i).Close(fabric.Failed)
				return
			}
			defer pe.Abort()
			require.NoError(t, pe.AttachDevice(model.For(i)))
			flag, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
			require.NoError(t, err)
			require.NoError(t, pe.BarrierAll(ctx))
			if i == 1 {
				require.Eventually(t, func() bool { return model.Gets(0) >= 3 }, 20*time.Second, 50*time.Microsecond)
				return // Abort: PE 1 fails
			}
			err = shmem.WaitUntil(ctx, pe, flag, shmem.CmpEQ, 1)
			var perr *fabric.PeerError
			require.True(t, errors.As(err, &perr), "%v", err)
			assert.Equal(t, 1, perr.PE)
			assert.ErrorIs(t, err, fabric.ErrPeerDead)
			assert.Contains(t, err.Error(), "wait_until on PE 0")
		}()
	}
	wg.Wait()
}
