package hostshmem

import (
	"context"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
)

// Collectives on a team. Every member calls the same collective with the
// same arguments (n, root, op; Collect's n may differ), in the same order
// as its other collectives on the team. Source and destination are
// symmetric objects. When a call returns, this PE's destination holds its
// result and its source may be reused.
//
// Algorithms. A call whose per-PE payload fits the team's push slots
// (Config.CollPushMax, default 2 KiB) is one-shot: each PE puts its data
// with a signal into a slot of every peer that needs it and waits for its
// own slots: no barrier, one flag round trip. Slots are double-buffered by
// epoch and acknowledged per sender, so a fast PE never overwrites data a
// slow one has not read. Larger payloads read peers' symmetric buffers in
// place between team syncs: reductions reduce-scatter (each PE reduces its
// chunk straight from every peer's source) then all-gather (each PE copies
// the other chunks from their owners); broadcast is a binomial tree of
// puts with signals.

// Descriptors in each push slot let receivers detect mismatched calls.
const (
	kBcast = iota + 1
	kReduce
	kFCollect
	kAllToAll
	kReduceScatter
	kCollectCount
	kCollectData
)

var kindName = [...]string{"", "broadcast", "reduce", "fcollect", "alltoall", "reduce_scatter", "collect", "collect"}

func desc(kind int, aux int, nbytes uintptr) uint64 {
	return uint64(kind)<<56 | uint64(aux&0xffff)<<40 | uint64(nbytes)&(1<<40-1)
}

func descString(d uint64) string {
	k := int(d >> 56)
	name := "?"
	if k < len(kindName) {
		name = kindName[k]
	}
	return fmt.Sprintf("%s(%d, %d bytes)", name, int(d>>40&0xffff), d&(1<<40-1))
}

// push puts data into member j's slot for this PE at epoch e and raises
// the slot's epoch, after j acknowledged what this PE last put in that slot.
func (t *Team) push(ctx context.Context, op string, e uint64, j int, d uint64, data []byte) error {
	p := t.p
	par := int(e % 2)
	// j must have consumed what this PE last put in that slot. It has if it
	// has since pushed anything to this PE: a member pushes for epoch e'
	// only after finishing every epoch before e'. Else read its ack.
	if last := t.lastPush[par*t.size+j]; last != 0 && t.lastRecv[j] <= last {
		ack := wordAt[uint64](p.local, t.ackOff(j))
		if atomic.LoadUint64(ack) < last {
			if err := p.wait(ctx, op, func() bool { return atomic.LoadUint64(ack) >= last }, t.ackOff(j), 8); err != nil {
				return err
			}
		}
	}
	w, off := t.WorldPE(j), t.slotOff(par, t.me)
	if r := p.regions[w]; r != nil {
		// Payload and descriptor are plain stores on the epoch's own line
		// (a payload of up to 48 bytes moves as one cache line); the
		// locked exchange that raises the epoch orders them before it.
		copy(r[off+slotHdr:], data)
		*wordAt[uint64](r, off+8) = d
		atomic.StoreUint64(wordAt[uint64](r, off), e)
		p.fab.Notify(w, off, 8)
	} else {
		var hdr [8]byte
		*(*uint64)(unsafe.Pointer(&hdr[0])) = d
		if err := p.fab.Put(w, off+slotHdr, data); err != nil {
			return err
		}
		if err := p.fab.Put(w, off+8, hdr[:]); err != nil {
			return err
		}
		if _, err := p.fab.AMO64(w, off, fabric.AMOSet, e, 0); err != nil {
			return err
		}
	}
	t.lastPush[par*t.size+j] = e
	return nil
}

// await waits until the members this PE expects (only, or every other
// member when only < 0) have pushed epoch e to it, and checks that each
// pushed the descriptor d (ds[i] when ds is not nil).
func (t *Team) await(ctx context.Context, op string, e uint64, only int, d uint64, ds []uint64) error {
	p := t.p
	t.aw.e, t.aw.only = e, only
	if !t.awaitReady() {
		span := uintptr(t.size) * (lineSize + t.pushMax)
		if err := p.wait(ctx, op, t.ready, t.slotOff(int(e%2), 0), span); err != nil {
			return err
		}
	}
	for i := 0; i < t.size; i++ {
		if !t.expects(i) {
			continue
		}
		want := d
		if ds != nil {
			want = ds[i]
		}
		t.lastRecv[i] = e
		if got := *wordAt[uint64](p.local, t.slotOff(int(e%2), i)+8); got != want {
			// Consume every slot anyway, so the team stays usable.
			for j := 0; j < t.size; j++ {
				if t.expects(j) {
					t.ack(e, j)
				}
			}
			return fmt.Errorf("gshmem: %s: %w: team member %d called %s, member %d %s", op, ErrMismatch, i, descString(got), t.me, descString(want))
		}
	}
	return nil
}

