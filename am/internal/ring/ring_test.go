package ring_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am/internal/ring"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/inproc"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

var scenarios = petest.Scenarios{"rings": scenarioRings}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

// TestRings runs the rings and the arena alone, without package am above
// them, on goroutine PEs, RMA-only goroutine PEs (Puts and PutSignal, as
// over a network) and processes over shared memory.
func TestRings(t *testing.T) { petest.Both(t, scenarios, "rings", 2, 3) }

// TestRingsSlurm runs the same scenario as the tasks of a Slurm step: on
// one node (3 PEs over shared memory) and on two (4 PEs, 2 per node: the
// rings of PEs on different nodes written by libfabric's PutSignal). It
// skips where no Slurm cluster answers, and the two-node run without
// -tags ofi.
func TestRingsSlurm(t *testing.T) {
	t.Run("1node", func(t *testing.T) { petest.Slurm(t, scenarios, "pmi2", 1, 3, "rings") })
	t.Run("2nodes", func(t *testing.T) { petest.Slurm(t, scenarios, "pmi2", 2, 4, "rings") })
}

const (
	ringSize = 4096 // small: the frames wrap around the ring many times
	minFrame = 24
	kindData = 2
	frames   = 3000 // per ordered pair of PEs (this PE to itself too)
)

// frameSize is the size of frame i from src: 24 to 112 bytes, so that runs
// end anywhere and the producer pads at the ring's end.
func frameSize(src, i int) int { return minFrame + 8*((7*i+src)%12) }

// appendFrame appends frame i from src to dst: the size word, the kind,
// the frame's number, src and dst, then bytes that depend on all three.
func appendFrame(b []byte, src, dst, i int) []byte {
	n := frameSize(src, i)
	f := make([]byte, n)
	binary.LittleEndian.PutUint32(f, uint32(n))
	f[4] = kindData
	binary.LittleEndian.PutUint64(f[8:], uint64(i))
	binary.LittleEndian.PutUint64(f[16:], uint64(src)<<32|uint64(dst))
	for j := minFrame; j < n; j++ {
		f[j] = byte(i + j + 3*src)
	}
	return append(b, f...)
}

// produce sends frames 0..frames-1 to dst, staged a few at a time so that
// Publish writes runs of several frames, waiting for room when the ring is
// full.
func produce(ctx context.Context, r *ring.Rings, fab fabric.Fabric, dst int) error {
	me := fab.PE()
	var p ring.Producer
	var stage []byte
	for i := 0; i < frames; {
		stage = stage[:0]
		for k := 0; k < 1+i%8 && i < frames; k++ {
			stage = appendFrame(stage, me, dst, i)
			i++
		}
		b := fabric.PolicyOf(fab).Backoff()
		for s := stage; len(s) > 0; {
			k, err := r.Publish(dst, &p, s)
			if err != nil {
				return fmt.Errorf("publish to PE %d: %w", dst, err)
			}
			if k > 0 {
				s = s[k:]
				continue
			}
			moved, err := r.Refresh(dst, &p)
			if err != nil {
				return fmt.Errorf("refresh PE %d's head: %w", dst, err)
			}
			if !moved {
				if err := b.Pause(ctx); err != nil {
					return fmt.Errorf("waiting for room on PE %d after %d frames: %w", dst, i, err)
				}
			}
		}
	}
	return nil
}

