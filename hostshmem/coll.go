package hostshmem

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
)

// Collectives on a team. Every member calls the same collective with the
// same arguments (n, root, op; Collect's n may differ), in the same order
// as its other collectives on the team. Source and destination are
// symmetric objects. When a call returns, this PE's destination holds its
// result and its source may be reused.
//
// Every call starts with the team's entry step (agree.go), which checks
// the members' arguments against each other and is the call's first
// synchronisation.
//
// Algorithms. On a team of up to 64 members, a call whose per-PE payload
// fits the push slots (Config.CollPushMax, default 2 KiB) is one-shot: the
// entry carries the data, each PE putting it with its descriptor into its
// slot on every peer and waiting for its own slots: no barrier, one flag
// round trip. Slots are double-buffered by call: a member reaches call
// e+2 only after every member pushed call e+1, which each does after it
// read what it got in call e. Larger payloads read peers' symmetric buffers in
// place between team syncs: reductions reduce-scatter (each PE reduces its
// chunk straight from every peer's source) then all-gather (each PE copies
// the other chunks from their owners); broadcast is a binomial tree of
// puts with signals. On a team whose members do not all share memory (a
// team across nodes), a larger reduction moves its data by puts with
// signal instead, where a load would be a network round trip (collnet.go).

// reducePushed reduces, in member order, this PE's own contribution mine
// and every other member's push of epoch e into out. srcs is scratch of
// one entry per member.
func reducePushed[T Elem](t *Team, op ReduceOp, e uint64, out []T, mine []byte, srcs [][]T) error {
	n, nb := len(out), uintptr(len(mine))
	for i := range srcs {
		if i == t.me {
			srcs[i] = as[T](mine, n)
		} else {
			srcs[i] = as[T](t.payload(int(e%2), i, nb), n)
		}
	}
	return reduceN(op, out, srcs)
}

// srcsOf returns t's scratch of one []T per member (t.gate held): a
// reduction's sources, which a small collective would otherwise allocate
// on every call (an allocation, and the collection it brings on, costs a
// two-PE reduction more than its arithmetic). A []byte and a []T have the
// same header, so the scratch is viewed as it is.
func srcsOf[T Elem](t *Team) [][]T {
	if len(t.srcs) < t.size {
		t.srcs = make([][]byte, t.size)
	}
	s := t.srcs[:t.size]
	return *(*[][]T)(unsafe.Pointer(&s))
}

// intsOf returns t's scratch of n ints (t.gate held), zeroed.
func intsOf(t *Team, n int) []int {
	if len(t.ints) < n {
		t.ints = make([]int, n)
	}
	s := t.ints[:n]
	clear(s)
	return s
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
	defer t.unlock()
	c := &call{op: op, code: cBroadcast, args: [4]uint64{uint64(root), uint64(n), typeTag[T]()}}
	if root < 0 || root >= t.size {
		c.err = fmt.Errorf("%w: root %d not in a team of %d", ErrInvalidPE, root, t.size)
	} else if c.err = collBuf(t.p, op, "dest", dest, n); c.err == nil && t.me == root {
		if c.err = collBuf(t.p, op, "source", source, n); c.err == nil {
			c.err = noOverlap(op, dest, source, n, n, true)
		}
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(max(n, 0)) * sz
	if c.err == nil && nb <= t.pushMax {
		var data func(int) []byte
		if t.me == root {
			src := p.local[source.off : source.off+nb]
			data = func(int) []byte { return src }
		}
		e, err := t.enter(ctx, c, data)
		if err != nil {
			return err
		}
		from := source.off
		if t.me != root {
			from = t.slotOff(int(e%2), root) + slotHdr
		}
		copy(p.local[dest.off:dest.off+nb], p.local[from:from+nb])
		return nil
	}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return err
	}
	// Binomial tree over ranks relative to the root: rank r receives from
	// r - highbit(r), then sends to r + k for every power of two k > r.
	// The flag holds the number of the call whose data arrived.
	e := t.st.calls
	r := (t.me - root + t.size) % t.size
	flagOff := t.block + tbBcast
	if r == 0 {
		copy(p.local[dest.off:dest.off+nb], p.local[source.off:source.off+nb])
	} else if err := t.waitEpoch(ctx, op, flagOff, e); err != nil {
		return err
	}
	data := p.local[dest.off : dest.off+nb]
	for k := 1; k < t.size; k <<= 1 {
		if r >= k || r+k >= t.size {
			continue
		}
		w := t.WorldPE((r + k + root) % t.size)
		if err := p.fab.PutSignal(w, dest.off, data, flagOff, fabric.AMOSet, e, fabric.CompleteByProtocol); err != nil {
			return fmt.Errorf("gshmem: %s: %w", op, err)
		}
	}
	return nil
}

