package device

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/gshmem/gshmem/hostshmem"
)

// Loading code into a CUDA context (cuModuleLoadData, and under lazy
// loading the first use of a kernel) waits until the whole context is
// idle. The PEs of one process share their GPU's primary context, and the
// device barriers and collectives spin until every PE of the team arrives:
// a PE that loads while a peer's barrier kernel spins waits for a kernel
// that waits for it. So code is loaded only inside a load window, a
// collective of every PE of the job:
//
//  1. every PE enters (an agreement step: a flag to every PE, a barrier);
//  2. each PE quiets its device work: every QuiesceFunc registered on its
//     heap waits until its stream has nothing in flight on the GPU, and
//     holds back new device work;
//  3. every PE is quiet (a step);
//  4. each PE loads its module and resolves and fully loads its kernels;
//  5. every PE has loaded, or every PE fails (a step); on failure each PE
//     unloads what it loaded, still inside the window;
//  6. each PE lets its streams go on.
//
// Attach runs steps 4 and 5 after the mapping step, before any stream can
// exist (streams need the attached heap). Every wait is bounded by the
// caller's context and names what it waited for.

// agreement is a collective point with a verdict: every PE brings its own
// error or nil, and every PE leaves with an error if any PE brought one.
// Its steps are the PE's own world calls (puts and BarrierAll), a stream
// of collectives apart from the world team's, which a stream's worker may
// be running at the same time on the host path.
type agreement struct {
	pe    *hostshmem.PE
	flags hostshmem.Sym[int64] // 2 x NPEs: PE j's flag of a step at [parity*NPEs + j]
	steps int                  // steps taken so far; their parity picks the half
}

// newAgreement allocates the words of the steps (collective: every PE
// calls it). They live in the host heap until the PE is released.
func newAgreement(ctx context.Context, pe *hostshmem.PE) (*agreement, error) {
	a := &agreement{pe: pe}
	var err error
	if a.flags, err = hostshmem.Calloc[int64](ctx, pe, 2*pe.NPEs()); err != nil {
		return nil, err
	}
	return a, nil
}

// step returns when every PE has reached it (a barrier: no PE leaves
// before all have entered), bounded by ctx. It returns mine, or, if
// another PE brought an error, an error naming the lowest such PE, on
// every PE alike; what says what the step waited for.
//
// Each PE puts its flag into its slot on every PE, then all meet in
// BarrierAll (which completes the puts first). Consecutive steps use the
// two halves in turn: a PE can be one step ahead of another (it left the
// barrier first) but not two, so its next flags never land where a peer
// has still to read.
func (a *agreement) step(ctx context.Context, what string, mine error) error {
	n, me := a.pe.NPEs(), a.pe.MyPE()
	half := a.flags.Slice((a.steps%2)*n, (a.steps%2+1)*n)
	a.steps++
	var v int64
	if mine != nil {
		v = 1
	}
	var err error
	for j := 0; j < n && err == nil; j++ {
		err = hostshmem.P(a.pe, half.At(me), v, j)
	}
	if err == nil {
		err = a.pe.BarrierAll(ctx)
	}
	all := make([]int64, n)
	if err == nil {
		err = hostshmem.Get(a.pe, all, half, me)
	}
	switch {
	case mine != nil:
		return fmt.Errorf("device: %s: %w", what, mine)
	case err != nil:
		return fmt.Errorf("device: %s: waiting for every PE: %w", what, err)
	}
	if j := slices.Index(all, 1); j >= 0 {
		return fmt.Errorf("device: %s: %w: PE %d failed (its own error says why)", what, ErrPeerFailed, j)
	}
	return nil
}

// ErrPeerFailed is returned by the collective calls of this package (Attach,
// LoadModule) on the PEs whose own part succeeded when another PE's part
// failed: every PE fails alike, and the message names the PE whose error
// says why.
var ErrPeerFailed = errors.New("device: another PE failed")

// QuiesceFunc quiets one user of a heap's GPU context for a load window
// (see Heap.OnQuiesce). It waits, bounded by ctx, until every op enqueued
// before it was called has been issued to the GPU and has finished there
// (kernels, copies, stream memory operations: what Synchronize would wait
// for), then holds back the device work of ops enqueued later (enqueueing
// in Go may go on) until resume is called, and returns resume. Ops already
// enqueued must not be held back: a device barrier of this stream may be
// what a peer's stream waits for, and every PE drains before the window's
// next step. On error nothing is held back and resume may be nil.
type QuiesceFunc func(ctx context.Context) (resume func(), err error)

// quiescers is a heap's registry of QuiesceFuncs.
type quiescers struct {
	mu struct {
		sync.Mutex
		next int
		fns  map[int]quiescer
	}
}

type quiescer struct {
	id   int
	name string
	fn   QuiesceFunc
}

func (q *quiescers) add(name string, fn QuiesceFunc) (remove func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.fns == nil {
		q.mu.fns = map[int]quiescer{}
	}
	q.mu.next++
	id := q.mu.next
	q.mu.fns[id] = quiescer{id, name, fn}
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.mu.fns, id)
	}
}

// quiesce runs every registered QuiesceFunc, oldest first, and returns a
// resume of them all (never nil). On error the ones already quiet are
// resumed, and the error names the one that failed.
func (q *quiescers) quiesce(ctx context.Context) (func(), error) {
	q.mu.Lock()
	list := make([]quiescer, 0, len(q.mu.fns))
	for _, e := range q.mu.fns {
		list = append(list, e)
	}
	q.mu.Unlock()
	slices.SortFunc(list, func(a, b quiescer) int { return a.id - b.id })
	var resumes []func()
	resumeAll := func() {
		for _, r := range slices.Backward(resumes) {
			r()
		}
		resumes = nil
	}
	for _, e := range list {
		r, err := e.fn(ctx)
		if err != nil {
			resumeAll()
			return func() {}, fmt.Errorf("waiting for %s to finish its device work: %w", e.name, err)
		}
		if r != nil {
			resumes = append(resumes, r)
		}
	}
	return resumeAll, nil
}

// window runs load inside a load window (steps 1-6 above) on every PE.
// load returns undo, which unloads what it loaded; window calls it, still
// inside the window, when any PE failed. op names the call in errors.
func window(ctx context.Context, a *agreement, q *quiescers, op string, load func() (undo func(), err error)) error {
	if err := a.step(ctx, op+": entering (every PE must call it)", nil); err != nil {
		return err
	}
	resume, qerr := q.quiesce(ctx)
	defer resume()
	if err := a.step(ctx, op+": quieting the device work of every PE", qerr); err != nil {
		return err
	}
	undo, err := load()
	err = a.step(ctx, op, err)
	if err != nil && undo != nil {
		undo()
	}
	return err
}
