package affinity

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// mask is a CPU set as sched_setaffinity takes it: 1024 CPUs.
type mask [16]uint64

func (m *mask) has(cpu int) bool { return m[cpu/64]&(1<<(cpu%64)) != 0 }

// Allowed returns the CPUs the calling thread may run on, in order.
func Allowed() ([]int, error) {
	var m mask
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if errno != 0 {
		return nil, fmt.Errorf("affinity: sched_getaffinity: %w", errno)
	}
	var cpus []int
	for cpu := range len(m) * 64 {
		if m.has(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

// Set restricts every thread of this process to cpus. Threads started
// later inherit it from the thread that starts them, so the loop runs
// until a pass finds no thread it had not seen.
func Set(cpus []int) error {
	var m mask
	for _, c := range cpus {
		if c < 0 || c >= len(m)*64 {
			return fmt.Errorf("affinity: CPU %d: want 0 <= cpu < %d", c, len(m)*64)
		}
		m[c/64] |= 1 << (c % 64)
	}
	if len(cpus) == 0 {
		return fmt.Errorf("affinity: an empty CPU set")
	}
	seen := map[int]bool{}
	for {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("affinity: %w", err)
		}
		fresh := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || seen[tid] {
				continue
			}
			seen[tid], fresh = true, true
			_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
			if errno != 0 && errno != syscall.ESRCH { // ESRCH: the thread is gone
				return fmt.Errorf("affinity: sched_setaffinity(thread %d, CPUs %v): %w", tid, cpus, errno)
			}
		}
		if !fresh {
			return nil
		}
	}
}
