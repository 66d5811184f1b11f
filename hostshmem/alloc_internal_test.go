package hostshmem

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkHeap verifies the allocator's invariants: used and free blocks tile
// [lo, hi) exactly, free blocks are sorted and coalesced.
func checkHeap(t *testing.T, a *allocator) {
	t.Helper()
	type span struct {
		off, size uintptr
		free      bool
	}
	var all []span
	for off, size := range a.used {
		all = append(all, span{off, size, false})
	}
	for i, b := range a.free {
		all = append(all, span{b.off, b.size, true})
		require.NotZero(t, b.size, "empty free block at %d", b.off)
		if i > 0 {
			prev := a.free[i-1]
			require.Less(t, prev.off+prev.size, b.off, "free blocks %v and %v are unsorted or not coalesced", prev, b)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].off < all[j].off })
	at := a.lo
	for _, s := range all {
		require.Equal(t, at, s.off, "gap or overlap at %d", at)
		at += s.size
	}
	require.Equal(t, a.hi, at, "blocks do not reach the end of the heap")
}

func TestAllocatorRandom(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		var a, b allocator
		a.init(ReservedBytes, ReservedBytes+1<<20)
		b.init(ReservedBytes, ReservedBytes+1<<20)
		r := rand.New(rand.NewPCG(seed, seed))
		var live []uintptr
		for step := 0; step < 1000; step++ {
			switch op := r.IntN(10); {
			case op < 5 || len(live) == 0:
				size := uintptr(r.IntN(20000) + 1)
				align := uintptr(heapAlign) << r.IntN(6)
				off, ok := a.alloc(size, align)
				off2, ok2 := b.alloc(size, align)
				require.Equal(t, ok, ok2)
				require.Equal(t, off, off2, "same calls must give the same offsets")
				if ok {
					require.Zero(t, off%align, "offset %d not aligned to %d", off, align)
					require.GreaterOrEqual(t, a.used[off], size)
					live = append(live, off)
				}
			case op < 8:
				i := r.IntN(len(live))
				require.True(t, a.release(live[i]))
				require.True(t, b.release(live[i]))
				require.False(t, a.release(live[i]), "double free accepted")
				b.release(live[i])
				live = append(live[:i], live[i+1:]...)
			default:
				i := r.IntN(len(live))
				size := uintptr(r.IntN(40000) + 1)
				require.Equal(t, a.resize(live[i], size), b.resize(live[i], size))
			}
			checkHeap(t, &a)
		}
		for _, off := range live {
			require.True(t, a.release(off))
		}
		checkHeap(t, &a)
		require.Equal(t, []block{{ReservedBytes, 1 << 20}}, a.free, "seed %d: heap not whole after freeing everything", seed)
	}
}
