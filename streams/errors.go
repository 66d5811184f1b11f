package streams

import (
	"errors"
	"fmt"

	"github.com/gshmem/gshmem/errdefs"
)

// Errors callers can branch on with errors.Is. ErrClosed is the shared
// kind errdefs.ErrClosed (errors.Is(err, streams.ErrClosed) also matches a
// closed am World or a finalized PE); ErrWaitTimeout is this package's own.
// Immediate errors from the enqueue functions also wrap the shared kinds
// errdefs.ErrInvalidPE, ErrOutOfRange and ErrInvalidArg (hostshmem's names
// for them are the same values) and hostshmem's own ErrOverlap and ErrTeam;
// errors at synchronisation wrap whatever the failed op returned, for
// example an error matching errdefs.ErrPeerDead (fabric.ErrPeerDead) or
// errdefs.ErrMismatch.
var (
	// ErrClosed (errdefs.ErrClosed): an op was enqueued on, or
	// Synchronize called on, a stream after Close.
	ErrClosed = errdefs.ErrClosed
	// ErrWaitTimeout: a waiting op ran past the stream's wait bound
	// (WithWaitTimeout); the op's error matches context.DeadlineExceeded
	// too.
	ErrWaitTimeout = errors.New("stream wait timed out")
	// ErrDeviceLost: the stream's GPU context failed for good (a sticky
	// CUDA error: an illegal address, a launch failure, ... see
	// cuda.IsSticky; the op's error wraps the driver's too). Nothing can
	// run on that context any more, for any PE of the process that uses
	// it: the op that faulted fails with it, every later enqueue on the
	// stream and every later Synchronize returns it, and the PE is
	// aborted as if it had died (before any of those calls returns it:
	// peers see the PE dead, and a Finalize after it does nothing).
	ErrDeviceLost = errors.New("GPU context lost (a sticky CUDA error; every PE of this process on that GPU is lost)")
)

// OpError is an op that failed after it was enqueued, as Synchronize,
// Event.Synchronize and Close report it. Use errors.As to get it; it
// unwraps to the op's own error.
type OpError struct {
	Stream int    // the stream's number (Stream.ID)
	PE     int    // the PE the stream belongs to
	Seq    uint64 // the op's position on its stream (1 = the first op enqueued)
	Op     string // the op's name: "put", "allreduce", "signal_wait", "go", ...
	Args   string // the op with its arguments, e.g. "allreduce(sum, float32, n=8, ...)"
	// Skipped is the number of ops enqueued after this one that the
	// stream skipped because of it (see the package doc, Errors).
	Skipped int
	Err     error // what the op returned
}

// Error names the stream, the op with its arguments, the op's error and
// how many later ops were skipped.
func (e *OpError) Error() string {
	s := fmt.Sprintf("streams: stream %d of PE %d: op %d %s: %v", e.Stream, e.PE, e.Seq, e.Args, e.Err)
	switch e.Skipped {
	case 0:
	case 1:
		s += " (1 later op skipped)"
	default:
		s += fmt.Sprintf(" (%d later ops skipped)", e.Skipped)
	}
	return s
}

// Unwrap returns the op's own error.
func (e *OpError) Unwrap() error { return e.Err }
