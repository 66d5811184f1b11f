package launcher_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/affinity"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/launcher"
)

// peprog is testdata/peprog, built once by TestMain.
var peprog string

func TestMain(m *testing.M) {
	if dir := os.Getenv(squatEnv); dir != "" {
		os.Exit(squat(dir))
	}
	dir, err := os.MkdirTemp("", "launcher-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	peprog = filepath.Join(dir, "peprog")
	if out, err := exec.Command("go", "build", "-o", peprog, "./testdata/peprog").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/peprog: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is how one job went.
type result struct {
	code           int
	err            error
	stdout, stderr string
	elapsed        time.Duration
	pids           []int // by PE; 0 where the PE recorded none
	shmDir         string
}

// setup completes o for a run of peprog with args: a -pid-dir, a fresh
// ShmDir, buffers for the output, and a cleanup killing any PE left over.
// It returns the pid directory.
func setup(t *testing.T, o *launcher.Options, args ...string) (pidDir string) {
	t.Helper()
	pidDir = t.TempDir()
	t.Cleanup(func() { killStray(t, pidDir) })
	if o.Program == "" {
		o.Program = peprog
	}
	o.Args = append([]string{"-pid-dir", pidDir}, args...)
	if o.ShmDir == "" {
		o.ShmDir = t.TempDir()
	}
	if o.Env == nil {
		o.Env = smallEnv()
	}
	o.Stdout, o.Stderr = new(bytes.Buffer), new(bytes.Buffer)
	return pidDir
}

// run runs peprog with args as the job o describes.
func run(t *testing.T, ctx context.Context, o launcher.Options, args ...string) result {
	t.Helper()
	pidDir := setup(t, &o, args...)
	start := time.Now()
	code, err := launcher.Run(ctx, o)
	return finished(o, pidDir, code, err, start)
}

func finished(o launcher.Options, pidDir string, code int, err error, start time.Time) result {
	r := result{code: code, err: err, elapsed: time.Since(start), shmDir: o.ShmDir,
		stdout: o.Stdout.(*bytes.Buffer).String(), stderr: o.Stderr.(*bytes.Buffer).String()}
	r.pids = readPids(pidDir, o.N)
	return r
}

func readPids(dir string, n int) []int {
	pids := make([]int, n)
	for pe := range pids {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(pe)+".pid"))
		if err == nil {
			pids[pe], _ = strconv.Atoi(string(b))
		}
	}
	return pids
}

// waitPids waits until all n PEs have recorded their pids in dir.
func waitPids(t *testing.T, dir string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return !slices.Contains(readPids(dir, n), 0)
	}, 10*time.Second, 5*time.Millisecond, "PEs did not start")
}

// killStray kills the PEs recorded in pidDir that still run peprog.
func killStray(t *testing.T, pidDir string) {
	ents, _ := os.ReadDir(pidDir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(pidDir, e.Name()))
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 {
			continue
		}
		if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(cmdline, []byte("peprog")) {
			t.Logf("killing stray PE process %d", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// requireGone checks that every PE recorded a pid and that the process is
// gone: neither running nor an unreaped zombie.
func requireGone(t *testing.T, pids []int) {
	t.Helper()
	for pe, pid := range pids {
		require.NotZero(t, pid, "PE %d recorded no pid", pe)
		assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "PE %d (pid %d) still exists", pe, pid)
	}
}

// requireNoSegments checks that dir holds no segment of any job.
func requireNoSegments(t *testing.T, dir string) {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, config.SegmentPrefix+"*"))
	require.NoError(t, err)
	assert.Empty(t, m, "segment files left behind")
}

// smallEnv is the environment of a job of small gshmem PEs on the CPU.
func smallEnv() []string {
	return append(envWithout("GOMAXPROCS", config.EnvShmDir, config.EnvDevice),
		config.EnvSymSize+"=1m", config.EnvDevSymSize+"=1m", config.EnvDevice+"=cpu")
}

func envWithout(keys ...string) []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(keys, k)
	})
}

