package ring

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestArena: first fit, 64-byte chunks, coalescing on free, and frees of
// unknown offsets ignored.
func TestArena(t *testing.T) {
	var a Arena
	a.Init(4096, 1024)
	x, ok := a.TryAlloc(1, 1)
	require.True(t, ok)
	require.EqualValues(t, 4096, x)
	y, ok := a.TryAlloc(500, 1)
	require.True(t, ok)
	require.EqualValues(t, 4096+64, y)
	z, ok := a.TryAlloc(448, 1)
	require.True(t, ok)
	_, ok = a.TryAlloc(1, 1)
	require.False(t, ok, "full")
	require.Equal(t, 3, a.InUse())
	a.Free(y)
	a.Free(y) // twice: ignored
	a.Free(12345)
	_, ok = a.TryAlloc(513, 1)
	require.False(t, ok, "512 bytes free in the middle")
	a.Free(x)
	v, ok := a.TryAlloc(576, 1)
	require.True(t, ok, "coalesced with its left neighbour")
	require.EqualValues(t, 4096, v)
	a.Free(v)
	a.Free(z)
	require.Equal(t, 0, a.InUse())
	w, ok := a.TryAlloc(1024, 1)
	require.True(t, ok, "all coalesced")
	require.EqualValues(t, 4096, w)
}

// TestArenaReclaim: the chunks in flight to a PE that died all come back;
// those lent to others stay.
func TestArenaReclaim(t *testing.T) {
	var a Arena
	a.Init(0, 1024)
	x, ok := a.TryAlloc(256, 1)
	require.True(t, ok)
	_, ok = a.TryAlloc(256, 2)
	require.True(t, ok)
	_, ok = a.TryAlloc(256, 1)
	require.True(t, ok)
	_, ok = a.TryAlloc(512, 3)
	require.False(t, ok, "full but for 256 bytes")
	a.Reclaim(1)
	require.Equal(t, 1, a.InUse(), "PE 2's chunk stays")
	a.Free(x) // a late release of a reclaimed chunk: ignored
	require.Equal(t, 1, a.InUse())
	_, ok = a.TryAlloc(512, 3)
	require.True(t, ok)
}
