package hostshmem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// Resource is something made on a PE that must not outlive it: a stream
// (package streams), an active-message World (package am), a CUDA module
// (package device). Whoever makes one registers it with Own; the PE then
// closes it if its user has not.
//
// Finalize runs in three steps: it drains every resource it owns, last
// made first, then waits at its closing barrier, then closes them, last
// made first, and only then releases memory. Abort skips the first two.
type Resource interface {
	// Drain waits, bounded by ctx, until the work the resource has under
	// way is done (queued stream operations, active messages this PE
	// launched), while the peers still run: Finalize calls it before its
	// closing barrier, so a peer's resource keeps serving this one's work
	// until every PE has drained. It must not need the peers to make the
	// same calls (they may have closed theirs).
	Drain(ctx context.Context) error
	// Close releases the resource without the peers: Finalize calls it
	// after its barrier, with its own context; Abort with a context that
	// is already done (its cause says the PE is aborting), and Close must
	// then release what it holds at once. The PE is closing meanwhile:
	// its operations return ErrFinalized.
	Close(ctx context.Context) error
}

// Ownership is a PE's hold on one Resource (see Own).
type Ownership struct {
	p   *PE
	seq uint64
}

// owned is the PE's list of resources, in order of creation.
type owned struct {
	sync.Mutex
	next  uint64
	list  []ownEntry // by seq; r is nil where disowned
	holes int
	done  bool // Finalize or Abort began closing them: Own refuses new ones
	// cancel ends the context of the closes Finalize is running, so that
	// an Abort on another goroutine does not wait for them.
	cancel context.CancelCauseFunc
}

type ownEntry struct {
	seq uint64
	r   Resource
}

// Own makes p the owner of r: unless r's user closes it first (and its
// Close calls Disown), p drains and closes it when p is finalized, or
// closes it when p is aborted, before any of p's memory is released (see
// Resource). Resources drain and close in reverse order of Own: what was
// made last goes first (a stream before the World it was made after,
// everything before the device heap, which is attached first). Finalize
// returns their errors, each naming its resource (with %v).
//
// Own fails with an error matching ErrFinalized once p is being finalized
// or aborted: r is not registered then, and its maker should not hand it
// out.
func (p *PE) Own(r Resource) (*Ownership, error) {
	if r == nil {
		return nil, fmt.Errorf("gshmem: own: %w: nil Resource", ErrInvalidArg)
	}
	p.own.Lock()
	defer p.own.Unlock()
	if p.own.done || p.closed() {
		return nil, errFinalized("own")
	}
	p.own.next++
	p.own.list = append(p.own.list, ownEntry{p.own.next, r})
	return &Ownership{p: p, seq: p.own.next}, nil
}

// Disown ends the PE's ownership: the resource's Close calls it first
// thing, so that the PE does not close the resource again. It may be
// called more than once, from a Close that the PE itself is running, and
// on a nil Ownership.
func (o *Ownership) Disown() {
	if o == nil {
		return
	}
	l := &o.p.own
	l.Lock()
	defer l.Unlock()
	i := sort.Search(len(l.list), func(i int) bool { return l.list[i].seq >= o.seq })
	if i == len(l.list) || l.list[i].seq != o.seq || l.list[i].r == nil {
		return
	}
	l.list[i].r = nil
	if l.holes++; l.holes > len(l.list)/2 {
		k := 0
		for _, e := range l.list {
			if e.r != nil {
				l.list[k] = e
				k++
			}
		}
		clear(l.list[k:])
		l.list, l.holes = l.list[:k], 0
	}
}

// Owned is the number of resources p owns now (Own, less those closed).
func (p *PE) Owned() int {
	p.own.Lock()
	defer p.own.Unlock()
	return len(p.own.list) - p.own.holes
}

// popOwned takes the resource made last off the list, or nil.
func (p *PE) popOwned() Resource {
	l := &p.own
	l.Lock()
	defer l.Unlock()
	for len(l.list) > 0 {
		e := l.list[len(l.list)-1]
		l.list[len(l.list)-1] = ownEntry{}
		l.list = l.list[:len(l.list)-1]
		if e.r != nil {
			return e.r
		}
		l.holes--
	}
	return nil
}

// drainOwned drains p's resources, last made first, with ctx; Own refuses
// new ones from the start. It holds p.closer meanwhile; an Abort on
// another goroutine ends ctx (see abortOwned).
func (p *PE) drainOwned(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.own.Lock()
	p.own.done = true
	p.own.cancel = cancel
	rs := make([]Resource, 0, len(p.own.list)-p.own.holes)
	for _, e := range slices.Backward(p.own.list) {
		if e.r != nil {
			rs = append(rs, e.r)
		}
	}
	p.own.Unlock()
	p.closer.Lock()
	defer p.closer.Unlock()
	var errs []error
	for _, r := range rs {
		if err := r.Drain(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gshmem: finalize: draining %v: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// closeOwned closes p's resources, last made first, with ctx; Own refuses
// new ones from the start. It holds p.closer meanwhile: one closer at a
// time (Abort's waits for Finalize's, after ending its context).
func (p *PE) closeOwned(ctx context.Context, op string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.own.Lock()
	p.own.done = true
	p.own.cancel = cancel
	p.own.Unlock()
	p.closer.Lock()
	defer p.closer.Unlock()
	var errs []error
	for r := p.popOwned(); r != nil; r = p.popOwned() {
		if err := r.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gshmem: %s: closing %v: %w", op, r, err))
		}
	}
	return errors.Join(errs...)
}

// abortOwned closes p's resources with a context that is already done,
// after ending the context of the drains or closes a Finalize is running.
func (p *PE) abortOwned() {
	p.own.Lock()
	cancel := p.own.cancel
	p.own.Unlock()
	cause := fmt.Errorf("gshmem: PE %d is aborting: %w", p.me, ErrFinalized)
	if cancel != nil {
		cancel(cause)
	}
	ctx, stop := context.WithCancelCause(context.Background())
	stop(cause)
	p.closeOwned(ctx, "abort")
}
