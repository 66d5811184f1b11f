package am

import (
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/gshmem/gshmem/am/codec"
)

// Handler is an active message: a value of a registered type whose Exec
// runs on the PE it is sent to and returns a result of type R to the PE
// that sent it. Use Unit as R for an AM that returns nothing.
type Handler[R any] interface {
	Exec(ctx *Context) (R, error)
}

// Unit is the result type of AMs that return nothing.
type Unit = struct{}

// Registry maps stable names to AM types. Every PE of a job must register
// the same types under the same names (all PEs run the same binary: do it
// in init). A Registry is safe for concurrent use; a World reads it for
// every message it receives, so types may be added after World creation,
// but an AM whose type a receiver does not know comes back to its sender
// as an error naming it (ErrUnregistered).
type Registry struct {
	mu   sync.Mutex                // serializes Register
	snap atomic.Pointer[regTables] // read without a lock on every launch and message
}

// regTables is one immutable version of a Registry's tables: Register
// copies them, adds its entry and publishes the copy (registration is
// rare, lookups are per message).
type regTables struct {
	byName map[string]*entry
	byID   map[uint64]*entry
	byType map[reflect.Type]*entry
}

// NewRegistry returns an empty Registry. A zero Registry is empty too.
func NewRegistry() *Registry {
	r := &Registry{}
	r.snap.Store(emptyTables)
	return r
}

var emptyTables = &regTables{byName: map[string]*entry{}, byID: map[uint64]*entry{}, byType: map[reflect.Type]*entry{}}

// tables returns r's current tables (empty for a nil or zero Registry).
func (r *Registry) tables() *regTables {
	if r == nil {
		return emptyTables
	}
	if t := r.snap.Load(); t != nil {
		return t
	}
	return emptyTables
}

// entry is what the runtime knows about one registered AM type.
type entry struct {
	name   string
	id     uint64 // FNV-1a of name: the type's name on the wire
	typ    reflect.Type
	arg    *codec.Codec // the AM value's codec
	res    *codec.Codec // the result's codec
	isNext bool         // R is a Next[X]: the result is an AM run back on the origin
	// exec runs the handler on a decoded (or local) AM value.
	exec func(ctx *Context, a any) (any, error)
	// mkNext wraps a returned AM's result in R (for isNext entries).
	mkNext func(v any) any
}

// Register records AM type A under name in reg. A's handler returns R. It
// is an error to register a name or a type twice, or a type the default
// codec cannot carry (see the package doc, Payloads); the error names the
// type and the field.
func Register[A Handler[R], R any](reg *Registry, name string) error {
	if reg == nil {
		return fmt.Errorf("am: register %q: %w: nil registry", name, ErrInvalidArg)
	}
	if name == "" {
		return fmt.Errorf("am: register %v: %w: empty name", reflect.TypeFor[A](), ErrInvalidArg)
	}
	t := reflect.TypeFor[A]()
	argc, err := codec.For[A](wire())
	if err != nil {
		return fmt.Errorf("am: register %q (%v): %w", name, t, err)
	}
	rt := reflect.TypeFor[R]()
	var zr R
	nx, isNext := any(zr).(nextResult)
	var resc *codec.Codec
	if !isNext {
		if resc, err = codec.For[R](wire()); err != nil {
			return fmt.Errorf("am: register %q (%v): result %v: %w", name, t, rt, err)
		}
		if resc.HasExt() {
			return fmt.Errorf("am: register %q (%v): result %v: %w: a result cannot carry a Darc (send it in an AM instead)", name, t, rt, ErrCodec)
		}
	}
	e := &entry{
		name: name, id: nameID(name), typ: t, arg: argc, res: resc, isNext: isNext,
		exec: func(ctx *Context, a any) (any, error) {
			r, err := a.(A).Exec(ctx)
			return r, err
		},
	}
	if isNext {
		e.mkNext = nx.wrap
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	cur := reg.tables()
	if old := cur.byName[name]; old != nil {
		return fmt.Errorf("am: register %q (%v): %w: already registered for %v", name, t, ErrDuplicate, old.typ)
	}
	if old := cur.byType[t]; old != nil {
		return fmt.Errorf("am: register %q (%v): %w: type already registered as %q", name, t, ErrDuplicate, old.name)
	}
	if old := cur.byID[e.id]; old != nil {
		return fmt.Errorf("am: register %q (%v): %w: name hashes like %q; pick another name", name, t, ErrDuplicate, old.name)
	}
	next := &regTables{byName: maps.Clone(cur.byName), byID: maps.Clone(cur.byID), byType: maps.Clone(cur.byType)}
	next.byName[name], next.byType[t], next.byID[e.id] = e, e, e
	reg.snap.Store(next)
	return nil
}

// MustRegister is Register that panics on error, for init functions (a
// registration error is a programming error found at start-up).
func MustRegister[A Handler[R], R any](reg *Registry, name string) {
	if err := Register[A, R](reg, name); err != nil {
		panic(err)
	}
}

// Names returns the registered names (in no particular order; none for a
// nil Registry).
func (r *Registry) Names() []string {
	byName := r.tables().byName
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	return out
}

func (r *Registry) lookupType(t reflect.Type) *entry { return r.tables().byType[t] }

func (r *Registry) lookupID(id uint64) *entry { return r.tables().byID[id] }

func nameID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}
