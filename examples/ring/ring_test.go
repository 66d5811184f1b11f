package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/launcher"
)

// watcher collects the job's output and reports each PE's pid as its
// "ready" line arrives.
type watcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	pids  map[int]int
	ready chan struct{}
	n     int
}

var readyLine = regexp.MustCompile(`PE (\d+) of \d+: pid (\d+) ready`)

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := readyLine.FindSubmatch(p); m != nil {
		pe, _ := strconv.Atoi(string(m[1]))
		pid, _ := strconv.Atoi(string(m[2]))
		w.pids[pe] = pid
		if len(w.pids) == w.n {
			close(w.ready)
		}
	}
	return len(p), nil
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func runRing(t *testing.T, n int, args ...string) (*watcher, chan int, string) {
	t.Helper()
	dir := petest.ShmDir(t)
	w := &watcher{pids: map[int]int{}, ready: make(chan struct{}), n: n}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	done := make(chan int, 1)
	go func() {
		code, err := launcher.Run(ctx, launcher.Options{
			N: n, Program: ".", Args: args, Stdout: w, Stderr: w, ShmDir: dir, KillGrace: time.Second,
			Env: append(os.Environ(), config.EnvSymSize+"=4m"),
		})
		if err != nil {
			t.Errorf("launcher: %v", err)
		}
		done <- code
	}()
	return w, done, dir
}

// TestRingSmoke runs the ring on 3 processes to the end.
func TestRingSmoke(t *testing.T) {
	w, done, dir := runRing(t, 3, "-iters", "2000", "-barrier-every", "50")
	select {
	case code := <-done:
		require.Equal(t, 0, code, w.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("ring did not finish:\n%s", w.String())
	}
	assert.Regexp(t, `ring: 3 PEs, 2000 rounds`, w.String())
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	assert.Empty(t, left)
}

// TestRingKilledPE kills PE 1 of a running ring from outside with SIGKILL:
// the launcher must name it and exit non-zero within 5 seconds, and the
// job must leave nothing in its shm directory.
func TestRingKilledPE(t *testing.T) {
	w, done, dir := runRing(t, 3, "-seconds", "60", "-barrier-every", "10")
	select {
	case <-w.ready:
	case <-time.After(90 * time.Second):
		t.Fatalf("PEs did not start:\n%s", w.String())
	}
	time.Sleep(100 * time.Millisecond) // let the ring run
	w.mu.Lock()
	pid := w.pids[1]
	w.mu.Unlock()
	t0 := time.Now()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	select {
	case code := <-done:
		assert.Less(t, time.Since(t0), 5*time.Second)
		assert.Equal(t, 128+9, code)
	case <-time.After(10 * time.Second):
		t.Fatalf("the job did not end after PE 1 was killed:\n%s", w.String())
	}
	assert.Regexp(t, `gpurun: PE 1 \(pid `+strconv.Itoa(pid)+`\) killed by signal SIGKILL`, w.String())
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	assert.Empty(t, left, "files left in the job's shm directory")
}
