package am_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["exec-many"] = scenarioExecMany }

// scenarioExecMany: AMs to several PEs (this one, repeats), one future,
// results in launch order through build; none at all; a bad PE.
func scenarioExecMany(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{})
	defer closeWorld(t, w)
	n := pe.NPEs()
	var pes []int
	var as []Square
	for i := range 2 * n {
		pes = append(pes, (pe.MyPE()+i)%n)
		as = append(as, Square{X: int64(i)})
	}
	sum, err := am.ExecMany(w, pes, as, func(rs []int64) (int64, error) {
		for i, r := range rs {
			require.Equal(t, int64(i*i+pes[i]), r, "result %d in launch order", i)
		}
		s := int64(0)
		for _, r := range rs {
			s += r
		}
		return s, nil
	}).Wait(ctx)
	require.NoError(t, err)
	want := int64(0)
	for i := range 2 * n {
		want += int64(i*i + pes[i])
	}
	require.Equal(t, want, sum)

	none := am.ExecMany(w, nil, []Square(nil), func(rs []int64) (int, error) { return len(rs), nil })
	require.True(t, none.Ready())
	k, err := none.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, k)

	_, err = am.ExecMany(w, []int{0, n}, []Square{{1}, {2}}, func(rs []int64) (int, error) { return 0, nil }).Wait(ctx)
	require.ErrorContains(t, err, fmt.Sprintf("PE %d not in [0, %d)", n, n))
	_, err = am.ExecMany(w, []int{0}, []Square{{1}, {2}}, func(rs []int64) (int, error) { return 0, nil }).Wait(ctx)
	require.ErrorIs(t, err, am.ErrInvalidArg)
	require.NoError(t, w.Barrier(ctx))
}

// TestExecMany runs it on 2 and 3 PEs, in process, RMA-only and over shm.
func TestExecMany(t *testing.T) { petest.Both(t, scenarios, "exec-many", 2, 3) }
