package hostshmem_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
	inprocfab "github.com/gshmem/gshmem/fabric/inproc"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/launcher"
)

func init() { scenarios["ptr"] = scenarioPtr }

// TestPtr: Ptr and TeamPtr give the peer's copy where it is mapped and say
// why where it is not; PEAccessible and AddrAccessible say what the RMA
// calls reach.
func TestPtr(t *testing.T) { petest.Both(t, scenarios, "ptr", 1, 2, 3, 4) }

func TestInfo(t *testing.T) {
	major, minor := shmem.InfoVersion()
	assert.Equal(t, [2]int{1, 5}, [2]int{major, minor})
	assert.Equal(t, "gshmem "+launcher.Version, shmem.InfoName())
	assert.Equal(t, shmem.ThreadMultiple, shmem.QueryThread())
	assert.Equal(t, "ThreadMultiple", shmem.QueryThread().String())
	assert.Equal(t, "ThreadSingle", shmem.ThreadSingle.String())
	assert.Equal(t, "ThreadLevel(7)", shmem.ThreadLevel(7).String())
	assert.True(t, shmem.ThreadSingle < shmem.ThreadFunneled && shmem.ThreadFunneled < shmem.ThreadSerialized &&
		shmem.ThreadSerialized < shmem.ThreadMultiple, "levels in OpenSHMEM's order")
}

// badInput reports whether a sentinel of bad input matches err: Ptr's
// error for a valid object that is not mapped must match none.
func badInput(err error) bool {
	for _, s := range []error{shmem.ErrInvalidPE, shmem.ErrOutOfRange, shmem.ErrInvalidArg, shmem.ErrFinalized, shmem.ErrNoDevice, shmem.ErrTeam} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func scenarioPtr(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next, prev := (me+1)%n, (me+n-1)%n
	x, err := shmem.Calloc[int64](ctx, pe, 4)
	require.NoError(t, err)

	// This PE's own copy is always mapped: it is Local.
	own, err := shmem.Ptr(pe, x, me)
	require.NoError(t, err)
	require.Len(t, own, 4)
	assert.Same(t, &shmem.Local(pe, x)[0], &own[0])

	// Peers: mapped on load/store transports, on RMA-only ones an error
	// that names the transport and matches no sentinel of bad input.
	rmaOnly := n > 1 && pe.Fabric().Region(next) == nil
	for j := 0; j < n; j++ {
		assert.True(t, shmem.PEAccessible(pe, j), "PE %d", j)
		assert.True(t, shmem.AddrAccessible(pe, x, j), "x on PE %d", j)
		assert.True(t, shmem.AddrAccessible(pe, x.At(3), j), "x[3] on PE %d", j)
		v, err := shmem.Ptr(pe, x, j)
		if j == me || !rmaOnly {
			require.NoError(t, err, "PE %d", j)
			require.Len(t, v, 4)
			assert.Same(t, &v[0], &shmem.Peer(pe, x, j)[0], "Peer and Ptr disagree on PE %d", j)
			continue
		}
		require.Error(t, err, "PE %d is not mapped", j)
		assert.Nil(t, v)
		assert.False(t, badInput(err), "a valid object that is not mapped is not bad input: %v", err)
		assert.ErrorIs(t, err, errdefs.ErrUnavailable)
		assert.Contains(t, err.Error(), fmt.Sprintf("PE %d's memory is not mapped into this process (transport %s", j, pe.Transport()))
		assert.Nil(t, shmem.Peer(pe, x, j))
	}

	// Stores through the next PE's mapping land there (atomically: other
	// PEs look at x with atomic loads here).
	if v, err := shmem.Ptr(pe, x.Slice(1, 2), next); err == nil {
		atomic.StoreInt64(&v[0], int64(100+me))
	} else {
		require.NoError(t, shmem.P(pe, x.At(1), int64(100+me), next))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	assert.Equal(t, int64(100+prev), atomic.LoadInt64(&shmem.Local(pe, x)[1]), "a store through Ptr from PE %d", prev)

	// TeamPtr takes team numbers: the even PEs' team, member i is world
	// PE 2i.
	evens, err := pe.TeamWorld().SplitStrided(ctx, 0, 2, (n+1)/2, nil)
	require.NoError(t, err)
	if evens != nil {
		size := evens.NPEs()
		for i := 0; i < size; i++ {
			tv, terr := shmem.TeamPtr(evens, x, i)
			v, err := shmem.Ptr(pe, x, 2*i)
			if err != nil {
				require.Error(t, terr, "team PE %d", i)
				assert.Contains(t, terr.Error(), fmt.Sprintf("PE %d's memory is not mapped", 2*i))
				continue
			}
			require.NoError(t, terr, "team PE %d", i)
			assert.Same(t, &v[0], &tv[0], "team PE %d is world PE %d", i, 2*i)
		}
		for _, bad := range []int{-1, size} {
			_, err := shmem.TeamPtr(evens, x, bad)
			require.ErrorIs(t, err, shmem.ErrInvalidPE, "team PE %d", bad)
			assert.Contains(t, err.Error(), fmt.Sprintf("team_ptr: PE out of range: PE %d not in [0, %d), the members of %v", bad, size, evens))
		}
		require.NoError(t, evens.Destroy(ctx))
		_, err = shmem.TeamPtr(evens, x, 0)
		require.ErrorIs(t, err, shmem.ErrTeam, "a destroyed team")
	}
	var null *shmem.Team
	_, err = shmem.TeamPtr(null, x, 0)
	require.ErrorIs(t, err, shmem.ErrTeam)

	// Bad input: every error names what is wrong.
	for _, bad := range []int{-1, n, n + 100} {
		assert.False(t, shmem.PEAccessible(pe, bad), "PE %d", bad)
		assert.False(t, shmem.AddrAccessible(pe, x, bad), "x on PE %d", bad)
		_, err := shmem.Ptr(pe, x, bad)
		require.ErrorIs(t, err, shmem.ErrInvalidPE)
		assert.Contains(t, err.Error(), fmt.Sprintf("ptr: PE out of range: PE %d not in [0, %d)", bad, n))
	}
	_, err = shmem.Ptr(pe, x.At(9), me)
	require.ErrorIs(t, err, shmem.ErrOutOfRange)
	assert.Contains(t, err.Error(), "Sym.At(9)")
	assert.False(t, shmem.AddrAccessible(pe, x.At(9), me))
	var empty shmem.Sym[int64]
	_, err = shmem.Ptr(pe, empty, me)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "empty object")
	assert.False(t, shmem.AddrAccessible(pe, empty, me))
	_, err = shmem.Ptr(pe, x.Slice(2, 2), me)
	require.ErrorIs(t, err, shmem.ErrInvalidArg, "an empty slice of an object")
	assert.False(t, shmem.AddrAccessible(pe, x.Slice(2, 2), me))

	// A freed object (the scenarios run with Config.Checked).
	y, err := shmem.Malloc[int32](ctx, pe, 8)
	require.NoError(t, err)
	assert.True(t, shmem.AddrAccessible(pe, y, next))
	require.NoError(t, shmem.Free(ctx, pe, y))
	assert.False(t, shmem.AddrAccessible(pe, y, next), "a freed object")
	_, err = shmem.Ptr(pe, y, me)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "freed")

	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, x))
}

