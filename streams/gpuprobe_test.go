package streams_test

// The GPU tests of issue 12: the probes that found the device side's hangs
// and races on the first H200 run, as tests that assert the fixed
// behaviour. Each runs its body in a child process of the test binary
// (gputest.Child): a hang then fails the test with the child's goroutine
// dump instead of hanging the binary, and a test that poisons the CUDA
// context leaves the next test a clean one. They skip without a GPU;
// GSHMEM_GPUTEST_CPU=1 runs them on the CPU fallback to check the tests.

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	"github.com/gshmem/gshmem/streams"
)

// gpuJob runs fn on n in-process PEs with devHeap bytes of device heap
// each. On a GPU it first requires every PE to have a GPU heap, so that a
// silent fallback to the CPU cannot pass a GPU test.
func gpuJob(t *testing.T, gpu bool, n int, devHeap uintptr, fn func(ctx context.Context, pe *shmem.PE) error) error {
	t.Helper()
	return gshmem.RunWith(context.Background(), gshmem.Config{NPEs: n, HeapSize: 16 << 20, DeviceHeapSize: devHeap},
		func(ctx context.Context, pe *shmem.PE) error {
			if d := device.Of(pe); gpu && d.Kind() != device.GPU {
				return fmt.Errorf("PE %d has no GPU heap: %v", pe.MyPE(), d)
			}
			return fn(ctx, pe)
		})
}

// fillSum puts me+1 into every element of x on this PE (a host write to
// device memory) and returns what a sum allreduce of x over n PEs gives.
func fillSum(pe *shmem.PE, x shmem.Sym[float32]) (float32, error) {
	me, n := pe.MyPE(), pe.NPEs()
	v := make([]float32, x.Len())
	for i := range v {
		v[i] = float32(me + 1)
	}
	return float32(n * (n + 1) / 2), shmem.Put(pe, x, v, me)
}

// checkAll fails unless every element of this PE's x is want.
func checkAll(pe *shmem.PE, x shmem.Sym[float32], want float32) error {
	got := make([]float32, x.Len())
	if err := shmem.Get(pe, got, x, pe.MyPE()); err != nil {
		return err
	}
	for i, v := range got {
		if v != want {
			return fmt.Errorf("PE %d: element %d of %d is %v, want %v", pe.MyPE(), i, len(got), v, want)
		}
	}
	return nil
}

// Item 2 (and 1): three in-process PEs reach their first stream barrier
// 100 ms apart, so PE 0's barrier kernel already spins when the others
// launch their first kernels. Resolving a kernel lazily (the default
// CUDA_MODULE_LOADING since CUDA 12.2) waits for the context to go idle,
// which a spinning kernel never lets happen: the runtime must resolve its
// kernels at attach, whatever the loading mode. All three PEs' barriers
// and allreduce must finish, with the right sums.
func TestGPULazyStaggeredBarriers(t *testing.T) {
	gpu := gputest.Require(t)
	for _, mode := range []string{"LAZY", "EAGER", "default"} {
		t.Run(mode, func(t *testing.T) {
			if !gputest.InChild(t) {
				var env []string
				if mode != "default" {
					env = append(env, "CUDA_MODULE_LOADING="+mode)
				}
				gputest.Child(t, 60*time.Second, env...)
				return
			}
			const n = 1024
			err := gpuJob(t, gpu, 3, 16<<20, func(ctx context.Context, pe *shmem.PE) error {
				x, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, n) // collective: before the stagger
				if err != nil {
					return err
				}
				y, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, n)
				if err != nil {
					return err
				}
				want, err := fillSum(pe, x)
				if err != nil {
					return err
				}
				if err := pe.BarrierAll(ctx); err != nil {
					return err
				}
				s, err := streams.New(pe)
				if err != nil {
					return err
				}
				time.Sleep(time.Duration(pe.MyPE()) * 100 * time.Millisecond)
				for range 3 {
					if err := s.Barrier(pe.TeamWorld()); err != nil {
						return err
					}
				}
				if err := streams.AllReduce(s, pe.TeamWorld(), shmem.OpSum, y, x, n); err != nil {
					return err
				}
				sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				defer cancel()
				if err := s.Synchronize(sctx); err != nil {
					return fmt.Errorf("PE %d: 3 staggered barriers and an allreduce: %w", pe.MyPE(), err)
				}
				if err := checkAll(pe, y, want); err != nil {
					return err
				}
				return s.Close(ctx)
			})
			require.NoError(t, err)
		})
	}
}

