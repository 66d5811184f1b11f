package streams

import (
	"context"
	"fmt"
	"strings"

	"github.com/gshmem/gshmem/hostshmem"
)

// This file is the seam between the stream machinery (stream.go: queue,
// worker, events, errors) and the engines that carry operations out: the
// CPU engine (cpu.go) and a device engine (cuda.go). An engine sees only
// op descriptors, in stream order, one at a time, on the stream's worker
// goroutine.

// opKind says what an op does.
type opKind uint8

const (
	opPut           opKind = iota + 1 // copy src (local) to dst on pe
	opGet                             // copy src on pe to dst (local)
	opPutSignal                       // opPut, then update sig on pe
	opSignalWait                      // wait until local sig cmp sigVal holds
	opQuiet                           // complete the stream's puts and gets
	opBarrier                         // quiet, then barrier over team
	opAllReduce                       // dst = reduce(src) over team, n elements
	opReduceScatter                   // dst = block me of reduce(src), n per member
	opAllGather                       // dst = src of every member in order, n each
	opAllToAll                        // block j of src to member j, n each
	opBroadcast                       // dst = src of member pe (the root), n elements
	opGo                              // run fn on the host
	opRecord                          // an Event (event) is reached
	opWaitEvent                       // wait until event (of another stream) completed
	opLaunch                          // launch a CUDA kernel (device engines only)
)

var opNames = [...]string{"", "put", "get", "put_signal", "signal_wait", "quiet", "barrier",
	"allreduce", "reduce_scatter", "allgather", "alltoall", "broadcast", "go", "record", "wait_event", "launch"}

// String is the op's name as errors show it, e.g. "allreduce".
func (k opKind) String() string {
	if int(k) < len(opNames) && k != 0 {
		return opNames[k]
	}
	return fmt.Sprintf("opKind(%d)", int(k))
}

// waits reports whether an op of kind k may block on other PEs or streams:
// those get the stream's wait bound (WithWaitTimeout).
func (k opKind) waits() bool {
	switch k {
	case opSignalWait, opBarrier, opAllReduce, opReduceScatter, opAllGather, opAllToAll, opBroadcast, opWaitEvent:
		return true
	}
	return false
}

// kernelFails reports whether an op of kind k runs a runtime kernel that
// records failures in the stream's status word (a device engine): a wait
// that gave up, a bad team.
func (k opKind) kernelFails() bool {
	switch k {
	case opPutSignal, opSignalWait, opBarrier, opAllReduce, opReduceScatter, opAllGather, opAllToAll, opBroadcast:
		return true
	}
	return false
}

// dtype is the element type of a collective, for engines that pick a
// kernel by type.
type dtype uint8

const (
	dtNone dtype = iota // put, get and the rest: bytes
	dtFloat32
	dtFloat16
	dtBFloat16
	dtInt32
	dtInt64
)

var dtypeNames = [...]string{"bytes", "float32", "float16", "bfloat16", "int32", "int64"}

func (d dtype) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// dtypeOf is T's dtype.
func dtypeOf[T CollElem]() dtype {
	var z T
	switch any(z).(type) {
	case float32:
		return dtFloat32
	case hostshmem.Float16:
		return dtFloat16
	case hostshmem.BFloat16:
		return dtBFloat16
	case int32:
		return dtInt32
	case int64:
		return dtInt64
	}
	panic("unreachable: CollElem has five types")
}

// op describes one stream operation. The enqueue functions fill it in
// completely and validate it before it is queued; afterwards it is read
// only, by the worker and the engine. Offsets are byte offsets in the
// symmetric region (the same on every PE) and lengths are bytes, so a
// device engine can translate them through its table of peer base
// addresses without knowing T (an offset in the device heap is the offset
// minus hostshmem.PE.DeviceOffset). The typed fields (dst, src, the byte Syms)
// are for engines that call hostshmem, like the CPU engine.
type op struct {
	seq  uint64 // position on its stream: 1 for the first op enqueued
	kind opKind

	// Data movement: put, get, put_signal (dst and src of count bytes) and
	// the collectives (dst and src typed, n elements per member).
	dtype          dtype               // collectives; dtNone otherwise
	elem           uintptr             // bytes per element (1 for dtNone)
	dstSpace       hostshmem.Space     // the heap of dst: Host or Device
	srcSpace       hostshmem.Space     // the heap of src
	dstOff, srcOff uintptr             // byte offsets of dst and src
	dstLen, srcLen uintptr             // their sizes in bytes
	count          uintptr             // bytes moved by put, get, put_signal
	dstB, srcB     hostshmem.Sym[byte] // put, get, put_signal: dst and src as bytes
	dst, src       any                 // collectives: hostshmem.Sym[T] of the dtype
	n              int                 // collectives: elements per member
	reduce         hostshmem.ReduceOp  // allreduce, reduce_scatter
	team           *hostshmem.Team     // barrier and collectives
	pe             int                 // put, get, put_signal: target PE; broadcast: root (team index)
	sig            hostshmem.Sym[uint64]
	sigOff         uintptr                     // put_signal, signal_wait: the signal word
	sigVal         uint64                      // put_signal: the value; signal_wait: the comparand
	sigOp          hostshmem.SignalOp          // put_signal
	cmp            hostshmem.Cmp               // signal_wait
	fn             func(context.Context) error // go
	event          *Event                      // record: the event reached; wait_event: the event awaited
	launch         *launch                     // launch
}

