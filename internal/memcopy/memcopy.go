// Package memcopy copies the data of puts and gets: Go's copy, but with
// cached stores for copies that fit in the last-level cache, and REP MOVSB
// for the sizes where it is faster on CPUs that have it fast.
package memcopy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"
)

// copyChunk is the piece a cached copy moves at a time: below 1 MiB,
// where Go's copy (runtime memmove on amd64) switches to non-temporal
// stores, and below the L2 of the CPUs measured, past which one REP MOVSB
// turns to non-temporal stores (39 against 49 GB/s at 4 MiB in one piece
// and in 512 KiB pieces, AMD EPYC family 26).
const copyChunk = 512 << 10

// movsbMin is the smallest copy Copy moves with REP MOVSB: below it, where
// source and destination fit in the L1 data cache, Go's vector loop is
// faster (141 against 117 GB/s at 4 KiB); from it REP MOVSB is, by a
// third (32 KiB-2 MiB: 137-55 against 90-42 GB/s into a shared mapping,
// AMD EPYC family 26, BENCHMARKS.md).
const movsbMin = 32 << 10

// defaultCachedCopy is Copier's limit where the last-level cache's size
// is unknown: a quarter of a 32 MiB L3.
const defaultCachedCopy = 8 << 20

// Copier copies the data of puts and gets (see Copy). Its zero value
// keeps copies up to defaultCachedCopy in the caches and uses Go's copy
// only.
type Copier struct {
	max   int  // the largest copy kept in the caches; 0: defaultCachedCopy
	movsb bool // copies of movsbMin and up go by REP MOVSB
}

// New returns the Copier for this machine, whose limit is a quarter of
// the last-level cache that sysfs (normally "/sys") reports for CPU 0:
// source and destination both fit, with room for the rest of the job's
// data. It uses REP MOVSB where the CPU has the enhanced form (ERMS),
// except in race-detector builds, which see only Go's copy.
func New(sysfs string) Copier {
	return Copier{max: cachedCopyMax(sysfs), movsb: hasERMS() && !raceEnabled}
}

// Copy copies src into dst, as copy does, for the data of a put or a
// get. Go's copy moves 1 MiB or more with non-temporal stores, which
// bypass the caches: right for copies larger than the last-level cache,
// but a put of 1-8 MiB whose source and destination fit in it then runs
// at half the speed of cached stores (26 against 47 GB/s measured on the
// development machine, whose L2 is 1 MiB a core and L3 32 MiB), and the
// reader of a put finds it in memory rather than in the shared cache.
// So copies from 1 MiB up to c's limit go in pieces below Go's
// threshold; larger ones keep the non-temporal path. Where c uses REP
// MOVSB, copies from movsbMin up to the limit go by it, in the same
// pieces, unless source and destination overlap.
func (c Copier) Copy(dst, src []byte) int {
	if len(dst) < movsbMin || len(src) < movsbMin {
		// Small: Go's copy, with Copy inlined in the caller (a put or a
		// get of 8 bytes pays no call: 1.3 ns of a 10.8 ns get here).
		return copy(dst, src)
	}
	return c.copyLarge(dst, src)
}

// copyLarge is Copy for a source and destination of movsbMin or more.
func (c Copier) copyLarge(dst, src []byte) int {
	limit := c.max
	if limit == 0 {
		limit = defaultCachedCopy
	}
	n := min(len(dst), len(src))
	if c.movsb && n <= limit && !overlap(dst[:n], src[:n]) {
		for o := 0; o < n; o += copyChunk {
			repMovsb(&dst[o], &src[o], uintptr(min(copyChunk, n-o)))
		}
		return n
	}
	if n < 1<<20 || n > limit {
		return copy(dst, src)
	}
	for o := 0; o < n; o += copyChunk {
		e := min(o+copyChunk, n)
		copy(dst[o:e], src[o:e])
	}
	return n
}

// overlap reports whether a and b (not empty) share a byte.
func overlap(a, b []byte) bool {
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

// cachedCopyMax returns how large a copy Copy keeps in the caches: a
// quarter of the last-level cache that sysfs reports for CPU 0, or
// defaultCachedCopy where it reports none.
func cachedCopyMax(sysfs string) int {
	dirs, _ := filepath.Glob(filepath.Join(sysfs, "devices/system/cpu/cpu0/cache/index*"))
	best := 0
	for _, d := range dirs {
		lvl, err1 := os.ReadFile(filepath.Join(d, "level"))
		size, err2 := os.ReadFile(filepath.Join(d, "size"))
		if err1 != nil || err2 != nil {
			continue
		}
		if l, err := strconv.Atoi(strings.TrimSpace(string(lvl))); err != nil || l < 3 {
			continue
		}
		if b := parseCacheSize(strings.TrimSpace(string(size))); b > best {
			best = b
		}
	}
	if best == 0 {
		return defaultCachedCopy
	}
	return best / 4
}

// parseCacheSize parses sysfs's cache size ("32768K", "1M"); 0 when it
// cannot.
func parseCacheSize(s string) int {
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0
	}
	return n * mult
}
