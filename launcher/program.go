package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// resolveProgram returns the absolute path of the executable that name (see
// Options.Program) stands for, building it when it is Go source, and a
// function removing what the build left behind.
func resolveProgram(ctx context.Context, name string) (path string, cleanup func(), err error) {
	nop := func() {}
	if name == "" {
		return "", nop, errors.New("launcher: no program given")
	}
	st, statErr := os.Stat(name)
	switch {
	case statErr == nil && st.IsDir():
		return build(ctx, name, name, ".")
	case strings.HasSuffix(name, ".go"):
		if statErr != nil {
			return "", nop, fmt.Errorf("launcher: program %q: %w", name, statErr)
		}
		return build(ctx, name, filepath.Dir(name), filepath.Base(name))
	case statErr == nil && st.Mode().IsRegular():
		if st.Mode().Perm()&0o111 == 0 {
			return "", nop, fmt.Errorf("launcher: program %q is not executable (mode %v)", name, st.Mode())
		}
		path, err := filepath.Abs(name)
		if err != nil {
			return "", nop, fmt.Errorf("launcher: program %q: %w", name, err)
		}
		return path, nop, nil
	case statErr == nil:
		return "", nop, fmt.Errorf("launcher: program %q is not a regular file or a directory (mode %v)", name, st.Mode())
	case !errors.Is(statErr, fs.ErrNotExist):
		return "", nop, fmt.Errorf("launcher: program %q: %w", name, statErr)
	case isImportPath(name):
		return build(ctx, name, "", name)
	}
	path, err = exec.LookPath(name)
	if err != nil {
		return "", nop, fmt.Errorf("launcher: program %q not found: not a file, a directory, or a command in $PATH", name)
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", nop, fmt.Errorf("launcher: program %q: %w", name, err)
	}
	return path, nop, nil
}

// isImportPath reports whether name, which is not a file, may be a Go
// import path such as github.com/you/prog.
func isImportPath(name string) bool {
	return strings.Contains(name, "/") && !filepath.IsAbs(name) && !strings.HasPrefix(name, ".")
}

// build runs `go build -o <tmp>/prog target` in dir (the current directory
// when empty) for the program the user called name.
func build(ctx context.Context, name, dir, target string) (path string, cleanup func(), err error) {
	nop := func() {}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", nop, fmt.Errorf("launcher: program %q is Go source, but the go command is not in $PATH", name)
	}
	tmp, err := os.MkdirTemp("", "gpurun-build-")
	if err != nil {
		return "", nop, fmt.Errorf("launcher: build %q: %w", name, err)
	}
	cleanup = func() { _ = os.RemoveAll(tmp) }
	path = filepath.Join(tmp, "prog")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", path, target)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		cleanup()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", nop, fmt.Errorf("launcher: go build of program %q failed: %w\n%s", name, err, bytes.TrimSpace(out))
	}
	// For a package that is not main, go build -o writes an archive.
	if st, err := os.Stat(path); err != nil || st.Mode().Perm()&0o111 == 0 {
		cleanup()
		return "", nop, fmt.Errorf("launcher: program %q is not a main package", name)
	}
	return path, cleanup, nil
}