// parseEnvLines parses peprog -print-env lines into maps.
func parseEnvLines(t *testing.T, out string) []map[string]string {
	t.Helper()
	var envs []map[string]string
	for line := range strings.Lines(out) {
		m := map[string]string{}
		for f := range strings.FieldsSeq(line) {
			k, v, ok := strings.Cut(f, "=")
			require.True(t, ok, "bad field %q in %q", f, line)
			m[k] = v
		}
		envs = append(envs, m)
	}
	return envs
}

func TestEnvPerPE(t *testing.T) {
	var jobs []string
	for range 2 {
		o := launcher.Options{N: 3}
		// Stale values of the variables the launcher sets must not leak.
		o.Env = append(envWithout("GOMAXPROCS", config.EnvShmDir),
			config.EnvPE+"=7", config.EnvJob+"=stalestalestale", config.EnvTransport+"=inproc", "PEPROG_MARK=kept")
		r := run(t, context.Background(), o, "-print-env")
		require.NoError(t, r.err)
		require.Equal(t, 0, r.code, "stderr: %s", r.stderr)

		envs := parseEnvLines(t, r.stdout)
		require.Len(t, envs, 3, "stdout: %s", r.stdout)
		seen := map[string]bool{}
		job := envs[0][config.EnvJob]
		for _, e := range envs {
			pe := e[config.EnvPE]
			assert.False(t, seen[pe], "PE %s twice", pe)
			seen[pe] = true
			assert.Equal(t, "3", e[config.EnvNPES])
			assert.Equal(t, config.TransportShm, e[config.EnvTransport])
			assert.Equal(t, job, e[config.EnvJob], "PEs of one job disagree on the job id")
			assert.Equal(t, pe, e[config.EnvLocalRank])
			assert.Equal(t, "3", e[config.EnvLocalSize])
			assert.Equal(t, r.shmDir, e[config.EnvShmDir])
			assert.Equal(t, "3", e[config.EnvSegmentFDs])
			assert.Equal(t, fmt.Sprintf("/memfd:gshmem-%s-0,/memfd:gshmem-%s-1,/memfd:gshmem-%s-2", job, job, job), e["segments"],
				"every PE inherits every segment, in order, from descriptor 3")
			assert.Equal(t, "kept", e["PEPROG_MARK"])
		}
		assert.Equal(t, map[string]bool{"0": true, "1": true, "2": true}, seen)
		assert.Regexp(t, `^[0-9a-f]{32}$`, job)
		assert.True(t, config.ValidJob(job))
		_, err := config.Load(func(k string) string { return envs[1][k] })
		assert.NoError(t, err, "a PE's environment must load")
		jobs = append(jobs, job)
	}
	assert.NotEqual(t, jobs[0], jobs[1], "two jobs got one id")
}

func TestGOMAXPROCS(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			r := run(t, context.Background(), launcher.Options{N: n}, "-print-env")
			require.NoError(t, r.err)
			want := strconv.Itoa(max(1, runtime.NumCPU()/n))
			for _, e := range parseEnvLines(t, r.stdout) {
				assert.Equal(t, want, e["GOMAXPROCS"])
				assert.Equal(t, want, e["runtime.GOMAXPROCS"])
			}
		})
	}
	t.Run("preset", func(t *testing.T) {
		o := launcher.Options{N: 2, Env: append(envWithout("GOMAXPROCS"), "GOMAXPROCS=3")}
		r := run(t, context.Background(), o, "-print-env")
		require.NoError(t, r.err)
		envs := parseEnvLines(t, r.stdout)
		require.Len(t, envs, 2)
		for _, e := range envs {
			assert.Equal(t, "3", e["GOMAXPROCS"])
			assert.Equal(t, "3", e["runtime.GOMAXPROCS"])
		}
	})
}