// TestPtrGPUMemory: an object in GPU memory is accessible to puts and gets
// but has no host slice, and Ptr says so; 16-bit waits on it look at a
// fresh copy.
func TestPtrGPUMemory(t *testing.T) {
	const dev = 1 << 20
	model := petest.NewDeviceModel(t, 2, dev)
	petest.RunPEs(t, 2, shmem.Config{DeviceHeap: dev, DeviceExternal: true}, func(pe *shmem.PE) error {
		ctx := context.Background()
		me := pe.MyPE()
		require.NoError(t, pe.AttachDevice(model.For(me)))
		d, err := shmem.CallocOn[int16](ctx, pe, shmem.Device, 4)
		require.NoError(t, err)
		for j := 0; j < 2; j++ {
			assert.True(t, shmem.AddrAccessible(pe, d, j), "a GPU object on PE %d", j)
			v, err := shmem.Ptr(pe, d, j)
			require.Error(t, err)
			assert.Nil(t, v)
			assert.False(t, badInput(err), "a valid object in GPU memory is not bad input: %v", err)
			assert.ErrorIs(t, err, errdefs.ErrUnavailable)
			assert.Contains(t, err.Error(), "is in GPU memory")
			assert.Nil(t, shmem.Peer(pe, d, j))
		}

		// The other PE puts -3 into element 1; element 0, beside it in the
		// same 32-bit word, holds -3 already (a wait that looks at the
		// wrong half of the word, or at a stale copy, ends wrong).
		require.NoError(t, shmem.P(pe, d.At(0), int16(-3), me))
		ok, err := shmem.Test(pe, d.At(1), shmem.CmpEQ, -3)
		require.NoError(t, err)
		require.False(t, ok, "element 1 looks like element 0")
		require.NoError(t, pe.BarrierAll(ctx))
		require.NoError(t, shmem.P(pe, d.At(1), int16(-3), 1-me))
		require.NoError(t, shmem.WaitUntil(ctx, pe, d.At(1), shmem.CmpLT, 0))
		got, err := shmem.G(pe, d.At(1), me)
		require.NoError(t, err)
		assert.Equal(t, int16(-3), got)
		require.NoError(t, pe.BarrierAll(ctx))
		return nil
	})
}

// TestPtrAfterFinalize: a finalized PE reaches nothing.
func TestPtrAfterFinalize(t *testing.T) {
	job, err := inprocfab.New(1, shmem.RegionSize(1<<20))
	require.NoError(t, err)
	pe, err := shmem.New(job.Fabric(0), shmem.Config{})
	require.NoError(t, err)
	x, err := shmem.Malloc[int64](context.Background(), pe, 4)
	require.NoError(t, err)
	require.True(t, shmem.AddrAccessible(pe, x, 0))
	require.NoError(t, pe.Finalize(context.Background()))
	assert.False(t, shmem.PEAccessible(pe, 0))
	assert.False(t, shmem.AddrAccessible(pe, x, 0))
	_, err = shmem.Ptr(pe, x, 0)
	require.ErrorIs(t, err, shmem.ErrFinalized)
	_, err = shmem.TeamPtr(pe.TeamWorld(), x, 0)
	require.ErrorIs(t, err, shmem.ErrFinalized)
	assert.Nil(t, shmem.Peer(pe, x, 0))
}
