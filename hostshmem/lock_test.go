package hostshmem_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/fabric"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() {
	scenarios["lock"] = scenarioLock
	scenarios["lock_fifo"] = scenarioLockFIFO
	scenarios["lock_cancel"] = scenarioLockCancel
	scenarios["lock_race"] = scenarioLockRace
	scenarios["lock_chaos"] = scenarioLockChaos
}

func TestLock(t *testing.T)       { petest.Both(t, scenarios, "lock", 2, 3, 4) }
func TestLockFIFO(t *testing.T)   { petest.Both(t, scenarios, "lock_fifo", 2, 3, 4) }
func TestLockCancel(t *testing.T) { petest.Both(t, scenarios, "lock_cancel", 2, 3, 4) }
func TestLockRace(t *testing.T)   { petest.Both(t, scenarios, "lock_race", 2, 3, 4) }
func TestLockChaos(t *testing.T)  { petest.Both(t, scenarios, "lock_chaos", 2, 3, 4) }

// TestLockInprocMany runs the lock scenarios on more PEs than cores.
func TestLockInprocMany(t *testing.T) {
	for _, s := range []string{"lock", "lock_fifo", "lock_cancel", "lock_race", "lock_chaos"} {
		t.Run(s, func(t *testing.T) { petest.Inproc(t, scenarios, s, 8) })
	}
}

// The lock's documented layout, which the tests below peek at to order
// PEs in the queue: the high half of PE 0's copy is the last queued PE + 1,
// bit 30 of a PE's copy says its queued node was abandoned.
const (
	lockAbandonedBit = 1 << 30
	lockGrantedBit   = 1 << 31
	lockNode         = 1<<32 - 1
)

// lockTail is the last PE queued for lock + 1 (0: free).
func lockTail(t *petest.T, pe *shmem.PE, lock shmem.Sym[int64]) int {
	v, err := shmem.AtomicFetch(pe, lock, 0)
	require.NoError(t, err)
	return int(uint64(v) >> 32)
}

