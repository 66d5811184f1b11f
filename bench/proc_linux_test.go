package bench

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// threadCPUs returns the Cpus_allowed_list of every thread of this process.
func threadCPUs(t *testing.T) map[string]int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	lists := map[string]int{}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
		if err != nil {
			continue // the thread is gone
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				lists[strings.TrimSpace(v)]++
			}
		}
	}
	return lists
}

func TestBindCPU(t *testing.T) {
	cpus, err := allowedCPUs()
	require.NoError(t, err)
	require.NotEmpty(t, cpus)
	var orig cpuMask
	for _, c := range cpus {
		orig[c/64] |= 1 << (c % 64)
	}
	defer func() { require.NoError(t, setAffinity(&orig)) }()

	cpu, err := bindCPU(len(cpus) + 1) // wraps around
	require.NoError(t, err)
	assert.Equal(t, cpus[1%len(cpus)], cpu)
	assert.Equal(t, []string{strconv.Itoa(cpu)}, keys(threadCPUs(t)), "every thread bound")
	got, err := allowedCPUs()
	require.NoError(t, err)
	assert.Equal(t, []int{cpu}, got)
}

func keys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestBindPE(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	assert.ErrorContains(t, bindPE(env()), "no local rank")
	assert.ErrorContains(t, bindPE(env("GSHMEM_LOCAL_RANK", "2", "GSHMEM_LOCAL_SIZE", "2")), "no local rank")
	before := threadCPUs(t)
	// More PEs than CPUs: oversubscribed, nothing is bound.
	require.NoError(t, bindPE(env("GSHMEM_LOCAL_RANK", "0", "GSHMEM_LOCAL_SIZE", "100000")))
	assert.Equal(t, keys(before), keys(threadCPUs(t)))
}
