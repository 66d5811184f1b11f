package am

import (
	"errors"
	"fmt"

	"github.com/gshmem/gshmem/am/codec"
	"github.com/gshmem/gshmem/errdefs"
)

// Errors callers branch on (errors.Is). ErrInvalidArg and ErrClosed are
// the shared kinds of package errdefs: errors.Is(err, am.ErrClosed) also
// matches a closed stream or a finalized PE, and hostshmem.ErrInvalidArg an
// invalid argument of this package. The other sentinels are this package's
// own: they say how an AM failed, which no other package does.
var (
	// ErrInvalidArg (errdefs.ErrInvalidArg): a bad argument (nil registry,
	// empty name, a dropped Darc handle, a nil World, Future or context,
	// an Option beyond its limit); the message names the value. A PE out
	// of range is errdefs.ErrInvalidPE (hostshmem.ErrInvalidPE), and
	// also ErrInvalidArg, as it was before the kinds were shared.
	ErrInvalidArg = errdefs.ErrInvalidArg
	// ErrClosed (errdefs.ErrClosed): the World is closed (or was closed
	// while the call waited).
	ErrClosed = errdefs.ErrClosed

	// ErrDuplicate: a name or type registered twice.
	ErrDuplicate = errors.New("duplicate registration")
	// ErrCodec (codec.ErrCodec): a type the default codec cannot carry,
	// or a payload that failed to encode or decode.
	ErrCodec = codec.ErrCodec
	// ErrUnregistered: the AM's type is not registered (on the sender, or
	// on the receiver, which sends the error back).
	ErrUnregistered = errors.New("AM type not registered")
	// ErrHandler: the handler returned an error on the PE it ran on.
	ErrHandler = errors.New("AM handler failed")
	// ErrPanic: the handler panicked on the PE it ran on; that PE keeps
	// running.
	ErrPanic = errors.New("AM handler panicked")
	// ErrTooLarge: a payload larger than the large-message arena
	// (Options.ArenaBytes) or a frame larger than a queue.
	ErrTooLarge = errors.New("AM payload too large")
)

// errInvalidPE is what this package returns for a PE out of range:
// errdefs.ErrInvalidPE, as every package does, and also ErrInvalidArg,
// which it returned for one before the kinds were shared, so that callers'
// checks still hold. Its text is ErrInvalidPE's.
var errInvalidPE error = alsoKind{errdefs.ErrInvalidPE, ErrInvalidArg}

// alsoKind has kind's text; errors.Is matches it as kind and as also.
type alsoKind struct{ kind, also error }

func (e alsoKind) Error() string   { return e.kind.Error() }
func (e alsoKind) Unwrap() []error { return []error{e.kind, e.also} }

// Error is how an AM failed on the PE it ran on, as its sender sees it:
// the handler returned an error or panicked, its payload could not be
// decoded, or its type was not registered there. errors.Is matches Kind
// (ErrHandler, ErrPanic, ErrCodec, ErrUnregistered).
type Error struct {
	PE   int    // the PE the AM ran (or was to run) on
	AM   string // the AM's registered name
	Kind error  // ErrHandler, ErrPanic, ErrCodec or ErrUnregistered
	Msg  string // the handler's error text, the panic value and stack, ...
}

// Error says where the AM failed and why.
func (e *Error) Error() string {
	if e == nil {
		return "am: <nil *Error>"
	}
	return fmt.Sprintf("am: %s on PE %d: %v: %s", e.AM, e.PE, e.Kind, e.Msg)
}

// Is makes errors.Is(err, e.Kind) true (false for a nil *Error).
func (e *Error) Is(target error) bool { return e != nil && target == e.Kind }

// remote error kinds on the wire.
const (
	wireHandler = 1 + iota
	wirePanic
	wireCodec
	wireUnregistered
)

var wireKinds = map[byte]error{wireHandler: ErrHandler, wirePanic: ErrPanic, wireCodec: ErrCodec, wireUnregistered: ErrUnregistered}

func wireKind(err error) byte {
	switch {
	case errors.Is(err, ErrPanic):
		return wirePanic
	case errors.Is(err, ErrCodec):
		return wireCodec
	case errors.Is(err, ErrUnregistered):
		return wireUnregistered
	}
	return wireHandler
}