// expects reports whether the await in progress waits for member i.
func (t *Team) expects(i int) bool {
	return i != t.me && (t.aw.only < 0 || i == t.aw.only)
}

// awaitReady is the condition of the await in progress (t.ready, a method
// value made once, so a wait allocates nothing).
func (t *Team) awaitReady() bool {
	par := int(t.aw.e % 2)
	for i := 0; i < t.size; i++ {
		if t.expects(i) && atomic.LoadUint64(wordAt[uint64](t.p.local, t.slotOff(par, i))) < t.aw.e {
			return false
		}
	}
	return true
}

// slotHdr is the header (epoch, descriptor) before a slot's payload.
const slotHdr = 16

// payload is member i's data in this PE's slot of parity par.
func (t *Team) payload(par, i int, n uintptr) []byte {
	off := t.slotOff(par, i) + slotHdr
	return t.p.local[off : off+n : off+n]
}

// ack tells member i that this PE has consumed its push of epoch e.
func (t *Team) ack(e uint64, i int) error {
	p := t.p
	w, off := t.WorldPE(i), t.ackOff(t.me)
	if r := p.regions[w]; r != nil {
		atomic.StoreUint64(wordAt[uint64](r, off), e)
		p.fab.Notify(w, off, 8)
		return nil
	}
	_, err := p.fab.AMO64(w, off, fabric.AMOSet, e, 0)
	return err
}

// exchange pushes data(j) to every other member j at epoch e with
// descriptor d, then waits until every other member has pushed to this PE.
func (t *Team) exchange(ctx context.Context, op string, e, d uint64, data func(j int) []byte) error {
	for j := 0; j < t.size; j++ {
		if j != t.me {
			if err := t.push(ctx, op, e, j, d, data(j)); err != nil {
				return err
			}
		}
	}
	return t.await(ctx, op, e, -1, d, nil)
}

