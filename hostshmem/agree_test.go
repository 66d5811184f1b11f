package hostshmem_test

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// Collectives whose arguments do not fit on some PEs, or differ between
// PEs, fail on every PE with the same error, whatever the algorithm, and
// leave the team usable (issue 10, items 1 and 2).

func init() {
	scenarios["agree"] = scenarioAgree
	scenarios["agreeloose"] = scenarioAgreeLoose
	scenarios["broken"] = scenarioBroken
}

func TestCollectiveAgreement(t *testing.T) { petest.Both(t, scenarios, "agree", 2, 3) }

// TestCollectiveAgreementLarge runs the scenario on a team that enters
// calls by dissemination (more than 64 members) rather than by exchange.
func TestCollectiveAgreementLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("66 goroutine PEs")
	}
	petest.Inproc(t, scenarios, "agree", 66)
}

// TestCollectiveContextAtEntry: a PE whose context is already done when a
// collective starts fails it on every PE, and the team stays usable.
func TestCollectiveContextAtEntry(t *testing.T) { petest.Both(t, scenarios, "agreeloose", 2, 3) }

// TestCollectiveAbandoned: a PE whose context ends while it waits in a
// collective breaks the team for every member, with ErrBroken, instead of
// letting later calls pair with the wrong ones.
func TestCollectiveAbandoned(t *testing.T) { petest.Both(t, scenarios, "broken", 2, 3) }

// agreed checks that every PE got the same outcome: the same error text
// after the name of the PE's own call (or no error), and returns err for
// more checks.
func agreed(t *petest.T, pe *shmem.PE, cmp *shmem.Sym[uint64], what string, err error) error {
	t.Helper()
	h := uint64(0)
	if err != nil {
		txt := strings.TrimPrefix(err.Error(), "gshmem: ")
		if i := strings.Index(txt, ": "); i >= 0 {
			txt = txt[i+2:]
		}
		f := fnv.New64a()
		f.Write([]byte(txt))
		h = f.Sum64() | 1
	}
	sameOnAll(t, pe, *cmp, h, what)
	return err
}

// usable checks that the world team still reduces correctly.
func usable(t *petest.T, pe *shmem.PE, x shmem.Sym[int64], what string) {
	t.Helper()
	shmem.Local(pe, x)[0] = int64(pe.MyPE() + 1)
	require.NoError(t, shmem.Reduce(t.Context(), pe.TeamWorld(), shmem.OpSum, x.At(1), x.At(0), 1), "after %s", what)
	n := pe.NPEs()
	require.Equal(t, int64(n*(n+1)/2), shmem.Local(pe, x)[1], "after %s", what)
}

