package mapped_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/internal/mapped"
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// vmSize returns the bytes of address space this process maps.
func vmSize(t *testing.T) uintptr {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return uintptr(kib) << 10
		}
	}
	t.Fatal("no VmSize in /proc/self/status")
	return 0
}

// MapSegment puts the region (after the header) on a RegionAlign boundary,
// maps exactly the segment's pages (the over-sized reservation is given
// back) and UnmapSegment releases them.
func TestMapSegmentAlignsRegion(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "seg")
	require.NoError(t, err)
	defer f.Close()
	for _, size := range []int{8, 4096, 4104, 1 << 20, 3<<20 + 64} {
		total := mapped.HeaderSize + size
		require.NoError(t, f.Truncate(int64(total)))
		for _, fd := range []int{-1, int(f.Fd())} {
			for _, populate := range []bool{false, true} {
				seg, err := mapped.MapSegment(fd, total, populate)
				require.NoError(t, err, "size %d fd %d", size, fd)
				require.Len(t, seg, total)
				region := seg[mapped.HeaderSize:]
				assert.Zero(t, addr(region)%fabric.RegionAlign, "region at %#x, size %d fd %d", addr(region), size, fd)

				seg[0], seg[total-1] = 1, 2 // writable end to end
				if fd >= 0 {
					var b [1]byte
					_, err := f.ReadAt(b[:], int64(total-1))
					require.NoError(t, err)
					assert.Equal(t, byte(2), b[0], "a file segment is shared")
				}
				require.NoError(t, mapped.UnmapSegment(seg))
			}
		}
	}
}

// A segment costs its own pages of address space: the reservation around it
// is given back when it is mapped, and UnmapSegment releases the rest.
func TestMapSegmentReleasesAddressSpace(t *testing.T) {
	const n, total = 200, mapped.HeaderSize + 8
	segs := make([][]byte, n)
	before := vmSize(t)
	for i := range segs {
		var err error
		segs[i], err = mapped.MapSegment(-1, total, false)
		require.NoError(t, err)
	}
	// 200 leaked reservations would be 400 MiB; the runtime's own maps
	// are a few MiB.
	grown := vmSize(t) - before
	assert.Less(t, grown, uintptr(n*fabric.RegionAlign/4), "mapping %d segments of 2 pages grew the address space by %d bytes", n, grown)
	for _, s := range segs {
		require.NoError(t, mapped.UnmapSegment(s))
	}
	assert.Less(t, vmSize(t), before+n*fabric.RegionAlign/4, "UnmapSegment left address space mapped")
}

func TestMapSegmentErrors(t *testing.T) {
	_, err := mapped.MapSegment(-1, mapped.HeaderSize-1, false)
	assert.ErrorContains(t, err, "smaller than its 4096-byte header")
	_, err = mapped.MapSegment(-1, 1<<62, false)
	assert.ErrorIs(t, err, syscall.ENOMEM)
	assert.ErrorContains(t, err, "reserve")
	_, err = mapped.MapSegment(1<<20, mapped.HeaderSize, false) // no such descriptor
	assert.ErrorIs(t, err, syscall.EBADF)
	assert.NoError(t, mapped.UnmapSegment(nil))
}
