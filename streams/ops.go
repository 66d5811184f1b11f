package streams

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/gshmem/gshmem/hostshmem"
)

// The enqueue functions. Each checks its arguments against what it can
// know at once (PE numbers, object lengths, operations, the team, a closed
// stream) and returns an error naming the values, enqueueing nothing; or
// it queues the op and returns nil at once. A failure while the op runs is
// reported by the next synchronisation (see the package doc, Errors).
//
// Buffers are symmetric objects. The stream reads a source and writes a
// destination while the op runs, not when it is enqueued: the caller must
// not write a source or touch a destination until the op is known to have
// finished (a later Synchronize, an Event recorded after it, or a later op
// on the same stream, e.g. a Go function).

// CollElem is the set of element types the stream collectives move and
// reduce: the types GPU kernels have.
type CollElem interface {
	float32 | hostshmem.Float16 | hostshmem.BFloat16 | int32 | int64
}

// Put enqueues a copy of src (this PE's copy, all src.Len() elements) to
// dst on PE pe. The data is visible at pe after a later Quiet or Barrier
// on the stream; a later PutSignal to pe on the stream delivers its signal
// after it.
func Put[T hostshmem.Elem](s *Stream, dst, src hostshmem.Sym[T], pe int) error {
	o, err := rma(s, opPut, dst, src, pe)
	if err != nil {
		return err
	}
	return s.enqueue(o)
}

// Get enqueues a copy of src on PE pe (all src.Len() elements) into this
// PE's dst. dst holds the data once the op has finished.
func Get[T hostshmem.Elem](s *Stream, dst, src hostshmem.Sym[T], pe int) error {
	o, err := rma(s, opGet, dst, src, pe)
	if err != nil {
		return err
	}
	return s.enqueue(o)
}

// PutSignal enqueues Put(dst, src, pe) followed by an update of the signal
// word sig on pe with sigOp and v: a PE that sees the signal updated also
// sees this data and that of the stream's earlier puts to it.
func PutSignal[T hostshmem.Elem](s *Stream, dst, src hostshmem.Sym[T], sig hostshmem.Sym[uint64], v uint64, sigOp hostshmem.SignalOp, pe int) error {
	o, err := rma(s, opPutSignal, dst, src, pe)
	if err != nil {
		return err
	}
	if err := signalWord(s, "put_signal", sig); err != nil {
		return err
	}
	if sigOp != hostshmem.SignalSet && sigOp != hostshmem.SignalAdd {
		return fmt.Errorf("streams: put_signal: %w: signal operation %d", hostshmem.ErrInvalidArg, int(sigOp))
	}
	if overlap(sig.Offset(), 8, dst.Offset(), uintptr(src.Len())*elemSize[T]()) {
		return fmt.Errorf("streams: put_signal: %w: signal %v inside destination %v", hostshmem.ErrOverlap, sig, dst)
	}
	o.sig, o.sigOff, o.sigVal, o.sigOp = sig, sig.Offset(), v, sigOp
	return s.enqueue(o)
}

// SignalWait enqueues a wait until this PE's signal word sig satisfies
// (sig cmp v): the ops after it run once it holds. The wait ends with an
// error, failing the op, when a peer dies, the stream's context ends or
// its wait bound passes.
func SignalWait(s *Stream, sig hostshmem.Sym[uint64], cmp hostshmem.Cmp, v uint64) error {
	if err := live(s, "signal_wait"); err != nil {
		return err
	}
	if err := signalWord(s, "signal_wait", sig); err != nil {
		return err
	}
	if cmp < hostshmem.CmpEQ || cmp > hostshmem.CmpLE {
		return fmt.Errorf("streams: signal_wait: %w: comparison %d", hostshmem.ErrInvalidArg, int(cmp))
	}
	return s.enqueue(&op{kind: opSignalWait, sig: sig, sigOff: sig.Offset(), sigVal: v, cmp: cmp})
}

// Quiet enqueues the completion of the stream's earlier puts and gets:
// when it has run, their data is visible at their targets.
func (s *Stream) Quiet() error {
	if err := live(s, "quiet"); err != nil {
		return err
	}
	return s.enqueue(&op{kind: opQuiet})
}

// Barrier enqueues a stream barrier over team: it completes every earlier
// op of the stream (puts on either heap, those a GPU stream runs on the
// host included), then waits until every member has reached a stream
// barrier on team. Every member must enqueue it, on a stream of the same
// engine kind, in the same order as its other stream collectives on team.
// A stream barrier meets stream barriers only: do not pair it with a
// member's Team.Barrier (on the CPU engine it happens to be one, on a GPU
// it is a kernel that never meets a host barrier).
func (s *Stream) Barrier(team *hostshmem.Team) error {
	if err := teamOf(s, "barrier", team); err != nil {
		return err
	}
	return s.enqueue(&op{kind: opBarrier, team: team})
}

