package algo

import (
	"context"
	"errors"
	"fmt"

	"github.com/gshmem/gshmem/hostshmem"
)

// AllReduce is an allreduce algorithm: a collective call over team t that
// leaves op over every member's first n elements of source in the first n
// elements of dest on every member. dest may be source (in place);
// otherwise they must not overlap. ws is this PE's workspace for t (see
// Workspace); an algorithm that needs no scratch ignores it, but takes its
// PE from ws.PE().
//
// Every member of t calls the algorithm with the same op and n, in the
// same order as its other calls on ws. When the call returns, this PE's
// dest holds the result and its source may be reused.
type AllReduce[T hostshmem.Elem] func(ctx context.Context, ws *Workspace[T], t *hostshmem.Team, op hostshmem.ReduceOp, dest, source hostshmem.Sym[T], n int) error

// Builtin is hostshmem.AllReduce as an AllReduce; it ignores ws.
func Builtin[T hostshmem.Elem](ctx context.Context, ws *Workspace[T], t *hostshmem.Team, op hostshmem.ReduceOp, dest, source hostshmem.Sym[T], n int) error {
	return hostshmem.AllReduce(ctx, t, op, dest, source, n)
}

// Workspace is one PE's share of the symmetric scratch an algorithm uses:
// Slots() mailboxes, each a slot of MaxElems() elements (Slot) and a
// signal word (Signal), the same objects on every PE. Slots() is twice the
// number of PEs in the job: enough for a slot per team member per parity.
//
// A workspace serves one team, whichever the first Begin names, and one
// call at a time: calls on it are made in the same order on every member
// of that team, from one goroutine at a time. Make one workspace per team
// (and per algorithm, unless the algorithms agree on how they use it).
// After a call on it fails, peers may be anywhere in that call: free the
// workspace and make a new one.
type Workspace[T hostshmem.Elem] struct {
	pe      *hostshmem.PE
	max     int
	scratch hostshmem.Sym[T]
	signals hostshmem.Sym[uint64]
	team    *hostshmem.Team
	epoch   uint64
}

// wordsPerSignal spaces signal words a cache line apart, so a PE spinning
// on one does not share its line with a word a peer is writing.
const wordsPerSignal = 8

// NewWorkspace allocates a workspace for calls of up to maxElems elements.
// It is collective over the world team (symmetric allocation always is),
// even for a workspace that will serve a smaller team: every PE calls it,
// in the same order as its other allocations. Signal words start at zero.
func NewWorkspace[T hostshmem.Elem](ctx context.Context, pe *hostshmem.PE, maxElems int) (*Workspace[T], error) {
	if maxElems < 0 {
		return nil, fmt.Errorf("algo: workspace: %w: %d elements", hostshmem.ErrInvalidArg, maxElems)
	}
	slots := 2 * pe.NPEs()
	scratch, err := hostshmem.Malloc[T](ctx, pe, slots*maxElems)
	if err != nil {
		return nil, fmt.Errorf("algo: workspace: %w", err)
	}
	signals, err := hostshmem.Calloc[uint64](ctx, pe, slots*wordsPerSignal)
	if err != nil {
		return nil, fmt.Errorf("algo: workspace: %w", errors.Join(err, hostshmem.Free(ctx, pe, scratch)))
	}
	return &Workspace[T]{pe: pe, max: maxElems, scratch: scratch, signals: signals}, nil
}

// Free releases the workspace. It is collective over the world team, like
// NewWorkspace.
func (w *Workspace[T]) Free(ctx context.Context) error {
	return errors.Join(hostshmem.Free(ctx, w.pe, w.scratch), hostshmem.Free(ctx, w.pe, w.signals))
}

// PE is the PE the workspace belongs to: the one to issue puts and waits on.
func (w *Workspace[T]) PE() *hostshmem.PE { return w.pe }

// MaxElems is the largest n a call on the workspace may have, and the
// capacity of each slot.
func (w *Workspace[T]) MaxElems() int { return w.max }

// Slots is the number of mailboxes: 2 * (PEs in the job).
func (w *Workspace[T]) Slots() int { return 2 * w.pe.NPEs() }

