package memcopy

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCachedCopyMax(t *testing.T) {
	sys := t.TempDir()
	cache := func(index, level, size string) {
		d := filepath.Join(sys, "devices/system/cpu/cpu0/cache", index)
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "level"), []byte(level+"\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(d, "size"), []byte(size+"\n"), 0o644))
	}
	assert.Equal(t, defaultCachedCopy, cachedCopyMax(sys), "no caches: the default")
	cache("index0", "1", "32K")
	cache("index2", "2", "1024K")
	assert.Equal(t, defaultCachedCopy, cachedCopyMax(sys), "no L3: the default")
	cache("index3", "3", "32768K")
	assert.Equal(t, 8<<20, cachedCopyMax(sys), "a quarter of the L3")
	cache("index4", "3", "bogus")
	assert.Equal(t, 8<<20, cachedCopyMax(sys), "an unreadable size is skipped")

	assert.Equal(t, 1<<20, parseCacheSize("1M"))
	assert.Equal(t, 512, parseCacheSize("512"))
	assert.Zero(t, parseCacheSize("-4K"))
}

// Copy copies every byte, in pieces or not, by REP MOVSB or not, whatever
// the size against the chunk, the REP MOVSB floor and the cached limit.
func TestCopyMem(t *testing.T) {
	for _, movsb := range []bool{false, true} {
		if movsb && !hasERMS() {
			continue // REP MOVSB would be copy here: nothing new to test
		}
		c := Copier{max: 3 << 20, movsb: movsb}
		for _, n := range []int{0, 1, movsbMin - 1, movsbMin, movsbMin + 7, copyChunk - 1, copyChunk + 3, 1 << 20, 1<<20 + 5, 3 << 20, 3<<20 + 1} {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(i*7 + i>>9)
			}
			dst := make([]byte, n+2)
			dst[n], dst[n+1] = 0xAA, 0xBB
			assert.Equal(t, n, c.Copy(dst, src), "movsb %v, n=%d", movsb, n)
			require.Equal(t, src, dst[:n], "movsb %v, n=%d", movsb, n)
			assert.Equal(t, []byte{0xAA, 0xBB}, dst[n:], "movsb %v, n=%d: nothing past the source", movsb, n)
		}
		assert.Equal(t, 2, c.Copy(make([]byte, 2), make([]byte, 5<<20)), "a short destination bounds it, as copy's does")
	}
	assert.Equal(t, 2<<20, Copier{}.Copy(make([]byte, 2<<20), make([]byte, 2<<20)), "the zero Copier works")
}

// Overlapping source and destination copy as copy does (memmove), in
// both directions: a forward REP MOVSB would smear the source when the
// destination lies above it.
func TestCopyOverlap(t *testing.T) {
	const n = 2 * movsbMin
	for _, movsb := range []bool{false, true} {
		c := Copier{movsb: movsb}
		for _, shift := range []int{-4097, -1, 1, 4097} {
			buf := make([]byte, n+16384)
			for i := range buf {
				buf[i] = byte(i * 13)
			}
			want := append([]byte(nil), buf...)
			s, d := 8192, 8192+shift
			copy(want[d:d+n], want[s:s+n])
			assert.Equal(t, n, c.Copy(buf[d:d+n], buf[s:s+n]))
			require.Equal(t, want, buf, "movsb %v, destination %+d from the source", movsb, shift)
		}
	}
	a := make([]byte, 16)
	assert.True(t, overlap(a[:8], a[7:]))
	assert.False(t, overlap(a[:8], a[8:]))
	assert.False(t, overlap(a[8:], a[:8]))
}

// New uses REP MOVSB exactly where the CPU has it fast and the race
// detector is off.
func TestNewMovsb(t *testing.T) {
	assert.Equal(t, hasERMS() && !raceEnabled, New(t.TempDir()).movsb)
}

// BenchmarkCopy compares Go's copy with Copy into a shared mapping, as a
// put to a peer on this node does (go test -bench Copy ./internal/memcopy).
func BenchmarkCopy(b *testing.B) {
	const most = 16 << 20
	dst, err := syscall.Mmap(-1, 0, most, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	require.NoError(b, err)
	b.Cleanup(func() { _ = syscall.Munmap(dst) })
	src := make([]byte, most)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src)
	c := New("/sys")
	for _, n := range []int{4 << 10, 32 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20} {
		for _, way := range []string{"copy", "Copier"} {
			b.Run(fmt.Sprintf("%s/%dKiB", way, n>>10), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					if way == "copy" {
						copy(dst[:n], src[:n])
					} else {
						c.Copy(dst[:n], src[:n])
					}
				}
			})
		}
	}
}
