package am

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/gshmem/gshmem/am/codec"
)

// Hooks for packages built on am (package array's distributed arrays):
// per-World state, a Darc value told when its Darc is freed, and types
// that travel in an AM as a Darc handle.

// Freer is implemented by a Darc's value type T (or by *T) whose
// instances hold something to release when the Darc is freed. DarcFreed
// runs once on each member PE when the Darc's last reference anywhere is
// gone (every handle dropped, no AM carrying one in flight) and that PE's
// instance is freed: on the goroutine that frees it, which is the one
// dropping the last reference or a handler goroutine draining the message
// that says so. It must return quickly and not block; nothing uses the
// instance afterwards. A Darc whose World closes or aborts first is never
// freed, and DarcFreed does not run. (Package array frees an array's
// symmetric memory, collectively, at the next collective array call
// after its Darc's DarcFreed.)
type Freer interface{ DarcFreed() }

// freerOf returns the Freer of a Darc's value, val (a *T): *T's, else
// T's, else nil.
func freerOf(val any) Freer {
	if f, ok := val.(Freer); ok {
		return f
	}
	v := reflect.ValueOf(val)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	if f, ok := v.Elem().Interface().(Freer); ok {
		return f
	}
	return nil
}

// attachments is a World's Attach map.
type attachments struct {
	sync.Mutex
	m map[any]any
}

// Attach returns the value w keeps under key, storing mk()'s result there
// first when there is none: a package built on am keeps its per-World
// state this way (package array keeps its arrays awaiting a collective
// free). mk runs at most once per key and World, under a lock of w's (it
// must not call Attach). key must be comparable, like a map key: use an
// unexported type of the caller's package, as for context.WithValue. It
// returns nil for a nil World, a nil mk or a key that is not comparable.
// The value stays after Close.
func (w *World) Attach(key any, mk func() any) any {
	if w == nil || mk == nil || key == nil || !reflect.TypeOf(key).Comparable() {
		return nil
	}
	w.attach.Lock()
	defer w.attach.Unlock()
	if v, ok := w.attach.m[key]; ok {
		return v
	}
	if w.attach.m == nil {
		w.attach.m = map[any]any{}
	}
	v := mk()
	w.attach.m[key] = v
	return v
}

// Carrier is implemented, on a pointer type *C, by a type whose values
// travel in an AM as one Darc handle and a fixed number of bytes: a field
// of type *C in an AM (or a slice element, a map value...) encodes as a
// reference to the Darc, which holds a reference until the reply as a
// Darc field does, followed by the bytes Carried appends; on the
// receiver it decodes into a new C that Land sets from the receiver's
// handle of the Darc. That handle is valid while the handler runs, and
// the runtime drops it when the handler returns: C's methods must copy
// it (Clone) to keep it. Package array's arrays travel this way, as their
// Darc and their sub-array range.
type Carrier interface {
	// Carried returns the Darc handle the value travels as, a *Darc[X],
	// *LocalRwDarc[X] or *GlobalRwDarc[X] of the same type for every
	// value of C (on a zero C: a nil handle of that type), and appends the
	// value's bytes to b, the same number for every value (a zero C's
	// included). A nil handle fails the encoding, as does a dropped one.
	Carried(b []byte) (darc any, out []byte)
	// Land sets a new zero C, on the receiver, whose World is w, from
	// darc, the receiver's handle of the Darc (of Carried's type), and the
	// bytes Carried appended. An error fails the AM's decoding.
	Land(w *World, darc any, b []byte) error
}

var carrierIface = reflect.TypeFor[Carrier]()

// carrierExt is darcExt for a Carrier pointer type t.
func carrierExt(t reflect.Type) *codec.Ext {
	zero := reflect.New(t.Elem()).Interface().(Carrier)
	d, extra := zero.Carried(nil)
	dt := reflect.TypeOf(d)
	n := len(extra)
	if dt == nil || dt.Kind() != reflect.Pointer || !dt.Implements(darcCodecIface) {
		bad := fmt.Errorf("am: %v is a Carrier whose handle, %v, is not a Darc handle", t, dt)
		return &codec.Ext{
			Size:   darcWireBytes + n,
			Encode: func(e *codec.Encoder, _ reflect.Value) { e.Fail(bad) },
			Decode: func(d *codec.Decoder, _ reflect.Value) { d.Fail(bad) },
		}
	}
	return &codec.Ext{
		Size: darcWireBytes + n,
		Encode: func(e *codec.Encoder, v reflect.Value) {
			if v.IsNil() {
				e.Fail(fmt.Errorf("am: a nil %v cannot travel in an AM", t))
				return
			}
			d, b := v.Interface().(Carrier).Carried(nil)
			dc, ok := d.(darcCodecType)
			if !ok || reflect.ValueOf(d).IsNil() || reflect.TypeOf(d) != dt {
				e.Fail(fmt.Errorf("am: %v: %w: its Darc handle is %T (want a non-nil %v)", t, ErrInvalidArg, d, dt))
				return
			}
			if len(b) != n {
				e.Fail(fmt.Errorf("am: %v: %w: it carries %d bytes (want %d, as a zero value's)", t, ErrInvalidArg, len(b), n))
				return
			}
			dc.encodeDarc(e)
			if e.Err() == nil {
				e.Buf = append(e.Buf, b...)
			}
		},
		Decode: func(d *codec.Decoder, v reflect.Value) {
			h := reflect.New(dt.Elem())
			dc := h.Interface().(darcCodecType)
			dc.decodeDarc(d)
			b := d.Take(n)
			if b == nil || dc.handle().inst == nil {
				return // the decoder recorded why
			}
			p := reflect.New(t.Elem())
			wd, _ := d.Ctx.(*decoder)
			if wd == nil { // decodeDarc failed already
				return
			}
			if err := p.Interface().(Carrier).Land(wd.w, h.Interface(), b); err != nil {
				d.Fail(fmt.Errorf("am: %v: land: %w", t, err))
				return
			}
			v.Set(p)
		},
	}
}
