package hostshmem_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/fabric"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func scenarioErrors(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	x, err := shmem.Calloc[int64](ctx, pe, 10)
	require.NoError(t, err)
	sig, err := shmem.Calloc[uint64](ctx, pe, 1)
	require.NoError(t, err)
	buf := make([]int64, 11)

	// PE out of range, both ways, on every kind of call.
	for _, bad := range []int{n, -1, 1 << 20} {
		err = shmem.Put(pe, x, buf[:1], bad)
		require.ErrorIs(t, err, shmem.ErrInvalidPE)
		assert.Contains(t, err.Error(), fmt.Sprintf("PE %d not in [0, %d)", bad, n))
		_, err = shmem.G(pe, x, bad)
		require.ErrorIs(t, err, shmem.ErrInvalidPE)
		_, err = shmem.AtomicFetchAdd(pe, x, 1, bad)
		require.ErrorIs(t, err, shmem.ErrInvalidPE)
		err = shmem.PutSignal(pe, x, buf[:1], sig, 1, shmem.SignalSet, bad)
		require.ErrorIs(t, err, shmem.ErrInvalidPE)
	}

	// More elements than the object holds.
	err = shmem.Put(pe, x, buf, 0)
	require.ErrorIs(t, err, shmem.ErrOutOfRange)
	assert.Contains(t, err.Error(), "11 elements do not fit")
	err = shmem.Get(pe, buf, x, 0)
	require.ErrorIs(t, err, shmem.ErrOutOfRange)

	// Out-of-range At/Slice make a Sym whose every use is a clear error.
	err = shmem.P(pe, x.At(10), 1, 0)
	require.ErrorIs(t, err, shmem.ErrOutOfRange)
	assert.Contains(t, err.Error(), "Sym.At(10)")
	_, err = shmem.AtomicFetch(pe, x.At(-1), 0)
	require.ErrorIs(t, err, shmem.ErrOutOfRange)
	err = shmem.Put(pe, x.Slice(4, 2), buf[:1], 0)
	require.ErrorIs(t, err, shmem.ErrOutOfRange)
	assert.Contains(t, err.Error(), "Sym.Slice(4, 2)")
	require.Error(t, x.Slice(0, 11).Err())
	assert.Nil(t, shmem.Local(pe, x.Slice(0, 11)))
	err = shmem.WaitUntil(ctx, pe, x.At(99), shmem.CmpEQ, 0)
	require.ErrorIs(t, err, shmem.ErrOutOfRange)

	// The zero Sym has no elements.
	var zero shmem.Sym[int64]
	err = shmem.P(pe, zero, 1, 0)
	require.ErrorIs(t, err, shmem.ErrOutOfRange)

	// Overlapping source and destination on this PE.
	l := shmem.Local(pe, x)
	err = shmem.Put(pe, x.Slice(1, 10), l[0:5], me)
	require.ErrorIs(t, err, shmem.ErrOverlap)
	err = shmem.PutSignal(pe, shmem.Bytes(sig), make([]byte, 8), sig, 1, shmem.SignalSet, 0)
	require.ErrorIs(t, err, shmem.ErrOverlap)

	// Strides and counts.
	err = shmem.IPut(pe, x, buf, 0, 1, 2, 0)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	err = shmem.IPut(pe, x, buf[:3], 1, 2, 3, 0) // needs 5 source elements
	require.ErrorIs(t, err, shmem.ErrOutOfRange)
	err = shmem.IPut(pe, x, buf, 5, 1, 3, 0) // needs 11 target elements
	require.ErrorIs(t, err, shmem.ErrOutOfRange)
	err = shmem.IGet(pe, buf, x, 1, 1, -1, 0)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)

	// Wait arguments.
	err = shmem.WaitUntil(ctx, pe, x.At(0), shmem.Cmp(42), 0)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	err = shmem.WaitUntilAll(ctx, pe, x, make([]int, 3), shmem.CmpEQ, 0)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	_, err = shmem.WaitUntilSome(ctx, pe, x, make([]int, 2), nil, shmem.CmpEQ, 0)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	_, err = shmem.TestAnyVector(pe, x, nil, shmem.CmpEQ, nil)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)

	// Nothing above changed memory: the object is still all zero everywhere.
	require.NoError(t, pe.BarrierAll(ctx))
	for j := 0; j < n; j++ {
		got := make([]int64, 10)
		require.NoError(t, shmem.Get(pe, got, x, j))
		assert.Equal(t, make([]int64, 10), got, "PE %d's object changed", j)
	}
	require.NoError(t, pe.BarrierAll(ctx))
}

