package hostshmem_test

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["malloc_hints"] = scenarioMallocHints }

func TestMallocWithHints(t *testing.T) { petest.Both(t, scenarios, "malloc_hints", 1, 2, 3, 4) }

// sameOnAll checks that v is the same on every PE: each PE puts its v into
// slot me of PE 0's table; PE 0 compares.
func sameOnAll(t *petest.T, pe *shmem.PE, table shmem.Sym[uint64], v uint64, what string) {
	ctx := t.Context()
	require.NoError(t, shmem.P(pe, table.At(pe.MyPE()), v, 0))
	require.NoError(t, pe.BarrierAll(ctx))
	if pe.MyPE() == 0 {
		for i, got := range shmem.Local(pe, table)[:pe.NPEs()] {
			assert.Equal(t, v, got, "%s on PE %d differs from PE 0", what, i)
		}
	}
	require.NoError(t, pe.BarrierAll(ctx))
}

func scenarioAlloc(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	table, err := shmem.Calloc[uint64](ctx, pe, n)
	require.NoError(t, err)
	require.Equal(t, n, table.Len())

	// Offsets are symmetric through a mix of sizes, frees and reallocs.
	a, err := shmem.Malloc[int32](ctx, pe, 100)
	require.NoError(t, err)
	b, err := shmem.Align[float64](ctx, pe, 4096, 7)
	require.NoError(t, err)
	assert.Zero(t, b.Offset()%4096, "Align(4096) gave offset %d", b.Offset())
	c, err := shmem.Malloc[complex128](ctx, pe, 3)
	require.NoError(t, err)
	sameOnAll(t, pe, table, uint64(a.Offset()), "malloc offset")
	sameOnAll(t, pe, table, uint64(b.Offset()), "align offset")
	assert.NotEqual(t, a.Offset(), c.Offset())
	assert.GreaterOrEqual(t, a.Offset(), uintptr(shmem.ReservedBytes), "user objects start after the reserved area")
	require.NoError(t, shmem.Free(ctx, pe, b))
	d, err := shmem.Malloc[int8](ctx, pe, 10)
	require.NoError(t, err)
	sameOnAll(t, pe, table, uint64(d.Offset()), "offset after free")

	// Realloc keeps each PE's own contents, wherever the object lands.
	la := shmem.Local(pe, a)
	for i := range la {
		la[i] = int32(me*1000 + i)
	}
	a2, err := shmem.Realloc(ctx, pe, a, 100000)
	require.NoError(t, err)
	require.Equal(t, 100000, a2.Len())
	sameOnAll(t, pe, table, uint64(a2.Offset()), "realloc offset")
	la2 := shmem.Local(pe, a2)
	for i := 0; i < 100; i++ {
		require.Equal(t, int32(me*1000+i), la2[i], "element %d after realloc", i)
	}
	a3, err := shmem.Realloc(ctx, pe, a2, 50) // shrink in place
	require.NoError(t, err)
	assert.Equal(t, a2.Offset(), a3.Offset())
	assert.Equal(t, int32(me*1000+49), shmem.Local(pe, a3)[49])

	// Calloc zeroes memory a previous object dirtied.
	dirty, err := shmem.Malloc[byte](ctx, pe, 1<<16)
	require.NoError(t, err)
	for i, l := 0, shmem.Local(pe, dirty); i < len(l); i++ {
		l[i] = 0xAB
	}
	require.NoError(t, shmem.Free(ctx, pe, dirty))
	z, err := shmem.Calloc[byte](ctx, pe, 1<<16)
	require.NoError(t, err)
	assert.Equal(t, dirty.Offset(), z.Offset(), "first fit reuses the freed block")
	for i, v := range shmem.Local(pe, z) {
		if v != 0 {
			t.Errorf("calloc byte %d = %#x, want 0", i, v)
			break
		}
	}

	// Malloc(0) is an empty object; Free of it is fine.
	e, err := shmem.Malloc[int64](ctx, pe, 0)
	require.NoError(t, err)
	assert.Zero(t, e.Len())
	require.NoError(t, shmem.Free(ctx, pe, e))

	// A full heap fails alike on every PE and names the sizes.
	_, err = shmem.Malloc[byte](ctx, pe, int(pe.HeapSize())+1)
	require.ErrorIs(t, err, shmem.ErrHeapFull)
	assert.Contains(t, err.Error(), "bytes requested")
	assert.Contains(t, err.Error(), "largest free block")

	// Bad sizes and alignments.
	_, err = shmem.Malloc[int64](ctx, pe, -1)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	_, err = shmem.Align[int64](ctx, pe, 48, 1)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "48")

	// Double free and a slice are not allocated objects.
	require.NoError(t, shmem.Free(ctx, pe, d))
	err = shmem.Free(ctx, pe, d)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	err = shmem.Free(ctx, pe, c.Slice(1, 2))
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	// A part of an object that starts where it does is not the object
	// (it freed the whole object); the whole of it is.
	err = shmem.Free(ctx, pe, c.Slice(0, 2))
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "is a part of the 48-byte object")
	require.NoError(t, shmem.Free(ctx, pe, c.Slice(0, 3)))
	err = shmem.Free(ctx, pe, c)
	require.ErrorIs(t, err, shmem.ErrInvalidArg, "freed already")
	// Realloc frees the object it was given, even in place: a stale Sym
	// at the offset of a live object is not that object.
	r1, err := shmem.Malloc[int64](ctx, pe, 16)
	require.NoError(t, err)
	r2, err := shmem.Realloc(ctx, pe, r1, 16)
	require.NoError(t, err)
	require.Equal(t, r1.Offset(), r2.Offset())
	err = shmem.Free(ctx, pe, r1)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "was freed")
	require.NoError(t, shmem.Free(ctx, pe, r2))

	// Mismatched collective calls are caught on every PE, naming both calls.
	size := 64
	if me == n-1 {
		size = 128
	}
	_, err = shmem.Malloc[byte](ctx, pe, size)
	require.ErrorIs(t, err, shmem.ErrMismatch)
	assert.Contains(t, err.Error(), "malloc(64 bytes)")
	assert.Contains(t, err.Error(), "malloc(128 bytes)")
	// ... and the heap stays usable and symmetric afterwards.
	f, err := shmem.Malloc[uint64](ctx, pe, 8)
	require.NoError(t, err)
	sameOnAll(t, pe, table, uint64(f.Offset()), "offset after a mismatch")

	// Align aligns addresses, in this PE's mapping of every PE's region,
	// up to MaxAlign; beyond it is an error naming the limit.
	for al := uintptr(64); al <= shmem.MaxAlign; al *= 4 {
		x, err := shmem.Align[int64](ctx, pe, al, 1)
		require.NoError(t, err, "align %d", al)
		addr := uintptr(unsafe.Pointer(&shmem.Local(pe, x)[0]))
		assert.Zero(t, addr%al, "Align(%d) gave address %#x", al, addr)
		for j := 0; j < n; j++ {
			if v := shmem.Peer(pe, x, j); v != nil {
				addr := uintptr(unsafe.Pointer(&v[0]))
				assert.Zero(t, addr%al, "Align(%d) gave PE %d's copy address %#x", al, j, addr)
			}
		}
		require.NoError(t, shmem.Free(ctx, pe, x))
	}
	_, err = shmem.Align[int64](ctx, pe, 2*shmem.MaxAlign, 1)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), fmt.Sprint(shmem.MaxAlign))

	free, largest := pe.HeapFree()
	assert.LessOrEqual(t, largest, free)
	assert.Less(t, free, pe.HeapSize())
}

