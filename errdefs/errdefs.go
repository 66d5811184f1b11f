// Package errdefs defines the kinds of error that every gshmem package
// shares: one sentinel per kind, matched with errors.Is whichever package
// returned the error. An invalid argument is errdefs.ErrInvalidArg from
// hostshmem, am, streams and device alike, so
//
//	errors.Is(err, hostshmem.ErrInvalidArg) // true for am's invalid arguments too
//
// holds: hostshmem.ErrInvalidArg, am.ErrInvalidArg and errdefs.ErrInvalidArg
// are one value.
//
// The package imports nothing but the standard library, so that any package
// of the module can use it, down to fabric and device/cuda. The standard
// library has the same shape (io/fs owns ErrClosed, ErrInvalid, ...; os
// re-exports them: os.ErrClosed == fs.ErrClosed), and the name is the one
// containerd and moby gave their package of shared error kinds.
//
// # How packages use it
//
//   - A package that had a sentinel of a shared kind re-exports the shared
//     one under its old name (var ErrClosed = errdefs.ErrClosed), so callers
//     keep compiling and every name of a kind matches every error of it. A
//     package does not add new names for the kinds it merely passes
//     through: those are matched here (or by any package's name for them).
//   - A sentinel finer than a kind is made with Refine, and matches both
//     itself and its kind: hostshmem.ErrFinalized and
//     hostshmem.ErrCtxDestroyed are ErrClosed; cuda.ErrNoDriver,
//     cuda.ErrNoDevice, device.ErrNoGPU and hostshmem.ErrNoDevice are
//     ErrUnavailable. errors.Is(err, errdefs.ErrClosed) is the predicate of
//     the whole family.
//   - A sentinel that belongs to no shared kind stays its package's own
//     (hostshmem.ErrHeapFull, ErrOverlap, ErrTeam and ErrBroken; am's
//     ErrCodec, ErrUnregistered, ErrHandler, ErrPanic, ErrDuplicate and
//     ErrTooLarge; streams.ErrWaitTimeout; cuda.ErrMissingSymbol), and so
//     do errors carrying values (fabric.PeerError, am.Error,
//     streams.OpError), which match the kinds through Is or Unwrap.
//
// Sentinels are allocated once, at initialization: returning one, or a
// wrapper of it made once (pre-boxed), does not allocate.
//
// # Messages
//
// An error's text is
//
//	<package>: <operation>: <kind>: <details>
//
// for example
//
//	gshmem: put: PE out of range: PE 7 not in [0, 2)
//	am: exec main.Hello: PE out of range: PE 7 not in [0, 2)
//	streams: quiet: closed: stream 3 of PE 0 (cpu)
//
// <package> is the package's name as its users import it (am, streams,
// device, cuda), with one exception: hostshmem writes "gshmem", the name of
// the runtime whose OpenSHMEM API it is (gshmem.PE is hostshmem.PE), and so
// does fabric.PeerError ("gshmem: PE 1 failed: ..."), a peer's death being
// news of the job rather than of its transport. <kind> is the sentinel's
// text; the shared kinds' texts name no package, since they belong to all
// of them. An error that wraps another package's error keeps that error's
// text whole after its own operation ("am: new world: queues: gshmem:
// calloc: collective call differs across PEs: ..."). The order of <kind>
// and <details> bends where a detail names the argument at fault first
// ("gshmem: p: Sym.At(10): out of range: object has 8 elements").
package errdefs

import "errors"

// The shared kinds. Each package's doc says which it returns and when;
// returned errors wrap these and name the operation and the values.
var (
	// ErrInvalidArg: an argument that does not fit the call (a size,
	// count, stride, alignment, operation, a nil or zero value, an option
	// out of its limits). Nothing was done.
	ErrInvalidArg = errors.New("invalid argument")
	// ErrInvalidPE: a PE number outside the job or the team the call
	// addresses. Nothing was done.
	ErrInvalidPE = errors.New("PE out of range")
	// ErrOutOfRange: an address or element range outside a symmetric
	// object, a symmetric heap, or the buffer that the call reads or
	// writes. Nothing was done.
	ErrOutOfRange = errors.New("out of range")
	// ErrClosed: the PE, World, stream, context or driver object was
	// used after it was finalized, closed or destroyed (or after it was
	// closed while the call waited).
	ErrClosed = errors.New("closed")
	// ErrMismatch: the PEs of a collective call made different calls (or
	// the same call with different arguments).
	ErrMismatch = errors.New("collective call differs across PEs")
	// ErrPeerDead: a PE this call depended on died or left the job. The
	// error is a *fabric.PeerError naming the PE, or wraps one.
	ErrPeerDead = errors.New("peer PE died")
	// ErrUnavailable: the call needs something this machine or this build
	// lacks: a GPU, a CUDA driver, cgo, a device heap. The CPU paths still
	// work.
	ErrUnavailable = errors.New("unavailable")
)

// Refine returns a new sentinel error whose text is text and which is a
// member of kind: errors.Is matches it both as itself and as kind (it
// unwraps to kind). Packages call it once, at initialization, for a
// sentinel finer than a shared kind:
//
//	var ErrFinalized = errdefs.Refine(errdefs.ErrClosed, "PE finalized")
//
// Each call makes a distinct sentinel.
func Refine(kind error, text string) error {
	return &refined{text: text, kind: kind}
}

// refined is a sentinel that belongs to a kind.
type refined struct {
	text string
	kind error
}

func (e *refined) Error() string { return e.text }

// Unwrap returns the kind.
func (e *refined) Unwrap() error { return e.kind }
