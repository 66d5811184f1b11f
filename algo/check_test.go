package algo_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/algo"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// The reference algorithms and the built-in one pass the harness on every
// job size, team, op and element count of its defaults.

func TestRing(t *testing.T) {
	t.Run("float32", func(t *testing.T) { algo.TestAllReduce(t, algo.Ring[float32]) })
	t.Run("float64", func(t *testing.T) { algo.TestAllReduce(t, algo.Ring[float64]) })
	t.Run("int32", func(t *testing.T) { algo.TestAllReduce(t, algo.Ring[int32]) })
	t.Run("Float16", func(t *testing.T) { algo.TestAllReduce(t, algo.Ring[shmem.Float16]) })
	t.Run("BFloat16", func(t *testing.T) { algo.TestAllReduce(t, algo.Ring[shmem.BFloat16]) })
}

func TestOneShot(t *testing.T) {
	t.Run("float32", func(t *testing.T) { algo.TestAllReduce(t, algo.OneShot[float32]) })
	t.Run("float64", func(t *testing.T) { algo.TestAllReduce(t, algo.OneShot[float64]) })
	t.Run("int32", func(t *testing.T) { algo.TestAllReduce(t, algo.OneShot[int32]) })
	t.Run("Float16", func(t *testing.T) { algo.TestAllReduce(t, algo.OneShot[shmem.Float16]) })
	t.Run("BFloat16", func(t *testing.T) { algo.TestAllReduce(t, algo.OneShot[shmem.BFloat16]) })
}

func TestBuiltin(t *testing.T) {
	t.Run("float32", func(t *testing.T) { algo.TestAllReduce(t, algo.Builtin[float32]) })
	t.Run("float64", func(t *testing.T) { algo.TestAllReduce(t, algo.Builtin[float64]) })
	t.Run("int32", func(t *testing.T) { algo.TestAllReduce(t, algo.Builtin[int32]) })
	t.Run("Float16", func(t *testing.T) { algo.TestAllReduce(t, algo.Builtin[shmem.Float16]) })
	t.Run("BFloat16", func(t *testing.T) { algo.TestAllReduce(t, algo.Builtin[shmem.BFloat16]) })
}

// Over RMA only, puts and signals go through the fabric's Put and atomics
// instead of stores into a peer's mapping: the path a network transport
// takes.
func TestRMAOnly(t *testing.T) {
	cfg := algo.Config{NPEs: []int{3, 4}, Elems: []int{0, 5, 1000}, RMAOnly: true}
	for name, alg := range map[string]algo.AllReduce[float32]{"ring": algo.Ring[float32], "oneshot": algo.OneShot[float32], "builtin": algo.Builtin[float32]} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, algo.Check(context.Background(), alg, cfg))
		})
	}
}