// TestBind: with Bind, PE i of a job of no more PEs than CPUs binds every
// thread of its process to the i-th CPU the launcher may use; with more
// PEs than CPUs, or without Bind, nothing is bound, whatever GSHMEM_BIND
// the environment held.
func TestBind(t *testing.T) {
	allowed, err := affinity.Allowed()
	if err != nil {
		t.Skipf("no CPU affinity here: %v", err)
	}
	all := func() string {
		var b strings.Builder
		for i, c := range allowed { // as the kernel writes a list: ranges
			if i > 0 && allowed[i-1] == c-1 {
				if i+1 < len(allowed) && allowed[i+1] == c+1 {
					continue
				}
				fmt.Fprintf(&b, "-%d", c)
				continue
			}
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%d", c)
		}
		return b.String()
	}()
	stale := append(envWithout(config.EnvBind), config.EnvBind+"=0")
	for _, c := range []struct {
		name string
		o    launcher.Options
		bind bool
	}{
		{"bind", launcher.Options{N: len(allowed), Bind: true, Env: stale}, true},
		{"oversubscribed", launcher.Options{N: len(allowed) + 1, Bind: true, Env: stale}, false},
		{"off", launcher.Options{N: len(allowed), Env: stale}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, context.Background(), c.o, "-gshmem", "-print-env")
			require.NoError(t, r.err)
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			envs := parseEnvLines(t, r.stdout)
			require.Len(t, envs, c.o.N)
			for _, e := range envs {
				pe, err := strconv.Atoi(e[config.EnvPE])
				require.NoError(t, err)
				if c.bind {
					cpu := strconv.Itoa(allowed[pe])
					assert.Equal(t, cpu, e[config.EnvBind], "PE %d", pe)
					assert.Equal(t, cpu, e["cpus"], "PE %d: every thread on its CPU", pe)
				} else {
					assert.Empty(t, e[config.EnvBind], "PE %d", pe)
					assert.Equal(t, all, e["cpus"], "PE %d: unbound", pe)
				}
			}
		})
	}
}

// With GPUs, PE i gets GPU i mod GPUs unless the environment names one.
func TestDeviceByLocalRank(t *testing.T) {
	r := run(t, context.Background(), launcher.Options{N: 3, GPUs: 2, Env: envWithout("GOMAXPROCS", config.EnvShmDir, config.EnvDevice)}, "-print-env")
	require.NoError(t, r.err)
	got := map[string]string{}
	for _, e := range parseEnvLines(t, r.stdout) {
		got[e[config.EnvPE]] = e[config.EnvDevice]
	}
	assert.Equal(t, map[string]string{"0": "0", "1": "1", "2": "0"}, got)

	o := launcher.Options{N: 2, GPUs: 2, Env: append(envWithout("GOMAXPROCS", config.EnvShmDir, config.EnvDevice), config.EnvDevice+"=cpu")}
	r = run(t, context.Background(), o, "-print-env")
	require.NoError(t, r.err)
	for _, e := range parseEnvLines(t, r.stdout) {
		assert.Equal(t, "cpu", e[config.EnvDevice], "the user's choice wins")
	}
	r = run(t, context.Background(), launcher.Options{N: 2, Env: envWithout("GOMAXPROCS", config.EnvShmDir, config.EnvDevice)}, "-print-env")
	require.NoError(t, r.err)
	for _, e := range parseEnvLines(t, r.stdout) {
		assert.Empty(t, e[config.EnvDevice], "no GPUs: the runtime decides")
	}
}

// The PEs of a job find their segments as inherited memory files: nothing
// of the job is created in the shm directory, and nothing there is touched.
func TestSegmentsHaveNoName(t *testing.T) {
	shm := t.TempDir()
	other := filepath.Join(shm, config.SegmentName("someotherjob", 0))
	require.NoError(t, os.WriteFile(other, nil, 0o600))

	r := run(t, context.Background(), launcher.Options{N: 3, ShmDir: shm}, "-gshmem", "-print-env")
	require.NoError(t, r.err)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	assert.Empty(t, r.stderr)
	require.Len(t, parseEnvLines(t, r.stdout), 3)
	requireGone(t, r.pids)

	m, err := filepath.Glob(filepath.Join(shm, "*"))
	require.NoError(t, err)
	assert.Equal(t, []string{other}, m, "the job created or removed files in the shm directory")
}

// A PE finds only what gpurun gave it: descriptors 3 on are closed by the
// time the program runs its own code, so its children inherit none.
func TestSegmentsClosedAfterStartUp(t *testing.T) {
	r := run(t, context.Background(), launcher.Options{N: 2}, "-gshmem", "-print-env")
	require.NoError(t, r.err)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	for _, e := range parseEnvLines(t, r.stdout) {
		assert.Equal(t, "none,none", e["segments"], "PE %s still holds segment descriptors after start-up", e[config.EnvPE])
	}
}

