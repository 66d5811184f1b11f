package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

	for _, args := range [][]string{{"bench", "-ops", "nosuch"}, {"bench", "-n", "1"}, {"bench", "-max-size", "huge"}, {"bench", "-bogus"}} {
		code, _, stderr := gpurun(t, args...)
		assert.Equal(t, 2, code, "%q", args)
		assert.Contains(t, stderr, "bench", "%q", args)
	}
}

// TestBench runs a short real `gpurun bench` from a built binary (the PEs
// are that binary's hidden bench-worker) and checks the table's rows.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gpurun and runs 2 PEs")
	}
	exe := filepath.Join(t.TempDir(), "gpurun")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(exe, "bench", "-ops", "put,get,fadd,barrier,putbw", "-max-size", "64k", "-target", "2ms", "-reps", "1", "-peers=false")
	cmd.Env = append(os.Environ(), config.EnvShmDir+"="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	table := stdout.String()
	for _, row := range []string{`put\s+8B\s+2\s+\d`, `get\s+8B\s+2\s+\d`, `fadd\s+8B\s+2\s+\d`, `barrier\s+0B\s+2\s+\d`,
		`putbw\s+8B\s+2\s+\d`, `putbw\s+64KiB\s+2\s+\d`} {
		assert.Regexp(t, row, table)
	}
	assert.NotContains(t, table, "128KiB", "-max-size was not honoured")
	assert.Contains(t, table, "memmove")
}

// A job too large for the machine is refused at once, before any process
// starts, naming the flag or variable that asked for it.
func TestJobTooLarge(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want []string
	}{
		{nil, []string{"-n", "100000", "true"}, []string{"-n 100000", "a job has at most"}},
		{map[string]string{config.EnvNPES: "100000"}, []string{"true"}, []string{"GSHMEM_NPES=100000", "a job has at most"}},
		// 64 TiB per PE: more than any machine holds.
		{map[string]string{config.EnvSymSize: "64t"}, []string{"-n", "2", "true"}, []string{"-n 2", "2 PEs need about 128.5 TiB of memory", "available", "GSHMEM_SYMMETRIC_SIZE=64.0 TiB"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			start := time.Now()
			code, _, stderr := gpurun(t, tc.args...)
			assert.Equal(t, 1, code)
			for _, w := range tc.want {
				assert.Contains(t, stderr, w)
			}
			assert.Less(t, time.Since(start), 2*time.Second)
		})
	}
}
