package affinity

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlan(t *testing.T) {
	cpus := []int{2, 5, 7}
	for rank, want := range cpus {
		got, err := Plan(cpus, rank, 3)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	got, err := Plan(cpus, 1, 4)
	require.NoError(t, err)
	assert.Equal(t, -1, got, "oversubscribed: unbound")
	for _, c := range [][2]int{{-1, 2}, {2, 2}, {0, 0}} {
		_, err := Plan(cpus, c[0], c[1])
		require.Error(t, err)
		assert.ErrorContains(t, err, "local rank")
	}
}

// threadCPUs returns the Cpus_allowed_list of every thread of this
// process, counted.
func threadCPUs(t *testing.T) map[string]int {
	t.Helper()
	paths, err := filepath.Glob("/proc/self/task/*/status")
	require.NoError(t, err)
	lists := map[string]int{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				lists[strings.TrimSpace(v)]++
			}
		}
	}
	return lists
}

// TestSet binds every thread of the test process to its last allowed CPU
// and back.
func TestSet(t *testing.T) {
	if runtime.GOOS != "linux" {
		_, err := Allowed()
		require.ErrorIs(t, err, ErrUnsupported)
		return
	}
	cpus, err := Allowed()
	require.NoError(t, err)
	require.NotEmpty(t, cpus)
	defer func() { require.NoError(t, Set(cpus)) }()

	last := cpus[len(cpus)-1]
	require.NoError(t, Set([]int{last}))
	got, err := Allowed()
	require.NoError(t, err)
	assert.Equal(t, []int{last}, got)
	lists := threadCPUs(t)
	assert.Len(t, lists, 1, "every thread bound: %v", lists)

	require.ErrorContains(t, Set(nil), "empty CPU set")
	require.ErrorContains(t, Set([]int{1 << 20}), "CPU 1048576")
}
