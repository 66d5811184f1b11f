package am

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestArena: first fit, 64-byte chunks, coalescing on free, and frees of
// unknown offsets ignored.
func TestArena(t *testing.T) {
	var a arena
	a.init(4096, 1024)
	x, ok := a.tryAlloc(1, 1)
	require.True(t, ok)
	require.EqualValues(t, 4096, x)
	y, ok := a.tryAlloc(500, 1)
	require.True(t, ok)
	require.EqualValues(t, 4096+64, y)
	z, ok := a.tryAlloc(448, 1)
	require.True(t, ok)
	_, ok = a.tryAlloc(1, 1)
	require.False(t, ok, "full")
	require.Equal(t, 3, a.inUse())
	a.free(y)
	a.free(y) // twice: ignored
	a.free(12345)
	_, ok = a.tryAlloc(513, 1)
	require.False(t, ok, "512 bytes free in the middle")
	a.free(x)
	v, ok := a.tryAlloc(576, 1)
	require.True(t, ok, "coalesced with its left neighbour")
	require.EqualValues(t, 4096, v)
	a.free(v)
	a.free(z)
	require.Equal(t, 0, a.inUse())
	w, ok := a.tryAlloc(1024, 1)
	require.True(t, ok, "all coalesced")
	require.EqualValues(t, 4096, w)
}

// TestArenaReclaim: the chunks in flight to a PE that died all come back;
// those lent to others stay.
func TestArenaReclaim(t *testing.T) {
	var a arena
	a.init(0, 1024)
	x, ok := a.tryAlloc(256, 1)
	require.True(t, ok)
	_, ok = a.tryAlloc(256, 2)
	require.True(t, ok)
	_, ok = a.tryAlloc(256, 1)
	require.True(t, ok)
	_, ok = a.tryAlloc(512, 3)
	require.False(t, ok, "full but for 256 bytes")
	a.reclaim(1)
	require.Equal(t, 1, a.inUse(), "PE 2's chunk stays")
	a.free(x) // a late release of a reclaimed chunk: ignored
	require.Equal(t, 1, a.inUse())
	_, ok = a.tryAlloc(512, 3)
	require.True(t, ok)
}
