package hostshmem

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	inprocfab "github.com/gshmem/gshmem/fabric/inproc"
)

// TestHugeSym: a Sym whose byte length overflows (no allocation makes one;
// a forged or corrupted one could) has no local copy, and every access to
// it is an error, not a panic or a slice past the heap.
func TestHugeSym(t *testing.T) {
	job, err := inprocfab.New(1, RegionSize(1<<20))
	require.NoError(t, err)
	p, err := New(job.Fabric(0), Config{})
	require.NoError(t, err)
	defer p.Abort()

	for _, n := range []int{1 << 61, 1<<61 + 1, math.MaxInt / 8, math.MaxInt} {
		s := Sym[int64]{off: ReservedBytes, n: n}
		assert.Nil(t, Local(p, s), "Local of %d elements", n)
		assert.Nil(t, Peer(p, s, 0), "Peer of %d elements", n)
		_, err := TestAll(p, s, nil, CmpEQ, 0)
		require.ErrorIs(t, err, ErrOutOfRange, "test_all of %d elements", n)
		b := Bytes(s)
		assert.Nil(t, Local(p, b))
		if n > math.MaxInt/8 {
			require.ErrorIs(t, b.Err(), ErrOutOfRange, "Bytes of %d elements", n)
			assert.Contains(t, b.Err().Error(), fmt.Sprintf("%d elements of 8 bytes", n))
			require.ErrorIs(t, PutMem(p, b, []byte{1}, 0), ErrOutOfRange)
		} else {
			require.NoError(t, b.Err(), "Bytes of %d elements", n)
		}
	}
	// Offsets past the space, and lengths that wrap the offset around.
	for _, off := range []uintptr{math.MaxUint64 - 7, math.MaxUint64 - 1<<20, 1 << 62} {
		s := Sym[int64]{off: off, n: 1 << 20}
		assert.Nil(t, Local(p, s), "Local at %d", off)
		assert.Nil(t, Peer(p, s, 0), "Peer at %d", off)
		require.ErrorIs(t, Put(p, s, []int64{1}, 0), ErrOutOfRange, "put at %d", off)
	}
}

// TestAs: a view of an object's bytes as another type of element keeps its
// offset and byte length, and refuses bytes that are not whole, aligned
// elements of the new type.
func TestAs(t *testing.T) {
	f := Sym[float32]{off: 64, n: 6}
	u := As[uint32](f)
	require.NoError(t, u.Err())
	assert.Equal(t, uintptr(64), u.Offset())
	assert.Equal(t, 6, u.Len())
	w := As[uint64](f)
	require.NoError(t, w.Err())
	assert.Equal(t, 3, w.Len())
	b := As[int8](f.At(1))
	assert.Equal(t, uintptr(68), b.Offset())
	assert.Equal(t, 4, b.Len())

	odd := As[uint64](f.Slice(1, 4)) // 12 bytes at 68
	require.ErrorIs(t, odd.Err(), ErrInvalidArg)
	assert.ErrorContains(t, odd.Err(), "12 bytes at offset 68 are not whole elements of 8 bytes")
	assert.ErrorIs(t, As[uint64](Sym[float32]{off: 68, n: 2}).Err(), ErrInvalidArg, "misaligned")
	assert.ErrorIs(t, As[uint32](f.At(9)).Err(), ErrOutOfRange, "an invalid Sym stays invalid")
}
