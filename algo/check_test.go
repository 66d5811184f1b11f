package algo_test

import (
	"testing"

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