func scenarioAgree(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	w := pe.TeamWorld()
	cmp, err := shmem.Calloc[uint64](ctx, pe, n)
	require.NoError(t, err)
	x, err := shmem.Calloc[int64](ctx, pe, 2)
	require.NoError(t, err)
	const big = 4096 // above the 2 KiB push threshold: the direct paths
	a, err := shmem.Calloc[float32](ctx, pe, big)
	require.NoError(t, err)
	b, err := shmem.Calloc[float32](ctx, pe, big)
	require.NoError(t, err)
	odd := me == n-1 // the one PE whose call differs

	// Allocation arguments that do not fit on one PE.
	cnt := 8
	if odd {
		cnt = -1
	}
	_, err = shmem.Malloc[int64](ctx, pe, cnt)
	require.ErrorIs(t, agreed(t, pe, &cmp, "malloc(-1)", err), shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "-1 elements")
	al := uintptr(64)
	if odd {
		al = 3
	}
	_, err = shmem.Align[int64](ctx, pe, al, 4)
	require.ErrorIs(t, agreed(t, pe, &cmp, "align(3)", err), shmem.ErrInvalidArg)
	f, err := shmem.Malloc[int64](ctx, pe, 4)
	require.NoError(t, err)
	victim := f
	if odd {
		victim = f.At(-1)
	}
	err = shmem.Free(ctx, pe, victim)
	require.ErrorIs(t, agreed(t, pe, &cmp, "free(At(-1))", err), shmem.ErrOutOfRange)
	// The allocator agrees still: the same offsets everywhere.
	g, err := shmem.Malloc[int64](ctx, pe, 4)
	require.NoError(t, agreed(t, pe, &cmp, "malloc after failures", err))
	sameOnAll(t, pe, cmp, uint64(g.Offset()), "offset")
	require.NoError(t, shmem.Free(ctx, pe, g))
	require.NoError(t, shmem.Free(ctx, pe, f))

	// Broadcast: overlap on the root only, a root out of range on one PE,
	// a count too large for one PE's dest.
	for _, direct := range []bool{false, true} {
		m := 4
		if direct {
			m = 1024
		}
		src, dst := a, a
		if me == 0 {
			dst = a.Slice(1, big) // overlaps source on the root only
		}
		err = shmem.Broadcast(ctx, w, dst, src, m, 0)
		require.ErrorIs(t, agreed(t, pe, &cmp, "overlapping broadcast", err), shmem.ErrOverlap)
		root := 0
		if odd {
			root = n
		}
		err = shmem.Broadcast(ctx, w, b, a, m, root)
		require.ErrorIs(t, agreed(t, pe, &cmp, "root out of range", err), shmem.ErrInvalidPE)
		dst = b
		if odd {
			dst = b.Slice(0, m-1)
		}
		err = shmem.Broadcast(ctx, w, dst, a, m, 0)
		require.ErrorIs(t, agreed(t, pe, &cmp, "dest too small", err), shmem.ErrOutOfRange)
		usable(t, pe, x, "failed broadcasts")

		// Mismatched arguments (item 2): another root, another count,
		// another op.
		root = 0
		if odd {
			root = 1
		}
		err = shmem.Broadcast(ctx, w, b, a, m, root)
		require.ErrorIs(t, agreed(t, pe, &cmp, "another root", err), shmem.ErrMismatch)
		assert.Contains(t, err.Error(), "broadcast(root 1")
		k := m
		if odd {
			k = m - 1
		}
		err = shmem.Reduce(ctx, w, shmem.OpSum, b, a, k)
		require.ErrorIs(t, agreed(t, pe, &cmp, "another count", err), shmem.ErrMismatch)
		op := shmem.OpSum
		if odd {
			op = shmem.OpMax
		}
		err = shmem.Reduce(ctx, w, op, b, a, m)
		require.ErrorIs(t, agreed(t, pe, &cmp, "another op", err), shmem.ErrMismatch)
		k = m
		if odd {
			k = -1
		}
		err = shmem.Reduce(ctx, w, shmem.OpSum, b, a, k)
		require.ErrorIs(t, agreed(t, pe, &cmp, "n = -1", err), shmem.ErrInvalidArg)
		usable(t, pe, x, "mismatched calls")
	}

	// A count on either side of the push threshold: one PE would push, the
	// others load directly. Still one error, no hang.
	k := 8
	if odd {
		k = big
	}
	err = shmem.Reduce(ctx, w, shmem.OpSum, b, a, k)
	require.ErrorIs(t, agreed(t, pe, &cmp, "push against direct", err), shmem.ErrMismatch)
	// Different collectives altogether.
	if odd {
		err = w.Sync(ctx)
	} else {
		err = shmem.Reduce(ctx, w, shmem.OpSum, b, a, 8)
	}
	require.ErrorIs(t, agreed(t, pe, &cmp, "sync against reduce", err), shmem.ErrMismatch)
	if odd {
		_, err = shmem.Malloc[int64](ctx, pe, 1)
	} else {
		err = pe.BarrierAll(ctx)
	}
	require.ErrorIs(t, agreed(t, pe, &cmp, "malloc against barrier_all", err), shmem.ErrMismatch)
	// Another element type of the same size.
	ia, err2 := shmem.Calloc[int32](ctx, pe, 8)
	require.NoError(t, err2)
	ib, err2 := shmem.Calloc[int32](ctx, pe, 8)
	require.NoError(t, err2)
	if odd {
		err = shmem.Reduce(ctx, w, shmem.OpSum, ib, ia, 8)
	} else {
		err = shmem.Reduce(ctx, w, shmem.OpSum, b, a, 8)
	}
	require.ErrorIs(t, agreed(t, pe, &cmp, "int32 against float32", err), shmem.ErrMismatch)
	assert.Contains(t, err.Error(), "int32")

	// Collect: a dest too small on one PE only.
	cdst := b
	if odd {
		cdst = b.Slice(0, 2*n-1)
	}
	_, err = shmem.Collect(ctx, w, cdst, a, 2)
	require.ErrorIs(t, agreed(t, pe, &cmp, "collect dest too small", err), shmem.ErrOutOfRange)
	got, err := shmem.Collect(ctx, w, b, a, me+1)
	require.NoError(t, agreed(t, pe, &cmp, "collect", err))
	require.Equal(t, n*(n+1)/2, got)

	// Team creation with arguments that fit nowhere on one PE.
	size := n
	if odd {
		size = n + 5
	}
	_, err = w.SplitStrided(ctx, 0, 1, size, nil)
	require.ErrorIs(t, agreed(t, pe, &cmp, "split", err), shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "size")
	usable(t, pe, x, "everything")

	// The PE's own calls (allocation, BarrierAll) are a stream apart from
	// the world team's collectives: both at once, from two goroutines.
	y, err := shmem.Calloc[int64](ctx, pe, 2)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var rerr error
	wg.Go(func() {
		for i := 0; i < 50 && rerr == nil; i++ {
			rerr = shmem.Reduce(ctx, w, shmem.OpSum, y.At(1), y.At(0), 1)
		}
	})
	for i := 0; i < 50; i++ {
		require.NoError(t, pe.BarrierAll(ctx))
	}
	wg.Wait()
	require.NoError(t, rerr)
}