// Reduce combines n elements of source across the team with op and leaves
// the result in dest on every member (shmem_TYPE_OP_reduce; AllReduce).
// dest may be source (in place); otherwise they must not overlap. Every
// member computes the same bits: elements are combined in member order
// (on a team across nodes, up to the push threshold: in member order within
// each node, then the nodes' results in node order). Float16 and BFloat16
// are accumulated in float32.
func Reduce[T Elem](ctx context.Context, t *Team, op ReduceOp, dest, source Sym[T], n int) error {
	const name = "reduce"
	if err := t.lock(name); err != nil {
		return err
	}
	defer t.unlock()
	c := &call{op: name, code: cReduce, args: [4]uint64{uint64(op), uint64(n), typeTag[T]()}}
	if c.err = checkReduceOp[T](op); c.err == nil {
		if c.err = collBuf(t.p, name, "dest", dest, n); c.err == nil {
			if c.err = collBuf(t.p, name, "source", source, n); c.err == nil {
				c.err = noOverlap(name, dest, source, n, n, true)
			}
		}
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(max(n, 0)) * sz
	srcs := srcsOf[T](t)
	if c.err == nil && nb <= t.pushMax {
		mine := p.local[source.off : source.off+nb]
		e, err := t.enter(ctx, c, func(int) []byte { return mine })
		if err != nil {
			return err
		}
		return reducePushed(t, op, e, as[T](p.local[dest.off:dest.off+nb], n), mine, srcs)
	}
	var saved []byte
	if c.err == nil && t.netReduces(nb) {
		saved = saveBody(t, dest, source, n) // before a peer may write to dest
	}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return err
	}
	if t.hier != nil && nb <= p.pushMax {
		return reduceHier(ctx, t, op, dest, source, n)
	}
	if t.netReduces(nb) {
		return reduceNet(ctx, t, op, dest, source, n, saved)
	}
	// Reduce-scatter: reduce my chunk straight from every member's source.
	out := as[T](p.local[dest.off:dest.off+nb], n)
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

// reduceHier is Reduce's small case on a team across nodes, once entered:
// each node's leader reduces its node's sources over shared memory, the
// leaders exchange their results over the network (one Get per other
// node) and reduce those in node order, and each leader's node copies the
// result from it.
func reduceHier[T Elem](ctx context.Context, t *Team, op ReduceOp, dest, source Sym[T], n int) error {
	const name = "reduce"
	p, h := t.p, t.hier
	nb := uintptr(n) * sizeOf[T]()
	out := as[T](p.local[dest.off:dest.off+nb], n)
	if h.lead >= 0 {
		srcs := make([][]T, len(h.local))
		for i, m := range h.local {
			b, err := p.peerBytes(t.WorldPE(m), source.off, nb, nil)
			if err != nil {
				return fmt.Errorf("gshmem: %s: %w", name, err)
			}
			srcs[i] = as[T](b, n)
		}
		part := make([]T, n)
		if err := reduceN(op, part, srcs); err != nil {
			return err
		}
		// This node's result, in dest, for the other leaders to get
		// (the node's sources are read: dest may overwrite this PE's).
		copy(out, part)
		if err := t.leadersSync(ctx, name); err != nil {
			return err
		}
		parts := make([][]T, len(h.leaders))
		for j, l := range h.leaders {
			if j == h.lead {
				parts[j] = part
				continue
			}
			b, err := p.peerBytes(t.WorldPE(l), dest.off, nb, nil)
			if err != nil {
				return fmt.Errorf("gshmem: %s: %w", name, err)
			}
			parts[j] = as[T](b, n)
		}
		if err := reduceN(op, part, parts); err != nil {
			return err
		}
		// No leader reads this one's dest any more.
		if err := t.leadersSync(ctx, name); err != nil {
			return err
		}
		copy(out, part)
	}
	if err := t.localSync(ctx, name); err != nil {
		return err
	}
	if h.lead < 0 {
		b, err := p.peerBytes(t.WorldPE(h.local[0]), dest.off, nb, nil)
		if err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
		copy(out, as[T](b, n))
	}
	// The leader's dest is read by its node before it returns.
	return t.localSync(ctx, name)
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
	if err := t.lock(name); err != nil {
		return err
	}
	defer t.unlock()
	c := &call{op: name, code: cReduceScatter, args: [4]uint64{uint64(op), uint64(n), typeTag[T]()}}
	if c.err = checkReduceOp[T](op); c.err == nil {
		if c.err = collBuf(t.p, name, "dest", dest, n); c.err == nil {
			if n > source.n/t.size {
				c.err = fmt.Errorf("%w: source %v holds %d elements, a team of %d needs %d", ErrOutOfRange, source, source.n, t.size, n*t.size)
			} else if c.err = collBuf(t.p, name, "source", source, n*t.size); c.err == nil {
				c.err = noOverlap(name, dest, source, n, n*t.size, false)
			}
		}
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(max(n, 0)) * sz
	block := func(j int) []byte {
		o := source.off + uintptr(j)*nb
		return p.local[o : o+nb]
	}
	srcs := srcsOf[T](t)
	if c.err == nil && nb <= t.pushMax {
		e, err := t.enter(ctx, c, block)
		if err != nil {
			return err
		}
		return reducePushed(t, op, e, as[T](p.local[dest.off:dest.off+nb], n), block(t.me), srcs)
	}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return err
	}
	for i := range srcs {
		b, err := p.peerBytes(t.WorldPE(i), source.off+uintptr(t.me)*nb, nb, nil)
		if err != nil {
			return fmt.Errorf("gshmem: %s: %w", name, err)
		}
		srcs[i] = as[T](b, n)
	}
	if err := reduceN(op, as[T](p.local[dest.off:dest.off+nb], n), srcs); err != nil {
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
	defer t.unlock()
	c := &call{op: name, code: cFCollect, args: [4]uint64{uint64(n), typeTag[T]()}}
	if c.err = collBuf(t.p, name, "source", source, n); c.err == nil {
		if n > dest.n/t.size {
			c.err = fmt.Errorf("%w: dest %v holds %d elements, %d from each of %d members need %d", ErrOutOfRange, dest, dest.n, n, t.size, n*t.size)
		} else if c.err = collBuf(t.p, name, "dest", dest, n*t.size); c.err == nil {
			c.err = noOverlap(name, dest, source, n*t.size, n, false)
		}
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(max(n, 0)) * sz
	at := func(i int) []byte {
		o := dest.off + uintptr(i)*nb
		return p.local[o : o+nb]
	}
	if c.err == nil && nb <= t.pushMax {
		mine := p.local[source.off : source.off+nb]
		e, err := t.enter(ctx, c, func(int) []byte { return mine })
		if err != nil {
			return err
		}
		copy(at(t.me), mine)
		for i := 0; i < t.size; i++ {
			if i != t.me {
				copy(at(i), t.payload(int(e%2), i, nb))
			}
		}
		return nil
	}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return err
	}
	copy(at(t.me), p.local[source.off:source.off+nb])
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
	defer t.unlock()
	p, sz := t.p, sizeOf[T]()
	// Everyone's count, through the call records.
	c := &call{op: name, code: cCollect, args: [4]uint64{typeTag[T]()}, aux: uint64(n)}
	c.err = collBuf(t.p, name, "source", source, n)
	if _, err := t.enter(ctx, c, nil); err != nil {
		return 0, err
	}
	ints := intsOf(t, 2*t.size+1)
	counts, offs := ints[:t.size], ints[t.size:]
	maxb := uintptr(0)
	for i := range counts {
		counts[i] = n
		if i != t.me {
			r, err := t.readRecord(i, t.st.calls)
			if err != nil {
				return 0, fmt.Errorf("gshmem: %s: %w", name, err)
			}
			counts[i] = int(r.aux)
		}
		offs[i+1] = offs[i] + counts[i]
		maxb = max(maxb, uintptr(counts[i])*sz)
	}
	total := offs[t.size]
	// Then the data: every member checks dest against the same total.
	c = &call{op: name, code: cCollectData, args: [4]uint64{uint64(total), typeTag[T]()}}
	if c.err = collBuf(t.p, name, "dest", dest, total); c.err == nil {
		c.err = noOverlap(name, dest, source, total, n, false)
	}
	at := func(i int) []byte {
		o := dest.off + uintptr(offs[i])*sz
		return p.local[o : o+uintptr(counts[i])*sz]
	}
	mine := p.local[source.off : source.off+uintptr(n)*sz]
	if c.err == nil && maxb <= t.pushMax {
		e, err := t.enter(ctx, c, func(int) []byte { return mine })
		if err != nil {
			return 0, err
		}
		copy(at(t.me), mine)
		for i := 0; i < t.size; i++ {
			if i != t.me {
				copy(at(i), t.payload(int(e%2), i, uintptr(counts[i])*sz))
			}
		}
		return total, nil
	}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return 0, err
	}
	copy(at(t.me), mine)
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
	defer t.unlock()
	c := &call{op: name, code: cAllToAll, args: [4]uint64{uint64(n), typeTag[T]()}}
	if n < 0 {
		c.err = fmt.Errorf("%w: %d elements", ErrInvalidArg, n)
	} else if n > source.n/t.size || n > dest.n/t.size {
		c.err = fmt.Errorf("%w: source %v and dest %v must hold %d elements from each of %d members", ErrOutOfRange, source, dest, n, t.size)
	} else if c.err = collBuf(t.p, name, "source", source, n*t.size); c.err == nil {
		if c.err = collBuf(t.p, name, "dest", dest, n*t.size); c.err == nil {
			c.err = noOverlap(name, dest, source, n*t.size, n*t.size, false)
		}
	}
	p, sz := t.p, sizeOf[T]()
	nb := uintptr(max(n, 0)) * sz
	src := func(j int) []byte { o := source.off + uintptr(j)*nb; return p.local[o : o+nb] }
	dst := func(i int) []byte { o := dest.off + uintptr(i)*nb; return p.local[o : o+nb] }
	if c.err == nil && nb <= t.pushMax {
		e, err := t.enter(ctx, c, src)
		if err != nil {
			return err
		}
		copy(dst(t.me), src(t.me))
		for i := 0; i < t.size; i++ {
			if i != t.me {
				copy(dst(i), t.payload(int(e%2), i, nb))
			}
		}
		return nil
	}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return err
	}
	copy(dst(t.me), src(t.me))
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
	defer t.unlock()
	c := &call{op: name, code: cAllToAlls, args: [4]uint64{uint64(n), uint64(dst), uint64(sst), typeTag[T]()}}
	// The last element each side touches, when the products fit an int.
	last, lastS, lastD := 0, 0, 0
	if dst < 1 || sst < 1 || n < 0 {
		c.err = fmt.Errorf("%w: strides %d, %d and %d elements", ErrInvalidArg, dst, sst, n)
	} else if n > 0 {
		var ok1, ok2, ok3 bool
		last, ok1 = mulInt(n, t.size)
		last--
		lastS, ok2 = mulInt(last, sst)
		lastD, ok3 = mulInt(last, dst)
		if !ok1 || !ok2 || !ok3 || lastS == math.MaxInt || lastD == math.MaxInt {
			c.err = fmt.Errorf("%w: %d elements from each of %d members at strides %d (dest) and %d (source) overflow an int", ErrInvalidArg, n, t.size, dst, sst)
		} else if c.err = collBuf(t.p, name, "source", source, lastS+1); c.err == nil {
			if c.err = collBuf(t.p, name, "dest", dest, lastD+1); c.err == nil {
				c.err = noOverlap(name, dest, source, lastD+1, lastS+1, false)
			}
		}
	}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return err
	}
	p := t.p
	in := Local(p, source)
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

