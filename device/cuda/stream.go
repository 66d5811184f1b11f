package cuda

import (
	"errors"
	"time"
)

// Stream is a CUDA stream: work queued on it runs in order. A nil *Stream
// passed to a method taking one means the legacy default stream (handle 0).
// Queueing from several goroutines is safe, but their relative order is
// whatever order the calls happen in.
type Stream struct {
	c *Context
	h uintptr
	// borrowed: the handle belongs to someone else (BorrowStream);
	// released: Destroy let go of it.
	borrowed, released bool
}

func (s *Stream) handle() uintptr {
	if s == nil {
		return 0
	}
	return s.h
}

const (
	streamNonBlocking                                    = 0x1 // CU_STREAM_NON_BLOCKING
	eventDisableTiming                                   = 0x2 // CU_EVENT_DISABLE_TIMING
	memOpWait32, memOpWait64, memOpWrite32, memOpWrite64 = 0, 1, 2, 3
)

// NewStream creates a stream (cuStreamCreate). A non-blocking stream does
// not synchronize with the legacy default stream (CU_STREAM_NON_BLOCKING).
// Destroy it with Destroy.
func (c *Context) NewStream(nonBlocking bool) (*Stream, error) {
	var flags uint32
	if nonBlocking {
		flags = streamNonBlocking
	}
	h, r := c.lib.streamCreate(c.ctx, flags)
	if r != 0 {
		return nil, c.err("cuStreamCreate", r)
	}
	return &Stream{c: c, h: h}, nil
}

// Context is the context the stream belongs to.
func (s *Stream) Context() *Context { return s.c }

// Destroy destroys the stream (cuStreamDestroy_v2). Work already queued
// still completes; the call does not wait for it. On a borrowed stream
// (BorrowStream) it only lets go of the handle, which stays its creator's.
func (s *Stream) Destroy() error {
	if s.borrowed {
		if s.released {
			return errClosed
		}
		s.released = true // the handle stays its creator's
		return nil
	}
	if s.h == 0 {
		return errClosed
	}
	h := s.h
	s.h = 0
	if r := s.c.lib.streamDestroy(s.c.ctx, h); r != 0 {
		return s.c.err("cuStreamDestroy_v2", r)
	}
	return nil
}

// Synchronize waits until all work queued on s has finished
// (cuStreamSynchronize). It blocks an OS thread while it waits.
func (s *Stream) Synchronize() error {
	if r := s.c.lib.streamSync(s.c.ctx, s.h); r != 0 {
		return s.c.err("cuStreamSynchronize", r)
	}
	return nil
}

// Query reports whether all work queued on s has finished (cuStreamQuery);
// "not yet" is (false, nil), not an error.
func (s *Stream) Query() (bool, error) {
	switch r := s.c.lib.streamQuery(s.c.ctx, s.h); r {
	case 0:
		return true, nil
	case codeNotReady:
		return false, nil
	default:
		return false, s.c.err("cuStreamQuery", r)
	}
}

// WaitEvent makes later work on s wait until the work captured by the last
// Record of e has finished (cuStreamWaitEvent). It does not block the host.
func (s *Stream) WaitEvent(e *Event) error {
	if r := s.c.lib.streamWaitEvent(s.c.ctx, s.h, e.h); r != 0 {
		return s.c.err("cuStreamWaitEvent", r)
	}
	return nil
}

// WaitFlags select the condition of WaitValue32/64
// (CUstreamWaitValue_flags).
type WaitFlags uint32

// Wait conditions; WaitFlush may be or-ed with one of the others.
const (
	// WaitGEQ waits until (int32)(*addr - v) >= 0 (int64 for 64 bits), a
	// cyclic comparison (CU_STREAM_WAIT_VALUE_GEQ).
	WaitGEQ WaitFlags = 0x0
	// WaitEQ waits until *addr == v.
	WaitEQ WaitFlags = 0x1
	// WaitAND waits until (*addr & v) != 0.
	WaitAND WaitFlags = 0x2
	// WaitNOR waits until ^(*addr | v) != 0 (needs device support).
	WaitNOR WaitFlags = 0x3
	// WaitFlush follows the wait with a flush of remote writes (needs
	// CU_DEVICE_ATTRIBUTE_CAN_FLUSH_REMOTE_WRITES).
	WaitFlush WaitFlags = 1 << 30
)

// WriteFlags modify WriteValue32/64 (CUstreamWriteValue_flags).
type WriteFlags uint32

// Write flags.
const (
	// WriteDefault: the write is preceded by a memory fence, like
	// __threadfence_system() scoped to the stream.
	WriteDefault WriteFlags = 0x0
	// WriteNoMemoryBarrier lets the write be reordered with earlier writes;
	// the _v2 entry points (Driver.MemOpsV2) do not support it.
	WriteNoMemoryBarrier WriteFlags = 0x1
)

