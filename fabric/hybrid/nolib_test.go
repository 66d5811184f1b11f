//go:build !ofi || !cgo

package hybrid_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric/hybrid"
	"github.com/gshmem/gshmem/fabric/ofi"
)

func ofiOptions() ofi.Options { return ofi.Options{} }

// Built without libfabric, a job that spans nodes fails at once with an
// error that says what it needs, and leaves nothing behind.
func TestOpenWithoutLibfabric(t *testing.T) {
	dir := shmDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := hybrid.Open(ctx, options(dir, jobID(t), []int{0, 1}, 0, newAllgather(2)))
	require.Error(t, err)
	assert.Nil(t, f)
	assert.ErrorIs(t, err, errdefs.ErrUnavailable)
	assert.ErrorContains(t, err, "PE 0: the job's PEs run on several nodes, which needs a libfabric endpoint")
	assertEmpty(t, dir)
}
