package am_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
)

// TestCompleted: a completed Future returns its value or error at once,
// and its Done channel is closed; a nil interface result is nil, not a
// panic.
func TestCompleted(t *testing.T) {
	ctx := context.Background()
	f := am.Completed(42, nil)
	assert.True(t, f.Ready())
	v, err := f.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	select {
	case <-f.Done():
	default:
		t.Fatal("Done of a completed Future is not closed")
	}
	boom := errors.New("boom")
	_, err = am.Completed(0, boom).Wait(ctx)
	assert.ErrorIs(t, err, boom)
	e, err := am.Completed[error](nil, nil).Wait(ctx)
	assert.NoError(t, err)
	assert.Nil(t, e)
}
