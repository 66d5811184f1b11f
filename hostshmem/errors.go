package hostshmem

import (
	"errors"
	"fmt"
)

// Errors callers can branch on with errors.Is. Returned errors wrap them and
// name the operation and the values involved.
var (
	// ErrInvalidPE: a PE number outside [0, NPEs).
	ErrInvalidPE = errors.New("PE out of range")
	// ErrOutOfRange: an address or element range outside a symmetric
	// object or the symmetric heap.
	ErrOutOfRange = errors.New("out of range")
	// ErrInvalidArg: a size, count, stride or alignment that does not fit.
	ErrInvalidArg = errors.New("invalid argument")
	// ErrHeapFull: the symmetric heap has no free block large enough.
	ErrHeapFull = errors.New("symmetric heap full")
	// ErrMismatch: PEs made different collective calls.
	ErrMismatch = errors.New("collective call differs across PEs")
	// ErrOverlap: source and destination overlap where they must not.
	ErrOverlap = errors.New("overlapping buffers")
	// ErrFinalized: the PE was used after Finalize.
	ErrFinalized = errors.New("PE finalized")
)

func errPE(op string, pe, n int) error {
	return fmt.Errorf("gshmem: %s: %w: PE %d not in [0, %d)", op, ErrInvalidPE, pe, n)
}

func errFinalized(op string) error {
	return fmt.Errorf("gshmem: %s: %w", op, ErrFinalized)
}