// Two streams on every PE run allreduces at once on two teams with the
// same members (the world and a copy of it): each team's barriers must
// count their own arrivals, so every result is n^iters (mod 2^32).
func TestGPUConcurrentTeams(t *testing.T) {
	gpu := gputest.Require(t)
	if !gputest.InChild(t) {
		gputest.Child(t, 90*time.Second)
		return
	}
	const n, iters, npes = 1024, 300, 4
	err := gpuJob(t, gpu, npes, 16<<20, func(ctx context.Context, pe *shmem.PE) error {
		me, np := pe.MyPE(), pe.NPEs()
		world := pe.TeamWorld()
		other, err := world.SplitStrided(ctx, 0, 1, np, nil)
		if err != nil {
			return err
		}
		var buf [4]shmem.Sym[int32]
		for i := range buf {
			if buf[i], err = shmem.CallocOn[int32](ctx, pe, shmem.Device, n); err != nil {
				return err
			}
		}
		ones := make([]int32, n)
		for i := range ones {
			ones[i] = 1
		}
		for _, i := range []int{0, 2} {
			if err := shmem.Put(pe, buf[i], ones, me); err != nil {
				return err
			}
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		sa, err := streams.New(pe)
		if err != nil {
			return err
		}
		sb, err := streams.New(pe)
		if err != nil {
			return err
		}
		for it := range iters {
			a, b := buf[0], buf[1]
			c, d := buf[2], buf[3]
			if it%2 == 1 {
				a, b, c, d = b, a, d, c
			}
			if err := streams.AllReduce(sa, world, shmem.OpSum, b, a, n); err != nil {
				return err
			}
			if err := streams.AllReduce(sb, other, shmem.OpSum, d, c, n); err != nil {
				return err
			}
		}
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := errors.Join(sa.Synchronize(sctx), sb.Synchronize(sctx)); err != nil {
			return err
		}
		want := int32(1)
		for range iters {
			want = int32(uint32(want) * uint32(np))
		}
		last := iters % 2 // the buffer the last iteration wrote: 1 after an odd count
		wrong := 0
		for _, x := range []shmem.Sym[int32]{buf[last], buf[last+2]} {
			got := make([]int32, n)
			if err := shmem.Get(pe, got, x, me); err != nil {
				return err
			}
			for _, v := range got {
				if v != want {
					wrong++
				}
			}
		}
		if wrong > 0 {
			return fmt.Errorf("PE %d: %d of %d elements differ from %d after %d concurrent allreduces on two teams", me, wrong, 2*n, want, iters)
		}
		return errors.Join(sa.Close(ctx), sb.Close(ctx))
	})
	require.NoError(t, err)
}

// Item 3: WithWaitTimeout bounds a device signal wait. The signal never
// comes (the peer is alive and does nothing); Synchronize must report
// ErrWaitTimeout soon after the 200 ms bound, not wait for its own 5 s.
func TestGPUWaitTimeout(t *testing.T) {
	gpu := gputest.Require(t)
	if !gputest.InChild(t) {
		gputest.Child(t, 60*time.Second)
		return
	}
	err := gpuJob(t, gpu, 2, 16<<20, func(ctx context.Context, pe *shmem.PE) error {
		sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
		if err != nil {
			return err
		}
		s, err := streams.New(pe, streams.WithWaitTimeout(200*time.Millisecond))
		if err != nil {
			return err
		}
		if err := streams.SignalWait(s, sig, shmem.CmpEQ, 12345); err != nil {
			return err
		}
		t0 := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = s.Synchronize(sctx)
		cancel()
		el := time.Since(t0)
		if !errors.Is(err, streams.ErrWaitTimeout) || el > 2*time.Second {
			return fmt.Errorf("PE %d: Synchronize after a 200 ms-bounded device signal wait returned after %v with %v, want ErrWaitTimeout within 2 s",
				pe.MyPE(), el.Round(time.Millisecond), err)
		}
		t.Logf("PE %d: the wait timed out after %v: %v", pe.MyPE(), el.Round(time.Millisecond), err)
		// The stream goes on after the reported failure.
		x, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, 256)
		if err != nil {
			return err
		}
		y, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, 256)
		if err != nil {
			return err
		}
		want, err := fillSum(pe, x)
		if err != nil {
			return err
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		if err := streams.AllReduce(s, pe.TeamWorld(), shmem.OpSum, y, x, 256); err != nil {
			return err
		}
		sctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.Synchronize(sctx); err != nil {
			return fmt.Errorf("PE %d: an allreduce after the reported timeout: %w", pe.MyPE(), err)
		}
		if err := checkAll(pe, y, want); err != nil {
			return err
		}
		return s.Close(ctx)
	})
	require.NoError(t, err)
}

