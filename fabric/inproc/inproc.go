// Package inproc runs the PEs of a job as goroutines of one process. Each PE
// has its own segment (an anonymous mapping, like a shm segment but private
// to the process), so the runtime above sees exactly the memory model of the
// shm transport: this is the embedded default and the fast test bed.
package inproc

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/internal/mapped"
)

// Job is one in-process job of NPEs PEs.
type Job struct {
	npes  int
	segs  [][]byte
	fabs  []*mapped.Mapped
	views []*peFabric // one per PE, so that a PE closes once however often asked
	dead  []atomic.Pointer[string]
	open  atomic.Int32 // PEs whose fabric is not closed yet

	failed    chan struct{} // closed by the first Fail
	firstFail atomic.Int32  // the PE of the first Fail, -1 before
	failOnce  sync.Once
	exit      atomic.Pointer[[2]int] // the PE that called GlobalExit, and its status

	mu struct {
		sync.Mutex
		closed bool
	}
}

// New maps npes segments of size symmetric bytes each, anonymous memory
// reserved lazily (MAP_NORESERVE), each region on a fabric.RegionAlign
// boundary.
func New(npes int, size uintptr) (*Job, error) {
	if npes < 1 {
		return nil, fmt.Errorf("inproc: %d PEs: need at least 1", npes)
	}
	if size == 0 || size%8 != 0 {
		return nil, fmt.Errorf("inproc: symmetric size %d: want a positive multiple of 8", size)
	}
	j := &Job{npes: npes, segs: make([][]byte, npes), dead: make([]atomic.Pointer[string], npes), failed: make(chan struct{})}
	j.firstFail.Store(-1)
	for i := range j.segs {
		seg, err := mapped.MapSegment(-1, mapped.HeaderSize+int(size), false)
		if err != nil {
			j.unmap()
			return nil, fmt.Errorf("inproc: map %d bytes for PE %d: %w", mapped.HeaderSize+int(size), i, err)
		}
		mapped.InitHeader(seg, i, npes, 0)
		j.segs[i] = seg
	}
	// With a P per PE, a PE spins, yields (runtime.Gosched), then sleeps on
	// a futex, which holds only its own P: the default policy. With more
	// PEs than Ps a spinning PE only delays the PE it waits for: the
	// crowded policy, and sleeps on channels (see gates).
	crowded := npes > runtime.GOMAXPROCS(0)
	pol := fabric.DefaultWaitPolicy(crowded)
	var sleeper mapped.Sleeper
	if crowded {
		sleeper = newGates(j.segs)
	}
	j.fabs = make([]*mapped.Mapped, npes)
	for i := range j.fabs {
		f, err := mapped.New(mapped.Config{
			PE: i, Transport: "inproc", Segments: j.segs, Liveness: liveness{j, i},
			Yield: runtime.Gosched, Wait: pol, Sleeper: sleeper,
		})
		if err != nil {
			j.unmap()
			return nil, err
		}
		j.fabs[i] = f
	}
	j.views = make([]*peFabric, npes)
	for i := range j.views {
		j.views[i] = &peFabric{Mapped: j.fabs[i], j: j, pe: i}
	}
	j.open.Store(int32(npes))
	return j, nil
}

// NPEs returns the number of PEs in the job.
func (j *Job) NPEs() int { return j.npes }

// Fabric returns PE pe's view of the job. Closing it records how the PE
// left (a close that is not finalized fails the PE); the segments are
// unmapped when every PE's fabric is closed.
func (j *Job) Fabric(pe int) fabric.Fabric { return j.views[pe] }

type peFabric struct {
	*mapped.Mapped
	j      *Job
	pe     int
	closed atomic.Bool
}

func (f *peFabric) Close(how fabric.Leave) error {
	if f.closed.Swap(true) {
		return nil
	}
	finalized := how == fabric.Finalized
	if !finalized {
		f.j.Fail(f.pe, "failed")
	}
	f.Mapped.Close(how)
	if finalized && f.j.open.Load() == 2 {
		// The other PE still open may wait for someone: wake it now, so
		// that it sees nobody is left (liveness.Check) without waiting a
		// tick. Done before this PE counts itself out, which could let the
		// other one close and unmap the segments under the poke.
		f.Mapped.PokeAll()
	}
	if f.j.open.Add(-1) == 0 {
		return f.j.Close()
	}
	return nil
}

