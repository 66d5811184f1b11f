package hostshmem

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/gshmem/gshmem/fabric"
)

// Reductions by messages, for teams whose members do not all share memory
// (a team across nodes; the RMA-only mode). The load/store algorithm of
// Reduce reads every peer's buffer in place between team syncs: over a
// network each read is a Get that waits a round trip, and each sync is a
// barrier. Here every transfer is a PutSignal the sender starts and the
// receiver waits for, so data moves in one direction per step and no step
// waits for a round trip.
//
// The body of the n elements (q = n/size elements per member, size*q in
// all) is reduced by reduce-scatter then all-gather, in place in the
// members' dest buffers; the tail (the n mod size elements after it) by
// every member, from copies the members send each other.
//
//  1. Reduce-scatter: member i puts its source's chunk j into member j's
//     dest, at chunk i's place, and raises its nwRS word there.
//  2. Member j waits for every nwRS, reduces chunk j in member order into
//     its place in dest (no one writes there), then sends every member its
//     tail, raising nwDone: member j no longer reads the chunks it got.
//  3. Member j waits for every nwDone (its own chunks' places are then free
//     on every member), reduces the tail in member order, then puts its
//     result chunk into every member's dest, at chunk j's place, raising
//     nwAG, and waits for every nwAG.
//
// Every element is combined in member order by one member, so every
// member ends with the same bits. A member reaches a call's step 1 only
// after every member entered it, which each did after it finished the
// call before: nothing of one call lands in a buffer still in use by the
// previous one. With dest the same as source (in place), the places of the
// other members' chunks are landing places: the member saves its source's
// body before it enters (saveBody), and sends from the copy.
//
// Three message steps, each a latency, and each member sends (size-1)/size
// of the data twice: what a ring sends, in size-1 fewer steps. A team of
// two takes one step instead (reduceNet2): each member sends the other
// all of its source, the same bytes as both halves.

// The signal words in a member's network area (netOff); each holds the
// netCalls value of the last call whose step reached it. Word 0 is also
// the one poison marks.
const (
	nwRS   = 0  // the sender's chunk of this member's result is in dest
	nwDone = 8  // the sender reduced its chunk; its tail follows the line
	nwAG   = 16 // the sender's result chunk is in dest
)

// netReduces reports whether a reduction moving nb bytes per member on t
// moves its data by messages (reduceNet): a team of 2 to exchangeMax
// members, not all sharing memory, with more than fits the push slots (on
// a team across nodes with several members per node, more than the
// by-node reduction takes).
func (t *Team) netReduces(nb uintptr) bool {
	if t.size < 2 || t.size > exchangeMax || nb <= t.pushMax || t.hier != nil && nb <= t.p.pushMax {
		return false
	}
	for i := 0; i < t.size; i++ {
		if i != t.me && t.p.regions[t.WorldPE(i)] == nil {
			return true
		}
	}
	return false
}

// saveBody returns a copy of the body (see above) of the n-element source
// of a reduction in place on t (of all of it on a team of two), or nil
// when it is not in place.
func saveBody[T Elem](t *Team, dest, source Sym[T], n int) []byte {
	if dest.off != source.off {
		return nil
	}
	body := uintptr(n/t.size*t.size) * sizeOf[T]()
	if t.size == 2 {
		body = uintptr(n) * sizeOf[T]()
	}
	return append([]byte(nil), t.p.local[source.off:source.off+body]...)
}

