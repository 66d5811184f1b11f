package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/cbuild"
)

// TestInstall installs the library, the headers and the scripts into a
// temporary prefix, builds examples/c/hello.c with the installed oshcc,
// which needs no Go, and runs it on 2 in-process PEs.
func TestInstall(t *testing.T) {
	if err := cbuild.Available(); err != nil {
		t.Skip(err)
	}
	root, err := cbuild.Root(".")
	require.NoError(t, err)
	prefix := t.TempDir()
	require.Equal(t, 0, run([]string{"-root", root, "-install", prefix, "-oshcc"}))
	for _, f := range []string{"lib/libgshmem.so", "include/shmem.h", "include/shmemx.h", "bin/gshmemcc", "bin/oshcc"} {
		require.FileExists(t, filepath.Join(prefix, f))
	}
	hello := filepath.Join(t.TempDir(), "hello")
	cc := exec.Command(filepath.Join(prefix, "bin", "oshcc"), "-Wall", "-Werror", "-o", hello, filepath.Join(root, "examples", "c", "hello.c"))
	cc.Env = append(os.Environ(), "PATH=/usr/bin:/bin") // no Go on the way
	out, err := cc.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(hello, "-n", "2").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "Hello from PE 1 of 2 (inproc)")
}

// TestShowAndUsage: gshmemcc's own flags are taken out, the rest reach the
// compiler with the include path first and the library last.
func TestShowAndUsage(t *testing.T) {
	require.Equal(t, 2, run(nil))
	require.Equal(t, 2, run([]string{"-tags"}))
	require.Equal(t, 2, run([]string{"-root", t.TempDir(), "-o", "x", "x.c"})) // not gshmem's tree
	require.Equal(t, []string{"-Iinc", "-c", "x.c"}, cbuild.Flags("inc", "lib", []string{"-c", "x.c"}))
	require.Equal(t, []string{"-Iinc", "-o", "x", "x.c", "-Llib", "-Wl,-rpath,lib", "-lgshmem"}, cbuild.Flags("inc", "lib", []string{"-o", "x", "x.c"}))
}