// String describes the op with its arguments, as errors show it, e.g.
// "allreduce(sum, float32, n=1024, dst=Sym[float32]{off=65536 len=1024}, ...)".
func (o *op) String() string {
	var b strings.Builder
	b.WriteString(o.kind.String())
	b.WriteByte('(')
	switch o.kind {
	case opPut, opGet:
		fmt.Fprintf(&b, "dst=%v, src=%v, %d bytes, pe=%d", o.dstB, o.srcB, o.count, o.pe)
	case opPutSignal:
		fmt.Fprintf(&b, "dst=%v, src=%v, %d bytes, sig=%v, %v %d, pe=%d", o.dstB, o.srcB, o.count, o.sig, sigOpName(o.sigOp), o.sigVal, o.pe)
	case opSignalWait:
		fmt.Fprintf(&b, "sig=%v %v %d", o.sig, o.cmp, o.sigVal)
	case opBarrier:
		fmt.Fprintf(&b, "team=%v", o.team)
	case opAllReduce, opReduceScatter:
		fmt.Fprintf(&b, "%v, %v, n=%d, dst=%v, src=%v, team=%v", o.reduce, o.dtype, o.n, o.dst, o.src, o.team)
	case opAllGather, opAllToAll:
		fmt.Fprintf(&b, "%v, n=%d, dst=%v, src=%v, team=%v", o.dtype, o.n, o.dst, o.src, o.team)
	case opBroadcast:
		fmt.Fprintf(&b, "%v, n=%d, dst=%v, src=%v, root=%d, team=%v", o.dtype, o.n, o.dst, o.src, o.pe, o.team)
	case opRecord, opWaitEvent:
		fmt.Fprintf(&b, "%v", o.event)
	case opLaunch:
		fmt.Fprintf(&b, "%s, grid=%v, block=%v, shared=%d, %d args", o.launch.fn.Name(), o.launch.grid, o.launch.block, o.launch.shared, len(o.launch.args))
	}
	b.WriteByte(')')
	return b.String()
}

func sigOpName(op hostshmem.SignalOp) string {
	switch op {
	case hostshmem.SignalSet:
		return "set"
	case hostshmem.SignalAdd:
		return "add"
	}
	return fmt.Sprintf("SignalOp(%d)", int(op))
}

// engine carries out a stream's ops. The stream's worker goroutine is its
// only caller: exec for one op at a time in sequence order, progress,
// check, abort and settle while ops are in flight, and close once, after
// the last op.
//
// An engine that runs ops to completion on the host (the CPU engine)
// returns queued false from exec: the op is complete when exec returns. An
// engine that hands ops to a device queue (a CUstream) may return queued
// true: the op is in flight, and the worker counts it complete (Events and
// Synchronize see it) only once progress says so. Before it execs an op
// for which onHost is true, the worker waits until every op in flight has
// completed; meanwhile it polls progress (and check, less often), ends the
// waits of the op running on the device with abort when its wait bound
// passes, its context ends or a peer dies, and calls settle once nothing
// is in flight. It never holds the stream's lock while it calls the
// engine.
type engine interface {
	// name is "cpu" or the device engine's name ("cuda").
	name() string
	// onHost reports whether o would run on the worker (so after the ops
	// in flight have completed) rather than be queued on the device.
	onHost(o *op) bool
	// exec performs o, or queues it on the engine's device. ctx bounds
	// blocking ops that run on the host (the stream's context and, for
	// ops whose kind waits, its wait bound). An error is o's failure; the
	// worker records it with o named. exec must not panic on a valid op;
	// a panic in an opGo's fn is the worker's to recover.
	exec(ctx context.Context, o *op) (queued bool, err error)
	// progress reports, without blocking, the seq of the last queued op
	// that has completed (queued ops complete in order; 0 before any) and
	// a failure the engine's device code recorded since the last settle
	// (nil if none): it belongs to an op in flight before this call.
	progress() (done uint64, failed error)
	// check asks the device whether it can go on: an error says it
	// cannot (a fault); the ops after progress's done will not complete.
	// It costs more than progress (a driver call).
	check() error
	// abort makes the device-side waits of the queued ops give up;
	// peerDead says why (a peer died: every wait of the PE gives up, for
	// good). A stream's own abort ends at the next settle.
	abort(peerDead bool)
	// settle is called when nothing is in flight: it clears what abort
	// and recorded failures left, for the ops to come.
	settle()
	// close releases the engine's resources; nothing is in flight, unless
	// the worker gave up on a device that would not drain (then close
	// must not free what the device may still write).
	close() error
}

// newDeviceEngine, when a device engine is built in (cuda.go sets it in an
// init function), makes the device engine for a new stream of pe; it
// returns a nil engine and nil error when pe has no device, and New then
// uses the CPU engine. WithCPU skips it.
var newDeviceEngine func(pe *hostshmem.PE, c *config) (engine, error)