// until polls cond, which reads remote memory: waits watch local memory only.
func until(t *petest.T, what string, cond func() bool) {
	for i := 0; !cond(); i++ {
		require.NoError(t, t.Context().Err(), "waiting for %s", what)
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// exclusive runs rounds critical sections on every PE: a non-atomic
// read-modify-write of a counter on PE 0 with G and P, and a check that
// no other PE is inside. It returns the global sequence numbers of this
// PE's sections, in order.
func exclusive(t *petest.T, pe *shmem.PE, lock shmem.Sym[int64], rounds int) []int64 {
	ctx := t.Context()
	n := pe.NPEs()
	w, err := shmem.Calloc[int64](ctx, pe, 2) // counter, inside: on PE 0
	require.NoError(t, err)
	counter, inside := w.At(0), w.At(1)
	seqs := make([]int64, 0, rounds)
	for r := 0; r < rounds; r++ {
		require.NoError(t, shmem.SetLock(ctx, pe, lock))
		in, err := shmem.AtomicFetchAdd(pe, inside, 1, 0)
		require.NoError(t, err)
		require.Zero(t, in, "another PE is inside the critical section")
		v, err := shmem.G(pe, counter, 0)
		require.NoError(t, err)
		if r%8 == 0 {
			runtime.Gosched() // widen the window a lost update needs
		}
		require.NoError(t, shmem.P(pe, counter, v+1, 0))
		seqs = append(seqs, v)
		require.NoError(t, shmem.AtomicAdd(pe, inside, -1, 0))
		require.NoError(t, shmem.ClearLock(pe, lock))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	total, err := shmem.G(pe, counter, 0)
	require.NoError(t, err)
	require.Equal(t, int64(n*rounds), total, "updates lost: mutual exclusion failed")
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, w))
	return seqs
}

func scenarioLock(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	locks, err := shmem.Calloc[int64](ctx, pe, 2)
	require.NoError(t, err)
	lock, other := locks.At(0), locks.At(1)

	// Bad lock objects.
	for _, bad := range []shmem.Sym[int64]{locks, locks.Slice(0, 0), locks.At(5)} {
		require.Error(t, shmem.SetLock(ctx, pe, bad), "%v", bad)
		_, err := shmem.TestLock(pe, bad)
		require.Error(t, err, "%v", bad)
		require.Error(t, shmem.ClearLock(pe, bad), "%v", bad)
	}
	require.ErrorIs(t, shmem.SetLock(ctx, pe, locks), shmem.ErrInvalidArg)
	require.ErrorIs(t, shmem.SetLock(ctx, pe, locks.At(5)), shmem.ErrOutOfRange)

	// Clearing a lock nobody holds is an error and changes nothing.
	require.ErrorIs(t, shmem.ClearLock(pe, lock), shmem.ErrInvalidArg)
	require.NoError(t, pe.BarrierAll(ctx))

	// TestLock: free, then taken by PE 0, then free again.
	if me == 0 {
		require.NoError(t, shmem.SetLock(ctx, pe, lock))
		// Setting it again, or testing it, would deadlock: errors.
		err := shmem.SetLock(ctx, pe, lock)
		require.ErrorIs(t, err, shmem.ErrInvalidArg)
		assert.Contains(t, err.Error(), "already holds")
		_, err = shmem.TestLock(pe, lock)
		require.ErrorIs(t, err, shmem.ErrInvalidArg)
		// Another lock is independent.
		ok, err := shmem.TestLock(pe, other)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, shmem.ClearLock(pe, other))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	if me != 0 {
		ok, err := shmem.TestLock(pe, lock)
		require.NoError(t, err)
		assert.False(t, ok, "TestLock took a lock PE 0 holds")
		require.ErrorIs(t, shmem.ClearLock(pe, lock), shmem.ErrInvalidArg, "cleared a lock PE 0 holds")
	}
	require.NoError(t, pe.BarrierAll(ctx))
	if me == 0 {
		require.NoError(t, shmem.ClearLock(pe, lock))
		require.ErrorIs(t, shmem.ClearLock(pe, lock), shmem.ErrInvalidArg, "cleared twice")
	}
	require.NoError(t, pe.BarrierAll(ctx))
	// Each PE in turn finds it free; the others find it taken meanwhile.
	for holder := 0; holder < n; holder++ {
		if me == holder {
			ok, err := shmem.TestLock(pe, lock)
			require.NoError(t, err)
			require.True(t, ok, "TestLock of a free lock failed")
		}
		require.NoError(t, pe.BarrierAll(ctx))
		if me != holder {
			ok, err := shmem.TestLock(pe, lock)
			require.NoError(t, err)
			assert.False(t, ok, "TestLock took the lock PE %d holds", holder)
		}
		require.NoError(t, pe.BarrierAll(ctx))
		if me == holder {
			require.NoError(t, shmem.ClearLock(pe, lock))
		}
		require.NoError(t, pe.BarrierAll(ctx))
	}

	// Mutual exclusion, with SetLock and with TestLock spinning.
	exclusive(t, pe, lock, 200)
	for r := 0; r < 50; r++ {
		for {
			ok, err := shmem.TestLock(pe, other)
			require.NoError(t, err)
			if ok {
				break
			}
			runtime.Gosched()
		}
		require.NoError(t, shmem.ClearLock(pe, other))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	// The lock words are back to 0: nothing queued, nothing left behind.
	assert.Equal(t, []int64{0, 0}, shmem.Local(pe, locks))
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, locks))
}

