//go:build cgo

package capi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/config"
)

// TestCGoPaths runs the RMA, atomics, signal, wait, lock, collective,
// context and static-data programs with the
// odd-numbered PEs reaching every PE through Go (GSHMEM_CAPI_UNMAP=odd),
// as they would PEs on another node: C's atomics and Go's meet on the
// same words, C's puts wake Go's waits and the other way round.
func TestCGoPaths(t *testing.T) {
	for _, name := range []string{"rma", "amo", "signal", "wait", "lock", "coll", "ctx", "static_sync"} {
		t.Run(name, func(t *testing.T) {
			bin := compile(t, "testdata/"+name+".c")
			for _, m := range modes {
				for _, n := range []int{2, 3} {
					t.Run(fmt.Sprintf("%s/%d", m.name, n), func(t *testing.T) {
						r := m.run(t, bin, n, config.EnvCAPIUnmap+"=odd")
						require.Equal(t, 0, r.code, "exit status\n%s", r.out)
					})
				}
			}
		})
	}
}
