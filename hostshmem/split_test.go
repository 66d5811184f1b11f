package hostshmem_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["split_args"] = scenarioSplitArgs }

// TestSplitArgs: every argument of SplitStrided and Split2D that does not
// fit fails the split on every PE with an error naming that argument and
// its value, and the parent team stays usable.
func TestSplitArgs(t *testing.T) { petest.Both(t, scenarios, "split_args", 1, 2, 3, 4) }

func scenarioSplitArgs(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	w := pe.TeamWorld()
	bad := &shmem.TeamConfig{NumContexts: -1}
	strided := []struct {
		start, stride, size int
		cfg                 *shmem.TeamConfig
		want                string // the argument and its value
	}{
		{-1, 1, 1, nil, fmt.Sprintf("start -1 not in [0, %d)", n)},
		{n, 1, 1, nil, fmt.Sprintf("start %d not in [0, %d)", n, n)},
		{0, 1, 0, nil, "size 0: want at least 1"},
		{0, 1, -2, nil, "size -2: want at least 1"},
		{0, 0, 2, nil, "stride 0: want at least 1"},
		{0, -1, 2, nil, "stride -1: want at least 1"},
		{0, 1, n + 1, nil, fmt.Sprintf("size %d: with start 0 and stride 1 the last member would be %d", n+1, n)},
		{0, 2, n, nil, fmt.Sprintf("size %d: with start 0 and stride 2 the last member would be %d", n, 2*(n-1))},
		{0, 1, n, bad, "cfg.NumContexts -1: want at least 0"},
	}
	for _, c := range strided {
		if c.stride == 2 && n == 1 {
			continue // fits: one member
		}
		what := fmt.Sprintf("SplitStrided(%d, %d, %d, %+v)", c.start, c.stride, c.size, c.cfg)
		team, err := w.SplitStrided(ctx, c.start, c.stride, c.size, c.cfg)
		require.ErrorIs(t, err, shmem.ErrInvalidArg, what)
		assert.Nil(t, team, what)
		assert.Contains(t, err.Error(), "team_split_strided: PE 0: invalid argument: "+c.want, what)
	}
	for _, c := range []struct {
		xrange     int
		xcfg, ycfg *shmem.TeamConfig
		want       string
	}{
		{0, nil, nil, "xrange 0: want at least 1"},
		{-5, nil, nil, "xrange -5: want at least 1"},
		{1, bad, nil, "xcfg.NumContexts -1: want at least 0"},
		{1, nil, &shmem.TeamConfig{NumContexts: -2}, "ycfg.NumContexts -2: want at least 0"},
	} {
		what := fmt.Sprintf("Split2D(%d, %+v, %+v)", c.xrange, c.xcfg, c.ycfg)
		x, y, err := w.Split2D(ctx, c.xrange, c.xcfg, c.ycfg)
		require.ErrorIs(t, err, shmem.ErrInvalidArg, what)
		assert.Nil(t, x, what)
		assert.Nil(t, y, what)
		assert.Contains(t, err.Error(), "team_split_2d: PE 0: invalid argument: "+c.want, what)
	}

	// An argument that does not fit on the last PE only fails everywhere,
	// naming that PE.
	start := 0
	if me == n-1 {
		start = -7
	}
	_, err := w.SplitStrided(ctx, start, 1, 1, nil)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), fmt.Sprintf("team_split_strided: PE %d: invalid argument: start -7", n-1))
	xr := 1
	if me == n-1 {
		xr = 0
	}
	_, _, err = w.Split2D(ctx, xr, nil, nil)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), fmt.Sprintf("team_split_2d: PE %d: invalid argument: xrange 0", n-1))

	// The world team still splits.
	x, y, err := w.Split2D(ctx, 1, &shmem.TeamConfig{NumContexts: 2}, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, x.Config().NumContexts)
	assert.Equal(t, n, y.NPEs())
	require.NoError(t, x.Destroy(ctx))
	require.NoError(t, y.Destroy(ctx))
}
