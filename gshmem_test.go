package gshmem_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/inproc"
	"github.com/gshmem/gshmem/hostshmem"
)

// A PE waiting in a barrier that its peers will never reach, because they
// finalized and left, is told so at once instead of waiting forever.
func TestBarrierAfterPeersFinalized(t *testing.T) {
	job, err := inproc.New(3, hostshmem.RegionSize(1<<20))
	require.NoError(t, err)
	pes := make([]*hostshmem.PE, 3)
	for i := range pes {
		pes[i], err = hostshmem.New(job.Fabric(i), hostshmem.Config{})
		require.NoError(t, err)
	}
	// PEs 1 and 2 leave after a clean finalize (what Finalize ends with).
	require.NoError(t, job.Fabric(1).Close(fabric.Finalized))
	require.NoError(t, job.Fabric(2).Close(fabric.Finalized))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err = pes[0].BarrierAll(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, fabric.ErrPeerDead)
	assert.Contains(t, err.Error(), "no peer is left")
	assert.Less(t, time.Since(start), 2*time.Second)
	pes[0].Abort()
}

// A PE in BarrierAll while the others finalize is told it called
// something else, on every PE, at once.
func TestBarrierAgainstFinalize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 3, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		if pe.MyPE() == 0 {
			return pe.BarrierAll(ctx)
		}
		return nil // Run finalizes
	})
	require.ErrorIs(t, err, hostshmem.ErrMismatch)
	assert.Contains(t, err.Error(), "PE 0 called barrier_all, PE 1 called finalize")
	assert.Less(t, time.Since(start), 2*time.Second)
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// A job that can never initialise fails at once, naming what was asked.
func TestTooManyPEsFailsAtOnce(t *testing.T) {
	fromEnv, err := gshmem.LoadConfig(env(map[string]string{"GSHMEM_NPES": "100000"}))
	require.NoError(t, err)
	for _, tc := range []struct {
		c    gshmem.Config
		want string
	}{
		{fromEnv, "GSHMEM_NPES=100000"},
		{gshmem.Config{NPEs: hostshmem.MaxPEs + 1}, fmt.Sprintf("Config.NPEs=%d", hostshmem.MaxPEs+1)},
	} {
		start := time.Now()
		err := gshmem.RunWith(context.Background(), tc.c, func(context.Context, *gshmem.PE) error { return nil })
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.Contains(t, err.Error(), "a job has at most")
		assert.Less(t, time.Since(start), time.Second, "%s: refuse before mapping anything", tc.want)
	}
}