// GlobalExit implements fabric.Exiter: PE f ends the job with status. Its
// peers see it as failed, having called GlobalExit with status, and the
// job's Failed channel closes.
func (f *peFabric) GlobalExit(status int) {
	f.j.exit.CompareAndSwap(nil, &[2]int{f.pe, status})
	f.Mapped.GlobalExit(status)
	f.j.Fail(f.pe, fmt.Sprintf("called GlobalExit(%d)", status))
}

// Exited implements fabric.Exiter (see Job.Exited).
func (f *peFabric) Exited() (pe, status int, ok bool) { return f.j.Exited() }

// Exited reports the PE of the job that ended it with GlobalExit and its
// status, if one did. It reads no segment: it may be called after the job
// is unmapped.
func (j *Job) Exited() (pe, status int, ok bool) {
	if e := j.exit.Load(); e != nil {
		return e[0], e[1], true
	}
	return -1, 0, false
}

// Fail marks PE pe as dead with the reason how (for example "failed:
// <error>"); every PE waiting on the job sees a *fabric.PeerError naming it.
func (j *Job) Fail(pe int, how string) {
	if j.dead[pe].CompareAndSwap(nil, &how) {
		j.failOnce.Do(func() {
			j.firstFail.Store(int32(pe))
			close(j.failed)
		})
	}
	j.fabs[pe].PokeAll() // wake sleepers so they notice now, not at their next tick
}

// Failed is closed when a PE of the job first fails (Fail, or a close
// that is not finalized); Failure then says which and how.
func (j *Job) Failed() <-chan struct{} { return j.failed }

// Failure is the first PE to fail and how, or nil while none has.
func (j *Job) Failure() *fabric.PeerError {
	pe := int(j.firstFail.Load())
	if pe < 0 {
		return nil
	}
	return &fabric.PeerError{PE: pe, How: *j.dead[pe].Load()}
}

// Close unmaps the segments at once. It is called when the last PE's
// fabric closes; call it yourself only once no PE uses the job any more.
func (j *Job) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.closed {
		return nil
	}
	j.mu.closed = true
	return j.unmap()
}

func (j *Job) unmap() error {
	var first error
	for i, s := range j.segs {
		if s != nil {
			if err := mapped.UnmapSegment(s); err != nil && first == nil {
				first = fmt.Errorf("inproc: unmap PE %d: %w", i, err)
			}
			j.segs[i] = nil
		}
	}
	return first
}

// gates put goroutine PEs to sleep on channels rather than on a futex: a
// goroutine blocked in a futex system call keeps its P until the scheduler
// notices (tens of microseconds), and with more PEs than Ps the PE that
// would wake it cannot run meanwhile. A channel hands the P over at once,
// and a cancelled context wakes the sleeper at once.
type gates []gate

type gate struct {
	seq *uint32
	mu  sync.Mutex
	ch  chan struct{} // closed and replaced by each Wake
}

func newGates(segs [][]byte) gates {
	g := make(gates, len(segs))
	for i, s := range segs {
		g[i].seq = &mapped.HeaderOf(s).Seq
		g[i].ch = make(chan struct{})
	}
	return g
}

func (g gates) Sleep(ctx context.Context, pe int, seq uint32, d time.Duration) {
	x := &g[pe]
	x.mu.Lock()
	if atomic.LoadUint32(x.seq) != seq {
		x.mu.Unlock()
		return
	}
	ch := x.ch
	x.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (g gates) Wake(pe int) {
	x := &g[pe]
	x.mu.Lock()
	close(x.ch)
	x.ch = make(chan struct{})
	x.mu.Unlock()
}

// liveness is PE pe's view of its peers: one that failed (Job.Fail, or a
// close that was not finalized) is dead, and so, for a wait that still
// needs someone, is the last of them to leave after a clean finalize when
// every other PE has (as fabric/shm says of processes that exited).
type liveness struct {
	j  *Job
	pe int
}

func (l liveness) Check() *fabric.PeerError {
	for pe := range l.j.dead {
		if e := l.Describe(pe); e != nil {
			return e
		}
	}
	left := -1
	for pe, f := range l.j.fabs {
		if pe == l.pe {
			continue
		}
		if atomic.LoadUint32(&f.Header(pe).State) != mapped.StateFinalized {
			return nil
		}
		left = pe
	}
	if left < 0 { // a one-PE job: no peer to lose
		return nil
	}
	return &fabric.PeerError{PE: left, How: "exited after finalize; no peer is left"}
}

func (l liveness) Describe(pe int) *fabric.PeerError {
	if how := l.j.dead[pe].Load(); how != nil {
		return &fabric.PeerError{PE: pe, How: *how}
	}
	return nil
}
