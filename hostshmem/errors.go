package hostshmem

import (
	"errors"
	"fmt"

	"github.com/gshmem/gshmem/errdefs"
)

// Errors callers can branch on with errors.Is. Returned errors wrap them and
// name the operation and the values involved ("gshmem: put: PE out of range:
// PE 7 not in [0, 2)"). The shared kinds are package errdefs's, under their
// old names here: errors.Is(err, hostshmem.ErrInvalidArg) also matches an
// invalid argument from am, streams or device, and am's, streams' and
// errdefs's names match this package's errors.
var (
	// ErrInvalidPE (errdefs.ErrInvalidPE): a PE number outside [0, NPEs),
	// or a root outside its team.
	ErrInvalidPE = errdefs.ErrInvalidPE
	// ErrOutOfRange (errdefs.ErrOutOfRange): an address or element range
	// outside a symmetric object or the symmetric heap.
	ErrOutOfRange = errdefs.ErrOutOfRange
	// ErrInvalidArg (errdefs.ErrInvalidArg): a size, count, stride or
	// alignment that does not fit.
	ErrInvalidArg = errdefs.ErrInvalidArg
	// ErrMismatch (errdefs.ErrMismatch): PEs made different collective
	// calls.
	ErrMismatch = errdefs.ErrMismatch

	// ErrFinalized: the PE was used after Finalize. It is an
	// errdefs.ErrClosed.
	ErrFinalized = errdefs.Refine(errdefs.ErrClosed, "PE finalized")
	// ErrCtxDestroyed: a context was used after Destroy (or is the zero
	// Ctx, which no CtxCreate made). It is an errdefs.ErrClosed.
	ErrCtxDestroyed = errdefs.Refine(errdefs.ErrClosed, "context destroyed")
	// ErrNoDevice: a device-heap operation on a PE without a device heap
	// (one made by hostshmem.New without Config.DeviceHeap; gshmem.Run and
	// Init always give one) or whose GPU heap was not attached yet. It is
	// an errdefs.ErrUnavailable.
	ErrNoDevice = errdefs.Refine(errdefs.ErrUnavailable, "no device heap")

	// ErrHeapFull: the symmetric heap has no free block large enough.
	// Only the allocator returns it; it is no shared kind.
	ErrHeapFull = errors.New("symmetric heap full")
	// ErrOverlap: source and destination overlap where they must not. An
	// RMA rule of this package's (streams and algo return it too); it is
	// no shared kind.
	ErrOverlap = errors.New("overlapping buffers")
)

func errPE(op string, pe, n int) error {
	return fmt.Errorf("gshmem: %s: %w: PE %d not in [0, %d)", op, ErrInvalidPE, pe, n)
}

func errFinalized(op string) error {
	return fmt.Errorf("gshmem: %s: %w", op, ErrFinalized)
}
