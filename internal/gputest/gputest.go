// Package gputest is what the GPU tests of several packages share: whether
// this machine has a GPU, and running one test again in a child process of
// the test binary.
//
// A GPU test that can hang the GPU (a kernel spinning on a peer that never
// comes), poison its CUDA context on purpose (an illegal address is sticky
// for every PE of the process), or needs a fresh process (a cold start, a
// CUDA_MODULE_LOADING setting) runs its body in a child:
//
//	func TestGPUSticky(t *testing.T) {
//		gputest.Require(t)
//		if !gputest.InChild(t) {
//			gputest.Child(t, time.Minute)
//			return
//		}
//		... the body, asserting with t as usual ...
//	}
//
// Child re-runs the test binary (os.Args[0]) with -test.run naming only
// this test and an environment variable saying so; the child runs the body,
// the parent bounds it with a timeout, so a hang fails the test (with the
// child's goroutine dump) instead of hanging the binary, and the parent
// passes, fails or skips as the child did.
package gputest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gshmem/gshmem/device/cuda"
)

const (
	// EnvChild names the test a child process of Child runs (its t.Name()).
	EnvChild = "GSHMEM_GPUTEST_CHILD"
	// EnvAllowCPU=1 runs the GPU tests on the CPU fallback when there is
	// no GPU, to check the tests themselves (and the CPU engine's share of
	// the semantics they assert). Their GPU-only assertions are then not
	// made; Require returns false.
	EnvAllowCPU = "GSHMEM_GPUTEST_CPU"
)

// Have reports whether the CUDA driver loads here and finds a GPU.
func Have() bool {
	d, err := cuda.Load("")
	if err != nil {
		return false
	}
	d.Close()
	return true
}

// Require skips t unless this machine has a GPU or EnvAllowCPU is 1. It
// reports whether there is a GPU: false means the test runs on the CPU
// fallback, and must not assert what only a GPU does.
func Require(t testing.TB) (gpu bool) {
	t.Helper()
	if Have() {
		return true
	}
	if os.Getenv(EnvAllowCPU) != "1" {
		t.Skip("no GPU (" + EnvAllowCPU + "=1 runs this test on the CPU fallback)")
	}
	return false
}

// InChild reports whether this process is the child Child started for t.
func InChild(t testing.TB) bool { return os.Getenv(EnvChild) == t.Name() }

// Child runs t again in a child process of the test binary, with env added
// to this process's environment, and ends t as the child ended: it fails t
// with the child's output when the child fails or runs past timeout (the
// child's own -test.timeout then dumps its goroutines), skips t when the
// child skipped, and logs the child's output when it passed. Under -test.v
// the child's output also goes to stdout as it comes, each line prefixed
// "child| ", so that it survives a kill of this process.
func Child(t *testing.T, timeout time.Duration, env ...string) {
	t.Helper()
	var live io.Writer
	if testing.Verbose() {
		live = &prefixWriter{w: os.Stdout, prefix: []byte("child| ")}
	}
	out, err := run(t.Name(), timeout, env, live)
	switch {
	case errors.Is(err, errTimedOut):
		t.Fatalf("%v: the child hung (CUDA_MODULE_LOADING=%q); its output:\n%s", err, loadingMode(env), out)
	case err != nil:
		t.Fatalf("%v; its output:\n%s", err, out)
	case bytes.Contains(out, []byte("--- SKIP: "+t.Name())):
		t.Skipf("the child skipped:\n%s", out)
	case !bytes.Contains(out, []byte("--- PASS: "+t.Name())):
		t.Fatalf("the child ran no test %s; its output:\n%s", t.Name(), out)
	}
	if live != nil {
		t.Log("the child passed (its output is above)")
		return
	}
	t.Logf("the child passed; its output:\n%s", out)
}

var errTimedOut = errors.New("gputest: child timed out")

// run runs test name in a child process bounded by timeout and returns its
// combined output, copied as it comes to live when live is not nil.
func run(name string, timeout time.Duration, env []string, live io.Writer) ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("gputest: %w", err)
	}
	// The child's own alarm goes first and prints every goroutine; the
	// parent kills it a little later if even that does not end it.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run="+RunPattern(name), "-test.count=1", "-test.v",
		fmt.Sprintf("-test.timeout=%v", timeout))
	cmd.Env = append(append(os.Environ(), EnvChild+"="+name), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	if live != nil {
		cmd.Stdout = io.MultiWriter(&out, live)
	}
	cmd.Stderr = cmd.Stdout
	t0 := time.Now()
	err = cmd.Run()
	el := time.Since(t0).Round(time.Millisecond)
	switch {
	case ctx.Err() != nil || bytes.Contains(out.Bytes(), []byte("panic: test timed out after")):
		return out.Bytes(), fmt.Errorf("%w after %v (bound %v)", errTimedOut, el, timeout)
	case err != nil:
		return out.Bytes(), fmt.Errorf("gputest: child %s failed after %v: %w", name, el, err)
	}
	return out.Bytes(), nil
}

// RunPattern is the -test.run pattern that selects exactly the test or
// subtest name (a t.Name(): levels separated by '/').
func RunPattern(name string) string {
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = "^" + regexp.QuoteMeta(l) + "$"
	}
	return strings.Join(levels, "/")
}

func loadingMode(env []string) string {
	v := os.Getenv("CUDA_MODULE_LOADING")
	for _, e := range env {
		if s, ok := strings.CutPrefix(e, "CUDA_MODULE_LOADING="); ok {
			v = s
		}
	}
	return v
}

// prefixWriter writes to w with prefix at the start of every line.
type prefixWriter struct {
	w      io.Writer
	prefix []byte
	mid    bool // the last write ended inside a line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var buf []byte
	for _, c := range b {
		if !p.mid {
			buf = append(buf, p.prefix...)
		}
		buf = append(buf, c)
		p.mid = c != '\n'
	}
	if _, err := p.w.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}