func TestMallocHintString(t *testing.T) {
	assert.Equal(t, "0", shmem.MallocHint(0).String())
	assert.Equal(t, "MallocAtomicsRemote", shmem.MallocAtomicsRemote.String())
	assert.Equal(t, "MallocAtomicsRemote|MallocSignalRemote", (shmem.MallocAtomicsRemote | shmem.MallocSignalRemote).String())
	assert.Equal(t, "MallocSignalRemote|0x10", (shmem.MallocSignalRemote | 0x10).String())
}

// scenarioMallocHints: every combination of hints allocates an object like
// Malloc, which takes remote atomics and signals; unknown hint bits on one
// PE fail the call on every PE, naming that PE and the bits, and allocate
// nothing.
func scenarioMallocHints(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	hints := []shmem.MallocHint{0, shmem.MallocAtomicsRemote, shmem.MallocSignalRemote, shmem.MallocAtomicsRemote | shmem.MallocSignalRemote}
	for _, h := range hints {
		what := fmt.Sprintf("hints %v", h)
		words, err := shmem.MallocWithHints[uint64](ctx, pe, n+1, h)
		require.NoError(t, err, what)
		require.Equal(t, n+1, words.Len(), what)
		assert.Zero(t, words.Offset()%64, "%s: offset %d", what, words.Offset())
		clear(shmem.Local(pe, words))
		require.NoError(t, pe.BarrierAll(ctx))
		// Atomics from every PE on PE 0's counter, and a signal to the next PE.
		require.NoError(t, shmem.AtomicAdd(pe, words.At(0), uint64(me+1), 0), what)
		require.NoError(t, shmem.PutSignal(pe, words.Slice(2, 2+n-1), nil, words.At(1), uint64(me+1), shmem.SignalSet, next), what)
		got, err := shmem.SignalWaitUntil(ctx, pe, words.At(1), shmem.CmpNE, 0)
		require.NoError(t, err, what)
		assert.Equal(t, uint64((me+n-1)%n+1), got, what)
		require.NoError(t, pe.BarrierAll(ctx))
		if me == 0 {
			assert.Equal(t, uint64(n*(n+1)/2), shmem.Local(pe, words)[0], what)
		}
		require.NoError(t, pe.BarrierAll(ctx))
		require.NoError(t, shmem.Free(ctx, pe, words), what)
	}

	// Unknown bits on the last PE only: every PE fails alike.
	free, _ := pe.HeapFree()
	h := shmem.MallocSignalRemote
	if me == n-1 {
		h |= 0x40
	}
	_, err := shmem.MallocWithHints[int64](ctx, pe, 8, h)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), fmt.Sprintf("malloc_with_hints: PE %d: invalid argument: unknown hint bits 0x40 in MallocSignalRemote|0x40", n-1))
	after, _ := pe.HeapFree()
	assert.Equal(t, free, after, "a refused allocation took heap")
	// ... and the heap stays usable, in step on every PE.
	x, err := shmem.MallocWithHints[int64](ctx, pe, 8, 0)
	require.NoError(t, err)
	require.NoError(t, shmem.Free(ctx, pe, x))
}
