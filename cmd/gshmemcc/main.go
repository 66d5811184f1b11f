// Command gshmemcc compiles and links C programs against gshmem's
// OpenSHMEM library, libgshmem.so, as oshcc does for other
// implementations. Run from gshmem's source tree, it builds the library
// first (into build/lib, fast when nothing changed), then runs the C
// compiler ($CC, else cc) with include/ on the include path and the
// library linked with an rpath:
//
//	go run ./cmd/gshmemcc -o hello examples/c/hello.c
//	go run ./cmd/gpurun -n 4 ./hello
//
// Install a copy that needs no Go (a shell script beside the library and
// headers, also named oshcc with -oshcc):
//
//	go run ./cmd/gshmemcc -install /opt/gshmem -oshcc
//	/opt/gshmem/bin/oshcc -o hello hello.c
//
// -tags LIST builds the library with those Go build tags: -tags ofi for
// PEs on several nodes (libfabric; Debian's libfabric-dev). Every
// argument that is not one of gshmemcc's flags (-install, -oshcc, -show,
// -root, -tags) goes to the compiler.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gshmem/gshmem/internal/cbuild"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// goFlags are the go build flags of -tags.
func goFlags(tags string) []string {
	if tags == "" {
		return nil
	}
	return []string{"-tags", tags}
}

func run(args []string) int {
	var install, root, tags string
	var oshcc, show bool
	var cc []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-install", "-root", "-tags":
			if i+1 == len(args) {
				fmt.Fprintf(os.Stderr, "gshmemcc: %s needs an argument\n", a)
				return 2
			}
			switch a {
			case "-install":
				install = args[i+1]
			case "-root":
				root = args[i+1]
			default:
				tags = args[i+1]
			}
			i++
		case "-oshcc":
			oshcc = true
		case "-show":
			show = true
		default:
			cc = append(cc, a)
		}
	}
	ctx := context.Background()
	if root == "" {
		root, _ = os.Getwd()
	}
	r, err := cbuild.Root(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gshmemcc:", err)
		return 2
	}
	root = r
	if install != "" {
		wrote, err := cbuild.Install(ctx, root, install, oshcc, goFlags(tags)...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gshmemcc:", err)
			return 1
		}
		fmt.Printf("gshmemcc: installed %s\n", strings.Join(wrote, ", "))
		return 0
	}
	if len(cc) == 0 {
		fmt.Fprintln(os.Stderr, "usage: gshmemcc [-show] [-root DIR] [-tags LIST] compiler-args... | gshmemcc -install PREFIX [-oshcc] [-tags LIST]")
		return 2
	}
	inc, lib := filepath.Join(root, "include"), filepath.Join(root, "build", "lib")
	flags := cbuild.Flags(inc, lib, cc)
	if show {
		fmt.Println(cbuild.CC(), strings.Join(flags, " "))
		return 0
	}
	if _, err := cbuild.BuildLib(ctx, root, lib, goFlags(tags)...); err != nil {
		fmt.Fprintln(os.Stderr, "gshmemcc:", err)
		return 1
	}
	cmd := exec.Command(cbuild.CC(), flags...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "gshmemcc:", err)
		return 1
	}
	return 0
}
