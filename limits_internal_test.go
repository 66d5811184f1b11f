package gshmem

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/hostshmem"
)

// cfgOf is the Config of environment m.
func cfgOf(t *testing.T, m map[string]string) Config {
	t.Helper()
	c, err := LoadConfig(func(k string) string { return m[k] })
	require.NoError(t, err)
	return c
}

func TestFitInproc(t *testing.T) {
	assert.NoError(t, fitInproc(4, "GSHMEM_NPES=4", 1<<30, "test"))
	err := fitInproc(1000, "GSHMEM_NPES=1000", 64<<20, "the test's limit")
	require.ErrorIs(t, err, ErrJobTooLarge)
	for _, w := range []string{"GSHMEM_NPES=1000", "1000 in-process PEs need about 184.6 MiB", "(189.0 KiB per PE", "but 64.0 MiB is available (the test's limit)"} {
		assert.Contains(t, err.Error(), w)
	}
}

func TestCheckJob(t *testing.T) {
	avail, _, err := availableMemory()
	require.NoError(t, err)
	require.Positive(t, avail)

	assert.NoError(t, CheckJob(2, cfgOf(t, map[string]string{"GSHMEM_SYMMETRIC_SIZE": "1m"}), 0, "-n 2"))
	err = CheckJob(hostshmem.MaxPEs+1, Config{}, 0, "-n X")
	assert.ErrorIs(t, err, ErrJobTooLarge)
	assert.ErrorContains(t, err, fmt.Sprintf("-n X: a job has at most %d PEs", hostshmem.MaxPEs))

	// Twice the memory there is, in two PEs: refused, whatever the machine.
	half := fmt.Sprintf("%dk", avail>>10)
	err = CheckJob(2, cfgOf(t, map[string]string{"GSHMEM_SYMMETRIC_SIZE": half, "GSHMEM_PREFAULT": "0"}), 0, "GSHMEM_NPES=2")
	require.ErrorIs(t, err, ErrJobTooLarge)
	assert.ErrorContains(t, err, "GSHMEM_NPES=2: 2 PEs need about")
	assert.ErrorContains(t, err, "0 B of page tables for 2 pre-faulted mappings (GSHMEM_PREFAULT=0)")

	// On a GPU the device heap is not in the segment.
	big := map[string]string{"GSHMEM_SYMMETRIC_SIZE": "1m", "GSHMEM_DEVICE_SYMMETRIC_SIZE": fmt.Sprintf("%dk", avail>>10)}
	assert.ErrorIs(t, CheckJob(2, cfgOf(t, big), 0, "-n 2"), ErrJobTooLarge)
	assert.NoError(t, CheckJob(2, cfgOf(t, big), 1, "-n 2"))
	big["GSHMEM_DEVICE"] = "cpu"
	assert.ErrorIs(t, CheckJob(2, cfgOf(t, big), 1, "-n 2"), ErrJobTooLarge, "GSHMEM_DEVICE=cpu puts it back")

	_, err = LoadConfig(func(k string) string { return map[string]string{"GSHMEM_SYMMETRIC_SIZE": "lots"}[k] })
	assert.ErrorContains(t, err, `GSHMEM_SYMMETRIC_SIZE="lots"`)
}

func TestBytesString(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 19: "1.5 MiB", 64 << 40: "64.0 TiB", ^uint64(0): "16.0 EiB"} {
		assert.Equal(t, want, bytesString(n))
	}
	assert.Equal(t, ^uint64(0), mulSat(1<<40, 1<<40))
	assert.Equal(t, uint64(1<<40), mulSat(1<<20, 1<<20))
}