// scenarioLockFIFO: PEs get the lock in the order they queued for it.
func scenarioLockFIFO(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	lock, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	log, err := shmem.Calloc[int64](ctx, pe, 1+n) // count, then PEs in order
	require.NoError(t, err)

	// Deterministic: PE order[0] holds the lock while the others queue one
	// after another (each waits until the previous one is the tail); the
	// log must list them in that order.
	for _, order := range [][]int{ascending(n), descending(n)} {
		first := order[0]
		if me == first {
			require.NoError(t, shmem.SetLock(ctx, pe, lock))
		}
		require.NoError(t, pe.BarrierAll(ctx))
		pos := slices.Index(order, me)
		if pos > 0 {
			until(t, "my predecessor to queue", func() bool { return lockTail(t, pe, lock) == order[pos-1]+1 })
			require.NoError(t, shmem.SetLock(ctx, pe, lock))
		} else {
			until(t, "everyone to queue", func() bool { return lockTail(t, pe, lock) == order[n-1]+1 })
		}
		i, err := shmem.AtomicFetchInc(pe, log.At(0), 0)
		require.NoError(t, err)
		require.NoError(t, shmem.P(pe, log.At(1+int(i)), int64(me), 0))
		require.NoError(t, shmem.ClearLock(pe, lock))
		require.NoError(t, pe.BarrierAll(ctx))
		if me == 0 {
			l := shmem.Local(pe, log)
			got := make([]int, n)
			for j := range got {
				got[j] = int(l[1+j])
			}
			assert.Equal(t, order, got, "lock granted out of queue order")
			clear(l)
		}
		require.NoError(t, pe.BarrierAll(ctx))
	}

	// Under contention no PE is passed over: with every PE queuing again
	// right after its turn, the queue is full and each PE waits for the
	// n-1 others once. Scheduling noise (a PE preempted before it queues)
	// can stretch a gap, so the median gap is checked, against n.
	const rounds = 60
	seqs := exclusive(t, pe, lock, rounds)
	gaps := make([]int64, 0, rounds)
	for i := 1; i < len(seqs); i++ {
		gaps = append(gaps, seqs[i]-seqs[i-1]-1)
	}
	slices.Sort(gaps)
	if n > 1 {
		assert.LessOrEqual(t, gaps[len(gaps)/2], int64(n), "median number of other PEs' turns between two of mine: gaps %v", gaps)
	}
	require.NoError(t, shmem.Free(ctx, pe, log))
	require.NoError(t, shmem.Free(ctx, pe, lock))
}