// ackAll tells every other member that this PE consumed its push of e.
func (t *Team) ackAll(e uint64) error {
	for j := 0; j < t.size; j++ {
		if j != t.me {
			if err := t.ack(e, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// reducePushed reduces, in member order, this PE's own contribution mine
// and every other member's push of epoch e into out, then acknowledges the
// pushes. srcs is scratch of one entry per member.
func reducePushed[T Elem](t *Team, op ReduceOp, e uint64, out []T, mine []byte, srcs [][]T) error {
	n, nb := len(out), uintptr(len(mine))
	for i := range srcs {
		if i == t.me {
			srcs[i] = as[T](mine, n)
		} else {
			srcs[i] = as[T](t.payload(int(e%2), i, nb), n)
		}
	}
	if err := reduceN(op, out, srcs); err != nil {
		return err
	}
	return t.ackAll(e)
}

// as views bytes as n elements of T.
func as[T Elem](b []byte, n int) []T {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// collBuf checks that s holds need elements the host can load and store.
func collBuf[T Elem](p *PE, op, name string, s Sym[T], need int) error {
	if s.bad != nil {
		return fmt.Errorf("gshmem: %s: %s: %w", op, name, s.bad)
	}
	if err := hostLoadable(p, op, name, s); err != nil {
		return err
	}
	if need < 0 {
		return fmt.Errorf("gshmem: %s: %w: %d elements", op, ErrInvalidArg, need)
	}
	if need > s.n {
		return fmt.Errorf("gshmem: %s: %w: %s %v holds %d elements, the call needs %d", op, ErrOutOfRange, name, s, s.n, need)
	}
	return nil
}

// noOverlap checks that the first a and b elements of dest and source do
// not share memory; same allows them to be exactly the same object.
func noOverlap[T Elem](op string, dest, source Sym[T], a, b int, same bool) error {
	sz := sizeOf[T]()
	d0, d1 := dest.off, dest.off+uintptr(a)*sz
	s0, s1 := source.off, source.off+uintptr(b)*sz
	if d0 < s1 && s0 < d1 && !(same && d0 == s0) {
		return fmt.Errorf("gshmem: %s: %w: destination %v and source %v overlap", op, ErrOverlap, dest, source)
	}
	return nil
}

// chunk returns the elements [lo, hi) of n that member i of size owns.
func chunk(n, size, i int) (lo, hi int) {
	q, r := n/size, n%size
	lo = i*q + min(i, r)
	hi = lo + q
	if i < r {
		hi++
	}
	return
}

// Broadcast copies n elements of source on team member root to dest on
// every member, root included (shmem_broadcast). dest may be source.
func Broadcast[T Elem](ctx context.Context, t *Team, dest, source Sym[T], n, root int) error {
	const op = "broadcast"
	if err := t.lock(op); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if root < 0 || root >= t.size {
		return fmt.Errorf("gshmem: %s: %w: root %d not in a team of %d", op, ErrInvalidPE, root, t.size)
	}
	if err := collBuf(t.p, op, "dest", dest, n); err != nil {
		return err
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(n) * sz
	if t.me == root {
		if err := collBuf(t.p, op, "source", source, n); err != nil {
			return err
		}
		if err := noOverlap(op, dest, source, n, n, true); err != nil {
			return err
		}
		copy(p.local[dest.off:dest.off+nb], p.local[source.off:source.off+nb])
	}
	if nb <= t.pushMax {
		t.cepoch++
		e, d := t.cepoch, desc(kBcast, root, nb)
		if t.me == root {
			src := p.local[source.off : source.off+nb]
			for j := 0; j < t.size; j++ {
				if j != root {
					if err := t.push(ctx, op, e, j, d, src); err != nil {
						return err
					}
				}
			}
			return nil
		}
		if err := t.await(ctx, op, e, root, d, nil); err != nil {
			return err
		}
		copy(p.local[dest.off:dest.off+nb], t.payload(int(e%2), root, nb))
		return t.ack(e, root)
	}
	// Binomial tree over ranks relative to the root: rank r receives from
	// r - highbit(r), then sends to r + k for every power of two k > r.
	if err := t.syncLocked(ctx, op); err != nil {
		return err
	}
	e := t.epoch
	r := (t.me - root + t.size) % t.size
	flagOff := t.block + tbBcast
	if r != 0 {
		flag := wordAt[uint64](p.local, flagOff)
		if err := p.wait(ctx, op, func() bool { return atomic.LoadUint64(flag) >= e }, flagOff, 8); err != nil {
			return err
		}
	}
	data := p.local[dest.off : dest.off+nb]
	for k := 1; k < t.size; k <<= 1 {
		if r >= k || r+k >= t.size {
			continue
		}
		w := t.WorldPE((r + k + root) % t.size)
		if rr := p.regions[w]; rr != nil {
			copy(rr[dest.off:dest.off+nb], data)
			atomic.StoreUint64(wordAt[uint64](rr, flagOff), e)
			p.fab.Notify(w, flagOff, 8)
		} else {
			if err := p.fab.Put(w, dest.off, data); err != nil {
				return err
			}
			if _, err := p.fab.AMO64(w, flagOff, fabric.AMOSet, e, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// Reduce combines n elements of source across the team with op and leaves
// the result in dest on every member (shmem_TYPE_OP_reduce; AllReduce).
// dest may be source (in place); otherwise they must not overlap. Every
// member computes the same bits: elements are combined in member order.
// Float16 and BFloat16 are accumulated in float32.
func Reduce[T Elem](ctx context.Context, t *Team, op ReduceOp, dest, source Sym[T], n int) error {
	const name = "reduce"
	if err := checkReduceOp[T](op); err != nil {
		return err // names the op and the type
	}
	if err := t.lock(name); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if err := collBuf(t.p, name, "dest", dest, n); err != nil {
		return err
	}
	if err := collBuf(t.p, name, "source", source, n); err != nil {
		return err
	}
	if err := noOverlap(name, dest, source, n, n, true); err != nil {
		return err
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(n) * sz
	mine := p.local[source.off : source.off+nb]
	out := as[T](p.local[dest.off:dest.off+nb], n)
	srcs := make([][]T, t.size)
	if nb <= t.pushMax {
		t.cepoch++
		e, d := t.cepoch, desc(kReduce, int(op), nb)
		if err := t.exchange(ctx, name, e, d, func(int) []byte { return mine }); err != nil {
			return err
		}
		return reducePushed(t, op, e, out, mine, srcs)
	}
	// Reduce-scatter: reduce my chunk straight from every member's source.
	if err := t.syncLocked(ctx, name); err != nil {
		return err
	}
	lo, hi := chunk(n, t.size, t.me)
	for i := range srcs {
		b, err := p.peerBytes(t.WorldPE(i), source.off+uintptr(lo)*sz, uintptr(hi-lo)*sz, nil)
		if err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
		srcs[i] = as[T](b, hi-lo)
	}
	if err := reduceN(op, out[lo:hi], srcs); err != nil {
		return err
	}
	if err := t.syncLocked(ctx, name); err != nil {
		return err
	}
	// All-gather: copy every other chunk from its owner's dest.
	if err := t.gatherChunks(dest.off, n, sz); err != nil {
		return fmt.Errorf("gshmem: %s: %w", name, err)
	}
	return t.syncLocked(ctx, name)
}

// gatherChunks copies, for every other member i, chunk i of the n-element
// object at off from member i's copy into this PE's.
func (t *Team) gatherChunks(off uintptr, n int, sz uintptr) error {
	p := t.p
	for i := 0; i < t.size; i++ {
		if i == t.me {
			continue
		}
		lo, hi := chunk(n, t.size, i)
		if hi == lo {
			continue
		}
		o, nb := off+uintptr(lo)*sz, uintptr(hi-lo)*sz
		dst := p.local[o : o+nb]
		if r := p.regions[t.WorldPE(i)]; r != nil {
			copy(dst, r[o:o+nb])
		} else if err := p.fab.Get(t.WorldPE(i), o, dst); err != nil {
			return err
		}
	}
	return nil
}

// ReduceScatter combines source (n elements per member, n*NPEs in all)
// across the team with op and leaves block i of the result in dest on
// member i. dest and source must not overlap.
func ReduceScatter[T Elem](ctx context.Context, t *Team, op ReduceOp, dest, source Sym[T], n int) error {
	const name = "reduce_scatter"
	if err := checkReduceOp[T](op); err != nil {
		return err // names the op and the type
	}
	if err := t.lock(name); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if err := collBuf(t.p, name, "dest", dest, n); err != nil {
		return err
	}
	if n < 0 || n > source.n/t.size {
		return fmt.Errorf("gshmem: %s: %w: source %v holds %d elements, a team of %d needs %d", name, ErrOutOfRange, source, source.n, t.size, n*t.size)
	}
	if err := noOverlap(name, dest, source, n, n*t.size, false); err != nil {
		return err
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(n) * sz
	block := func(j int) []byte {
		o := source.off + uintptr(j)*nb
		return p.local[o : o+nb]
	}
	out := as[T](p.local[dest.off:dest.off+nb], n)
	srcs := make([][]T, t.size)
	if nb <= t.pushMax {
		t.cepoch++
		e, d := t.cepoch, desc(kReduceScatter, int(op), nb)
		if err := t.exchange(ctx, name, e, d, block); err != nil {
			return err
		}
		return reducePushed(t, op, e, out, block(t.me), srcs)
	}
	if err := t.syncLocked(ctx, name); err != nil {
		return err
	}
	for i := range srcs {
		b, err := p.peerBytes(t.WorldPE(i), source.off+uintptr(t.me)*nb, nb, nil)
		if err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
		srcs[i] = as[T](b, n)
	}
	if err := reduceN(op, out, srcs); err != nil {
		return err
	}
	return t.syncLocked(ctx, name) // peers may still read my source
}

// FCollect concatenates n elements of source from every member, in member
// order, into dest on every member (shmem_fcollect; AllGather). dest holds
// n*NPEs elements and must not overlap source.
func FCollect[T Elem](ctx context.Context, t *Team, dest, source Sym[T], n int) error {
	const name = "fcollect"
	if err := t.lock(name); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if err := collBuf(t.p, name, "source", source, n); err != nil {
		return err
	}
	if err := collBuf(t.p, name, "dest", dest, n*t.size); err != nil {
		return err
	}
	if err := noOverlap(name, dest, source, n*t.size, n, false); err != nil {
		return err
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(n) * sz
	at := func(i int) []byte {
		o := dest.off + uintptr(i)*nb
		return p.local[o : o+nb]
	}
	mine := p.local[source.off : source.off+nb]
	copy(at(t.me), mine)
	if nb <= t.pushMax {
		t.cepoch++
		e, d := t.cepoch, desc(kFCollect, 0, nb)
		if err := t.exchange(ctx, name, e, d, func(int) []byte { return mine }); err != nil {
			return err
		}
		for i := 0; i < t.size; i++ {
			if i != t.me {
				copy(at(i), t.payload(int(e%2), i, nb))
			}
		}
		return t.ackAll(e)
	}
	if err := t.syncLocked(ctx, name); err != nil {
		return err
	}
	for i := 0; i < t.size; i++ {
		if i == t.me {
			continue
		}
		b, err := p.peerBytes(t.WorldPE(i), source.off, nb, at(i))
		if err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
		copy(at(i), b)
	}
	return t.syncLocked(ctx, name)
}

// Collect concatenates source from every member, in member order, into
// dest on every member (shmem_collect); member i contributes its own n,
// which may differ between members. It returns the number of elements
// written. dest must not overlap source.
func Collect[T Elem](ctx context.Context, t *Team, dest, source Sym[T], n int) (int, error) {
	const name = "collect"
	if err := t.lock(name); err != nil {
		return 0, err
	}
	defer t.mu.Unlock()
	if err := collBuf(t.p, name, "source", source, n); err != nil {
		return 0, err
	}
	p, sz := t.p, sizeOf[T]()
	// Everyone's count, with a push of 8 bytes.
	t.cepoch++
	e, d := t.cepoch, desc(kCollectCount, 0, 8)
	var cnt [8]byte
	*(*uint64)(unsafe.Pointer(&cnt[0])) = uint64(n)
	if err := t.exchange(ctx, name, e, d, func(int) []byte { return cnt[:] }); err != nil {
		return 0, err
	}
	counts := make([]int, t.size)
	offs := make([]int, t.size+1)
	maxb := uintptr(0)
	for i := range counts {
		if i == t.me {
			counts[i] = n
		} else {
			counts[i] = int(*(*uint64)(unsafe.Pointer(&t.payload(int(e%2), i, 8)[0])))
			if err := t.ack(e, i); err != nil {
				return 0, err
			}
		}
		offs[i+1] = offs[i] + counts[i]
		maxb = max(maxb, uintptr(counts[i])*sz)
	}
	total := offs[t.size]
	if err := collBuf(t.p, name, "dest", dest, total); err != nil {
		return 0, err // every member sees the same counts and fails alike
	}
	if err := noOverlap(name, dest, source, total, n, false); err != nil {
		return 0, err
	}
	at := func(i int) []byte {
		o := dest.off + uintptr(offs[i])*sz
		return p.local[o : o+uintptr(counts[i])*sz]
	}
	mine := p.local[source.off : source.off+uintptr(n)*sz]
	copy(at(t.me), mine)
	if maxb <= t.pushMax {
		t.cepoch++
		e := t.cepoch
		want := make([]uint64, t.size)
		for i := range want {
			want[i] = desc(kCollectData, 0, uintptr(counts[i])*sz)
		}
		for j := 0; j < t.size; j++ {
			if j != t.me {
				if err := t.push(ctx, name, e, j, want[t.me], mine); err != nil {
					return 0, err
				}
			}
		}
		if err := t.await(ctx, name, e, -1, 0, want); err != nil {
			return 0, err
		}
		for i := 0; i < t.size; i++ {
			if i != t.me {
				copy(at(i), t.payload(int(e%2), i, uintptr(counts[i])*sz))
				if err := t.ack(e, i); err != nil {
					return 0, err
				}
			}
		}
		return total, nil
	}
	if err := t.syncLocked(ctx, name); err != nil {
		return 0, err
	}
	for i := 0; i < t.size; i++ {
		if i == t.me || counts[i] == 0 {
			continue
		}
		b, err := p.peerBytes(t.WorldPE(i), source.off, uintptr(counts[i])*sz, at(i))
		if err != nil {
			return 0, fmt.Errorf("gshmem: %s: %w", name, err)
		}
		copy(at(i), b)
	}
	return total, t.syncLocked(ctx, name)
}

// AllToAll sends block j (n elements) of source to member j, which stores
// it as block i of dest, i being the sender (shmem_alltoall). source and
// dest hold n*NPEs elements and must not overlap.
func AllToAll[T Elem](ctx context.Context, t *Team, dest, source Sym[T], n int) error {
	const name = "alltoall"
	if err := t.lock(name); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if err := collBuf(t.p, name, "source", source, n*t.size); err != nil {
		return err
	}
	if err := collBuf(t.p, name, "dest", dest, n*t.size); err != nil {
		return err
	}
	if err := noOverlap(name, dest, source, n*t.size, n*t.size, false); err != nil {
		return err
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(n) * sz
	src := func(j int) []byte { o := source.off + uintptr(j)*nb; return p.local[o : o+nb] }
	dst := func(i int) []byte { o := dest.off + uintptr(i)*nb; return p.local[o : o+nb] }
	copy(dst(t.me), src(t.me))
	if nb <= t.pushMax {
		t.cepoch++
		e, d := t.cepoch, desc(kAllToAll, 0, nb)
		if err := t.exchange(ctx, name, e, d, src); err != nil {
			return err
		}
		for i := 0; i < t.size; i++ {
			if i != t.me {
				copy(dst(i), t.payload(int(e%2), i, nb))
			}
		}
		return t.ackAll(e)
	}
	if err := t.syncLocked(ctx, name); err != nil {
		return err
	}
	for j := 0; j < t.size; j++ {
		if j == t.me {
			continue
		}
		w, o := t.WorldPE(j), dest.off+uintptr(t.me)*nb
		if r := p.regions[w]; r != nil {
			copy(r[o:o+nb], src(j))
		} else if err := p.fab.Put(w, o, src(j)); err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
	}
	if err := p.fab.Quiet(); err != nil {
		return fmt.Errorf("gshmem: %s: %w", name, err)
	}
	return t.syncLocked(ctx, name)
}

// AllToAlls is AllToAll with strides (shmem_alltoalls): element k of the
// block for member j is source[(j*n+k)*sst], and it lands in
// dest[(i*n+k)*dst] on member j, i being the sender. Strides are in
// elements and at least 1; source and dest must not overlap.
func AllToAlls[T Elem](ctx context.Context, t *Team, dest, source Sym[T], dst, sst, n int) error {
	const name = "alltoalls"
	if err := t.lock(name); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if dst < 1 || sst < 1 || n < 0 {
		return fmt.Errorf("gshmem: %s: %w: strides %d, %d and %d elements", name, ErrInvalidArg, dst, sst, n)
	}
	last := n*t.size - 1
	if n > 0 {
		if err := collBuf(t.p, name, "source", source, last*sst+1); err != nil {
			return err
		}
		if err := collBuf(t.p, name, "dest", dest, last*dst+1); err != nil {
			return err
		}
		if err := noOverlap(name, dest, source, last*dst+1, last*sst+1, false); err != nil {
			return err
		}
	}
	p := t.p
	in := Local(p, source)
	if err := t.syncLocked(ctx, name); err != nil {
		return err
	}
	for j := 0; j < t.size && n > 0; j++ {
		w := t.WorldPE(j)
		if r := p.regions[w]; r != nil {
			out := as[T](r[dest.off:dest.off+dest.Size()], dest.n)
			for k := 0; k < n; k++ {
				out[(t.me*n+k)*dst] = in[(j*n+k)*sst]
			}
			continue
		}
		for k := 0; k < n; k++ {
			v := in[(j*n+k)*sst]
			b := unsafe.Slice((*byte)(unsafe.Pointer(&v)), sizeOf[T]())
			if err := p.fab.Put(w, dest.off+uintptr((t.me*n+k)*dst)*sizeOf[T](), b); err != nil {
				return fmt.Errorf("gshmem: %s: %w", name, err)
			}
		}
	}
	if err := p.fab.Quiet(); err != nil {
		return fmt.Errorf("gshmem: %s: %w", name, err)
	}
	return t.syncLocked(ctx, name)
}

// Algorithm names the algorithm a reduction, fcollect or alltoall moving
// nbytes per PE uses on t: "one-shot push" up to the push threshold
// (Config.CollPushMax, GSHMEM_COLL_PUSH_MAX), "direct loads" above it.
func (t *Team) Algorithm(nbytes int) string {
	if t == nil {
		return ""
	}
	if uintptr(nbytes) <= t.pushMax {
		return "one-shot push: put with signal into every peer's slot, no barrier"
	}
	return "direct loads: reduce-scatter then all-gather on peers' buffers between team syncs"
}
