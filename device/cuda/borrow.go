package cuda

// BorrowStream returns a Stream for h, a CUstream of c's context that
// other code created (the CUDA runtime's cudaStream_t is the same handle):
// work queued through it runs on h, in order with what its creator queues
// there. 0 is the legacy default stream. The Stream does not own h: its
// Destroy lets go of h without destroying it, and h must stay alive (its
// creator must not destroy it) until the work queued through the Stream
// has completed and Destroy has been called.
func (c *Context) BorrowStream(h uintptr) *Stream {
	return &Stream{c: c, h: h, borrowed: true}
}

// Handle is the stream's CUstream handle (0: the legacy default stream),
// for code that queues work on it directly (a CUDA runtime kernel launch).
func (s *Stream) Handle() uintptr { return s.handle() }

// Borrowed reports whether s was made by BorrowStream: its handle is not
// its own.
func (s *Stream) Borrowed() bool { return s != nil && s.borrowed }
