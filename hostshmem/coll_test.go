package hostshmem_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() {
	scenarios["teams"] = scenarioTeams
	scenarios["coll"] = scenarioColl
	scenarios["collbad"] = scenarioCollBad
}

func TestTeams(t *testing.T)       { petest.Both(t, scenarios, "teams", 2, 3, 4) }
func TestCollectives(t *testing.T) { petest.Both(t, scenarios, "coll", 2, 3, 4) }
func TestCollBadInput(t *testing.T) {
	petest.Both(t, scenarios, "collbad", 2, 3)
}

// TestCollectivesInproc8 runs the collectives on 5 and 8 goroutine PEs
// (non-power-of-two, more PEs than cores).
func TestCollectivesInproc8(t *testing.T) {
	for _, n := range []int{5, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { petest.Inproc(t, scenarios, "coll", n) })
	}
}

// in is the input element k of world PE pe, in [1, 3]: small enough that
// every reduction below is exact in every type.
func in(pe, k, salt int) float64 { return float64((pe*7+k*3+salt)%3 + 1) }

// conv converts a small exact value to T.
func conv[T shmem.Elem](v float64) T {
	var z T
	switch p := any(&z).(type) {
	case *shmem.Float16:
		*p = shmem.Float16From(float32(v))
	case *shmem.BFloat16:
		*p = shmem.BFloat16From(float32(v))
	case *float32:
		*p = float32(v)
	case *float64:
		*p = v
	case *complex64:
		*p = complex(float32(v), 0)
	case *complex128:
		*p = complex(v, 0)
	case *int8:
		*p = int8(int64(v))
	case *int16:
		*p = int16(int64(v))
	case *int32:
		*p = int32(int64(v))
	case *int64:
		*p = int64(v)
	case *uint8:
		*p = uint8(int64(v))
	case *uint16:
		*p = uint16(int64(v))
	case *uint32:
		*p = uint32(int64(v))
	case *uint64:
		*p = uint64(int64(v))
	default:
		panic(fmt.Sprintf("conv: %T", z))
	}
	return z
}

// ref folds vals with op in order, as integers when integer.
func ref(op shmem.ReduceOp, vals []float64, integer bool) float64 {
	if integer {
		a := int64(vals[0])
		for _, f := range vals[1:] {
			v := int64(f)
			switch op {
			case shmem.OpSum:
				a += v
			case shmem.OpProd:
				a *= v
			case shmem.OpMin:
				a = min(a, v)
			case shmem.OpMax:
				a = max(a, v)
			case shmem.OpAnd:
				a &= v
			case shmem.OpOr:
				a |= v
			case shmem.OpXor:
				a ^= v
			}
		}
		return float64(a)
	}
	a := vals[0]
	for _, v := range vals[1:] {
		switch op {
		case shmem.OpSum:
			a += v
		case shmem.OpProd:
			a *= v
		case shmem.OpMin:
			a = min(a, v)
		case shmem.OpMax:
			a = max(a, v)
		}
	}
	return a
}

// collTeams returns the teams the collective scenario runs on (nil where
// this PE is not a member): world, shared, the even PEs, the 2-D row and
// column of 2 columns, PE 0 alone, and a team split from a split team.
func collTeams(t *petest.T, pe *shmem.PE) []*shmem.Team {
	ctx := t.Context()
	w := pe.TeamWorld()
	n := pe.NPEs()
	evens, err := w.SplitStrided(ctx, 0, 2, (n+1)/2, nil)
	require.NoError(t, err)
	x, y, err := w.Split2D(ctx, 2, nil, nil)
	require.NoError(t, err)
	solo, err := w.SplitStrided(ctx, 0, 1, 1, nil)
	require.NoError(t, err)
	// A team split from a team that is itself split: the last n-1 PEs, then
	// every other one of those.
	tail, err := w.SplitStrided(ctx, 1, 1, max(n-1, 1), nil)
	require.NoError(t, err)
	var nested *shmem.Team
	if tail != nil {
		nested, err = tail.SplitStrided(ctx, 0, 2, (tail.NPEs()+1)/2, nil)
		require.NoError(t, err)
	}
	return []*shmem.Team{w, pe.TeamShared(), evens, x, y, solo, nested}
}