// reduceNet is Reduce's case for netReduces, once entered; saved is
// saveBody's copy.
func reduceNet[T Elem](ctx context.Context, t *Team, op ReduceOp, dest, source Sym[T], n int, saved []byte) error {
	const name = "reduce"
	p, sz := t.p, sizeOf[T]()
	q := n / t.size
	cb := uintptr(q) * sz
	src := p.local[source.off : source.off+uintptr(n)*sz]
	dst := p.local[dest.off : dest.off+uintptr(n)*sz]
	body := src
	if saved != nil {
		body = saved
	}
	at := func(b []byte, i int) []byte { return b[uintptr(i)*cb : uintptr(i+1)*cb] }
	t.netCalls++
	e := t.netCalls
	srcs := srcsOf[T](t)
	if t.size == 2 {
		return reduceNet2(ctx, t, op, dest.off, dst, body, srcs, e)
	}
	for k := 1; k < t.size; k++ {
		j := (t.me + k) % t.size
		if err := t.netSend(j, dest.off+uintptr(t.me)*cb, at(body, j), nwRS, e); err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
	}
	if err := t.netAwait(ctx, name, nwRS, e); err != nil {
		return err
	}
	for m := range srcs {
		if m == t.me {
			srcs[m] = as[T](at(src, m), q) // in place: dest's own chunk
		} else {
			srcs[m] = as[T](at(dst, m), q)
		}
	}
	if err := reduceN(op, as[T](at(dst, t.me), q), srcs); err != nil {
		return err
	}
	tail := src[uintptr(t.size)*cb:]
	for k := 1; k < t.size; k++ {
		j := (t.me + k) % t.size
		if err := t.netSend(j, t.netOff(t.me)+lineSize, tail, nwDone, e); err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
	}
	if err := t.netAwait(ctx, name, nwDone, e); err != nil {
		return err
	}
	if r := n - q*t.size; r > 0 {
		for m := range srcs {
			if m == t.me {
				srcs[m] = as[T](tail, r) // in place: dest's tail
			} else {
				o := t.netOff(m) + lineSize
				srcs[m] = as[T](p.local[o:o+uintptr(len(tail))], r)
			}
		}
		if err := reduceN(op, as[T](dst[uintptr(t.size)*cb:], r), srcs); err != nil {
			return err
		}
	}
	for k := 1; k < t.size; k++ {
		j := (t.me + k) % t.size
		if err := t.netSend(j, dest.off+uintptr(t.me)*cb, at(dst, t.me), nwAG, e); err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
	}
	return t.netAwait(ctx, name, nwAG, e)
}

// reduceNet2 is reduceNet on a team of two: each member puts all of its
// source (mine: the saved copy when in place) into the other's dest and
// reduces what it gets with its own, in member order. One message step,
// where three would move the same bytes.
func reduceNet2[T Elem](ctx context.Context, t *Team, op ReduceOp, destOff uintptr, dst, mine []byte, srcs [][]T, e uint64) error {
	const name = "reduce"
	n, other := len(dst)/int(sizeOf[T]()), 1-t.me
	if err := t.netSend(other, destOff, mine, nwRS, e); err != nil {
		return fmt.Errorf("gshmem: %s: %w", name, err)
	}
	if err := t.netAwait(ctx, name, nwRS, e); err != nil {
		return err
	}
	srcs[t.me], srcs[other] = as[T](mine, n), as[T](dst, n)
	return reduceN(op, as[T](dst, n), srcs)
}

// netSend puts data at off in member j's copy and then sets signal word w
// of this PE's network area there to e.
func (t *Team) netSend(j int, off uintptr, data []byte, w uintptr, e uint64) error {
	return t.p.fab.PutSignal(t.WorldPE(j), off, data, t.netOff(t.me)+w, fabric.AMOSet, e, fabric.CompleteByProtocol)
}

// netAwait waits until every other member set signal word w of its
// network area on this PE to e, or poisoned it.
func (t *Team) netAwait(ctx context.Context, op string, w uintptr, e uint64) error {
	p := t.p
	word := func(m int, w uintptr) uint64 { return atomic.LoadUint64(wordAt[uint64](p.local, t.netOff(m)+w)) }
	ready := func() bool {
		for m := 0; m < t.size; m++ {
			if m != t.me && word(m, w) < e && word(m, 0) != poisoned {
				return false
			}
		}
		return true
	}
	if !ready() {
		if err := p.wait(ctx, op, ready, t.netOff(0), uintptr(t.size)*netStride(t.size)); err != nil {
			return t.abandon(op, err)
		}
	}
	for m := 0; m < t.size; m++ {
		if m != t.me && word(m, 0) == poisoned {
			return t.sawPoison(op, int(word(m, originWord)))
		}
	}
	return nil
}