// Slot is the first n elements of slot k, a symmetric object: pass it to
// Put or PutSignal with a peer's world PE number to write the peer's copy,
// or to hostshmem.Local to read this PE's. A k or n out of range gives a
// Sym whose use is an error.
func (w *Workspace[T]) Slot(k, n int) hostshmem.Sym[T] {
	if k < 0 || k >= w.Slots() || n < 0 || n > w.max {
		return w.scratch.Slice(-1, -1) // an invalid Sym: using it is an error
	}
	return w.scratch.Slice(k*w.max, k*w.max+n)
}

// Signal is signal word k, zero when the workspace was made; each word has
// a cache line to itself.
func (w *Workspace[T]) Signal(k int) hostshmem.Sym[uint64] {
	if k < 0 || k >= w.Slots() {
		return w.signals.Slice(-1, -1)
	}
	return w.signals.At(k * wordsPerSignal)
}

// Begin starts a call of an algorithm on w: it checks the arguments and
// returns the call's epoch, 1 for the first call on w, then 2, 3, ...: the
// same number on every member of t, for signal values that grow from call
// to call. It binds w to t on the first call and refuses any other team.
//
// Every member must get the same answer: an argument error on one member
// only (a dest too short there) leaves the others waiting for it until
// their ctx ends.
func (w *Workspace[T]) Begin(t *hostshmem.Team, op hostshmem.ReduceOp, dest, source hostshmem.Sym[T], n int) (epoch uint64, err error) {
	switch {
	case t == nil || t.MyPE() < 0:
		return 0, fmt.Errorf("algo: %w: null team", hostshmem.ErrTeam)
	case w.team == nil:
		w.team = t
	case w.team != t:
		return 0, fmt.Errorf("algo: %w: workspace serves %v, called on %v: make one workspace per team", hostshmem.ErrTeam, w.team, t)
	}
	if n < 0 || n > w.max {
		return 0, fmt.Errorf("algo: %w: %d elements, the workspace holds calls of up to %d", hostshmem.ErrInvalidArg, n, w.max)
	}
	for _, s := range []struct {
		name string
		sym  hostshmem.Sym[T]
	}{{"dest", dest}, {"source", source}} {
		if err := s.sym.Err(); err != nil {
			return 0, fmt.Errorf("algo: %s: %w", s.name, err)
		}
		if s.sym.Len() < n {
			return 0, fmt.Errorf("algo: %w: %s %v holds %d elements, the call needs %d", hostshmem.ErrOutOfRange, s.name, s.sym, s.sym.Len(), n)
		}
	}
	d := dest.Slice(0, n)
	s := source.Slice(0, n)
	if n > 0 && d.Offset() != s.Offset() && d.Offset() < s.Offset()+s.Size() && s.Offset() < d.Offset()+d.Size() {
		return 0, fmt.Errorf("algo: %w: dest %v and source %v overlap", hostshmem.ErrOverlap, dest, source)
	}
	if err := CheckOp[T](op); err != nil {
		return 0, err
	}
	w.epoch++
	return w.epoch, nil
}

// Chunk is the part i of n elements split into parts nearly equal parts:
// elements [lo, hi). The first n%parts parts have one element more; parts
// are empty when n < parts.
func Chunk(n, parts, i int) (lo, hi int) {
	q, r := n/parts, n%parts
	lo = i*q + min(i, r)
	hi = lo + q
	if i < r {
		hi++
	}
	return lo, hi
}

// Next is the world PE number of the member after this PE in t, wrapping
// around: the PE to put to in a ring. A team of one is its own neighbour.
func Next(t *hostshmem.Team) int { return t.WorldPE((t.MyPE() + 1) % t.NPEs()) }

// Prev is the world PE number of the member before this PE in t, wrapping
// around: the PE a ring receives from.
func Prev(t *hostshmem.Team) int { return t.WorldPE((t.MyPE() + t.NPEs() - 1) % t.NPEs()) }

// Mod is i modulo m in [0, m), for ring arithmetic on member indices
// (Go's % keeps the sign of i).
func Mod(i, m int) int { return ((i % m) + m) % m }
