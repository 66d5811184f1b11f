//go:build cgo

package capi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStaticInproc: shmemx_run's PEs share one copy of the program's
// globals, so an RMA on one fails there, naming the address and the way
// out; where PEs are processes the same program works.
func TestStaticInproc(t *testing.T) {
	bin := compile(t, "testdata/static/inproc.c")
	r := runInproc(t, bin, 2)
	require.NotEqual(t, 0, r.code, "the job succeeded\n%s", r.out)
	require.Regexp(t, `shmem_long_p: dest 0x[0-9a-f]+ is a global or static variable, which is not symmetric here: shmemx_run's PEs .*shmem_malloc`, r.out)
	require.NotContains(t, r.out, "SIGSEGV")
	require.NotContains(t, r.out, "goroutine ")
	for _, n := range peCounts() {
		r = runShm(t, bin, n)
		require.Equal(t, 0, r.code, "exit status on %d shm PEs\n%s", n, r.out)
	}
}

// TestStaticKill: a PE killed once the PEs share their static data ends
// the job and leaves nothing behind, in the job's shm directory (runShm
// checks it) or in /dev/shm.
func TestStaticKill(t *testing.T) {
	bin := compile(t, "testdata/static/kill.c")
	before := shmEntries(t)
	r := runShm(t, bin, 3)
	require.NotEqual(t, 0, r.code, "the job succeeded\n%s", r.out)
	for name := range shmEntries(t) {
		if !before[name] && strings.Contains(name, "static") {
			t.Errorf("/dev/shm/%s left behind", name)
		}
	}
}

// TestStaticDlopen: a program that loads libgshmem at run time (an
// interpreter: shmem4py) keeps its data segment private.
func TestStaticDlopen(t *testing.T) {
	bin := compile(t, "testdata/static/dlopen.c", "-Wl,--as-needed", "-ldl")
	lib := "GSHMEM_TEST_LIB=" + filepath.Join(libDir(t), "libgshmem.so")
	for _, n := range []int{1, 2} {
		r := runShm(t, bin, n, lib)
		require.Equal(t, 0, r.code, "exit status on %d shm PEs\n%s", n, r.out)
	}
}

func shmEntries(t *testing.T) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir("/dev/shm")
	require.NoError(t, err)
	m := map[string]bool{}
	for _, e := range ents {
		m[e.Name()] = true
	}
	return m
}
