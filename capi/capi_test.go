//go:build cgo

package capi_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/cbuild"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/launcher"
)

// The C test programs (testdata/*.c, each with harness.h's main) run on
// in-process PEs (shmemx_run) and on shm processes started by the real
// launcher, at 1 to 4 PEs; testdata/fail/*.c must end the job with the
// message their "// want:" line matches, never crash or hang.

var lib struct {
	once sync.Once
	dir  string // holds lib/libgshmem.so
	err  error
}

func TestMain(m *testing.M) {
	petest.SweepStale()
	code := m.Run()
	if lib.dir != "" {
		os.RemoveAll(lib.dir)
	}
	os.Exit(code)
}

// libDir builds libgshmem.so once per test binary and returns its
// directory.
func libDir(t *testing.T) string {
	t.Helper()
	if err := cbuild.Available(); err != nil {
		t.Skip(err)
	}
	lib.once.Do(func() {
		root, err := cbuild.Root(".")
		if err != nil {
			lib.err = err
			return
		}
		if lib.dir, err = os.MkdirTemp("", "gshmem-capi-"); err != nil {
			lib.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		_, lib.err = cbuild.BuildLib(ctx, root, filepath.Join(lib.dir, "lib"))
	})
	require.NoError(t, lib.err)
	return filepath.Join(lib.dir, "lib")
}

// compile builds the C program src with gshmemcc's flags into the test's
// temporary directory.
func compile(t *testing.T, src string, cflags ...string) string {
	t.Helper()
	ld := libDir(t)
	root, err := cbuild.Root(".")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := append([]string{"-std=c11", "-O1", "-g", "-Wall", "-Werror", "-o", bin, src}, cflags...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = cbuild.Compile(ctx, filepath.Join(root, "include"), ld, args...)
	require.NoError(t, err)
	return bin
}

// result is how a run of a C program ended.
type result struct {
	code int
	out  string
}

const runTimeout = 60 * time.Second

// runInproc runs bin's test on n in-process PEs.
func runInproc(t *testing.T, bin string, n int, env ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), append([]string{fmt.Sprintf("GSHMEM_TEST_INPROC=%d", n), "GSHMEM_CHECKED=1"}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "%s on %d in-process PEs did not finish in %v\n%s", bin, n, runTimeout, out.String())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code, out.String()}
}

// runShm runs bin on n processes started by the launcher, as gpurun does,
// and fails the test if a segment is left behind.
func runShm(t *testing.T, bin string, n int, env ...string) result {
	t.Helper()
	dir := petest.ShmDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var out bytes.Buffer
	code, err := launcher.Run(ctx, launcher.Options{
		N: n, Program: bin, Prefix: true, Stdout: &out, Stderr: &out,
		Env: append(os.Environ(), append([]string{"GSHMEM_CHECKED=1"}, env...)...), ShmDir: dir, KillGrace: time.Second,
	})
	require.NoError(t, err, "%s on %d shm PEs\n%s", bin, n, out.String())
	require.NoError(t, ctx.Err(), "%s on %d shm PEs did not finish in %v\n%s", bin, n, runTimeout, out.String())
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	require.Empty(t, left, "files left in the job's shm directory")
	return result{code, out.String()}
}

// modes are the two ways a C program's PEs run.
var modes = []struct {
	name string
	run  func(t *testing.T, bin string, n int, env ...string) result
}{{"inproc", runInproc}, {"shm", runShm}}

func peCounts() []int {
	if testing.Short() {
		return []int{1, 2}
	}
	return []int{1, 2, 3, 4}
}

// TestC runs every program of testdata on both modes at 1-4 PEs.
func TestC(t *testing.T) {
	srcs, err := filepath.Glob("testdata/*.c")
	require.NoError(t, err)
	require.NotEmpty(t, srcs)
	for _, src := range srcs {
		t.Run(strings.TrimSuffix(filepath.Base(src), ".c"), func(t *testing.T) {
			bin := compile(t, src)
			for _, m := range modes {
				for _, n := range peCounts() {
					t.Run(fmt.Sprintf("%s/%d", m.name, n), func(t *testing.T) {
						r := m.run(t, bin, n)
						require.Equal(t, 0, r.code, "exit status\n%s", r.out)
					})
				}
			}
		})
	}
}

var wantLine = regexp.MustCompile(`(?m)^// want: (.*)$`)

// TestCFailures runs testdata/fail: each program does something wrong on
// PE 0 and must end the job, on every mode, with a nonzero status and a
// message matching its want line, within the run timeout.
func TestCFailures(t *testing.T) {
	srcs, err := filepath.Glob("testdata/fail/*.c")
	require.NoError(t, err)
	require.NotEmpty(t, srcs)
	for _, src := range srcs {
		t.Run(strings.TrimSuffix(filepath.Base(src), ".c"), func(t *testing.T) {
			text, err := os.ReadFile(src)
			require.NoError(t, err)
			m := wantLine.FindSubmatch(text)
			require.NotNil(t, m, "%s has no // want: line", src)
			want := regexp.MustCompile(string(m[1]))
			bin := compile(t, src)
			for _, md := range modes {
				t.Run(md.name, func(t *testing.T) {
					r := md.run(t, bin, 2)
					require.NotEqual(t, 0, r.code, "the job succeeded\n%s", r.out)
					require.Regexp(t, want, r.out)
					require.NotContains(t, r.out, "SIGSEGV")
					require.NotContains(t, r.out, "goroutine ")
				})
			}
		})
	}
}
