package gshmem

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/gshmem/gshmem/fabric/shm"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
)

// A job too large for this machine fails at start, before anything is
// mapped or started, with an error saying what it needs and what there is.
// The estimates below are what a job costs whatever the program does; the
// heap a program touches comes on top (in-process, the heaps are reserved
// lazily).
const (
	// inprocPEBytes and inprocPeerBytes estimate what one goroutine PE
	// costs at start-up: its header page, the runtime's pages of its
	// region, its goroutine and structures, and per peer its tables (region
	// and header slices, team state). Measured: about 19 KiB + 56 bytes per
	// peer (1165 PEs: 101 MiB in all); these are the measurements rounded
	// up.
	inprocPEBytes   = 64 << 10
	inprocPeerBytes = 128
	// processBytes estimates a process PE's own memory besides the
	// segments (Go runtime, stacks, structures): about 8 MiB measured.
	processBytes = 16 << 20
	// pageTableShift: a pre-faulted mapping costs 8 bytes of page table per
	// 4 KiB page, 1/512 of its size, in every process that maps it.
	pageTableShift = 9
)

// ErrJobTooLarge is matched (errors.Is) by the errors of a job that cannot
// start on this machine: more PEs than a job can have, or more memory than
// there is.
var ErrJobTooLarge = errors.New("job too large")

// checkNPEs fails when no job of n PEs can start; what names n in the error
// (GSHMEM_NPES=..., gpurun's -n ...).
func checkNPEs(n int, what string) error {
	if n > hostshmem.MaxPEs {
		return fmt.Errorf("gshmem: %s: a job has at most %d PEs (hostshmem.MaxPEs: the team pool holds no larger team): %w", what, hostshmem.MaxPEs, ErrJobTooLarge)
	}
	return nil
}

// checkInproc fails when n goroutine PEs cannot start in this process.
func checkInproc(n int, what string) error {
	if err := checkNPEs(n, what); err != nil {
		return err
	}
	avail, from, err := availableMemory()
	if err != nil {
		return nil // nothing to compare with: let the kernel decide
	}
	return fitInproc(n, what, avail, from)
}

// fitInproc fails when n goroutine PEs need more than avail bytes.
func fitInproc(n int, what string, avail uint64, from string) error {
	per := uint64(inprocPEBytes) + uint64(n)*inprocPeerBytes
	if need := mulSat(uint64(n), per); need > avail {
		return fmt.Errorf("gshmem: %s: %d in-process PEs need about %s of memory at start-up (%s per PE: its runtime structures and %d bytes per peer; the heaps come on top as they are used), but %s is available (%s): %w",
			what, n, bytesString(need), bytesString(per), inprocPeerBytes, bytesString(avail), from, ErrJobTooLarge)
	}
	return nil
}