func ascending(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func descending(n int) []int {
	s := ascending(n)
	slices.Reverse(s)
	return s
}

// scenarioLockCancel: a SetLock whose ctx ends while another PE holds the
// lock returns ctx's error in time, and the lock keeps working: with the
// abandoned node in the middle of the queue, taken back by a second
// SetLock, and reused afterwards.
func scenarioLockCancel(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	lock, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	flag, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	const patience = 30 * time.Millisecond

	// giveUp: queue with a short deadline, which SetLock must keep.
	giveUp := func() {
		endsAtDeadline(t, ctx, patience, "set_lock", func(ctx context.Context) error { return shmem.SetLock(ctx, pe, lock) })
		require.ErrorIs(t, shmem.ClearLock(pe, lock), shmem.ErrInvalidArg, "holds the lock after giving up")
	}

	// 1. PE 1 gives up while PE 0 holds the lock and, on 3 or more PEs,
	// PE 2 queues behind PE 1: PE 0's release passes over PE 1 to PE 2.
	if me == 0 {
		require.NoError(t, shmem.SetLock(ctx, pe, lock))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	switch me {
	case 0:
		require.NoError(t, shmem.WaitUntil(ctx, pe, flag, shmem.CmpEQ, 1))
		if n > 2 {
			until(t, "PE 2 to queue", func() bool { return lockTail(t, pe, lock) == 3 })
		}
		require.NoError(t, shmem.ClearLock(pe, lock))
	case 1:
		giveUp()
		ok, err := shmem.TestLock(pe, lock)
		require.NoError(t, err)
		assert.False(t, ok, "TestLock took a lock PE 0 holds")
		require.NoError(t, shmem.AtomicSet(pe, flag, 1, 0))
	case 2:
		until(t, "PE 1 to queue", func() bool { return lockTail(t, pe, lock) == 2 })
		require.NoError(t, shmem.SetLock(ctx, pe, lock))
		require.NoError(t, shmem.ClearLock(pe, lock))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.P(pe, flag, 0, me))
	require.NoError(t, pe.BarrierAll(ctx))

	// 2. PE 1 gives up, then asks again while its old node is still
	// queued: it takes the node back and gets the lock when PE 0 lets go.
	if me == 0 {
		require.NoError(t, shmem.SetLock(ctx, pe, lock))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	switch me {
	case 0:
		require.NoError(t, shmem.WaitUntil(ctx, pe, flag, shmem.CmpEQ, 1))
		until(t, "PE 1 to take its node back", func() bool {
			v, err := shmem.AtomicFetch(pe, lock, 1)
			require.NoError(t, err)
			return v&lockAbandonedBit == 0
		})
		require.NoError(t, shmem.ClearLock(pe, lock))
	case 1:
		giveUp()
		require.NoError(t, shmem.AtomicSet(pe, flag, 1, 0))
		require.NoError(t, shmem.SetLock(ctx, pe, lock))
		require.NoError(t, shmem.ClearLock(pe, lock))
	}
	require.NoError(t, pe.BarrierAll(ctx))

	// 3. Everyone gives up at once behind PE 0, then everyone uses the
	// lock: PE 0's release passes over every abandoned node.
	if me == 0 {
		require.NoError(t, shmem.SetLock(ctx, pe, lock))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	if me != 0 {
		giveUp()
	}
	require.NoError(t, pe.BarrierAll(ctx))
	if me == 0 {
		require.NoError(t, shmem.ClearLock(pe, lock))
	}
	exclusive(t, pe, lock, 50)
	assert.Equal(t, int64(0), shmem.Local(pe, lock)[0], "lock word left dirty")
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, flag))
	require.NoError(t, shmem.Free(ctx, pe, lock))
}

// TestLockPeerDeath: a PE that fails holding the lock ends its waiters'
// SetLock with an error naming it.
func TestLockPeerDeath(t *testing.T) {
	const n = 3
	t0 := time.Now()
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: n, HeapSize: 1 << 20},
		func(_ context.Context, pe *shmem.PE) error {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			lock, err := shmem.Calloc[int64](ctx, pe, 1)
			if err != nil {
				return err
			}
			if pe.MyPE() == 0 {
				if err := shmem.SetLock(ctx, pe, lock); err != nil {
					return err
				}
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
			if pe.MyPE() == 0 {
				for {
					v, err := shmem.AtomicFetch(pe, lock, 0)
					if err != nil {
						return err
					}
					if int(uint64(v)>>32) > 1 { // someone queued
						return errors.New("simulated crash")
					}
					time.Sleep(time.Millisecond)
				}
			}
			return shmem.SetLock(ctx, pe, lock)
		})
	require.Error(t, err)
	assert.Less(t, time.Since(t0), 10*time.Second)
	assert.ErrorIs(t, err, fabric.ErrPeerDead)
	assert.Contains(t, err.Error(), "PE 0: simulated crash")
	assert.Contains(t, err.Error(), "set_lock")
}

// fakeTail moves the tail on PE 0 from PE from to PE to (PE numbers + 1),
// keeping PE 0's node, as a SetLock's first step does.
func fakeTail(t *petest.T, pe *shmem.PE, lock shmem.Sym[int64], from, to int) {
	old, err := shmem.AtomicFetch(pe, lock, 0)
	require.NoError(t, err)
	for {
		require.Equal(t, from, int(uint64(old)>>32), "tail")
		got, err := shmem.AtomicCompareSwap(pe, lock, old, old&lockNode|int64(to)<<32, 0)
		require.NoError(t, err)
		if got == old {
			return
		}
		old = got
	}
}

// scenarioLockRace drives the lock's race windows by hand, writing lock
// words the way SetLock does at its slowest: a successor that has taken
// the tail but not yet linked itself into its predecessor's node, behind
// the holder and behind an abandoned node; a SetLock and a TestLock whose
// old node is being passed over; and a lock word that is not one.
func scenarioLockRace(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	lock, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	flag, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	const lag = 20 * time.Millisecond
	reset := func() {
		require.NoError(t, pe.BarrierAll(ctx))
		require.NoError(t, shmem.P(pe, flag, 0, me))
		require.Equal(t, int64(0), shmem.Local(pe, lock)[0], "lock word left dirty")
		require.NoError(t, pe.BarrierAll(ctx))
	}
	// fakeSuccessor plays a SetLock behind PE pred that takes the tail,
	// tells PE 0, and links itself into pred's node only lag after PE 0
	// says it is calling ClearLock; it then holds the lock until PE 0 has
	// looked, and releases it by hand.
	fakeSuccessor := func(pred int) {
		fakeTail(t, pe, lock, pred+1, me+1)
		require.NoError(t, shmem.AtomicAdd(pe, flag, 1, 0))
		require.NoError(t, shmem.WaitUntil(ctx, pe, flag, shmem.CmpEQ, 1))
		time.Sleep(lag)
		require.NoError(t, shmem.AtomicOr(pe, lock, int64(me+1), pred))
		require.NoError(t, shmem.WaitUntil(ctx, pe, lock, shmem.CmpGE, lockGrantedBit))
		require.NoError(t, shmem.WaitUntil(ctx, pe, flag, shmem.CmpEQ, 2))
		fakeTail(t, pe, lock, me+1, 0)
		require.NoError(t, shmem.AtomicAnd(pe, lock, ^int64(lockNode), me))
	}
	// clearBefore is PE 0's side: once `ready` PEs are in place it tells
	// PE succ to link lag from now and clears the lock, which must then
	// have granted succ: it waited for the link.
	clearBefore := func(ready int64, succ int) {
		require.NoError(t, shmem.WaitUntil(ctx, pe, flag, shmem.CmpEQ, ready))
		require.NoError(t, shmem.AtomicSet(pe, flag, 1, succ))
		require.NoError(t, shmem.ClearLock(pe, lock))
		v, err := shmem.AtomicFetch(pe, lock, succ)
		require.NoError(t, err)
		assert.NotZero(t, v&lockGrantedBit, "ClearLock returned without granting PE %d, which had taken the tail", succ)
		require.NoError(t, shmem.AtomicSet(pe, flag, 2, succ))
	}

	// 1. ClearLock with a successor that has not linked yet waits for it.
	if me == 0 {
		require.NoError(t, shmem.SetLock(ctx, pe, lock))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	switch me {
	case 0:
		clearBefore(1, 1)
	case 1:
		fakeSuccessor(0)
	}
	reset()

	// 2. The same behind an abandoned node: ClearLock passes over PE 1's
	// node and waits for PE 2's link into it.
	if n > 2 {
		if me == 0 {
			require.NoError(t, shmem.SetLock(ctx, pe, lock))
		}
		require.NoError(t, pe.BarrierAll(ctx))
		switch me {
		case 0:
			clearBefore(2, 2)
		case 1:
			cctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			require.ErrorIs(t, shmem.SetLock(cctx, pe, lock), context.DeadlineExceeded)
			cancel()
			require.NoError(t, shmem.AtomicAdd(pe, flag, 1, 0))
		case 2:
			until(t, "PE 1 to queue", func() bool { return lockTail(t, pe, lock) == 2 })
			fakeSuccessor(1)
		}
		reset()
	}

	// 3. SetLock and TestLock while another PE is passing over this PE's
	// abandoned node wait until it has reset the node.
	for _, try := range []bool{false, true} {
		switch me {
		case 0:
			require.NoError(t, shmem.WaitUntil(ctx, pe, flag, shmem.CmpEQ, 1))
			time.Sleep(lag)
			require.NoError(t, shmem.AtomicAnd(pe, lock, ^int64(lockNode), 1))
		case 1:
			require.NoError(t, shmem.AtomicOr(pe, lock, lockAbandonedBit|lockGrantedBit, me))
			t0 := time.Now() // PE 0 resets the node lag after the flag
			require.NoError(t, shmem.AtomicSet(pe, flag, 1, 0))
			if try {
				ok, err := shmem.TestLock(pe, lock)
				require.NoError(t, err)
				require.True(t, ok)
			} else {
				require.NoError(t, shmem.SetLock(ctx, pe, lock))
			}
			assert.GreaterOrEqual(t, time.Since(t0), lag, "took the lock before the node was reset")
			require.NoError(t, shmem.ClearLock(pe, lock))
		}
		reset()
	}

	// 4. A lock word that is not one is an error, not a hang.
	require.NoError(t, shmem.P(pe, lock, lockGrantedBit|5, me))
	require.NoError(t, pe.Quiet())
	err = shmem.SetLock(ctx, pe, lock)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "not a lock word")
	_, err = shmem.TestLock(pe, lock)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	require.NoError(t, shmem.P(pe, lock, 0, me))
	reset()

	exclusive(t, pe, lock, 20)
	require.NoError(t, shmem.Free(ctx, pe, flag))
	require.NoError(t, shmem.Free(ctx, pe, lock))
}

// scenarioLockChaos: every PE asks for the lock over and over with
// deadlines about as long as a turn, so that SetLocks give up at every
// point of the protocol, some just as their grant arrives, and take back
// their abandoned nodes; mutual exclusion must hold throughout and the
// lock must end clean and usable.
func scenarioLockChaos(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me := pe.MyPE()
	lock, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	w, err := shmem.Calloc[int64](ctx, pe, 3) // counter, inside, acquisitions: on PE 0
	require.NoError(t, err)
	counter, inside, acquired := w.At(0), w.At(1), w.At(2)
	rng := rand.New(rand.NewPCG(uint64(me), 42))
	const rounds = 300
	got, gaveUp := 0, 0
	for r := 0; r < rounds; r++ {
		cctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(200))*time.Microsecond)
		err := shmem.SetLock(cctx, pe, lock)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			gaveUp++
			continue
		}
		got++
		in, err := shmem.AtomicFetchAdd(pe, inside, 1, 0)
		require.NoError(t, err)
		require.Zero(t, in, "another PE is inside the critical section")
		v, err := shmem.G(pe, counter, 0)
		require.NoError(t, err)
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(100)) * time.Microsecond)
		}
		require.NoError(t, shmem.P(pe, counter, v+1, 0))
		require.NoError(t, shmem.AtomicAdd(pe, inside, -1, 0))
		require.NoError(t, shmem.ClearLock(pe, lock))
	}
	require.NoError(t, shmem.AtomicAdd(pe, acquired, int64(got), 0))
	require.NoError(t, pe.BarrierAll(ctx))
	total, err := shmem.G(pe, counter, 0)
	require.NoError(t, err)
	want, err := shmem.G(pe, acquired, 0)
	require.NoError(t, err)
	require.Equal(t, want, total, "updates lost: mutual exclusion failed")
	if os.Getenv("GSHMEM_LOCK_CHAOS_VERBOSE") != "" {
		fmt.Printf("PE %d: %d acquisitions, %d gave up\n", me, got, gaveUp)
	}
	// Everyone's abandoned nodes get passed over: the lock ends usable.
	exclusive(t, pe, lock, 10)
	assert.Equal(t, int64(0), shmem.Local(pe, lock)[0], "lock word left dirty")
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, w))
	require.NoError(t, shmem.Free(ctx, pe, lock))
}