// WaitValue32 makes later work on s wait until the 32-bit word at addr
// (device memory, or host memory through HostDevicePtr) meets the condition
// (cuStreamWaitValue32_v2). The host is not blocked.
func (s *Stream) WaitValue32(addr DevicePtr, v uint32, flags WaitFlags) error {
	if r := s.c.lib.streamMemOp(s.c.ctx, s.h, memOpWait32, uint64(addr), uint64(v), uint32(flags)); r != 0 {
		return s.c.err("cuStreamWaitValue32", r)
	}
	return nil
}

// WaitValue64 is WaitValue32 on an 8-byte aligned 64-bit word
// (cuStreamWaitValue64_v2); needs Info.CanUseStreamMemOps.
func (s *Stream) WaitValue64(addr DevicePtr, v uint64, flags WaitFlags) error {
	if r := s.c.lib.streamMemOp(s.c.ctx, s.h, memOpWait64, uint64(addr), v, uint32(flags)); r != 0 {
		return s.c.err("cuStreamWaitValue64", r)
	}
	return nil
}

// WriteValue32 queues a write of v to the 32-bit word at addr
// (cuStreamWriteValue32_v2).
func (s *Stream) WriteValue32(addr DevicePtr, v uint32, flags WriteFlags) error {
	if r := s.c.lib.streamMemOp(s.c.ctx, s.h, memOpWrite32, uint64(addr), uint64(v), uint32(flags)); r != 0 {
		return s.c.err("cuStreamWriteValue32", r)
	}
	return nil
}

// WriteValue64 queues a write of v to the 8-byte aligned 64-bit word at addr
// (cuStreamWriteValue64_v2); needs Info.CanUseStreamMemOps.
func (s *Stream) WriteValue64(addr DevicePtr, v uint64, flags WriteFlags) error {
	if r := s.c.lib.streamMemOp(s.c.ctx, s.h, memOpWrite64, uint64(addr), v, uint32(flags)); r != 0 {
		return s.c.err("cuStreamWriteValue64", r)
	}
	return nil
}

// Event marks a point in a stream (CUevent).
type Event struct {
	c      *Context
	h      uintptr
	timing bool
}

// NewEvent creates an event (cuEventCreate). Without timing the event is
// cheaper to record and wait on (CU_EVENT_DISABLE_TIMING), and Elapsed
// fails on it. Destroy it with Destroy.
func (c *Context) NewEvent(timing bool) (*Event, error) {
	var flags uint32
	if !timing {
		flags = eventDisableTiming
	}
	h, r := c.lib.eventCreate(c.ctx, flags)
	if r != 0 {
		return nil, c.err("cuEventCreate", r)
	}
	return &Event{c: c, h: h, timing: timing}, nil
}

// Destroy destroys the event (cuEventDestroy_v2).
func (e *Event) Destroy() error {
	if e.h == 0 {
		return errClosed
	}
	h := e.h
	e.h = 0
	if r := e.c.lib.eventDestroy(e.c.ctx, h); r != 0 {
		return e.c.err("cuEventDestroy_v2", r)
	}
	return nil
}

// Record captures the work queued on s so far (nil: the legacy default
// stream); the event completes when that work has (cuEventRecord).
func (e *Event) Record(s *Stream) error {
	if r := e.c.lib.eventRecord(e.c.ctx, e.h, s.handle()); r != 0 {
		return e.c.err("cuEventRecord", r)
	}
	return nil
}

// Synchronize waits until the event has completed (cuEventSynchronize).
func (e *Event) Synchronize() error {
	if r := e.c.lib.eventSync(e.c.ctx, e.h); r != 0 {
		return e.c.err("cuEventSynchronize", r)
	}
	return nil
}

// Query reports whether the event has completed (cuEventQuery); "not yet"
// is (false, nil). An event never recorded counts as completed.
func (e *Event) Query() (bool, error) {
	switch r := e.c.lib.eventQuery(e.c.ctx, e.h); r {
	case 0:
		return true, nil
	case codeNotReady:
		return false, nil
	default:
		return false, e.c.err("cuEventQuery", r)
	}
}

// Elapsed is the device time between two completed timing events
// (cuEventElapsedTime, about 0.5 µs resolution).
func Elapsed(start, end *Event) (time.Duration, error) {
	if !start.timing || !end.timing {
		return 0, errors.New("cuda: Elapsed needs events created with timing")
	}
	ms, r := start.c.lib.eventElapsed(start.c.ctx, start.h, end.h)
	if r != 0 {
		return 0, start.c.err("cuEventElapsedTime", r)
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}