// CheckJob fails, with an error matching ErrJobTooLarge that says what the
// job needs and what there is, when a job of n PEs, one process each on
// this node, configured by cfg (what its PEs will see; its NPEs and the
// fields that place a process in a job are ignored) and with gpus GPUs,
// cannot start: more PEs than hostshmem.MaxPEs, or more memory than this
// machine (and its memory cgroup) has available. A
// PE needs its segment (symmetric heap, runtime area and, on the CPU
// fallback, device heap: memory reserved at start-up), the page tables of
// its pre-faulted mappings of every segment, and its process. A launcher
// calls it before it starts any process; what names n in the error
// (gpurun's "-n 8", "GSHMEM_NPES=8").
func CheckJob(n int, cfg Config, gpus int, what string) error {
	if err := checkNPEs(n, what); err != nil {
		return err
	}
	cfg.Transport, cfg.Job, cfg.PE, cfg.NPEs, cfg.SegmentFD = TransportInproc, "", 0, n, 0
	cfg, err := cfg.resolve()
	if err != nil {
		return err
	}
	seg := uint64(shm.SegmentSize(hostshmem.RegionSize(cfg.HeapSize)))
	sizes := fmt.Sprintf("%s=%s", config.EnvSymSize, bytesString(uint64(cfg.HeapSize)))
	if cfg.Device == DeviceCPU || gpus <= 0 {
		seg += uint64(cfg.DeviceHeapSize)
		sizes += fmt.Sprintf(", %s=%s on the CPU fallback", config.EnvDevSymSize, bytesString(uint64(cfg.DeviceHeapSize)))
	}
	var tables uint64
	prefault := "0"
	if !cfg.NoPrefault {
		tables, prefault = uint64(n)*(seg>>pageTableShift), "1"
	}
	per := seg + tables + processBytes
	avail, from, err := availableMemory()
	if err != nil {
		return nil // nothing to compare with: let the kernel decide
	}
	if need := mulSat(uint64(n), per); need > avail {
		return fmt.Errorf("gshmem: %s: %d PEs need about %s of memory, but %s is available (%s): per PE a %s segment (%s), %s of page tables for %d pre-faulted mappings (%s=%s) and %s for its process: %w",
			what, n, bytesString(need), bytesString(avail), from, bytesString(seg), sizes, bytesString(tables), n, config.EnvPrefault, prefault, bytesString(processBytes), ErrJobTooLarge)
	}
	return nil
}

// availableMemory returns the bytes this process may still use: the
// kernel's MemAvailable plus free swap (segments are swappable), less where
// a memory cgroup of this process allows less; from says where it came
// from.
func availableMemory() (avail uint64, from string, err error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, "", err
	}
	var memAvail, swapFree uint64
	var found bool
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kib, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "MemAvailable":
			memAvail, found = kib<<10, true
		case "SwapFree":
			swapFree = kib << 10
		}
	}
	if !found {
		return 0, "", errors.New("no MemAvailable in /proc/meminfo")
	}
	avail, from = memAvail+swapFree, "MemAvailable + SwapFree in /proc/meminfo"
	if c, where, ok := cgroupHeadroom(); ok && c < avail {
		avail, from = c, "the memory cgroup's limit less its usage, "+where
	}
	return avail, from, nil
}

// cgroupHeadroom returns the least limit-less-usage of the memory cgroups
// this process is in (v2, or v1's memory controller), walking up to the
// root; ok is false when none sets a limit.
func cgroupHeadroom() (headroom uint64, where string, ok bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, "", false
	}
	for line := range strings.Lines(strings.TrimSpace(string(b))) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		var dir, limitFile, usageFile string
		switch {
		case f[0] == "0" && f[1] == "":
			dir, limitFile, usageFile = "/sys/fs/cgroup", "memory.max", "memory.current"
		case strings.Contains(","+f[1]+",", ",memory,"):
			dir, limitFile, usageFile = "/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes"
		default:
			continue
		}
		for p := path.Clean("/" + f[2]); ; p = path.Dir(p) {
			d := path.Join(dir, p)
			limit, err1 := readUint(path.Join(d, limitFile))
			usage, err2 := readUint(path.Join(d, usageFile))
			if err1 == nil && err2 == nil && limit < 1<<62 {
				h := uint64(0)
				if limit > usage {
					h = limit - usage
				}
				if !ok || h < headroom {
					headroom, where, ok = h, d, true
				}
			}
			if p == "/" {
				break
			}
		}
	}
	return headroom, where, ok
}

// mulSat is a*b, or the largest uint64 when that overflows.
func mulSat(a, b uint64) uint64 {
	if a != 0 && b > ^uint64(0)/a {
		return ^uint64(0)
	}
	return a * b
}

// readUint reads a file holding one number ("max" is not one).
func readUint(name string) (uint64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// bytesString writes n in the largest binary unit that keeps it >= 1.
func bytesString(n uint64) string {
	const units = "KMGTPE"
	if n < 1<<10 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}
