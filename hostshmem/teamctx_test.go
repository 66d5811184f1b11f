package hostshmem_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["team_ctx"] = scenarioTeamCtx }

// TestTeamCtx: operations on a context made by Team.CreateCtx name PEs by
// their number in the team, reach the right world PE, and refuse numbers
// outside the team, on every call that takes a context.
func TestTeamCtx(t *testing.T) { petest.Both(t, scenarios, "team_ctx", 1, 2, 3, 4) }

func scenarioTeamCtx(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	n := pe.NPEs()
	w := pe.TeamWorld()

	// The contexts of CtxCreate and of the world team are on the world
	// team and take world numbers (the fast path).
	c, err := shmem.CtxCreate(pe, 0)
	require.NoError(t, err)
	assert.Same(t, w, c.Team())
	require.NoError(t, c.Destroy())
	assert.Same(t, w, c.Team(), "a destroyed context still names its team")
	wc, err := w.CreateCtx(shmem.CtxPrivate)
	require.NoError(t, err)
	assert.Same(t, w, wc.Team())
	assert.Same(t, pe, wc.PE())
	assert.Equal(t, shmem.CtxPrivate, wc.Options())
	ctxTraffic(t, pe, wc, "world team context")
	require.NoError(t, wc.Destroy())
	var nilCtx *shmem.Ctx
	assert.Nil(t, nilCtx.Team())
	var zero shmem.Ctx
	assert.Nil(t, zero.Team())

	// The even PEs (world 0, 2, ...: team PE i is world PE 2i) and the
	// PEs from world PE 1 on (team PE i is world PE i+1).
	evens, err := w.SplitStrided(ctx, 0, 2, (n+1)/2, nil)
	require.NoError(t, err)
	var tail *shmem.Team
	if n > 1 {
		tail, err = w.SplitStrided(ctx, 1, 1, n-1, nil)
		require.NoError(t, err)
	}
	const N = 8
	data, err := shmem.Calloc[int64](ctx, pe, 2*N)
	require.NoError(t, err)
	words, err := shmem.Calloc[uint64](ctx, pe, 2) // counter on team PE 0, signal
	require.NoError(t, err)
	for _, team := range []*shmem.Team{evens, tail} {
		if team != nil {
			teamTraffic(t, pe, team, data, words)
		}
		require.NoError(t, pe.BarrierAll(ctx))
		refusedWroteNothing(t, pe, data, fmt.Sprintf("contexts on %v", team))
		require.NoError(t, pe.BarrierAll(ctx)) // before data is written again
		clear(shmem.Local(pe, data))
		clear(shmem.Local(pe, words))
		require.NoError(t, pe.BarrierAll(ctx))
	}

	// Destroying the team destroys its contexts: operations fail, Destroy
	// only releases them.
	var doomed *shmem.Ctx
	if evens != nil {
		doomed, err = evens.CreateCtx(0)
		require.NoError(t, err)
		require.NoError(t, shmem.P(doomed, data, 1, 0))
		require.NoError(t, evens.Destroy(ctx))
		err = shmem.P(doomed, data, 1, 0)
		require.ErrorIs(t, err, shmem.ErrCtxDestroyed)
		assert.Contains(t, err.Error(), "destroyed")
		assert.Contains(t, err.Error(), evens.String())
		require.ErrorIs(t, shmem.Quiet(doomed), shmem.ErrCtxDestroyed)
		assert.Same(t, evens, doomed.Team())
		require.NoError(t, doomed.Destroy())
		require.ErrorIs(t, doomed.Destroy(), shmem.ErrCtxDestroyed)
		_, err = evens.CreateCtx(0)
		require.ErrorIs(t, err, shmem.ErrTeam, "a context on a destroyed team")
	}
	if tail != nil {
		require.NoError(t, tail.Destroy(ctx))
	}
	assert.Equal(t, 0, pe.Contexts(), "contexts left behind")

	var null *shmem.Team
	_, err = null.CreateCtx(0)
	require.ErrorIs(t, err, shmem.ErrTeam)
	_, err = w.CreateCtx(shmem.CtxNostore | 0x80)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "0x80")
	assert.Equal(t, 0, pe.Contexts(), "a refused context is not counted")

	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, words))
	require.NoError(t, shmem.Free(ctx, pe, data))
}

