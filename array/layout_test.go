package array

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
)

// naive is the definition the layout must agree with: element j of the
// whole array, for each distribution, dealt out one by one.
func naive(n, p int, d Distribution) (pe, off []int) {
	pe, off = make([]int, n), make([]int, n)
	if d == Cyclic {
		for j := range n {
			pe[j], off[j] = j%p, j/p
		}
		return pe, off
	}
	j := 0
	for k := range p {
		cnt := n / p
		if k < n%p {
			cnt++
		}
		for o := range cnt {
			pe[j], off[j] = k, o
			j++
		}
	}
	return pe, off
}

// TestLayout checks every index helper of whole arrays and of every
// sub-array against the naive deal, for lengths around the PE counts.
func TestLayout(t *testing.T) {
	for _, d := range []Distribution{Block, Cyclic} {
		for p := 1; p <= 5; p++ {
			for _, n := range []int{0, 1, 3, 4, 5, 7, 19, 20} {
				l, err := newLayout(n, p, d)
				require.NoError(t, err)
				wantPE, wantOff := naive(n, p, d)
				for lo := 0; lo <= n; lo++ {
					for hi := lo; hi <= n; hi++ {
						s, err := l.sub(lo, hi)
						require.NoError(t, err)
						checkView(t, fmt.Sprintf("%v n=%d p=%d [%d,%d)", d, n, p, lo, hi), s, lo, hi, wantPE, wantOff)
					}
				}
				assert.GreaterOrEqual(t, l.capacity()*p, n)
				for k := range p {
					assert.LessOrEqual(t, l.LocalLen(k), l.capacity())
				}
			}
		}
	}
}

func checkView(t *testing.T, name string, v layout, lo, hi int, wantPE, wantOff []int) {
	t.Helper()
	require.Equal(t, hi-lo, v.Len(), name)
	count := make([]int, v.npes)
	first, last := make([]int, v.npes), make([]int, v.npes)
	for k := range first {
		first[k], last[k] = -1, -1
	}
	for i := 0; i < v.Len(); i++ {
		pe, off, err := v.PEAndOffset(i)
		require.NoError(t, err)
		require.Equal(t, wantPE[lo+i], pe, "%s: PE of %d", name, i)
		require.Equal(t, wantOff[lo+i], off, "%s: offset of %d", name, i)
		require.Equal(t, i, v.global(pe, off), "%s: global of PE %d offset %d", name, pe, off)
		if first[pe] < 0 {
			first[pe] = i
		}
		last[pe] = i
		count[pe]++
	}
	for k := range count {
		require.Equal(t, count[k], v.LocalLen(k), "%s: local length of PE %d", name, k)
		f, ok := v.FirstGlobalIndex(k)
		require.Equal(t, count[k] > 0, ok, "%s: PE %d holds some", name, k)
		l, ok2 := v.LastGlobalIndex(k)
		require.Equal(t, ok, ok2)
		if ok {
			require.Equal(t, first[k], f, "%s: first index of PE %d", name, k)
			require.Equal(t, last[k], l, "%s: last index of PE %d", name, k)
			from, to := v.localRange(k)
			require.Equal(t, count[k], to-from)
			_, off0, _ := v.PEAndOffset(f)
			require.Equal(t, off0, from, "%s: PE %d's local range starts at its first element", name, k)
		}
	}
	for _, bad := range []int{-1, v.Len()} {
		_, _, err := v.PEAndOffset(bad)
		require.ErrorIs(t, err, errdefs.ErrOutOfRange)
		require.ErrorContains(t, err, fmt.Sprintf("index %d, length %d", bad, v.Len()))
	}
}

func TestLayoutBadInput(t *testing.T) {
	_, err := newLayout(-1, 2, Block)
	assert.ErrorIs(t, err, errdefs.ErrInvalidArg)
	_, err = newLayout(4, 0, Block)
	assert.ErrorIs(t, err, errdefs.ErrInvalidArg)
	_, err = newLayout(4, 2, Distribution(7))
	assert.ErrorContains(t, err, "Distribution(7)")
	l, err := newLayout(10, 3, Cyclic)
	require.NoError(t, err)
	_, err = l.sub(4, 11)
	assert.ErrorIs(t, err, errdefs.ErrOutOfRange)
	assert.ErrorContains(t, err, "range [4, 11) of an array of length 10")
	s, err := l.sub(2, 8)
	require.NoError(t, err)
	_, err = s.sub(5, 4)
	assert.ErrorContains(t, err, "range [5, 4) of an array of length 6")
}
