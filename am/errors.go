package am

import (
	"errors"
	"fmt"
)

// Errors callers branch on (errors.Is).
var (
	// ErrInvalidArg: a bad argument (nil registry, empty name, PE out of
	// range, a dropped Darc handle); the message names the value.
	ErrInvalidArg = errors.New("invalid argument")
	// ErrDuplicate: a name or type registered twice.
	ErrDuplicate = errors.New("duplicate registration")
	// ErrCodec: a type the default codec cannot carry, or a payload that
	// failed to encode or decode.
	ErrCodec = errors.New("cannot encode")
	// ErrUnregistered: the AM's type is not registered (on the sender, or
	// on the receiver, which sends the error back).
	ErrUnregistered = errors.New("AM type not registered")
	// ErrHandler: the handler returned an error on the PE it ran on.
	ErrHandler = errors.New("AM handler failed")
	// ErrPanic: the handler panicked on the PE it ran on; that PE keeps
	// running.
	ErrPanic = errors.New("AM handler panicked")
	// ErrClosed: the World is closed.
	ErrClosed = errors.New("am world closed")
	// ErrTooLarge: a payload larger than the large-message arena.
	ErrTooLarge = errors.New("AM payload too large")
)

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
