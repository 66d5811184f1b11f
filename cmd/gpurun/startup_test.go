package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/internal/config"
)

// stallEnv makes the test binary a PE that joins its job, except the last
// PE, which never starts joining: the others stay in start-up.
const stallEnv = "GPURUN_TEST_STALL"

func TestMain(m *testing.M) {
	if os.Getenv(stallEnv) != "" {
		os.Exit(stalledPE())
	}
	os.Exit(m.Run())
}

func stalledPE() int {
	pe, _ := strconv.Atoi(os.Getenv(config.EnvPE))
	npes, _ := strconv.Atoi(os.Getenv(config.EnvNPES))
	if pe == npes-1 {
		select {} // until killed
	}
	p, err := gshmem.Init(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p.Abort()
	return 0
}

// children returns the pids of pid's children, from /proc.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; split after ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, child)
		}
	}
	return kids
}

// mapsSegment reports whether process pid maps a gshmem segment.
func mapsSegment(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	return err == nil && bytes.Contains(b, []byte(config.SegmentPrefix))
}

// gone reports whether pid no longer runs (it may be a zombie nobody reaps).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

// TestKilledDuringStartUp: gpurun killed with SIGKILL while its PEs are in
// start-up (each has made and mapped its segment, one peer is missing)
// leaves nothing behind: the PEs die with it, and no segment remains.
func TestKilledDuringStartUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gpurun and runs 3 PEs, three times")
	}
	exe := filepath.Join(t.TempDir(), "gpurun")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	self, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("/dev/shm", fmt.Sprintf("gshmem-test-%d-", os.Getpid()))
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })

	for trial := range 3 {
		cmd := exec.Command(exe, "-n", "3", self, "-test.run=^$")
		cmd.Env = append(os.Environ(), stallEnv+"=1", config.EnvShmDir+"="+dir, config.EnvSymSize+"=16m",
			config.EnvDevSymSize+"=1m", config.EnvDevice+"=cpu", config.EnvBootTimeout+"=60s")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		var pes []int
		t.Cleanup(func() {
			for _, pid := range pes {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			cmd.Process.Kill()
			cmd.Wait()
		})
		require.Eventually(t, func() bool {
			pes = children(cmd.Process.Pid)
			mapped := 0
			for _, pid := range pes {
				if mapsSegment(pid) {
					mapped++
				}
			}
			return len(pes) == 3 && mapped == 2
		}, 30*time.Second, time.Millisecond, "trial %d: PEs 0 and 1 never mapped their segments: %s", trial, &stderr)

		require.NoError(t, cmd.Process.Kill())
		cmd.Wait()
		require.Eventually(t, func() bool {
			for _, pid := range pes {
				if !gone(pid) {
					return false
				}
			}
			return true
		}, 10*time.Second, time.Millisecond, "trial %d: PEs outlived gpurun", trial)
		left, err := filepath.Glob(filepath.Join(dir, "*"))
		require.NoError(t, err)
		assert.Empty(t, left, "trial %d: files left behind", trial)
		for _, f := range left {
			os.Remove(f)
		}
	}
}