// Go enqueues fn, the CPU engine's kernel: the worker calls it in stream
// order with the stream's context. Its error (or panic) fails the op. fn
// must not call Synchronize or Close on its own stream; it may enqueue
// more ops on it.
func (s *Stream) Go(fn func(ctx context.Context) error) error {
	if err := live(s, "go"); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("streams: go: %w: nil function", hostshmem.ErrInvalidArg)
	}
	return s.enqueue(&op{kind: opGo, fn: fn})
}

// AllReduce enqueues dst = op over every team member's src, n elements
// (hostshmem.AllReduce: the same bits on every member). dst may be src.
// op is OpSum, OpProd, OpMin or OpMax.
func AllReduce[T CollElem](s *Stream, team *hostshmem.Team, op hostshmem.ReduceOp, dst, src hostshmem.Sym[T], n int) error {
	o, err := collective(s, opAllReduce, team, op, dst, src, n, n, n, true)
	if err != nil {
		return err
	}
	return s.enqueue(o)
}

// ReduceScatter enqueues the reduction with op of src (n*team.NPEs()
// elements on every member) whose block i (n elements) lands in dst on
// member i. dst and src must not overlap.
func ReduceScatter[T CollElem](s *Stream, team *hostshmem.Team, op hostshmem.ReduceOp, dst, src hostshmem.Sym[T], n int) error {
	size := teamSize(team)
	o, err := collective(s, opReduceScatter, team, op, dst, src, n, n, n*size, false)
	if err != nil {
		return err
	}
	return s.enqueue(o)
}

// AllGather enqueues dst = every member's src (n elements each), in member
// order, on every member: dst holds n*team.NPEs() elements and must not
// overlap src.
func AllGather[T CollElem](s *Stream, team *hostshmem.Team, dst, src hostshmem.Sym[T], n int) error {
	size := teamSize(team)
	o, err := collective(s, opAllGather, team, hostshmem.OpSum, dst, src, n, n*size, n, false)
	if err != nil {
		return err
	}
	return s.enqueue(o)
}

// AllToAll enqueues the exchange in which block j (n elements) of src goes
// to member j, landing as block i of its dst, i being the sender. src and
// dst hold n*team.NPEs() elements and must not overlap.
func AllToAll[T CollElem](s *Stream, team *hostshmem.Team, dst, src hostshmem.Sym[T], n int) error {
	size := teamSize(team)
	o, err := collective(s, opAllToAll, team, hostshmem.OpSum, dst, src, n, n*size, n*size, false)
	if err != nil {
		return err
	}
	return s.enqueue(o)
}

// Broadcast enqueues the copy of n elements of src on team member root to
// dst on every member, root included. dst may be src.
func Broadcast[T CollElem](s *Stream, team *hostshmem.Team, dst, src hostshmem.Sym[T], n, root int) error {
	o, err := collective(s, opBroadcast, team, hostshmem.OpSum, dst, src, n, n, n, true)
	if err != nil {
		return err
	}
	if root < 0 || root >= team.NPEs() {
		return fmt.Errorf("streams: broadcast: %w: root %d not in a team of %d", hostshmem.ErrInvalidPE, root, team.NPEs())
	}
	o.pe = root
	return s.enqueue(o)
}

// live fails on a nil stream or a closed one.
func live(s *Stream, name string) error {
	if s == nil {
		return fmt.Errorf("streams: %s: %w: nil stream", name, hostshmem.ErrInvalidArg)
	}
	s.mu.Lock()
	closed := s.mu.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("streams: %s: %w: %v", name, ErrClosed, s)
	}
	return nil
}

// elemSize is the size of one T in bytes.
func elemSize[T hostshmem.Elem]() uintptr {
	var z T
	return unsafe.Sizeof(z)
}

// rma checks and describes a put, get or put_signal of all of src.
func rma[T hostshmem.Elem](s *Stream, kind opKind, dst, src hostshmem.Sym[T], pe int) (*op, error) {
	name := kind.String()
	if err := live(s, name); err != nil {
		return nil, err
	}
	if err := symErr(name, "dst", dst); err != nil {
		return nil, err
	}
	if err := symErr(name, "src", src); err != nil {
		return nil, err
	}
	if src.Len() > dst.Len() {
		return nil, fmt.Errorf("streams: %s: %w: src %v has %d elements, dst %v only %d", name, hostshmem.ErrOutOfRange, src, src.Len(), dst, dst.Len())
	}
	if n := s.pe.NPEs(); pe < 0 || pe >= n {
		return nil, fmt.Errorf("streams: %s: %w: PE %d not in [0, %d)", name, hostshmem.ErrInvalidPE, pe, n)
	}
	count := src.Size()
	if pe == s.pe.MyPE() && dst.Offset() != src.Offset() && overlap(dst.Offset(), count, src.Offset(), count) {
		return nil, fmt.Errorf("streams: %s: %w: dst %v and src %v overlap on this PE", name, hostshmem.ErrOverlap, dst, src)
	}
	return &op{
		kind: kind, elem: 1, pe: pe, count: count,
		dstB: hostshmem.Bytes(dst), srcB: hostshmem.Bytes(src),
		dstOff: dst.Offset(), srcOff: src.Offset(), dstLen: dst.Size(), srcLen: src.Size(),
		dstSpace: dst.Space(), srcSpace: src.Space(),
	}, nil
}

