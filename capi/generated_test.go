package capi_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGeneratedUpToDate runs capi/gen into a temporary tree of the
// repository's layout and checks that include/shmem.h and the capi/z*.c
// it writes are the committed ones, byte for byte, and that no z*.c is
// committed that gen no longer writes: the tables, not hand edits, are
// what the C interface is made from. ci/check.sh does the same with diff.
func TestGeneratedUpToDate(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to run capi/gen: %v", err)
	}
	// Read gen's sources, so that go test's cache, which notes the files
	// a test opens, runs this again when they change.
	srcs, err := filepath.Glob(filepath.Join("gen", "*"))
	require.NoError(t, err)
	for _, f := range srcs {
		_, err := os.ReadFile(f)
		require.NoError(t, err)
	}
	out := t.TempDir()
	for _, d := range []string{"include", "capi"} {
		require.NoError(t, os.Mkdir(filepath.Join(out, d), 0o755))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "run", "./gen", "-root", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go run ./gen -root %s\n%s", out, b)

	fix := "the generated C interface is stale: run `go generate ./capi` (or `go run ./capi/gen -root .` from the repository root) and commit the result"
	same := func(committed, generated string) {
		t.Helper()
		want, err := os.ReadFile(generated)
		require.NoError(t, err)
		got, err := os.ReadFile(committed)
		require.NoError(t, err, fix)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what capi/gen writes: %s", committed, fix)
		}
	}
	same(filepath.Join("..", "include", "shmem.h"), filepath.Join(out, "include", "shmem.h"))

	names := func(dir string) []string {
		m, err := filepath.Glob(filepath.Join(dir, "z*.c"))
		require.NoError(t, err)
		for i := range m {
			m[i] = filepath.Base(m[i])
		}
		sort.Strings(m)
		return m
	}
	gen, committed := names(filepath.Join(out, "capi")), names(".")
	require.NotEmpty(t, gen)
	require.Equal(t, gen, committed, "the capi/z*.c files are not the ones capi/gen writes: %s (and remove those it no longer writes)", fix)
	for _, n := range gen {
		same(n, filepath.Join(out, "capi", n))
	}
}
