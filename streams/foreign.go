package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/gshmem/gshmem/internal/cause"
)

// What a program that queues work on a stream's CUstream itself needs
// (CUDA runtime code, the C interface's *_on_stream functions): running a
// Stream on a CUstream it made (WithCUstream), the handle of a stream's
// CUstream (CUstream), and a way to know that the ops enqueued so far are
// on the CUstream before it launches its own kernels there (Submit).

// WithCUstream runs the stream on h, a CUstream (a cudaStream_t: the same
// handle) of the PE's GPU that the caller made, in the GPU's primary
// context (the CUDA runtime's), instead of a stream of the stream's own; 0
// is the legacy default stream. The Stream borrows h: Close waits for the
// ops enqueued through it and lets go of h without destroying it, and the
// caller must keep h alive until then. Work the caller queues on h itself
// is ordered with the stream's ops as it reaches h: call Submit before
// launching a kernel that must run after the ops enqueued so far, and
// note that ops the engine runs on the host (those on host objects, Go
// functions) wait until h has drained. New fails with an error matching
// device.ErrNoGPU when the PE's device heap is not on a GPU (no CUstream
// can exist there), and with ErrInvalidArg together with WithCPU.
func WithCUstream(h uintptr) Option {
	return func(c *config) { c.cu = &h }
}

// CUstream returns the handle of the CUstream s runs on (its own, or the
// one WithCUstream gave it) and true; 0 and false on the CPU engine.
// Work queued on the handle directly (a kernel launch) runs in stream
// order with what the stream has submitted to it (Submit).
func (s *Stream) CUstream() (uintptr, bool) {
	if e, ok := s.eng.(*cudaEngine); ok {
		return e.cs.Handle(), true
	}
	return 0, false
}

// Submit waits until every op enqueued on s before the call is queued on
// the stream's CUstream or has finished (the ops the engine runs on the
// host have run), so that work the caller then queues on the CUstream
// itself (CUstream) runs after them. It does not wait for the device to
// run them. On the CPU engine, which has no CUstream, it returns at once.
// If ctx ends first it returns ctx's error, wrapped. Failures are
// reported by Synchronize, as ever.
func (s *Stream) Submit(ctx context.Context) error {
	if _, ok := s.eng.(*cudaEngine); !ok {
		return live(s, "submit")
	}
	e, err := s.Record()
	if err != nil {
		return err
	}
	select {
	case <-e.handled:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("streams: submit %v: waiting for op %d to be queued: %w", s, e.seq, cause.Err(ctx))
	}
}

// drain waits until the CUstream has no work left: the ops the worker
// queued (the worker's flush has waited for them) and whatever the
// program queued on the handle itself (CUstream), which a host op must
// come after too. ctx bounds the wait.
func (e *cudaEngine) drain(ctx context.Context) error {
	pause := time.Microsecond
	for {
		done, err := e.cs.Query()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the work queued on the CUstream before it: %w", cause.Err(ctx))
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Millisecond)
	}
}
