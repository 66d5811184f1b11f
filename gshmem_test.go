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
	"github.com/gshmem/gshmem/hostshmem"
)

func noEnv(string) string { return "" }

// A PE that enters a barrier the others never reach (they finalized and
// left) is told so at once instead of waiting forever.
func TestBarrierAfterPeersFinalized(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var second time.Duration
	err := gshmem.RunWith(ctx, gshmem.Options{NPEs: 3, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20, Getenv: noEnv}, func(pe *gshmem.PE) error {
		if pe.MyPE() != 0 {
			return nil // Run finalizes: one barrier, then the PE leaves
		}
		if err := pe.BarrierAll(ctx); err != nil { // the others' finalize
			return err
		}
		start := time.Now()
		err := pe.BarrierAll(ctx) // nobody else will come
		second = time.Since(start)
		return err
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, fabric.ErrPeerDead)
	assert.Contains(t, err.Error(), "PE 0: ")
	assert.Contains(t, err.Error(), "no peer is left")
	assert.Less(t, second, 2*time.Second)
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// A job that can never initialise fails at once, naming what was asked.
func TestTooManyPEsFailsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		o    gshmem.Options
		want string
	}{
		{gshmem.Options{Getenv: env(map[string]string{"GSHMEM_NPES": "100000"})}, "GSHMEM_NPES=100000"},
		{gshmem.Options{NPEs: hostshmem.MaxPEs + 1, Getenv: noEnv}, fmt.Sprintf("Options.NPEs=%d", hostshmem.MaxPEs+1)},
	} {
		start := time.Now()
		err := gshmem.RunWith(context.Background(), tc.o, func(*gshmem.PE) error { return nil })
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.Contains(t, err.Error(), "a job has at most")
		assert.Less(t, time.Since(start), time.Second, "%s: refuse before mapping anything", tc.want)
	}
}
