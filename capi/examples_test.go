//go:build cgo

package capi_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCExamples builds the C examples (examples/c, which README shows)
// with gshmemcc's flags and -Wall -Werror, and runs each on 2 shm PEs, as
// gpurun would.
func TestCExamples(t *testing.T) {
	srcs, err := filepath.Glob(filepath.Join("..", "examples", "c", "*.c"))
	require.NoError(t, err)
	require.NotEmpty(t, srcs)
	for _, src := range srcs {
		t.Run(strings.TrimSuffix(filepath.Base(src), ".c"), func(t *testing.T) {
			bin := compile(t, src)
			r := runShm(t, bin, 2)
			require.Equal(t, 0, r.code, "exit status\n%s", r.out)
		})
	}
}