func TestFirstFailureExitCode(t *testing.T) {
	r := run(t, context.Background(), launcher.Options{N: 3},
		"-gshmem", "-exit-pe", "1", "-exit-code", "3", "-sleep", "30s")
	require.NoError(t, r.err)
	// The others die of the SIGTERM that follows (143); the first failure wins.
	assert.Equal(t, 3, r.code)
	assert.Equal(t, fmt.Sprintf("gpurun: PE 1 (pid %d) exited with status 3\n", r.pids[1]), r.stderr)
	assert.Less(t, r.elapsed, 5*time.Second)
	requireGone(t, r.pids)
	requireNoSegments(t, r.shmDir)
}

// A PE that calls GlobalExit ends the job: every PE's process ends with
// its status, by itself (no SIGTERM needed when the status is 0), and so
// does gpurun.
func TestGlobalExit(t *testing.T) {
	for _, status := range []int{0, 3} {
		t.Run(fmt.Sprintf("status %d", status), func(t *testing.T) {
			r := run(t, context.Background(), launcher.Options{N: 3},
				"-global-exit-pe", "1", "-global-exit-status", strconv.Itoa(status))
			require.NoError(t, r.err)
			assert.Equal(t, status, r.code, "gpurun's status\n%s%s", r.stdout, r.stderr)
			if status == 0 {
				assert.Empty(t, r.stderr, "no PE failed: each ended with status 0")
			} else {
				assert.Contains(t, r.stderr, fmt.Sprintf("gpurun: PE 1 (pid %d) exited with status %d\n", r.pids[1], status))
			}
			assert.Less(t, r.elapsed, 5*time.Second)
			requireGone(t, r.pids)
			requireNoSegments(t, r.shmDir)
		})
	}
}

func TestKilledPE(t *testing.T) {
	r := run(t, context.Background(), launcher.Options{N: 3},
		"-gshmem", "-kill-self-pe", "2", "-sleep", "30s")
	require.NoError(t, r.err)
	assert.Equal(t, 128+9, r.code)
	assert.Equal(t, fmt.Sprintf("gpurun: PE 2 (pid %d) killed by signal SIGKILL\n", r.pids[2]), r.stderr)
	assert.Less(t, r.elapsed, 5*time.Second)
	requireGone(t, r.pids)
	requireNoSegments(t, r.shmDir)
}

func TestKillGraceEscalates(t *testing.T) {
	const grace = 300 * time.Millisecond
	r := run(t, context.Background(), launcher.Options{N: 3, KillGrace: grace},
		"-exit-pe", "0", "-exit-code", "1", "-ignore-term", "-sleep", "30s")
	require.NoError(t, r.err)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "PE 0")
	assert.GreaterOrEqual(t, r.elapsed, grace, "SIGKILL came before the grace period ended")
	assert.Less(t, r.elapsed, 4*time.Second)
	requireGone(t, r.pids)
}

func TestContextCancel(t *testing.T) {
	o := launcher.Options{N: 3}
	pidDir := setup(t, &o, "-gshmem", "-sleep", "30s")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		code, err := launcher.Run(ctx, o)
		done <- finished(o, pidDir, code, err, start)
	}()
	t.Cleanup(func() {
		cancel()
		<-done // never leave Run running: its PEs would outlive the test
	})
	waitPids(t, pidDir, o.N)

	cancel()
	stopped := time.Now()
	r := <-done
	done <- r // for the cleanup
	assert.Less(t, time.Since(stopped), 4*time.Second)
	require.ErrorIs(t, r.err, context.Canceled)
	assert.NotZero(t, r.code)
	requireGone(t, r.pids)
	requireNoSegments(t, r.shmDir)
}

func TestSignalForwarded(t *testing.T) {
	// Not parallel: the signal reaches every Run in the process. Catching
	// SIGTERM here too keeps a launcher that fails to forward it from
	// killing the test binary.
	mine := make(chan os.Signal, 1)
	signal.Notify(mine, syscall.SIGTERM)
	defer signal.Stop(mine)

	o := launcher.Options{N: 2}
	pidDir := setup(t, &o, "-sleep", "30s")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		code, err := launcher.Run(ctx, o)
		done <- finished(o, pidDir, code, err, start)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitPids(t, pidDir, o.N)

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	r := <-done
	done <- r
	require.NoError(t, r.err, "the job must end by the forwarded signal, not the test's timeout")
	assert.Equal(t, 128+int(syscall.SIGTERM), r.code)
	assert.Contains(t, r.stderr, "killed by signal SIGTERM")
	requireGone(t, r.pids)
}