func collType[T shmem.Elem](t *petest.T, pe *shmem.PE, teams []*shmem.Team, ops []shmem.ReduceOp, integer bool, sizes []int) {
	ctx := t.Context()
	maxN := 0
	for _, n := range sizes {
		maxN = max(maxN, n)
	}
	np := pe.NPEs()
	src, err := shmem.Calloc[T](ctx, pe, maxN*np+1)
	require.NoError(t, err)
	dst, err := shmem.Calloc[T](ctx, pe, maxN*np+1)
	require.NoError(t, err)
	ls, ld := shmem.Local(pe, src), shmem.Local(pe, dst)
	me := pe.MyPE()
	var z T
	for ti, team := range teams {
		if team == nil {
			continue
		}
		size, tme := team.NPEs(), team.MyPE()
		for _, n := range sizes {
			what := fmt.Sprintf("%T team %d (%v) n=%d", z, ti, team, n)
			salt := ti*31 + n
			fill := func() {
				for k := range ls {
					ls[k] = conv[T](in(me, k, salt))
				}
			}
			// Reductions, out of place and in place.
			for _, op := range ops {
				fill()
				require.NoError(t, shmem.Reduce(ctx, team, op, dst, src, n), "%s reduce %v", what, op)
				want := make([]T, n)
				for k := range want {
					vals := make([]float64, size)
					for i := range vals {
						vals[i] = in(team.WorldPE(i), k, salt)
					}
					want[k] = conv[T](ref(op, vals, integer))
				}
				require.Equal(t, want, ld[:n], "%s reduce %v", what, op)
				require.NoError(t, shmem.AllReduce(ctx, team, op, src, src, n), "%s in-place", what)
				require.Equal(t, want, ls[:n], "%s in-place reduce %v", what, op)
			}
			// Reduce-scatter: block tme of the sum over members.
			fill()
			require.NoError(t, shmem.ReduceScatter(ctx, team, ops[0], dst, src, n/size), what)
			for k := 0; k < n/size; k++ {
				vals := make([]float64, size)
				for i := range vals {
					vals[i] = in(team.WorldPE(i), tme*(n/size)+k, salt)
				}
				require.Equal(t, conv[T](ref(ops[0], vals, integer)), ld[k], "%s reduce_scatter element %d", what, k)
			}
			// Broadcast from the last member.
			fill()
			root := size - 1
			clear(ld)
			require.NoError(t, shmem.Broadcast(ctx, team, dst, src, n, root), what)
			for k := 0; k < n; k++ {
				require.Equal(t, conv[T](in(team.WorldPE(root), k, salt)), ld[k], "%s broadcast element %d", what, k)
			}
			// FCollect: member order.
			fill()
			require.NoError(t, shmem.AllGather(ctx, team, dst, src, n), what)
			for i := 0; i < size; i++ {
				for k := 0; k < n; k++ {
					require.Equal(t, conv[T](in(team.WorldPE(i), k, salt)), ld[i*n+k], "%s fcollect block %d element %d", what, i, k)
				}
			}
			// Collect: member i contributes (n+i)%(n+1) elements.
			fill()
			cnt := func(i int) int { return (n + i) % (n + 1) }
			total, err := shmem.Collect(ctx, team, dst, src, cnt(tme))
			require.NoError(t, err, what)
			at := 0
			for i := 0; i < size; i++ {
				for k := 0; k < cnt(i); k++ {
					require.Equal(t, conv[T](in(team.WorldPE(i), k, salt)), ld[at], "%s collect from %d element %d", what, i, k)
					at++
				}
			}
			require.Equal(t, at, total)
			// AllToAll: block j of member i's source goes to member j.
			per := n / size
			for j := 0; j < size; j++ {
				for k := 0; k < per; k++ {
					ls[j*per+k] = conv[T](float64((me+j+k+salt)%3 + 1))
				}
			}
			require.NoError(t, shmem.AllToAll(ctx, team, dst, src, per), what)
			for i := 0; i < size; i++ {
				for k := 0; k < per; k++ {
					require.Equal(t, conv[T](float64((team.WorldPE(i)+tme+k+salt)%3+1)), ld[i*per+k], "%s alltoall from %d element %d", what, i, k)
				}
			}
			// AllToAlls with strides 2 (dest) and 1 (source): m elements per
			// member, read from the AllToAll layout above.
			if m := per / 2; m > 0 {
				clear(ld)
				require.NoError(t, shmem.AllToAlls(ctx, team, dst, src, 2, 1, m), what)
				for i := 0; i < size; i++ {
					for k := 0; k < m; k++ {
						x := tme*m + k // index in sender i's source
						want := conv[T](float64((team.WorldPE(i)+x/per+x%per+salt)%3 + 1))
						require.Equal(t, want, ld[(i*m+k)*2], "%s alltoalls from %d element %d", what, i, k)
						require.Equal(t, z, ld[(i*m+k)*2+1], "%s alltoalls wrote between strides", what)
					}
				}
			}
			require.NoError(t, team.Sync(ctx))
		}
	}
	require.NoError(t, shmem.Free(ctx, pe, dst))
	require.NoError(t, shmem.Free(ctx, pe, src))
}

