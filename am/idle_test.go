package am_test

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// worlds makes n inproc PEs and a World on each with opt.
func worlds(t *testing.T, ctx context.Context, n int, opt am.Options) ([]*hostshmem.PE, []*am.World) {
	_, pes, ws := am.InprocWorlds(t, ctx, reg, n, opt)
	return pes, ws
}

func closeAll(ctx context.Context, pes []*hostshmem.PE, ws []*am.World) {
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i].Close(ctx)
			pes[i].Finalize(ctx)
		}()
	}
	wg.Wait()
}

// TestThreadsFromEnv: GSHMEM_THREADS, read once by gshmem into its
// Config, sizes the handler pool, and LAMELLAR_THREADS when it is unset.
func TestThreadsFromEnv(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{"GSHMEM_THREADS": "3"}, 3},
		{map[string]string{"LAMELLAR_THREADS": "5"}, 5},
		{map[string]string{"GSHMEM_THREADS": "2", "LAMELLAR_THREADS": "5"}, 2},
	} {
		cfg, err := gshmem.LoadConfig(func(k string) string { return c.env[k] })
		require.NoError(t, err)
		cfg.NPEs, cfg.HeapSize = 2, 8<<20
		err = gshmem.RunWith(ctx, cfg, func(ctx context.Context, pe *gshmem.PE) error {
			w, err := am.New(ctx, pe, reg, am.Options{})
			if err != nil {
				return err
			}
			assert.Equal(t, c.want, w.Threads(), "%v", c.env)
			v, err := am.Exec(w, 1-pe.MyPE(), WhoAmI{}).Wait(ctx)
			if err != nil {
				return err
			}
			assert.Equal(t, 1-pe.MyPE(), v)
			return w.Close(ctx)
		})
		require.NoError(t, err)
	}
	_, err := am.New(ctx, nil, reg, am.Options{})
	require.ErrorIs(t, err, am.ErrInvalidArg)
}

// TestNewIgnoresTheEnvironment: am.New reads nothing from the environment
// (gshmem.Run read it, once), so a malformed variable that has nothing to
// do with it does not fail it.
func TestNewIgnoresTheEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Setenv("GSHMEM_BOOT_TIMEOUT", "soon")
	t.Setenv("GSHMEM_THREADS", "many")
	_, err := gshmem.LoadConfig(nil)
	require.Error(t, err, "the environment is malformed")
	err = gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 8 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, reg, am.Options{})
		if err != nil {
			return err
		}
		return w.Close(ctx)
	})
	require.NoError(t, err)
}

// TestIdleCostsNoCPU: an idle World sleeps (spin, yield, then the futex):
// two PEs idling for half a second use a small fraction of a core.
func TestIdleCostsNoCPU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pes, ws := worlds(t, ctx, 2, am.Options{})
	_, err := am.Exec(ws[0], 1, WhoAmI{}).Wait(ctx)
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // past the spin and yield phases
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0, t0 := cpu(), time.Now()
	time.Sleep(500 * time.Millisecond)
	used, wall := cpu()-c0, time.Since(t0)
	require.Less(t, used, wall/4, "idle Worlds used %v of CPU in %v", used, wall)
	closeAll(ctx, pes, ws)
}

// scenarioIdleWait: PEs that wait for a late peer (PE 0, asleep for
// 400 ms) in the World's Barrier, then in hostshmem's BarrierAll beside
// the World's idle handler goroutines, use a small fraction of a core
// meanwhile. Over shm each PE measures its own process: a waiter that
// yielded to runnable goroutines instead of sleeping, round after round,
// would burn one.
func scenarioIdleWait(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{})
	defer w.Abort()
	_, err := am.Exec(w, (w.MyPE()+1)%w.NPEs(), WhoAmI{}).Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, w.Barrier(ctx))
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, wait := range []struct {
		name string
		f    func(context.Context) error
	}{{"World.Barrier", w.Barrier}, {"BarrierAll", pe.BarrierAll}} {
		if pe.MyPE() == 0 {
			time.Sleep(400 * time.Millisecond)
		}
		c0, t0 := cpu(), time.Now()
		require.NoError(t, wait.f(ctx), wait.name)
		used, wall := cpu()-c0, time.Since(t0)
		if pe.MyPE() != 0 {
			require.Less(t, used, wall/4, "PE %d waiting in %s used %v of CPU in %v", pe.MyPE(), wait.name, used, wall)
		}
	}
	closeWorld(t, w)
}

func TestIdleWait(t *testing.T) { petest.Both(t, scenarios, "idlewait", 2, 3) }
