package gshmem

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
)

// A rank's place on its node follows the process manager's mapping, in
// rank order; ranks on several nodes are an error that says which ran
// where.
func TestPlacement(t *testing.T) {
	name := func(r int) string { return fmt.Sprintf("node-of-%d", r) }
	for _, c := range []struct {
		rank        int
		nodes       []int
		local, size int
	}{
		{0, []int{0}, 0, 1},
		{2, []int{0, 0, 0}, 2, 3},
		{1, []int{5, 5}, 1, 2},
	} {
		l, n, err := placement(c.rank, c.nodes, name, false)
		require.NoError(t, err)
		assert.Equal(t, [2]int{c.local, c.size}, [2]int{l, n}, "rank %d of %v", c.rank, c.nodes)
	}
	nodes := []int{0, 1, 0, 1, 0, 0, 2}
	_, _, err := placement(0, nodes, name, false)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrOffNode) && errors.Is(err, errdefs.ErrUnavailable), "%v", err)
	assert.Equal(t, "the job's 7 PEs run on 3 nodes (node-of-0: PEs 0, 2, 4-5; node-of-1: PEs 1, 3; node-of-6: PE 6): "+
		"PEs on different nodes need the libfabric transport (fabric/ofi), and this program was built without it "+
		"(go build -tags ofi, with libfabric's headers installed); or run the tasks on one node (srun -N 1)", err.Error())
	// With the network transport, each rank's place is among its node's.
	for rank, want := range [][2]int{{0, 4}, {0, 2}, {1, 4}, {1, 2}, {2, 4}, {3, 4}, {0, 1}} {
		l, n, err := placement(rank, nodes, name, true)
		require.NoError(t, err)
		assert.Equal(t, want, [2]int{l, n}, "rank %d", rank)
	}
}

func TestNewJobID(t *testing.T) {
	a, b := newJobID(), newJobID()
	assert.NotEqual(t, a, b)
	assert.Len(t, a, 36)
}

// A Config that claims a Slurm bootstrap without what srun set is an
// error naming the field; an empty Bootstrap follows the transport.
func TestResolveBootstrap(t *testing.T) {
	_, err := Config{Bootstrap: BootstrapPMI2}.resolve()
	assert.ErrorContains(t, err, `Bootstrap "srun+pmi2" needs what srun sets for each task`)
	_, err = Config{Bootstrap: "slurm"}.resolve()
	assert.ErrorContains(t, err, `Bootstrap "slurm": want`)
	c, err := Config{}.resolve()
	require.NoError(t, err)
	assert.Equal(t, BootstrapInproc, c.Bootstrap)
	c, err = Config{Transport: TransportShm, Job: "job_0123abcd", NPEs: 2}.resolve()
	require.NoError(t, err)
	assert.Equal(t, BootstrapGpurun, c.Bootstrap)
}