// collective checks and describes a collective of n elements per member
// whose dst and src must hold dn and sn elements; same says dst may be
// exactly src.
func collective[T CollElem](s *Stream, kind opKind, team *hostshmem.Team, rop hostshmem.ReduceOp, dst, src hostshmem.Sym[T], n, dn, sn int, same bool) (*op, error) {
	name := kind.String()
	if err := teamOf(s, name, team); err != nil {
		return nil, err
	}
	if kind == opAllReduce || kind == opReduceScatter {
		switch rop {
		case hostshmem.OpSum, hostshmem.OpProd, hostshmem.OpMin, hostshmem.OpMax:
		default:
			return nil, fmt.Errorf("streams: %s: %w: reduction %v on streams (want sum, prod, min or max)", name, hostshmem.ErrInvalidArg, rop)
		}
		if err := hostshmem.CheckReduceOp[T](rop); err != nil {
			return nil, fmt.Errorf("streams: %s: %w", name, err)
		}
	}
	if n < 0 {
		return nil, fmt.Errorf("streams: %s: %w: %d elements", name, hostshmem.ErrInvalidArg, n)
	}
	if err := symErr(name, "dst", dst); err != nil {
		return nil, err
	}
	if err := symErr(name, "src", src); err != nil {
		return nil, err
	}
	if dn > dst.Len() {
		return nil, fmt.Errorf("streams: %s: %w: dst %v holds %d elements, the call needs %d", name, hostshmem.ErrOutOfRange, dst, dst.Len(), dn)
	}
	if sn > src.Len() {
		return nil, fmt.Errorf("streams: %s: %w: src %v holds %d elements, the call needs %d", name, hostshmem.ErrOutOfRange, src, src.Len(), sn)
	}
	if s.pe.DeviceMemory() != nil && (dst.Space() == hostshmem.Device || src.Space() == hostshmem.Device) {
		// GPU memory: only the device engine's kernels reduce it, and
		// only with both objects on the device heap.
		if _, cpu := s.eng.(*cpuEngine); cpu || dst.Space() != src.Space() {
			return nil, fmt.Errorf("streams: %s: %w: dst %v and src %v: a collective on GPU memory needs both on the device heap and a stream on the device engine (%v)", name, hostshmem.ErrInvalidArg, dst, src, s)
		}
	}
	sz := elemSize[T]()
	if overlap(dst.Offset(), uintptr(dn)*sz, src.Offset(), uintptr(sn)*sz) && !(same && dst.Offset() == src.Offset()) {
		return nil, fmt.Errorf("streams: %s: %w: dst %v and src %v overlap", name, hostshmem.ErrOverlap, dst, src)
	}
	return &op{
		kind: kind, dtype: dtypeOf[T](), elem: sz, reduce: rop, team: team, n: n,
		dst: dst, src: src,
		dstOff: dst.Offset(), srcOff: src.Offset(), dstLen: uintptr(dn) * sz, srcLen: uintptr(sn) * sz,
		dstSpace: dst.Space(), srcSpace: src.Space(),
	}, nil
}

// teamOf fails on a closed stream, the null team or a team of another PE.
func teamOf(s *Stream, name string, team *hostshmem.Team) error {
	if err := live(s, name); err != nil {
		return err
	}
	if team == nil {
		return fmt.Errorf("streams: %s: %w: null team", name, hostshmem.ErrTeam)
	}
	if team.PE() != s.pe {
		return fmt.Errorf("streams: %s: %w: %v belongs to PE %d, the stream to PE %d", name, hostshmem.ErrTeam, team, team.PE().MyPE(), s.pe.MyPE())
	}
	return nil
}

func teamSize(t *hostshmem.Team) int {
	if t == nil {
		return 0
	}
	return t.NPEs()
}

// signalWord checks a signal word: one valid, 8-byte aligned uint64.
func signalWord(s *Stream, name string, sig hostshmem.Sym[uint64]) error {
	if err := symErr(name, "sig", sig); err != nil {
		return err
	}
	if sig.Len() < 1 {
		return fmt.Errorf("streams: %s: %w: empty signal %v", name, hostshmem.ErrInvalidArg, sig)
	}
	if sig.Offset()%8 != 0 {
		return fmt.Errorf("streams: %s: %w: signal offset %d is not 8-byte aligned", name, hostshmem.ErrInvalidArg, sig.Offset())
	}
	return nil
}

func symErr[T hostshmem.Elem](name, what string, s hostshmem.Sym[T]) error {
	if err := s.Err(); err != nil {
		return fmt.Errorf("streams: %s: %s: %w", name, what, err)
	}
	return nil
}

// overlap reports whether bytes [a, a+an) and [b, b+bn) intersect.
func overlap(a, an, b, bn uintptr) bool {
	return an > 0 && bn > 0 && a < b+bn && b < a+an
}