// teamTraffic runs on the members of team: each sends its world and team
// numbers to the next member by team number on a team context, with every
// kind of call, and checks what the previous member sent.
func teamTraffic(t *petest.T, pe *shmem.PE, team *shmem.Team, data shmem.Sym[int64], words shmem.Sym[uint64]) {
	ctx := t.Context()
	me, size := team.MyPE(), team.NPEs()
	next, prev := (me+1)%size, (me+size-1)%size
	what := fmt.Sprintf("context on %v", team)
	c, err := team.CreateCtx(0)
	require.NoError(t, err, what)
	assert.Same(t, team, c.Team(), what)
	assert.Same(t, pe, c.PE(), what)
	counter, sig := words.At(0), words.At(1)
	N := data.Len() / 2

	mine := []int64{int64(pe.MyPE()), int64(me)}
	require.NoError(t, shmem.Put(c, data.Slice(0, 2), mine, next), what)
	require.NoError(t, shmem.PutNBI(c, data.Slice(2, 4), mine, next), what)
	require.NoError(t, shmem.P(c, data.At(4), int64(pe.MyPE()), next), what)
	require.NoError(t, shmem.IPut(c, data.Slice(5, 8), mine, 2, 1, 2, next), what)
	require.NoError(t, shmem.PutMem(c, shmem.Bytes(data.At(N)), []byte{byte(pe.MyPE() + 1)}, next), what)
	old, err := shmem.AtomicFetchAdd(c, counter, 1, 0)
	require.NoError(t, err, what)
	assert.Less(t, old, uint64(2*size), what)
	var fetched uint64
	require.NoError(t, shmem.AtomicFetchIncNBI(c, &fetched, counter, 0), what)
	require.NoError(t, shmem.PutSignal(c, data.Slice(N+1, N+3), mine, sig, uint64(pe.MyPE()+1), shmem.SignalSet, next), what)
	require.NoError(t, shmem.Quiet(c), what)
	assert.Less(t, fetched, uint64(2*size), what)

	from := team.WorldPE(prev)
	got, err := shmem.SignalWaitUntil(ctx, pe, sig, shmem.CmpNE, 0)
	require.NoError(t, err, what)
	assert.Equal(t, uint64(from+1), got, "%s: the signal came from the wrong PE", what)
	require.NoError(t, team.Barrier(ctx), what)
	l := shmem.Local(pe, data)
	theirs := []int64{int64(from), int64(prev)}
	assert.Equal(t, theirs, l[0:2], "%s: put", what)
	assert.Equal(t, theirs, l[2:4], "%s: put_nbi", what)
	assert.Equal(t, int64(from), l[4], "%s: p", what)
	assert.Equal(t, []int64{int64(from), 0, int64(prev)}, l[5:8], "%s: iput", what)
	assert.Equal(t, byte(from+1), shmem.Local(pe, shmem.Bytes(data.At(N)))[0], "%s: putmem", what)
	assert.Equal(t, theirs, l[N+1:N+3], "%s: put_signal", what)
	if me == 0 {
		assert.Equal(t, uint64(2*size), shmem.Local(pe, counter)[0], "%s: atomics on team PE 0 (world PE %d)", what, pe.MyPE())
	}

	// Gets from the next member, which holds what this PE put.
	buf := make([]int64, 2)
	require.NoError(t, shmem.Get(c, buf, data.Slice(0, 2), next), what)
	assert.Equal(t, mine, buf, "%s: get", what)
	clear(buf)
	require.NoError(t, shmem.GetNBI(c, buf, data.Slice(2, 4), next), what)
	require.NoError(t, c.Quiet(), what)
	assert.Equal(t, mine, buf, "%s: get_nbi", what)
	v, err := shmem.G(c, data.At(4), next)
	require.NoError(t, err, what)
	assert.Equal(t, int64(pe.MyPE()), v, "%s: g", what)
	clear(buf)
	require.NoError(t, shmem.IGet(c, buf, data.Slice(5, 8), 1, 2, 2, next), what)
	assert.Equal(t, mine, buf, "%s: iget", what)
	f, err := shmem.AtomicFetch(c, counter, 0)
	require.NoError(t, err, what)
	assert.Equal(t, uint64(2*size), f, "%s: fetch from team PE 0", what)
	require.NoError(t, c.Fence(), what)

	// Team numbers outside the team are refused on every call, naming the
	// team's size, and move nothing: the team's size is a world PE (for
	// teams smaller than the world), and -1 is nobody.
	require.NoError(t, team.Barrier(ctx), what) // every member has read
	x, s := data.Slice(2*N-4, 2*N), words.At(1)
	for _, bad := range []int{size, -1} {
		probe := make([]int64, 2)
		for name, err := range ctxCalls(c, x, s, probe, bad) {
			switch name {
			case "quiet", "fence", "quiet (method)", "fence (method)":
				require.NoError(t, err, "%s: %s", what, name)
			case "destroy":
				require.NoError(t, err, "%s: %s", what, name)
			default:
				require.ErrorIs(t, err, shmem.ErrInvalidPE, "%s: %s to team PE %d", what, name, bad)
				assert.Contains(t, err.Error(), fmt.Sprintf("PE %d not in [0, %d), the members of %v", bad, size, team), name)
			}
		}
		// ctxCalls destroyed c: make another for the next round.
		c, err = team.CreateCtx(shmem.CtxSerialized)
		require.NoError(t, err, what)
	}
	require.NoError(t, c.Destroy(), what)
}

// refusedWroteNothing checks, after a world barrier, that the calls
// teamTraffic refused left data's last 4 elements zero on every PE.
func refusedWroteNothing(t *petest.T, pe *shmem.PE, data shmem.Sym[int64], what string) {
	x := data.Slice(data.Len()-4, data.Len())
	for j := 0; j < pe.NPEs(); j++ {
		got := make([]int64, 4)
		require.NoError(t, shmem.Get(pe, got, x, j))
		assert.Equal(t, make([]int64, 4), got, "%s: a refused call wrote to world PE %d", what, j)
	}
}
