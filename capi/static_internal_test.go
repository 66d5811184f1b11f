//go:build cgo

package capi

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// memfd makes a memory file of size bytes named name in this process.
func memfd(t *testing.T, name string, size int) int {
	t.Helper()
	p, err := syscall.BytePtrFromString(name)
	require.NoError(t, err)
	nr := map[string]uintptr{"amd64": 319, "arm64": 279}[runtime.GOARCH] // memfd_create
	if nr == 0 {
		t.Skipf("memfd_create's number on %s", runtime.GOARCH)
	}
	fd, _, errno := syscall.Syscall(nr, uintptr(unsafe.Pointer(p)), 1, 0) // MFD_CLOEXEC
	if errno != 0 {
		t.Skipf("memfd_create: %v", errno)
	}
	t.Cleanup(func() { syscall.Close(int(fd)) })
	require.NoError(t, syscall.Ftruncate(int(fd), int64(size)))
	return int(fd)
}

// TestMapPeerData: a peer's data is mapped only when it has this PE's
// size and place and its file is the one it named.
func TestMapPeerData(t *testing.T) {
	const size = 8192
	fd := memfd(t, staticName(1), size)
	words := []int64{int64(os.Getpid()), int64(fd), size, 0x3000, 0}

	p, err := mapPeerData(1, words, size, 0x3000)
	require.NoError(t, err)
	m := unsafe.Slice((*byte)(p), size)
	m[100] = 42
	buf := make([]byte, 1)
	_, err = syscall.Pread(fd, buf, 100)
	require.NoError(t, err)
	require.Equal(t, byte(42), buf[0], "the mapping is not the file's memory")
	require.NoError(t, syscall.Munmap(m))

	_, err = mapPeerData(1, words, size+4096, 0x3000)
	require.ErrorContains(t, err, "the PEs do not run the same executable")
	_, err = mapPeerData(1, words, size, 0x4000)
	require.ErrorContains(t, err, "the PEs do not run the same executable")
	_, err = mapPeerData(2, words, size, 0x3000) // PE 2's file is not this one
	require.ErrorContains(t, err, "not \"/memfd:gshmem-static-2 (deleted)\"")
	bad := append([]int64(nil), words...)
	bad[wFD] = -1
	_, err = mapPeerData(1, bad, size, 0x3000)
	require.ErrorContains(t, err, "PE 1 could not share its static data")
}
