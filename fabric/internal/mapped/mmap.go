package mapped

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
)

// MapSegment maps a segment of total bytes (HeaderSize of header, then the
// region) read-write at an address that puts its region on a multiple of
// RegionAlign. With fd < 0 the memory is private and anonymous, reserved
// lazily (MAP_NORESERVE); otherwise it is fd's file from offset 0, shared.
// populate pre-faults the pages. Release the segment with UnmapSegment (not
// syscall.Munmap, which knows only its own mappings).
func MapSegment(fd, total int, populate bool) ([]byte, error) {
	page := uintptr(os.Getpagesize())
	if HeaderSize%page != 0 {
		return nil, fmt.Errorf("fabric: the page size %d does not divide the %d-byte header", page, HeaderSize)
	}
	if total < HeaderSize {
		return nil, fmt.Errorf("fabric: segment of %d bytes is smaller than its %d-byte header", total, HeaderSize)
	}
	n := (uintptr(total) + page - 1) &^ (page - 1)
	reserve := n + fabric.RegionAlign
	if n < uintptr(total) || reserve < n {
		return nil, fmt.Errorf("fabric: segment of %d bytes: %w", total, syscall.ENOMEM)
	}
	// Reserve address space only (PROT_NONE), then map the segment over
	// the right part of it and give the rest back.
	base, err := mmap(0, reserve, syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE, -1)
	if err != nil {
		return nil, fmt.Errorf("fabric: reserve %d bytes of address space for a %d-byte segment: %w", reserve, total, err)
	}
	seg := (base+HeaderSize+fabric.RegionAlign-1)&^(fabric.RegionAlign-1) - HeaderSize
	flags := syscall.MAP_FIXED | syscall.MAP_SHARED
	if fd < 0 {
		flags = syscall.MAP_FIXED | syscall.MAP_PRIVATE | syscall.MAP_ANONYMOUS | syscall.MAP_NORESERVE
	}
	if populate {
		flags |= syscall.MAP_POPULATE
	}
	if _, err := mmap(seg, n, syscall.PROT_READ|syscall.PROT_WRITE, flags, fd); err != nil {
		_ = munmap(base, reserve)
		return nil, fmt.Errorf("fabric: map %d bytes: %w", total, err)
	}
	// Unmapping part of a mapping fails only at the kernel's limit on the
	// number of mappings; it would leave address space reserved, no memory.
	if seg > base {
		_ = munmap(base, seg-base)
	}
	if end, last := seg+n, base+reserve; end < last {
		_ = munmap(end, last-end)
	}
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&seg))), total), nil
}

// UnmapSegment releases a segment mapped by MapSegment.
func UnmapSegment(seg []byte) error {
	if cap(seg) == 0 {
		return nil
	}
	page := uintptr(os.Getpagesize())
	n := (uintptr(cap(seg)) + page - 1) &^ (page - 1)
	if err := munmap(uintptr(unsafe.Pointer(unsafe.SliceData(seg))), n); err != nil {
		return fmt.Errorf("fabric: unmap %d bytes: %w", n, err)
	}
	return nil
}

func mmap(addr, length uintptr, prot, flags, fd int) (uintptr, error) {
	r, _, errno := syscall.Syscall6(syscall.SYS_MMAP, addr, length, uintptr(prot), uintptr(flags), uintptr(fd), 0)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

func munmap(addr, length uintptr) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MUNMAP, addr, length, 0); errno != 0 {
		return errno
	}
	return nil
}