// scenarioAgreeLoose: a context already done at the start of a collective.
func scenarioAgreeLoose(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	cmp, err := shmem.Calloc[uint64](ctx, pe, n)
	require.NoError(t, err)
	x, err := shmem.Calloc[int64](ctx, pe, 2)
	require.NoError(t, err)
	done, cancel := context.WithCancel(ctx)
	cancel()
	cctx := ctx
	if me == n-1 {
		cctx = done
	}
	_, err = shmem.Calloc[int64](cctx, pe, 16)
	require.ErrorIs(t, agreed(t, pe, &cmp, "calloc with a done context", err), context.Canceled)
	// The next allocations agree: the same offset on every PE.
	y, err := shmem.Calloc[int64](ctx, pe, 16)
	require.NoError(t, err)
	sameOnAll(t, pe, cmp, uint64(y.Offset()), "offset after the failed calloc")
	err = shmem.Reduce(cctx, pe.TeamWorld(), shmem.OpSum, x.At(1), x.At(0), 1)
	require.ErrorIs(t, agreed(t, pe, &cmp, "reduce with a done context", err), context.Canceled)
	err = pe.BarrierAll(cctx)
	require.ErrorIs(t, agreed(t, pe, &cmp, "barrier with a done context", err), context.Canceled)
	usable(t, pe, x, "done contexts")
}

// scenarioBroken: the last PE's context ends while it waits in a reduction
// on a team (the others have not come yet); every member's next call on
// the team fails with ErrBroken, and the world team is untouched.
func scenarioBroken(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	team, err := pe.TeamWorld().SplitStrided(ctx, 0, 1, n, nil)
	require.NoError(t, err)
	x, err := shmem.Calloc[int64](ctx, pe, 2)
	require.NoError(t, err)
	gone, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	if me == n-1 {
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		err = shmem.Reduce(short, team, shmem.OpSum, x.At(1), x.At(0), 1)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, shmem.ErrBroken)
		// Tell the others they may come now.
		for i := 0; i < n-1; i++ {
			require.NoError(t, shmem.AtomicSet(pe, gone, 1, i))
		}
	} else {
		require.NoError(t, shmem.WaitUntil(ctx, pe, gone, shmem.CmpEQ, 1))
		// This call may complete (the last PE's part of it was done before
		// it gave up) or fail; the next one fails.
		err = shmem.Reduce(ctx, team, shmem.OpSum, x.At(1), x.At(0), 1)
		if err != nil {
			require.ErrorIs(t, err, shmem.ErrBroken)
		}
	}
	err = team.Sync(ctx)
	require.ErrorIs(t, err, shmem.ErrBroken)
	assert.Contains(t, err.Error(), "gave up on reduce")
	require.True(t, errors.Is(shmem.Broadcast(ctx, team, x.At(1), x.At(0), 1, 0), shmem.ErrBroken))
	require.NoError(t, team.Destroy(ctx), "a broken team can be destroyed")
	usable(t, pe, x, "a broken team")
}
