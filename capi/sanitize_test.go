//go:build cgo

package capi_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/cbuild"
)

// The C test programs again, built with AddressSanitizer and
// UndefinedBehaviorSanitizer, at 2 PEs on both modes.
//
// ASan works with libgshmem.so, a Go c-shared library, loaded into the
// program, with its default options, leak detection included. This was
// tried, on 1 PE, 2 in-process PEs and 2 shm PEs under gpurun: a heap
// overflow and a leak after shmem_init are reported by ASan and LSan, a
// signed overflow by UBSan, and the programs here report nothing. Why it
// works:
//   - only the program is instrumented; the library (Go and its C) is
//     not, so ASan sees its memory only through the interceptors
//     (memcpy, malloc), and the symmetric heap, mapped by the Go runtime
//     with mmap, has a clean shadow;
//   - the ASan runtime is loaded first (it is linked into the program)
//     and installs its signal handlers before the Go runtime starts, when
//     the library is loaded; a c-shared Go runtime keeps handlers it
//     finds and forwards to them the signals that are not its own, so
//     handle_segv needs no change;
//   - the threads of shmemx_run's PEs are started by the Go runtime
//     through pthread_create (cgo's thread start), which ASan intercepts,
//     and run the program's C on their own system stacks, not on
//     goroutine stacks;
//   - LeakSanitizer scans the program's memory, not the Go heap: a block
//     of malloc's that only Go memory pointed at would be reported as a
//     leak. None is today (the C state of a PE is reachable from C); if
//     one comes, run with detect_leaks=0 and say why here.
//
// The options say only what differs from the defaults for a test:
// UBSan's report with a stack, and every error fatal (with
// -fno-sanitize-recover=all a UBSan report ends the program with status 1).

// sanitizeFlags are the compiler flags of a sanitized build.
var sanitizeFlags = []string{"-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"}

// sanitizeEnv are the sanitizers' options for a test run.
var sanitizeEnv = []string{
	"ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1",
	"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1",
}

// sanitizerReport matches what a sanitizer prints when it finds a fault.
var sanitizerReport = regexp.MustCompile(`ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer`)

// sanitizersWork reports, by building a small program with
// sanitizeFlags, whether this compiler has the sanitizers' runtimes
// (gcc without libasan or libubsan does not).
func sanitizersWork(t *testing.T) error {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.c")
	require.NoError(t, os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(append([]string{}, sanitizeFlags...), "-o", filepath.Join(dir, "probe"), src)
	if out, err := exec.CommandContext(ctx, cbuild.CC(), args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", cbuild.CC(), strings.Join(args, " "), err, out)
	}
	return nil
}

// TestCSanitized runs every program of testdata, built with ASan and
// UBSan, on both modes at 2 PEs, and every program of testdata/fail,
// which must still end the job with its message: a sanitizer's report
// fails either.
func TestCSanitized(t *testing.T) {
	libDir(t)
	if err := sanitizersWork(t); err != nil {
		t.Skipf("the C compiler cannot build with %s: %v", strings.Join(sanitizeFlags, " "), err)
	}
	srcs, err := filepath.Glob("testdata/*.c")
	require.NoError(t, err)
	fails, err := filepath.Glob("testdata/fail/*.c")
	require.NoError(t, err)
	for _, src := range append(srcs, fails...) {
		fail := strings.HasPrefix(src, filepath.Join("testdata", "fail"))
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		if fail {
			name = "fail/" + name
		}
		t.Run(name, func(t *testing.T) {
			var want *regexp.Regexp
			if fail {
				text, err := os.ReadFile(src)
				require.NoError(t, err)
				m := wantLine.FindSubmatch(text)
				require.NotNil(t, m, "%s has no // want: line", src)
				want = regexp.MustCompile(string(m[1]))
			}
			bin := compile(t, src, sanitizeFlags...)
			for _, m := range modes {
				t.Run(m.name, func(t *testing.T) {
					r := m.run(t, bin, 2, sanitizeEnv...)
					require.NotRegexp(t, sanitizerReport, r.out, "a sanitizer reported a fault")
					if fail {
						require.NotEqual(t, 0, r.code, "the job succeeded\n%s", r.out)
						require.Regexp(t, want, r.out)
						return
					}
					require.Equal(t, 0, r.code, "exit status\n%s", r.out)
				})
			}
		})
	}
}
