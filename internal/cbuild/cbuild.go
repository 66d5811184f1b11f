// Package cbuild builds gshmem's C library (libgshmem.so, cmd/libgshmem)
// and compiles C programs against it: what gshmemcc and the C tests do.
package cbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is gshmem's module path, which Root looks for.
const Module = "github.com/gshmem/gshmem"

// LibName is the file name of the library.
const LibName = "libgshmem.so"

// Root returns the root of gshmem's source tree that dir is in: the
// nearest directory at or above dir whose go.mod declares Module.
func Root(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module "+Module+"\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("cbuild: %s is not inside gshmem's source tree (no go.mod of module %s above it): run from the repository, or pass its root", dir, Module)
		}
		d = parent
	}
}

// BuildLib builds libgshmem.so from the source tree at root into libDir
// (made if missing) and returns its path. Go's build cache makes a
// rebuild of unchanged sources cost the link only. extra are more go
// build flags (-race, -tags ofi).
func BuildLib(ctx context.Context, root, libDir string, extra ...string) (string, error) {
	if err := os.MkdirAll(libDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(libDir, LibName)
	args := append([]string{"build", "-buildmode=c-shared", "-o", out}, extra...)
	args = append(args, "./cmd/libgshmem")
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cbuild: go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	// c-shared also writes a header of the Go exports: not for users.
	os.Remove(strings.TrimSuffix(out, ".so") + ".h")
	return out, nil
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	return "go"
}

// CC is the C compiler: $CC, else cc.
func CC() string {
	if c := os.Getenv("CC"); c != "" {
		return c
	}
	return "cc"
}

// Flags returns the compiler arguments that wrap args: the include
// directory first, then args, then the library with an rpath, so that
// the program finds libgshmem.so where it was built without
// LD_LIBRARY_PATH.
func Flags(includeDir, libDir string, args []string) []string {
	out := []string{"-I" + includeDir}
	out = append(out, args...)
	if linking(args) {
		out = append(out, "-L"+libDir, "-Wl,-rpath,"+libDir, "-lgshmem")
	}
	return out
}

// linking reports whether a compiler run with args links.
func linking(args []string) bool {
	for _, a := range args {
		switch a {
		case "-c", "-S", "-E", "-M", "-MM", "-fsyntax-only":
			return false
		}
	}
	return true
}

// Compile runs the C compiler with Flags and returns its combined output.
func Compile(ctx context.Context, includeDir, libDir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, CC(), Flags(includeDir, libDir, args)...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return b, fmt.Errorf("cbuild: %s %s: %w\n%s", CC(), strings.Join(cmd.Args[1:], " "), err, b)
	}
	return b, nil
}

// Install builds the library into prefix/lib, copies shmem.h and shmemx.h
// into prefix/include, and writes prefix/bin/gshmemcc (and, with oshcc,
// prefix/bin/oshcc): a shell script that compiles with them and needs no
// Go. extra are more go build flags for the library (-tags ofi). It
// returns the scripts it wrote.
func Install(ctx context.Context, root, prefix string, oshcc bool, extra ...string) ([]string, error) {
	prefix, err := filepath.Abs(prefix)
	if err != nil {
		return nil, err
	}
	lib, inc, bin := filepath.Join(prefix, "lib"), filepath.Join(prefix, "include"), filepath.Join(prefix, "bin")
	if _, err := BuildLib(ctx, root, lib, extra...); err != nil {
		return nil, err
	}
	for _, d := range []string{inc, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, h := range []string{"shmem.h", "shmemx.h"} {
		b, err := os.ReadFile(filepath.Join(root, "include", h))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(inc, h), b, 0o644); err != nil {
			return nil, err
		}
	}
	script := fmt.Sprintf("#!/bin/sh\n# gshmemcc: compile and link a C program with gshmem's OpenSHMEM library.\n"+
		"case \" $* \" in *\" -c \"*|*\" -S \"*|*\" -E \"*|*\" -M \"*|*\" -MM \"*|*\" -fsyntax-only \"*) exec ${CC:-cc} -I%[1]s \"$@\" ;; esac\n"+
		"exec ${CC:-cc} -I%[1]s \"$@\" -L%[2]s -Wl,-rpath,%[2]s -lgshmem\n", shellQuote(inc), shellQuote(lib))
	names := []string{"gshmemcc"}
	if oshcc {
		names = append(names, "oshcc")
	}
	var wrote []string
	for _, n := range names {
		p := filepath.Join(bin, n)
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			return wrote, err
		}
		wrote = append(wrote, p)
	}
	return wrote, nil
}

func shellQuote(s string) string {
	if !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ErrNoCC is returned by Available when no C compiler runs.
var ErrNoCC = errors.New("cbuild: no C compiler (set CC, or install gcc)")

// Available reports whether the C compiler runs.
func Available() error {
	if _, err := exec.LookPath(CC()); err != nil {
		return fmt.Errorf("%w: %v", ErrNoCC, err)
	}
	return nil
}
