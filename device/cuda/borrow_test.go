package cuda

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A borrowed stream queues work on its creator's handle and, destroyed,
// leaves the handle alone: the creator's own Destroy then frees it (the
// fake driver frees a stream's memory, so destroying it twice would be a
// double free).
func TestBorrowStream(t *testing.T) {
	d, err := Load(buildFake(t, 0))
	require.NoError(t, err)
	defer d.Close()
	c, err := d.Primary(0)
	require.NoError(t, err)
	defer c.Close()
	own, err := c.NewStream(true)
	require.NoError(t, err)
	require.False(t, own.Borrowed())

	b := c.BorrowStream(own.Handle())
	require.True(t, b.Borrowed())
	require.Equal(t, own.Handle(), b.Handle())
	require.Same(t, c, b.Context())
	word, err := c.HostAlloc(64)
	require.NoError(t, err)
	wp, err := c.HostDevicePtr(word)
	require.NoError(t, err)
	require.NoError(t, b.WriteValue64(wp, 7, WriteDefault))
	require.NoError(t, b.Synchronize())
	require.Equal(t, byte(7), word[0])
	require.NoError(t, b.Destroy())
	require.ErrorIs(t, b.Destroy(), ErrClosed)

	done, err := own.Query() // still the creator's, still alive
	require.NoError(t, err)
	require.True(t, done)
	require.NoError(t, own.Destroy())
	require.NoError(t, c.HostFree(word))

	// The legacy default stream (handle 0) can be borrowed too.
	z := c.BorrowStream(0)
	require.Zero(t, z.Handle())
	require.NoError(t, z.Synchronize())
	require.NoError(t, z.Destroy())
}
