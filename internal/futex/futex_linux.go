// Package futex wraps the Linux futex system call for waits that must cross
// process boundaries: it uses FUTEX_WAIT and FUTEX_WAKE without the PRIVATE
// flag, so a wake from one process reaches a sleeper in another that maps the
// same shared page. It also works on private memory within one process.
package futex

import (
	"syscall"
	"time"
	"unsafe"
)

const (
	opWait = 0 // FUTEX_WAIT (shared)
	opWake = 1 // FUTEX_WAKE (shared)
)

// Wait sleeps while *addr == val, for at most d (d <= 0 means no limit).
// It returns early on a wake, on a signal, or at once if *addr != val; the
// caller always re-checks its condition, so the reason is not reported.
func Wait(addr *uint32, val uint32, d time.Duration) {
	var tsp unsafe.Pointer
	var ts syscall.Timespec
	if d > 0 {
		ts = syscall.NsecToTimespec(int64(d))
		tsp = unsafe.Pointer(&ts)
	}
	// Syscall6 (not RawSyscall) tells the Go scheduler this thread blocks.
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWait, uintptr(val), uintptr(tsp), 0, 0)
}

// Wake wakes up to n sleepers on addr and returns how many it woke.
func Wake(addr *uint32, n int) int {
	r, _, _ := syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWake, uintptr(n), 0, 0, 0)
	return int(r)
}

// Yield gives the processor to another runnable thread (sched_yield). Unlike
// runtime.Gosched it lets another process run, which is what a PE waiting on
// a peer process needs when there are more PEs than cores.
func Yield() {
	syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
