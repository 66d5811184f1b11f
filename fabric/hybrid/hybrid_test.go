package hybrid_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric/hybrid"
	"github.com/gshmem/gshmem/fabric/shm"
)

// allgather is the process manager's exchange for PEs that are goroutines
// of one test: every PE's card, once all n have published theirs.
type allgather struct {
	mu    sync.Mutex
	cards [][]byte
	in    int
	ready chan struct{}
}

func newAllgather(n int) *allgather {
	return &allgather{cards: make([][]byte, n), ready: make(chan struct{})}
}

func (a *allgather) exchange(pe int) func(ctx context.Context, mine []byte) ([][]byte, error) {
	return func(ctx context.Context, mine []byte) ([][]byte, error) {
		a.mu.Lock()
		a.cards[pe] = append([]byte(nil), mine...)
		a.in++
		if a.in == len(a.cards) {
			close(a.ready)
		}
		a.mu.Unlock()
		select {
		case <-a.ready:
			return a.cards, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("PE %d: exchange: %w", pe, ctx.Err())
		}
	}
}

// shmDir is a fresh segment directory in /dev/shm, removed at cleanup.
func shmDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "gshmem-hybrid-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// options are PE pe's options in a job of len(node) goroutine PEs.
func options(dir, job string, node []int, pe int, ex *allgather) hybrid.Options {
	return hybrid.Options{
		Shm: shm.Options{
			Job: job, PE: pe, NPEs: len(node), Size: 1 << 20, Dir: dir,
			BootTimeout: 20 * time.Second, Node: node,
		},
		OFI:         ofiOptions(),
		Exchange:    ex.exchange(pe),
		PeerTimeout: 2 * time.Second,
	}
}

func jobID(t testing.TB) string {
	return fmt.Sprintf("hyb%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
}

func assertEmpty(t testing.TB, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	require.Empty(t, left, "files left in %s", dir)
}
