package memcopy

import (
	"os"
	"path/filepath"
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

// Copy copies every byte, in pieces or not, whatever the size against
// the chunk and the cached limit.
func TestCopyMem(t *testing.T) {
	c := Copier{max: 3 << 20}
	for _, n := range []int{0, 1, copyChunk - 1, copyChunk + 3, 1 << 20, 1<<20 + 5, 3 << 20, 3<<20 + 1} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i*7 + i>>9)
		}
		dst := make([]byte, n+2)
		dst[n], dst[n+1] = 0xAA, 0xBB
		assert.Equal(t, n, c.Copy(dst, src), "n=%d", n)
		require.Equal(t, src, dst[:n], "n=%d", n)
		assert.Equal(t, []byte{0xAA, 0xBB}, dst[n:], "n=%d: nothing past the source", n)
	}
	assert.Equal(t, 2, c.Copy(make([]byte, 2), make([]byte, 5<<20)), "a short destination bounds it, as copy's does")
	assert.Equal(t, 2<<20, Copier{}.Copy(make([]byte, 2<<20), make([]byte, 2<<20)), "the zero Copier works")
}