var (
	intOps   = []shmem.ReduceOp{shmem.OpSum, shmem.OpProd, shmem.OpMin, shmem.OpMax, shmem.OpAnd, shmem.OpOr, shmem.OpXor}
	floatOps = []shmem.ReduceOp{shmem.OpSum, shmem.OpProd, shmem.OpMin, shmem.OpMax}
	cplxOps  = []shmem.ReduceOp{shmem.OpSum, shmem.OpProd}
)

func scenarioColl(t *petest.T, pe *shmem.PE) {
	teams := collTeams(t, pe)
	// Sizes: empty, one, odd, and across the 2 KiB push threshold.
	collType[float32](t, pe, teams, floatOps, false, []int{0, 1, 7, 512, 513, 3001})
	collType[int32](t, pe, teams, intOps, true, []int{1, 7, 513, 2000})
	collType[shmem.Float16](t, pe, teams, floatOps, false, []int{5, 1024, 1500})
	collType[shmem.BFloat16](t, pe, teams, floatOps, false, []int{5, 1500})
	collType[float64](t, pe, teams, floatOps, false, []int{3, 300})
	collType[int8](t, pe, teams, intOps, true, []int{9, 2100})
	collType[uint64](t, pe, teams, intOps, true, []int{4, 400})
	collType[complex64](t, pe, teams, cplxOps, false, []int{6, 300})
	collType[int16](t, pe, teams, intOps, true, []int{11})
	collType[uint8](t, pe, teams, intOps, true, []int{13})
	collType[uint16](t, pe, teams, intOps, true, []int{3})
	collType[uint32](t, pe, teams, intOps, true, []int{5})
	collType[int64](t, pe, teams, intOps, true, []int{700})
	collType[complex128](t, pe, teams, cplxOps, false, []int{2})

	// Random sizes, the same on every PE (one seed), varied per run count
	// through GSHMEM_TEST_SEED when set; a failure names the size.
	seed := uint64(20261121)
	if v, err := strconv.ParseUint(os.Getenv("GSHMEM_TEST_SEED"), 10, 64); err == nil {
		seed = v
	}
	r := rand.New(rand.NewPCG(seed, uint64(pe.NPEs())))
	sizes := func(k, hi int) []int {
		s := make([]int, k)
		for i := range s {
			s[i] = r.IntN(hi)
		}
		return s
	}
	collType[float32](t, pe, teams, floatOps, false, sizes(3, 5000))
	collType[shmem.BFloat16](t, pe, teams, floatOps, false, sizes(2, 3000))
	collType[int64](t, pe, teams, intOps, true, sizes(2, 1000))
}

