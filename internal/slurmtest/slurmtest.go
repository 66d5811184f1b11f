// Package slurmtest runs test helpers as the tasks of a real Slurm job
// step (srun), for the tests of gshmem's bootstrap under Slurm. A test
// that needs Slurm calls Require, which skips it with a message saying how
// to bring Slurm up when this machine has none (ci/slurm.sh up 2 starts
// one with two emulated nodes; ci/check.sh does it in CI).
package slurmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvSkip, set to 0, skips the Slurm tests even where Slurm answers (on
// a login node of a real cluster, say, where they would queue jobs).
const EnvSkip = "GSHMEM_TEST_SLURM"

// Require skips t unless srun can run a step on nodes nodes: the Slurm
// client commands are installed and the controller answers with at least
// that many nodes up (and GSHMEM_TEST_SLURM is not 0).
func Require(t testing.TB, nodes int) {
	t.Helper()
	if os.Getenv(EnvSkip) == "0" {
		t.Skipf("%s=0: the Slurm tests are off", EnvSkip)
	}
	for _, cmd := range []string{"srun", "sinfo", "scancel"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("no Slurm here (%s is not in PATH): bring up a test cluster with `bash ci/slurm.sh up 2`, or run ci/check.sh --install", cmd)
		}
	}
	up, err := respondingNodes()
	if err != nil {
		t.Skipf("no Slurm controller answers (sinfo: %v): bring up a test cluster with `bash ci/slurm.sh up 2`", err)
	}
	if up < nodes {
		t.Skipf("Slurm has %d responding nodes, this test needs %d: bring up a test cluster with `bash ci/slurm.sh up 2`", up, nodes)
	}
}

// respondingNodes asks sinfo, once per test binary, how many nodes
// respond: without a controller sinfo takes seconds to give up, which every
// skipped test would wait again.
var respondingNodes = sync.OnceValues(func() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sinfo", "-h", "-r", "-o", "%D").Output()
	if err != nil {
		return 0, err
	}
	up := 0
	for _, f := range strings.Fields(string(out)) {
		n, _ := strconv.Atoi(f)
		up += n
	}
	return up, nil
})

// Result is what one srun did.
type Result struct {
	Stdout, Stderr string
	// Err is srun's exit (an *exec.ExitError when it exited non-zero).
	Err error
	// Took is how long srun ran.
	Took time.Duration
}

// Code is srun's exit status, 0 when it succeeded, -1 when it did not
// exit by itself.
func (r Result) Code() int {
	if r.Err == nil {
		return 0
	}
	if e, ok := r.Err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	return -1
}

func (r Result) String() string {
	return fmt.Sprintf("srun: %v after %v\n--- stdout\n%s--- stderr\n%s", r.Err, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// Srun runs `srun args... -- this test binary` with env added to the
// environment the tasks inherit (srun exports everything), bounded by
// timeout. The step has a job name of its own: when the test ends, any
// of its jobs still known to Slurm is cancelled (scancel), so that a
// failed or timed-out test leaves no task running. env should make the
// test binary's TestMain run the helper the test wants.
func Srun(t testing.TB, timeout time.Duration, args []string, env ...string) Result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	return SrunProgram(t, timeout, args, []string{exe, "-test.run=^$"}, env...)
}

// SrunProgram is Srun for another program: `srun args... -- prog...`
// (a C test program, say), with the same job name, clean-up and bounds.
func SrunProgram(t testing.TB, timeout time.Duration, args, prog []string, env ...string) Result {
	t.Helper()
	name := fmt.Sprintf("gshmem-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { Cancel(name) })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append([]string{"--job-name=" + name, "--time=5"}, args...)
	argv = append(argv, prog...)
	cmd := exec.CommandContext(ctx, "srun", argv...)
	cmd.Env = append(os.Environ(), env...)
	// srun cancels its step on SIGINT twice within a second; SIGKILL at
	// the timeout would leave the step to the scancel above.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err, Took: time.Since(start)}
	if ctx.Err() != nil {
		r.Err = fmt.Errorf("srun still running after %v, cancelled (%v)", timeout, err)
	}
	return r
}

// Cancel cancels every job named name and waits (a few seconds at most)
// until Slurm no longer lists it.
func Cancel(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	exec.CommandContext(ctx, "scancel", "--name="+name).Run()
	for ctx.Err() == nil {
		out, err := exec.CommandContext(ctx, "squeue", "-h", "--name="+name, "-o", "%i").Output()
		if err != nil || len(bytes.TrimSpace(out)) == 0 {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