// mulInt is a*b for non-negative a and b, and whether it fits an int.
func mulInt(a, b int) (int, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	return int(lo), hi == 0 && lo <= math.MaxInt
}

// Algorithm names the algorithm a reduction, fcollect or alltoall moving
// nbytes per PE uses on t: "one-shot push" up to the push threshold
// (Config.CollPushMax, GSHMEM_COLL_PUSH_MAX) on teams of up to 64
// members, "direct loads" above it; on a team whose members do not all
// share memory, reductions above it move their data by messages.
func (t *Team) Algorithm(nbytes int) string {
	if t == nil {
		return ""
	}
	const byMessages = "reductions: reduce-scatter then all-gather by puts with signal into peers' buffers; fcollect and alltoall by direct loads"
	if t.hier != nil {
		if nbytes >= 0 && uintptr(nbytes) <= t.p.pushMax {
			return "across nodes: reductions by node over shared memory, then among one leader per node over the network; fcollect and alltoall by direct loads"
		}
		if t.netReduces(uintptr(max(nbytes, 0))) {
			return "across nodes: " + byMessages
		}
		return "across nodes: direct loads: reduce-scatter then all-gather on peers' buffers between team syncs"
	}
	if nbytes >= 0 && uintptr(nbytes) <= t.pushMax {
		return "one-shot push: put with signal into every peer's slot, no barrier"
	}
	if nbytes >= 0 && t.netReduces(uintptr(nbytes)) {
		return "peers not all mapped: " + byMessages
	}
	return "direct loads: reduce-scatter then all-gather on peers' buffers between team syncs"
}