// Item 4: cancelling one stream's context stops that stream's device waits
// and nothing else: a fresh stream of the same PE then runs an allreduce
// with the right sums (the abort is per stream; only a dead peer aborts
// the whole PE).
func TestGPUFreshStreamAfterCancel(t *testing.T) {
	gpu := gputest.Require(t)
	if !gputest.InChild(t) {
		gputest.Child(t, 60*time.Second)
		return
	}
	err := gpuJob(t, gpu, 2, 16<<20, func(ctx context.Context, pe *shmem.PE) error {
		me := pe.MyPE()
		sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
		if err != nil {
			return err
		}
		x, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, 256)
		if err != nil {
			return err
		}
		y, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, 256)
		if err != nil {
			return err
		}
		want, err := fillSum(pe, x)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := streams.New(pe, streams.WithContext(cctx))
		if err != nil {
			return err
		}
		if err := streams.SignalWait(s, sig, shmem.CmpEQ, 12345); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the wait is running
		cancel()
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		err = s.Synchronize(sctx)
		scancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("PE %d: Synchronize of a stream whose context was cancelled during a device wait: %v, want the wait's failure within 5 s", me, err)
		}
		t.Logf("PE %d: the cancelled stream reports: %v", me, err)
		_ = s.Close(ctx) // its failure was reported above
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		s2, err := streams.New(pe)
		if err != nil {
			return err
		}
		if err := streams.AllReduce(s2, pe.TeamWorld(), shmem.OpSum, y, x, 256); err != nil {
			return err
		}
		sctx, scancel = context.WithTimeout(ctx, 10*time.Second)
		defer scancel()
		if err := s2.Synchronize(sctx); err != nil {
			return fmt.Errorf("PE %d: an allreduce on a fresh stream after another stream was cancelled: %w", me, err)
		}
		if err := checkAll(pe, y, want); err != nil {
			return err
		}
		return s2.Close(ctx)
	})
	require.NoError(t, err)
}

