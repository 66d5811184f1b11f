package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/config"
)

func gpurun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv(config.EnvShmDir, t.TempDir())
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestProgramFlagsPassThrough(t *testing.T) {
	code, stdout, stderr := gpurun(t, "-n", "2", "-prefix", "sh", "-c", `echo "$GSHMEM_PE $0 $1"`, "-iters", "10")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, []string{"PE 0: 0 -iters 10\n", "PE 1: 1 -iters 10\n"}, slices.Sorted(strings.Lines(stdout)))
}

func TestNFromEnvironment(t *testing.T) {
	t.Setenv(config.EnvNPES, "3")
	code, stdout, stderr := gpurun(t, "sh", "-c", `echo "$GSHMEM_NPES"`)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "3\n3\n3\n", stdout)

	t.Setenv(config.EnvNPES, "many")
	code, _, stderr = gpurun(t, "true")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `GSHMEM_NPES="many"`)
}

func TestExitCode(t *testing.T) {
	code, _, stderr := gpurun(t, "-n", "2", "sh", "-c", `exit $((GSHMEM_PE + 4))`)
	assert.Contains(t, []int{4, 5}, code)
	assert.Contains(t, stderr, "exited with status")

	code, _, stderr = gpurun(t, "-n", "1", "./no-such-program")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `"./no-such-program"`)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-bogus", "true"}, {"-n", "2"}, {"-n", "0", "true"}, {"-grace", "0s", "true"}} {
		code, _, stderr := gpurun(t, args...)
		assert.Equal(t, 2, code, "%q", args)
		assert.Contains(t, stderr, "usage: gpurun", "%q", args)
	}
}

func TestSubcommands(t *testing.T) {
	code, stdout, _ := gpurun(t, "info")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "gpurun 0.1.0")
	assert.Contains(t, stdout, config.EnvSymSize)

	code, _, stderr := gpurun(t, "bench")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "not built yet")
}
