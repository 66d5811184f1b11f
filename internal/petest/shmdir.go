package petest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gshmem/gshmem/internal/config"
)

// shmDirPrefix starts every directory a test makes in /dev/shm; the
// creating process's pid follows, so a later run can tell a directory
// whose creator was killed (and never cleaned up) from a live one.
const shmDirPrefix = config.SegmentPrefix + "test-"

// ShmDir makes a fresh directory in /dev/shm for one test's segments,
// named with this process's pid, and removes it when the test ends.
func ShmDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(config.DefaultShmDir, fmt.Sprintf("%s%d-", shmDirPrefix, os.Getpid()))
	if err != nil {
		t.Fatalf("petest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// SweepStale removes test directories in /dev/shm whose creating process
// is gone (a test binary killed before its clean-up ran), and untagged
// test directories older than an hour. Main calls it; tests that do not
// use Main may call it from TestMain.
func SweepStale() {
	ents, _ := os.ReadDir(config.DefaultShmDir)
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, config.SegmentPrefix) || !strings.Contains(name, "test") {
			continue
		}
		path := filepath.Join(config.DefaultShmDir, name)
		if rest, ok := strings.CutPrefix(name, shmDirPrefix); ok {
			pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
			if err == nil && pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
				os.RemoveAll(path)
			}
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.RemoveAll(path)
		}
	}
}