// Item 5: CallocOn's zeroing is complete before CallocOn returns. Each PE
// callocs a large device object (2 GiB on a GPU, where the zeroing takes
// long enough to race) and, once CallocOn has returned, its left
// neighbour's stream puts a value into the object's last element; the
// value must be there afterwards, in every round.
func TestGPUCallocOrdersBeforePut(t *testing.T) {
	gpu := gputest.Require(t)
	if !gputest.InChild(t) {
		gputest.Child(t, 90*time.Second)
		return
	}
	elems := 1 << 20
	if gpu {
		elems = 512 << 20 // int32: 2 GiB
	}
	err := gpuJob(t, gpu, 2, uintptr(elems)*4+(64<<20), func(ctx context.Context, pe *shmem.PE) error {
		me, np := pe.MyPE(), pe.NPEs()
		next, prev := (me+1)%np, (me+np-1)%np
		src, err := shmem.MallocOn[int32](ctx, pe, shmem.Device, 1)
		if err != nil {
			return err
		}
		if err := shmem.Put(pe, src, []int32{int32(42 + me)}, me); err != nil {
			return err
		}
		s, err := streams.New(pe)
		if err != nil {
			return err
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		for round := range 3 {
			big, err := shmem.CallocOn[int32](ctx, pe, shmem.Device, elems)
			if err != nil {
				return err
			}
			if err := streams.Put(s, big.Slice(elems-1, elems), src, next); err != nil {
				return err
			}
			if err := s.Synchronize(ctx); err != nil {
				return err
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
			got := make([]int32, 1)
			if err := shmem.Get(pe, got, big.At(elems-1), me); err != nil {
				return err
			}
			if got[0] != int32(42+prev) {
				return fmt.Errorf("PE %d round %d: the last element of a fresh CallocOn object is %d after PE %d put %d into it: the zeroing overwrote the put",
					me, round, got[0], prev, 42+prev)
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
			if err := shmem.Free(ctx, pe, big); err != nil {
				return err
			}
		}
		return s.Close(ctx)
	})
	require.NoError(t, err)
}

// badStorePTX stores to the address it is given: at address 8, an illegal
// address, which poisons the CUDA context for every PE of the process.
const badStorePTX = `
.version 7.0
.target sm_70
.address_size 64
.visible .entry bad_store(.param .u64 bad_store_p)
{
	.reg .b32 %r<2>;
	.reg .b64 %rd<2>;
	ld.param.u64 %rd1, [bad_store_p];
	mov.u32 %r1, 1;
	st.global.u32 [%rd1], %r1;
	ret;
}
`

// Item 6: a sticky CUDA error (an illegal address in PE 0's kernel) kills
// the context every in-process PE on that GPU shares. PE 0's Synchronize
// names the launch that faulted; PE 1, innocent, must fail promptly with
// an error that says the device context is lost (not hang, not a bare
// CUDA error from some later call), and the job ends.
func TestGPUStickyErrorFailsEveryPE(t *testing.T) {
	if !gputest.Require(t) {
		t.Skip("needs a GPU: the CPU fallback launches no kernels")
	}
	if !gputest.InChild(t) {
		gputest.Child(t, 60*time.Second)
		return
	}
	var mu sync.Mutex
	errs := map[int]error{}
	record := func(pe int, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs[pe] = err
	}
	runErr := gpuJob(t, true, 2, 16<<20, func(ctx context.Context, pe *shmem.PE) error {
		me := pe.MyPE()
		x, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, 256)
		if err != nil {
			return err
		}
		y, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, 256)
		if err != nil {
			return err
		}
		s, err := streams.New(pe)
		if err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if me == 0 {
			m, err := device.LoadModule(ctx, pe, []byte(badStorePTX))
			if err != nil {
				return err
			}
			f, err := m.Function("bad_store")
			if err != nil {
				return err
			}
			one := cuda.Dim3{X: 1, Y: 1, Z: 1}
			if err := s.Launch(f, one, one, 0, cuda.DevicePtr(8)); err != nil {
				return err
			}
			record(0, s.Synchronize(sctx))
		}
		// PE 1 (innocent) uses the device after PE 0's fault. The
		// errors are the runtime's to report: fn returns nil.
		err = pe.BarrierAll(sctx)
		if err == nil {
			if err = streams.AllReduce(s, pe.TeamWorld(), shmem.OpSum, y, x, 256); err == nil {
				err = s.Synchronize(sctx)
			}
		}
		if me == 1 {
			record(1, err)
		}
		return nil
	})
	t.Logf("PE 0: %v\nPE 1: %v\nRunWith: %v", errs[0], errs[1], runErr)
	require.Error(t, errs[0], "PE 0's Synchronize after its kernel stored to an illegal address")
	assert.Contains(t, errs[0].Error(), "launch", "PE 0's error names the op that faulted")
	assert.Contains(t, errs[0].Error(), "bad_store", "PE 0's error names the kernel that faulted")
	require.Error(t, errs[1], "PE 1 shares the poisoned context")
	assert.NotErrorIs(t, errs[1], context.DeadlineExceeded, "PE 1 must fail promptly, not time out")
	lost := func(err error) bool {
		s := strings.ToLower(err.Error())
		return strings.Contains(s, "context") && strings.Contains(s, "lost")
	}
	assert.True(t, lost(errs[1]), "PE 1's error says the device context is lost: %v", errs[1])
	assert.Error(t, runErr, "the job ends")
}