func scenarioTeams(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	w := pe.TeamWorld()
	require.Equal(t, me, w.MyPE())
	require.Equal(t, n, w.NPEs())
	// TeamShared: the PEs whose memory this PE maps (every PE on one
	// node; across nodes, this PE's node).
	probe, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	mapped := 0
	for j := range n {
		if _, err := shmem.Ptr(pe, probe, j); err == nil {
			mapped++
		}
	}
	sh := pe.TeamShared()
	if pe.Transport() == "shm+ofi" {
		require.Equal(t, mapped, sh.NPEs())
		for j := range sh.NPEs() {
			_, err := shmem.TeamPtr(sh, probe, j)
			require.NoError(t, err, "member %d of the shared team", j)
		}
	} else {
		// One process or one node (RMA-only mode maps nothing but
		// still runs on one node).
		require.Equal(t, n, sh.NPEs())
	}
	require.NoError(t, shmem.Free(ctx, pe, probe))

	// Odd PEs: the evens get the null team and no error.
	odds, err := w.SplitStrided(ctx, 1, 2, n/2, &shmem.TeamConfig{NumContexts: 3})
	require.NoError(t, err)
	if me%2 == 1 {
		require.NotNil(t, odds)
		assert.Equal(t, me/2, odds.MyPE())
		assert.Equal(t, n/2, odds.NPEs())
		assert.Equal(t, 3, odds.Config().NumContexts)
		assert.Equal(t, me, odds.WorldPE(odds.MyPE()))
		assert.Equal(t, odds.MyPE(), w.TranslatePE(me, odds))
		assert.Equal(t, me, odds.TranslatePE(odds.MyPE(), w))
		require.NoError(t, odds.Sync(ctx))
		require.NoError(t, odds.Barrier(ctx))
	} else {
		assert.Nil(t, odds)
		assert.Equal(t, -1, odds.MyPE())
		assert.Equal(t, -1, w.TranslatePE(me, odds))
	}
	assert.Equal(t, -1, w.TranslatePE(0, odds), "PE 0 is not odd")

	// 2-D split of 2 columns: row and column teams.
	x, y, err := w.Split2D(ctx, 2, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, me%2, x.MyPE())
	assert.Equal(t, me/2, y.MyPE())
	assert.Equal(t, min(2, n-me/2*2), x.NPEs())
	assert.Equal(t, (n-me%2+1)/2, y.NPEs())
	assert.Equal(t, me-me%2, x.WorldPE(0))
	assert.Equal(t, me%2, y.WorldPE(0))

	// Create and destroy many teams: the pool is reused, not exhausted.
	for i := 0; i < 100; i++ {
		tt, err := w.SplitStrided(ctx, 0, 1, n, nil)
		require.NoError(t, err, "creation %d", i)
		require.NoError(t, tt.Sync(ctx))
		require.NoError(t, tt.Destroy(ctx))
		require.ErrorIs(t, tt.Sync(ctx), shmem.ErrTeam, "a destroyed team still works")
	}
	require.ErrorIs(t, w.Destroy(ctx), shmem.ErrTeam, "destroyed the world team")

	// Bad and mismatched arguments fail alike on every PE.
	_, err = w.SplitStrided(ctx, 0, 0, 2, nil)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	_, err = w.SplitStrided(ctx, 0, 1, n+1, nil)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	size := n
	if me == 0 {
		size = n - 1
	}
	_, err = w.SplitStrided(ctx, 0, 1, size, nil)
	require.ErrorIs(t, err, shmem.ErrMismatch)
	// Different arguments that each make a consistent team of one.
	_, err = w.SplitStrided(ctx, me, 1, 1, nil)
	require.ErrorIs(t, err, shmem.ErrMismatch)
	// Two of the calls are named (which two depends on how the team
	// enters calls: by exchange, member 0 and the first that differs).
	m := regexp.MustCompile(`collective call differs across PEs: PE (\d+) called team_split_strided\(start (\d+), stride 1, size 1\), PE (\d+) called team_split_strided\(start (\d+), stride 1, size 1\)`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, "%v", err)
	assert.Equal(t, m[1], m[2], "%v", err)
	assert.Equal(t, m[3], m[4], "%v", err)
	if w.Algorithm(0) == "one-shot push: put with signal into every peer's slot, no barrier" {
		assert.Equal(t, "0", m[1], "%v", err)
	}
	// ... and the world still works afterwards.
	again, err := w.SplitStrided(ctx, 0, 1, n, nil)
	require.NoError(t, err)
	require.NoError(t, again.Destroy(ctx))
	require.NoError(t, w.Sync(ctx))

	// The null team is an error everywhere, not a crash.
	var null *shmem.Team
	require.ErrorIs(t, null.Sync(ctx), shmem.ErrTeam)
	_, err = null.SplitStrided(ctx, 0, 1, 1, nil)
	require.ErrorIs(t, err, shmem.ErrTeam)
}

