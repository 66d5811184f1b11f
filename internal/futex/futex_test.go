package futex_test

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/futex"
)

// wakeUntil calls Wake(addr, n) until it has woken want sleepers in all,
// failing the test after a few seconds. Each Wake must wake at most n.
func wakeUntil(t *testing.T, addr *uint32, n, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	woken := 0
	for woken < want {
		k := futex.Wake(addr, n)
		require.LessOrEqual(t, k, n, "Wake(n=%d) woke more sleepers than asked", n)
		woken += k
		if woken >= want {
			break
		}
		require.True(t, time.Now().Before(deadline), "woke %d of %d sleepers in 5s", woken, want)
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, want, woken)
}

func TestWaitReturnsAtOnceWhenValueDiffers(t *testing.T) {
	var w uint32 = 7
	start := time.Now()
	futex.Wait(&w, 6, 10*time.Second)
	futex.Wait(&w, 0, 0) // no limit: must still not sleep
	assert.Less(t, time.Since(start), time.Second)
}

func TestWaitTimesOut(t *testing.T) {
	var w uint32
	start := time.Now()
	futex.Wait(&w, 0, 50*time.Millisecond)
	el := time.Since(start)
	// The kernel sleeps at least the timeout (bar a signal, which the Go
	// runtime may send for preemption; allow a generous margin for that).
	assert.GreaterOrEqual(t, el, 20*time.Millisecond, "Wait returned early with no wake")
	assert.Less(t, el, 3*time.Second, "Wait ignored its timeout")
}

func TestWakeWithoutSleepers(t *testing.T) {
	var w uint32
	assert.Equal(t, 0, futex.Wake(&w, 1))
	assert.Equal(t, 0, futex.Wake(&w, 1<<30))
}

func TestWakeWakesSleeper(t *testing.T) {
	for _, d := range []time.Duration{0, 30 * time.Second} {
		t.Run(d.String(), func(t *testing.T) {
			var w uint32
			done := make(chan time.Duration, 1)
			go func() {
				start := time.Now()
				// Spurious returns (signals) are allowed: sleep again while
				// the test has not woken us through the word.
				for atomic.LoadUint32(&w) == 0 {
					futex.Wait(&w, 0, d)
					if time.Since(start) > 10*time.Second {
						break
					}
				}
				done <- time.Since(start)
			}()
			wakeUntil(t, &w, 1, 1)
			// The word did not change: only the wake can have ended this sleep.
			// Now let the sleeper's loop end.
			atomic.StoreUint32(&w, 1)
			futex.Wake(&w, 1)
			select {
			case el := <-done:
				assert.Less(t, el, 5*time.Second)
			case <-time.After(5 * time.Second):
				t.Fatal("sleeper did not return after a wake")
			}
		})
	}
}

func TestWakeCountsAndLimits(t *testing.T) {
	const sleepers = 3
	var w uint32
	var wg sync.WaitGroup
	var returned atomic.Int32
	for range sleepers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			futex.Wait(&w, 0, 30*time.Second)
			returned.Add(1)
		}()
	}
	// Wake one at a time until every sleeper has returned: every Wake(…, 1)
	// wakes at most one, and no more wakes succeed than there are sleepers.
	// (A sleeper may also return by itself: the Go runtime's preemption
	// signal interrupts a futex wait, so the count of successful wakes may
	// fall short of three.)
	deadline := time.Now().Add(5 * time.Second)
	woken := 0
	for returned.Load() < sleepers {
		k := futex.Wake(&w, 1)
		require.LessOrEqual(t, k, 1, "Wake(n=1) woke %d sleepers", k)
		woken += k
		require.True(t, time.Now().Before(deadline), "%d of %d sleepers returned in 5s", returned.Load(), sleepers)
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	assert.LessOrEqual(t, woken, sleepers)
}

// TestWakeAcrossMappings maps one tmpfs file twice: a shared (non-PRIVATE)
// futex is keyed by the file page, not by the virtual address, so a wake
// through one mapping must reach a sleeper on the other. This is what lets
// a PE in one process wake a PE in another.
func TestWakeAcrossMappings(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", fmt.Sprintf("gshmem-test-%d-", os.Getpid()))
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	f, err := os.OpenFile(dir+"/word", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(4096))
	a, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	require.NoError(t, err)
	defer syscall.Munmap(a)
	b, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	require.NoError(t, err)
	defer syscall.Munmap(b)
	wa := (*uint32)(unsafe.Pointer(&a[64]))
	wb := (*uint32)(unsafe.Pointer(&b[64]))
	require.NotEqual(t, uintptr(unsafe.Pointer(wa)), uintptr(unsafe.Pointer(wb)))

	// A store through b is seen by a Wait through a.
	atomic.StoreUint32(wb, 5)
	start := time.Now()
	futex.Wait(wa, 4, 10*time.Second)
	require.Less(t, time.Since(start), time.Second)

	done := make(chan struct{})
	go func() {
		futex.Wait(wa, 5, 30*time.Second)
		close(done)
	}()
	wakeUntil(t, wb, 1<<30, 1)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("wake through the second mapping did not reach the sleeper")
	}
}

func TestYield(t *testing.T) {
	for range 100 {
		futex.Yield()
	}
}
