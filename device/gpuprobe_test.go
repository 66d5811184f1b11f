package device_test

// GPU tests of issue 12 for the device side's start-up: loading modules
// while a peer's kernel spins (item 1) and the runtime's attach time on a
// cold JIT cache (item 8). Each runs in a child process of the test binary
// (gputest.Child), so a hang fails the test instead of hanging the binary
// and a cold start is really cold. They skip without a GPU.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/device/cuda"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/gputest"
	"github.com/gshmem/gshmem/kernels"
	"github.com/gshmem/gshmem/streams"
)

// whoPTX is a user module built on the device API, as small as one can be:
// it declares the runtime's state global (which LoadModule fills) and its
// one kernel stores the state's my_pe (offset 8) to the address it is
// given.
var whoPTX = fmt.Sprintf(`
.version 7.0
.target sm_70
.address_size 64
.visible .global .align 8 .b8 %s[%d];
.visible .entry who_am_i(.param .u64 who_am_i_out)
{
	.reg .b32 %%r<2>;
	.reg .b64 %%rd<3>;
	ld.param.u64 %%rd1, [who_am_i_out];
	cvta.to.global.u64 %%rd2, %%rd1;
	ld.global.u32 %%r1, [%s+8];
	st.global.u32 [%%rd2], %%r1;
	ret;
}
`, kernels.StateSymbol, kernels.StateSize, kernels.StateSymbol)

// Item 1 (examples/device_put's hang): three in-process PEs each load a
// user module, launch its kernel and meet in a stream barrier, PE i
// starting 100 ms after PE i-1, so that PE 0's barrier kernel already
// spins when PE 1 and PE 2 load theirs. A module load waits for the
// context to go idle; the runtime must make it not wait for a peer's
// spinning kernel (load collectively, before any PE launches). Every PE's
// kernel must then see its own PE number.
func TestGPUModuleLoadWhilePeerSpins(t *testing.T) {
	if !gputest.Require(t) {
		t.Skip("needs a GPU: the CPU fallback loads no modules")
	}
	for _, mode := range []string{"LAZY", "EAGER"} {
		t.Run(mode, func(t *testing.T) {
			if !gputest.InChild(t) {
				gputest.Child(t, 60*time.Second, "CUDA_MODULE_LOADING="+mode)
				return
			}
			err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 3, HeapSize: 8 << 20, DeviceHeapSize: 16 << 20},
				func(ctx context.Context, pe *gshmem.PE) error {
					me := pe.MyPE()
					out, err := shmem.CallocOn[int32](ctx, pe, shmem.Device, 1)
					if err != nil {
						return err
					}
					p, err := device.Ptr(pe, out, me)
					if err != nil {
						return err
					}
					s, err := streams.New(pe)
					if err != nil {
						return err
					}
					time.Sleep(time.Duration(me) * 100 * time.Millisecond)
					m, err := device.LoadModule(ctx, pe, []byte(whoPTX))
					if err != nil {
						return fmt.Errorf("PE %d: %w", me, err)
					}
					f, err := m.Function("who_am_i")
					if err != nil {
						return err
					}
					one := cuda.Dim3{X: 1, Y: 1, Z: 1}
					if err := s.Launch(f, one, one, 0, cuda.DevicePtr(p)); err != nil {
						return err
					}
					if err := s.Barrier(pe.TeamWorld()); err != nil {
						return err
					}
					sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
					defer cancel()
					if err := s.Synchronize(sctx); err != nil {
						return fmt.Errorf("PE %d: a module's kernel and a barrier after staggered module loads: %w", me, err)
					}
					got := make([]int32, 1)
					if err := shmem.Get(pe, got, out, me); err != nil {
						return err
					}
					if got[0] != int32(me) {
						return fmt.Errorf("PE %d: the module's kernel read my_pe %d from its state", me, got[0])
					}
					return s.Close(ctx)
				})
			require.NoError(t, err)
		})
	}
}

// attachBound is item 8's target: a PE's attach, module load included, on
// a cold JIT cache.
const attachBound = 500 * time.Millisecond

// Item 8: with the JIT cache off (CUDA_CACHE_DISABLE=1: every process
// compiles what it loads, as on a fresh machine), attaching 1 and then 4
// in-process PEs to a GPU takes at most attachBound: the runtime ships
// SASS for the GPU (kernels.Image) and loads it once per context, not PTX
// that the driver compiles once per PE (5.8 s on an H200). The driver's
// own start-up (cuInit, the primary context) is paid before the clock
// starts: it is not the runtime's to shorten.
func TestGPUAttachColdCache(t *testing.T) {
	if !gputest.Require(t) {
		t.Skip("needs a GPU")
	}
	if !gputest.InChild(t) {
		gputest.Child(t, 120*time.Second, "CUDA_CACHE_DISABLE=1")
		return
	}
	drv, err := cuda.Load("")
	require.NoError(t, err)
	defer drv.Close()
	t0 := time.Now()
	c, err := drv.Primary(0)
	require.NoError(t, err)
	defer c.Close()
	t.Logf("driver start-up (cuInit, primary context): %v", time.Since(t0).Round(time.Millisecond))
	for _, n := range []int{1, 4} {
		var mu sync.Mutex
		var slowest time.Duration
		start := time.Now()
		err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: n, HeapSize: 8 << 20, DeviceHeapSize: 16 << 20, Device: "0"},
			func(ctx context.Context, pe *gshmem.PE) error {
				el := time.Since(start) // the PE has its heap, its peers' and the runtime's module
				mu.Lock()
				slowest = max(slowest, el)
				mu.Unlock()
				if d := device.Of(pe); d.Kind() != device.GPU {
					return fmt.Errorf("PE %d has no GPU heap: %v", pe.MyPE(), d)
				}
				return nil
			})
		require.NoError(t, err)
		t.Logf("%d PE(s): attached in %v (bound %v); the job took %v", n, slowest.Round(time.Millisecond), attachBound, time.Since(start).Round(time.Millisecond))
		assert.LessOrEqual(t, slowest, attachBound, "attach of %d in-process PE(s) on a cold JIT cache", n)
	}
}