// scenarioFault: the last PE dies in the middle of a barrier loop (SIGKILL
// on shm); the others must return an error naming it. Survivors ignore the
// launcher's SIGTERM so that their own detection is what the test sees.
func scenarioFault(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	signal.Ignore(syscall.SIGTERM)
	for i := 0; ; i++ {
		if me == n-1 && i == 100 {
			fmt.Printf("PE %d: dying now\n", me)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		if err := pe.BarrierAll(ctx); err != nil {
			fmt.Printf("PE %d: barrier %d: %v\n", me, i, err)
			var perr *fabric.PeerError
			if errors.As(err, &perr) && perr.PE == n-1 && errors.Is(err, fabric.ErrPeerDead) {
				fmt.Printf("PE %d: detected PE %d dead\n", me, perr.PE)
			}
			os.Exit(3)
		}
	}
}

// TestFaultShm kills one of 3 processes mid-barrier: the others report it,
// the launcher names it and exits non-zero, all within 5 seconds, and the
// job leaves nothing in /dev/shm (Launch checks).
func TestFaultShm(t *testing.T) {
	r := petest.Launch(t, "fault", 3)
	t.Log(r.Output)
	assert.Equal(t, 128+9, r.Code, "exit status is the killed PE's")
	assert.Less(t, r.Elapsed, 5*time.Second)
	assert.Regexp(t, `gpurun: PE 2 \(pid \d+\) killed by signal SIGKILL`, r.Output)
	for _, survivor := range []int{0, 1} {
		assert.Contains(t, r.Output, fmt.Sprintf("PE %d: detected PE 2 dead", survivor))
	}
	assert.Regexp(t, `PE 2 \(pid \d+\) died`, r.Output)
}

// TestFaultInproc: a PE whose function fails mid-barrier fails its peers'
// barriers with an error naming it; Run returns every PE's error.
func TestFaultInproc(t *testing.T) {
	const n = 4
	t0 := time.Now()
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: n, HeapSize: 1 << 20},
		func(ctx context.Context, pe *shmem.PE) error {
			for i := 0; ; i++ {
				if pe.MyPE() == 2 && i == 50 {
					return errors.New("simulated crash")
				}
				if err := pe.BarrierAll(context.Background()); err != nil {
					return err
				}
			}
		})
	require.Error(t, err)
	assert.Less(t, time.Since(t0), 5*time.Second)
	msg := err.Error()
	assert.Contains(t, msg, "PE 2: simulated crash")
	assert.True(t, errors.Is(err, fabric.ErrPeerDead))
	for _, i := range []int{0, 1, 3} {
		assert.Contains(t, msg, fmt.Sprintf("PE %d: gshmem: barrier_all", i))
	}
	assert.Equal(t, 3, strings.Count(msg, "PE 2 failed: simulated crash"), msg)
}

// TestPanicInproc: a panic in one PE is that PE's error, not a crash.
func TestPanicInproc(t *testing.T) {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 1 << 20},
		func(ctx context.Context, pe *shmem.PE) error {
			if pe.MyPE() == 1 {
				var m map[int]int
				//lint:ignore SA5000 the panic is the point of the test
				m[0] = 1
			}
			return pe.BarrierAll(context.Background())
		})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PE 1: panic: assignment to entry in nil map")
	assert.Contains(t, err.Error(), "PE 0: gshmem: barrier_all")
}

// TestUseAfterFinalize: a finalized PE returns ErrFinalized, not a crash.
func TestUseAfterFinalize(t *testing.T) {
	t.Setenv("GSHMEM_SYMMETRIC_SIZE", "1m")
	ctx := context.Background()
	pe, err := gshmem.Init(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, pe.NPEs())
	x, err := shmem.Malloc[int32](ctx, pe, 4)
	require.NoError(t, err)
	require.NoError(t, shmem.P(pe, x, 7, 0))
	require.NoError(t, gshmem.Finalize(ctx, pe))
	require.ErrorIs(t, shmem.P(pe, x, 7, 0), shmem.ErrFinalized)
	_, err = shmem.AtomicFetchAdd(pe, x, 1, 0)
	require.ErrorIs(t, err, shmem.ErrFinalized)
	require.ErrorIs(t, pe.BarrierAll(ctx), shmem.ErrFinalized)
	_, err = shmem.Malloc[int32](ctx, pe, 4)
	require.ErrorIs(t, err, shmem.ErrFinalized)
	require.Nil(t, shmem.Local(pe, x))
	require.ErrorIs(t, pe.Finalize(ctx), shmem.ErrFinalized)
}