func TestOutputLines(t *testing.T) {
	const n, lines = 3, 1000
	for _, prefix := range []bool{true, false} {
		t.Run(fmt.Sprintf("prefix=%v", prefix), func(t *testing.T) {
			r := run(t, context.Background(), launcher.Options{N: n, Prefix: prefix},
				"-lines", strconv.Itoa(lines), "-stderr-line", "-tail", "tail")
			require.NoError(t, r.err)
			require.Equal(t, 0, r.code)

			re := regexp.MustCompile(`^line (\d+) of PE (\d) x{150}$`)
			next := make([]int, n) // next line number expected from each PE
			tails := 0
			for line := range strings.Lines(r.stdout) {
				line, ok := strings.CutSuffix(line, "\n")
				require.True(t, ok, "unterminated line %q", line)
				pe := -1
				if prefix {
					var rest string
					_, err := fmt.Sscanf(line, "PE %d:", &pe)
					require.NoError(t, err, "line without prefix: %q", line)
					rest, ok = strings.CutPrefix(line, fmt.Sprintf("PE %d: ", pe))
					require.True(t, ok, "malformed prefix: %q", line)
					line = rest
				}
				if line == "tail" {
					tails++
					continue
				}
				m := re.FindStringSubmatch(line)
				require.NotNil(t, m, "broken line %q", line)
				i, _ := strconv.Atoi(m[1])
				from, _ := strconv.Atoi(m[2])
				if prefix {
					require.Equal(t, pe, from, "line of PE %d labelled PE %d", from, pe)
				}
				require.Equal(t, next[from], i, "PE %d's lines out of order", from)
				next[from]++
			}
			assert.Equal(t, []int{lines, lines, lines}, next)
			assert.Equal(t, n, tails, "the final line without a newline is forwarded once per PE")

			errLines := slices.Sorted(strings.Lines(r.stderr))
			want := make([]string, n)
			for pe := range want {
				want[pe] = fmt.Sprintf("to stderr from PE %d\n", pe)
				if prefix {
					want[pe] = fmt.Sprintf("PE %d: %s", pe, want[pe])
				}
			}
			assert.Equal(t, want, errLines)
		})
	}
}

func TestBuildsGoSource(t *testing.T) {
	for _, prog := range []string{
		"./testdata/peprog",                                 // package directory
		"testdata/peprog/main.go",                           // file
		"github.com/gshmem/gshmem/launcher/testdata/peprog", // import path
	} {
		t.Run(prog, func(t *testing.T) {
			r := run(t, context.Background(), launcher.Options{N: 2, Program: prog}, "-print-env")
			require.NoError(t, r.err)
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			assert.Len(t, parseEnvLines(t, r.stdout), 2)
		})
	}
}

func TestBuildFailure(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module broken\n\ngo 1.26\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o600))
	code, err := launcher.Run(context.Background(), launcher.Options{N: 2, Program: dir})
	require.Error(t, err)
	assert.NotZero(t, code)
	assert.Contains(t, err.Error(), dir, "the error names the program")
	assert.Contains(t, err.Error(), "undefined: undefinedThing", "the error carries the compiler's output")
}

func TestLookPath(t *testing.T) {
	var stdout bytes.Buffer
	code, err := launcher.Run(context.Background(), launcher.Options{
		N: 2, Program: "sh", Args: []string{"-c", `echo "$GSHMEM_PE/$GSHMEM_NPES"`},
		Stdout: &stdout, ShmDir: t.TempDir(),
	})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	assert.Equal(t, []string{"0/2\n", "1/2\n"}, slices.Sorted(strings.Lines(stdout.String())))
}