func scenarioCollBad(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	w := pe.TeamWorld()
	a, err := shmem.Calloc[float32](ctx, pe, 64)
	require.NoError(t, err)
	b, err := shmem.Calloc[float32](ctx, pe, 64)
	require.NoError(t, err)

	var null *shmem.Team
	require.ErrorIs(t, shmem.Reduce(ctx, null, shmem.OpSum, a, b, 1), shmem.ErrTeam)
	err = shmem.Reduce(ctx, w, shmem.OpXor, a, b, 4)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "xor")
	require.ErrorIs(t, shmem.Broadcast(ctx, w, a, b, 4, n), shmem.ErrInvalidPE)
	require.ErrorIs(t, shmem.Reduce(ctx, w, shmem.OpSum, a, b, 65), shmem.ErrOutOfRange)
	err = shmem.FCollect(ctx, w, a, b, 64/n+1)
	require.ErrorIs(t, err, shmem.ErrOutOfRange, "dest too small for the team")
	require.ErrorIs(t, shmem.Reduce(ctx, w, shmem.OpSum, a.Slice(1, 64), a, 8), shmem.ErrOverlap)
	require.ErrorIs(t, shmem.FCollect(ctx, w, a, a, 4), shmem.ErrOverlap)
	require.ErrorIs(t, shmem.AllToAll(ctx, w, a, a.Slice(0, 64), 2), shmem.ErrOverlap)
	// Strides and counts whose products overflow an int: an error, before
	// any data moves (they panicked with an index out of range).
	for _, c := range [][3]int{{math.MaxInt / 2, 1, 1}, {1, math.MaxInt / 3, 1}, {1, 1, math.MaxInt / 2}, {math.MaxInt, math.MaxInt, 2}} {
		err = shmem.AllToAlls(ctx, w, a, b, c[0], c[1], c[2])
		require.Error(t, err)
		require.True(t, errors.Is(err, shmem.ErrInvalidArg) || errors.Is(err, shmem.ErrOutOfRange), "strides %d, %d, %d elements: %v", c[0], c[1], c[2], err)
	}

	// Different element counts on different PEs: a clear error, and the
	// team still works afterwards.
	cnt := 4
	if me == 0 {
		cnt = 5
	}
	err = shmem.Reduce(ctx, w, shmem.OpSum, a, b, cnt)
	require.ErrorIs(t, err, shmem.ErrMismatch)
	assert.Contains(t, err.Error(), "reduce")
	shmem.Local(pe, b)[0] = 1
	require.NoError(t, shmem.Reduce(ctx, w, shmem.OpSum, a, b, 1))
	assert.Equal(t, float32(n), shmem.Local(pe, a)[0])
}