func scenarioRings(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	fab := pe.Fabric()
	me, n := pe.MyPE(), pe.NPEs()
	area, err := hostshmem.Calloc[uint64](ctx, pe, int(ring.AreaBytes(n, ringSize)/8))
	require.NoError(t, err)
	const arenaBytes = 16 << 10
	arenaS, err := hostshmem.Malloc[byte](ctx, pe, arenaBytes)
	require.NoError(t, err)
	require.NoError(t, pe.BarrierAll(ctx), "the rings are zero everywhere before anyone publishes")

	r := ring.New(fab, ring.Config{Base: area.Offset(), Size: ringSize, MinFrame: minFrame})
	require.Equal(t, ringSize, r.Size())
	errs := make(chan error, n)
	for dst := range n {
		go func() { errs <- produce(ctx, r, fab, dst) }()
	}
	// Consume every PE's frames, in order, whole.
	next := make([]int, n)
	left := n * frames
	b := fabric.PolicyOf(fab).Backoff()
	for left > 0 {
		got := 0
		for src := range n {
			cur := r.Open(src)
			for {
				f, err := r.Next(&cur)
				require.NoError(t, err)
				if f == nil {
					break
				}
				i := next[src]
				require.Less(t, i, frames, "PE %d sent more than it did", src)
				want := appendFrame(nil, src, me, i)
				require.Equal(t, want, f, "frame %d from PE %d", i, src)
				next[src]++
				got++
			}
			r.Commit(&cur)
		}
		left -= got
		if got > 0 {
			b = fabric.PolicyOf(fab).Backoff()
			continue
		}
		if !r.Ready() {
			require.NoError(t, b.Pause(ctx), "waiting for frames: got %v of %d from each PE", next, frames)
		}
	}
	for range n {
		require.NoError(t, <-errs)
	}
	assert.False(t, r.Ready(), "everything consumed")

	// The arena: chunks this PE lends, which its right neighbour reads (in
	// place where it is mapped, by Get where not).
	var a ring.Arena
	a.Init(arenaS.Offset(), arenaBytes)
	sizes := []uint64{1, 100, 4096, 200}
	offs := make([]uint64, len(sizes))
	local := fab.Region(me)
	for k, sz := range sizes {
		off, ok := a.TryAlloc(sz, (me+n-1)%n)
		require.True(t, ok)
		require.Zero(t, off%ring.LineBytes)
		offs[k] = off
		for j := range sz {
			local[off+j] = byte(int(j) + 5*me + k)
		}
	}
	require.NoError(t, pe.BarrierAll(ctx))
	nb := (me + 1) % n
	for k, sz := range sizes { // the same offsets on every PE: the same allocations
		c, err := r.Chunk(nb, offs[k], sz)
		require.NoError(t, err)
		require.Len(t, c, int(sz))
		for j := range sz {
			require.Equal(t, byte(int(j)+5*nb+k), c[j], "chunk %d of PE %d, byte %d", k, nb, j)
		}
	}
	if fab.Region(nb) != nil {
		_, err := r.Chunk(nb, uint64(fab.Size())-8, 64)
		var re *ring.RefError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, nb, re.PE)
	}
	require.NoError(t, pe.BarrierAll(ctx), "the neighbour has read the chunks")
	a.Reclaim((me + n - 1) % n)
	assert.Zero(t, a.InUse())
	require.NoError(t, hostshmem.Free(ctx, pe, arenaS))
	require.NoError(t, hostshmem.Free(ctx, pe, area))
}

// TestRingCorrupt: a frame whose size cannot be right fails its producer
// (a *fabric.PeerError naming it) and the ring is not read again.
func TestRingCorrupt(t *testing.T) {
	for _, c := range []struct {
		name string
		hdr  uint64
	}{
		{"odd size", 12 | kindData<<32},
		{"below MinFrame", 16 | kindData<<32},
		{"past the end", ringSize + 8 | kindData<<32},
	} {
		t.Run(c.name, func(t *testing.T) {
			job, err := inproc.New(2, 1<<20)
			require.NoError(t, err)
			fab := job.Fabric(0)
			r := ring.New(fab, ring.Config{Base: 0, Size: ringSize, MinFrame: minFrame})
			// A frame from PE 1: its ring on PE 0 is the second one.
			_, err = fab.AMO64(0, uintptr(ring.AreaBytes(1, ringSize))+ring.HeadBytes, fabric.AMOSet, c.hdr, 0)
			require.NoError(t, err)
			require.True(t, r.Ready())
			cur := r.Open(1)
			f, err := r.Next(&cur)
			require.Nil(t, f)
			var pe *fabric.PeerError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 1, pe.PE)
			assert.True(t, errors.Is(err, fabric.ErrPeerDead))
			r.Commit(&cur)
			assert.False(t, r.Ready(), "a corrupt ring is not read again")
			cur = r.Open(1)
			f, err = r.Next(&cur)
			assert.Nil(t, f)
			assert.NoError(t, err)
		})
	}
}