func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644))
	lib := filepath.Join(dir, "lib")
	require.NoError(t, os.Mkdir(lib, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(lib, "go.mod"), []byte("module lib\n\ngo 1.26\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(lib, "lib.go"), []byte("package lib\n"), 0o600))

	for _, tc := range []struct {
		name string
		o    launcher.Options
		want string
	}{
		{"missing file", launcher.Options{N: 2, Program: "./does-not-exist"}, `"./does-not-exist" not found`},
		{"missing command", launcher.Options{N: 2, Program: "no-such-command-gshmem"}, `"no-such-command-gshmem" not found`},
		{"missing .go file", launcher.Options{N: 2, Program: "nothere.go"}, `"nothere.go"`},
		{"not executable", launcher.Options{N: 2, Program: plain}, "not executable"},
		{"not main", launcher.Options{N: 2, Program: lib}, "not a main package"},
		{"no program", launcher.Options{N: 2}, "no program"},
		{"zero PEs", launcher.Options{N: 0, Program: peprog}, "N=0"},
		{"negative PEs", launcher.Options{N: -1, Program: peprog}, "N=-1"},
		{"negative grace", launcher.Options{N: 1, Program: peprog, KillGrace: -time.Second}, "KillGrace=-1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := launcher.Run(context.Background(), tc.o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotZero(t, code)
		})
	}
}

func TestCanceledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := launcher.Options{N: 2}
	pidDir := setup(t, &o)
	code, err := launcher.Run(ctx, o)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotZero(t, code)
	entries, _ := os.ReadDir(pidDir)
	assert.Empty(t, entries, "no PE starts")
}

func TestLongLineCut(t *testing.T) {
	// A line longer than 64 KiB is forwarded in prefixed pieces.
	var stdout bytes.Buffer
	code, err := launcher.Run(context.Background(), launcher.Options{
		N: 1, Program: "sh", Args: []string{"-c", `head -c 100000 /dev/zero | tr '\0' x`},
		Prefix: true, Stdout: &stdout, ShmDir: t.TempDir(),
	})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	want := "PE 0: " + strings.Repeat("x", 64<<10) + "\nPE 0: " + strings.Repeat("x", 100000-64<<10) + "\n"
	assert.True(t, stdout.String() == want, "got %d bytes, %d lines", stdout.Len(), strings.Count(stdout.String(), "\n"))
}

// A job the machine cannot hold is refused before anything is built or
// started, with an error that says why.
func TestJobTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    launcher.Options
		want []string
	}{
		{"PEs", launcher.Options{N: 100000}, []string{"launcher: gshmem: N=100000: a job has at most"}},
		{"named", launcher.Options{N: 5000, NFrom: "-n 5000"}, []string{"-n 5000: a job has at most"}},
		{"memory", launcher.Options{N: 3, Env: append(smallEnv(), config.EnvSymSize+"=64t")},
			[]string{"N=3: 3 PEs need about ", " TiB of memory, but", "is available", "per PE a 64.0 TiB segment", "GSHMEM_SYMMETRIC_SIZE=64.0 TiB"}},
		{"bad variable", launcher.Options{N: 2, Env: append(smallEnv(), config.EnvSymSize+"=lots")}, []string{`GSHMEM_SYMMETRIC_SIZE="lots"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidDir := setup(t, &tc.o)
			start := time.Now()
			code, err := launcher.Run(context.Background(), tc.o)
			require.Error(t, err)
			assert.Equal(t, 1, code)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Less(t, time.Since(start), 2*time.Second)
			entries, _ := os.ReadDir(pidDir)
			assert.Empty(t, entries, "no PE starts")
		})
	}
}

// A job whose files the launcher may not hold is refused before it starts:
// a PE costs the launcher a segment and two pipes.
func TestJobTooLargeForOpenFiles(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	low := lim
	low.Cur = 100
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	defer func() { require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)) }()
	o := launcher.Options{N: 40}
	pidDir := setup(t, &o)
	code, err := launcher.Run(context.Background(), o)
	require.Error(t, err)
	assert.Equal(t, 1, code)
	assert.ErrorContains(t, err, "N=40: the launcher needs 152 open files (a segment and two output pipes per PE), but its limit is 100 (RLIMIT_NOFILE, ulimit -n)")
	entries, _ := os.ReadDir(pidDir)
	assert.Empty(t, entries, "no PE starts")
}
