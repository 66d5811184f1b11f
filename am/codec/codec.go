// Package codec is the active messages' wire format: it compiles, once per
// Go type, a codec that encodes a value of that type by appending bytes to
// a buffer and decodes it back, without reflection on the hot path where
// the type allows.
//
// Types that implement encoding.BinaryAppender (on the value) and
// encoding.BinaryUnmarshaler (on the pointer) encode themselves (the fast
// path, for hand-written or generated code). Every other type gets a
// compiled reflective codec: numbers little-endian, lengths as uvarints,
// structs field by field (exported fields only), slices (of numbers: in
// one copy), arrays, maps, and pointers with a nil flag. Interfaces,
// channels and functions are refused when the codec is compiled, with an
// error matching ErrCodec that names the field.
//
// A value nests at most MaxDepth pointers, slices and maps deep: a deeper
// one, or one that points to itself, fails to encode (and bytes that nest
// deeper fail to decode) instead of overflowing the stack.
//
// The caller may encode some types itself (package am's Darc handles):
// Config.Ext names them, and their encoders reach the caller's state
// through Encoder.Ctx and Decoder.Ctx. One slice type (Config.InPlace, am's
// Bytes) may decode in place: pointing into the bytes being decoded rather
// than into a copy, when the Decoder allows it.
//
// A Codec is immutable once compiled and safe for concurrent use; an
// Encoder or a Decoder belongs to one goroutine at a time.
package codec

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"unsafe"
)

// Errors callers branch on (errors.Is).
var (
	// ErrCodec: a type a codec cannot carry (from Compile and For). Package
	// am's ErrCodec is this error.
	ErrCodec = errors.New("cannot encode")
	// ErrShort: bytes that end before the value they encode (from
	// Decode).
	ErrShort = errors.New("message truncated")
)

// MaxDepth bounds how deep a value nests in pointers, slices and maps (the
// only kinds through which a type can contain itself): deeper, and a
// cyclic value (one that points to itself), fail to encode and to decode
// instead of overflowing the stack. A linked list of more than MaxDepth
// elements is too deep too.
const MaxDepth = 10000

// Config says how Compile treats the types the caller knows about. The
// zero Config compiles every type by the rules of the package doc.
type Config struct {
	// Ext, when not nil, is asked about every type met while compiling
	// (before anything else): a non-nil Ext encodes that type's values
	// instead of the default rules.
	Ext func(t reflect.Type) *Ext
	// InPlace, when not nil, is a slice type of numbers (am.Bytes) whose
	// values decode in place, pointing into the Decoder's bytes, when the
	// Decoder was reset with borrow set.
	InPlace reflect.Type
}

// Ext is the encoding of a type the caller encodes itself: a fixed number
// of bytes. Encode appends exactly Size bytes to e.Buf (or calls e.Fail);
// Decode reads them with d.Take and sets v (or calls d.Fail). A Codec
// whose values may hold an Ext type says so (HasExt).
type Ext struct {
	Size   int                               // bytes per value, fixed
	Encode func(e *Encoder, v reflect.Value) // appends v's Size bytes
	Decode func(d *Decoder, v reflect.Value) // takes Size bytes and sets v
}

// Codec encodes and decodes the values of one type (Type).
type Codec struct {
	typ   reflect.Type
	fixed int // encoded size when it never varies, else -1
	fast  bool
	// hasExt: values may hold values of a Config.Ext type.
	hasExt bool
	// borrows: values may hold Config.InPlace slices, which a Decoder
	// that borrows points into its bytes.
	borrows bool
	// size is the exact encoded size of v (-1: unknown, fast-path types,
	// or v nests deeper than MaxDepth), v being depth levels down.
	size func(v reflect.Value, depth int) int
	enc  func(e *Encoder, v reflect.Value)
	dec  func(d *Decoder, v reflect.Value)
	// encAny and decAny, when set, are the typed fast path of Encode and
	// Decode (no reflection, no reflect.New): see setTyped.
	encAny func(e *Encoder, v any)
	decAny func(d *Decoder) (any, error)
}

// Compile builds t's codec under cfg, or says why t cannot be carried (an
// error matching ErrCodec that names the field).
func Compile(t reflect.Type, cfg Config) (*Codec, error) {
	b := builder{cfg: cfg, seen: map[reflect.Type]*Codec{}}
	return b.build(t, t.String())
}

// For is Compile of T that also gives the codec a typed path without
// reflection where T's encoding is its memory (zero-size types, and
// numbers but bools on a little-endian machine): Encode and Decode of such
// a T allocate nothing beyond the decoded interface value.
func For[T any](cfg Config) (*Codec, error) {
	c, err := Compile(reflect.TypeFor[T](), cfg)
	if err != nil {
		return nil, err
	}
	setTyped[T](c)
	return c, nil
}

// Type is the type c encodes.
func (c *Codec) Type() reflect.Type { return c.typ }

// HasExt reports whether c's values may hold values of a Config.Ext type
// (am: Darc handles).
func (c *Codec) HasExt() bool { return c.hasExt }

// Borrows reports whether c's values may hold Config.InPlace slices, which
// a Decoder that borrows points into its bytes: those bytes must then
// outlive the decoded value's use.
func (c *Codec) Borrows() bool { return c.borrows }

// setTyped gives c, T's codec, a typed path without reflection where T's
// encoding is its memory: zero-size types, and numbers (not bools) on a
// little-endian machine.
func setTyped[T any](c *Codec) {
	if c == nil || c.fast || c.hasExt || c.fixed < 0 {
		return
	}
	t := reflect.TypeFor[T]()
	if c.typ != t || int(t.Size()) != c.fixed {
		return
	}
	n := c.fixed
	if n == 0 {
		c.encAny = func(*Encoder, any) {}
		c.decAny = func(d *Decoder) (any, error) {
			if len(d.b) != 0 {
				return nil, fmt.Errorf("decode %v: %d bytes left after decoding", t, len(d.b))
			}
			var z T
			return z, nil
		}
		return
	}
	if !isMemory(c) {
		return
	}
	c.encAny = func(e *Encoder, v any) {
		x := v.(T)
		e.Buf = append(e.Buf, unsafe.Slice((*byte)(unsafe.Pointer(&x)), n)...)
	}
	c.decAny = func(d *Decoder) (any, error) {
		if len(d.b) != n {
			return nil, fmt.Errorf("decode %v: %w: %d bytes, want %d", t, ErrShort, len(d.b), n)
		}
		var x T
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&x)), n), d.b)
		return x, nil
	}
}

// errDepth says that a value of typ nests deeper than MaxDepth.
func errDepth(typ reflect.Type) error {
	return fmt.Errorf("%v nests more than %d pointers, slices or maps deep (a value that points to itself?)", typ, MaxDepth)
}

// Encoder appends encodings to Buf; the first error sticks. The zero
// Encoder is ready to use; Reset readies one for reuse.
type Encoder struct {
	// Buf is the encoding so far: Encode appends to it, and the caller
	// may append framing of its own around what Encode writes.
	Buf []byte
	// Ctx is the caller's, for its Ext encoders (am: the call whose
	// request is being encoded, which holds the Darc references it
	// carries). Encode does not read it.
	Ctx   any
	err   error
	depth int // pointers, slices and maps entered (MaxDepth)
}

// Reset makes e append to buf with ctx as its Ctx, with no error and at
// depth 0 (an encoder that panicked was left anywhere).
func (e *Encoder) Reset(buf []byte, ctx any) {
	e.Buf, e.Ctx, e.err, e.depth = buf, ctx, nil, 0
}

// Err is the first error of the encodings since the last Reset.
func (e *Encoder) Err() error { return e.err }

// Fail records err unless an error was recorded already: what an Ext's
// Encode calls when it cannot encode its value.
func (e *Encoder) Fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// enter goes one level down into a value of type t (a pointer, slice or
// map), or reports false, setting the error, past MaxDepth or after an
// error (so that a cyclic value stops at once on every branch). A true
// return is paired with a depth decrement.
func (e *Encoder) enter(t reflect.Type) bool {
	if e.err != nil {
		return false
	}
	if e.depth >= MaxDepth {
		e.err = errDepth(t)
		return false
	}
	e.depth++
	return true
}

// Decoder reads encodings from a byte slice; the first error sticks. The
// zero Decoder has nothing to read; Reset gives it bytes.
type Decoder struct {
	b   []byte
	err error
	// Ctx is the caller's, for its Ext decoders (am: the decoding World
	// and the Darc handles made while decoding). Decode does not read it.
	Ctx    any
	borrow bool // b outlives the decoded value's use: InPlace slices may point into it
	depth  int  // pointers, slices and maps entered (MaxDepth)
}

// Reset makes d read b, with ctx as its Ctx. With borrow set, Config.InPlace
// slices decode pointing into b (which must then outlive their use);
// without, every decoded value owns its memory.
func (d *Decoder) Reset(b []byte, borrow bool, ctx any) {
	*d = Decoder{b: b, Ctx: ctx, borrow: borrow}
}

// Fail records err unless an error was recorded already: what an Ext's
// Decode calls when its bytes name nothing it can make.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Take consumes and returns the next n bytes (capacity n), or nil after
// recording an ErrShort error when fewer are left or after an error.
func (d *Decoder) Take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.Fail(fmt.Errorf("%w: need %d bytes, have %d", ErrShort, n, len(d.b)))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// enter is Encoder.enter's twin.
func (d *Decoder) enter(t reflect.Type) bool {
	if d.err != nil {
		return false
	}
	if d.depth >= MaxDepth {
		d.err = errDepth(t)
		return false
	}
	d.depth++
	return true
}

func (d *Decoder) uvarint() int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > math.MaxInt32 {
		d.Fail(fmt.Errorf("%w: bad length", ErrShort))
		return 0
	}
	d.b = d.b[n:]
	if int(v) > len(d.b)*8+8 { // no element encodes in less than 1/8 byte
		d.Fail(fmt.Errorf("%w: length %d exceeds the %d bytes left", ErrShort, v, len(d.b)))
		return 0
	}
	return int(v)
}

func uvarintLen(n int) int {
	l := 1
	for x := uint64(n); x >= 0x80; x >>= 7 {
		l++
	}
	return l
}

var (
	binaryAppenderType    = reflect.TypeFor[encoding.BinaryAppender]()
	binaryUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// builder compiles the codecs of one type and of the types in it.
type builder struct {
	cfg  Config
	seen map[reflect.Type]*Codec // compiled (or being compiled: recursive types)
}

func (b *builder) build(t reflect.Type, path string) (*Codec, error) {
	if c := b.seen[t]; c != nil {
		return c, nil
	}
	c := &Codec{typ: t, fixed: -1}
	b.seen[t] = c
	if b.cfg.Ext != nil {
		if x := b.cfg.Ext(t); x != nil {
			c.hasExt = true
			n := x.Size
			c.size = func(reflect.Value, int) int { return n }
			c.fixed = n
			c.enc, c.dec = x.Encode, x.Decode
			return c, nil
		}
	}
	if t.Implements(binaryAppenderType) && reflect.PointerTo(t).Implements(binaryUnmarshalerType) {
		c.fast = true
		c.size = func(reflect.Value, int) int { return -1 }
		c.enc = func(e *Encoder, v reflect.Value) {
			start := len(e.Buf)
			e.Buf = append(e.Buf, 0, 0, 0, 0)
			var err error
			e.Buf, err = v.Interface().(encoding.BinaryAppender).AppendBinary(e.Buf)
			if err != nil && e.err == nil {
				e.err = fmt.Errorf("%v.AppendBinary: %w", t, err)
			}
			binary.LittleEndian.PutUint32(e.Buf[start:], uint32(len(e.Buf)-start-4))
		}
		c.dec = func(d *Decoder, v reflect.Value) {
			var n uint32
			if b := d.Take(4); b != nil {
				n = binary.LittleEndian.Uint32(b)
			}
			b := d.Take(int(n))
			if d.err != nil {
				return
			}
			if err := v.Addr().Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
				d.Fail(fmt.Errorf("%v.UnmarshalBinary: %w", t, err))
			}
		}
		return c, nil
	}
	switch k := t.Kind(); k {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		c.setFixed(1)
	case reflect.Int16, reflect.Uint16:
		c.setFixed(2)
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		c.setFixed(4)
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr, reflect.Float64, reflect.Complex64:
		c.setFixed(8)
	case reflect.Complex128:
		c.setFixed(16)
	case reflect.String:
		c.size = func(v reflect.Value, _ int) int { n := v.Len(); return uvarintLen(n) + n }
		c.enc = func(e *Encoder, v reflect.Value) {
			s := v.String()
			e.Buf = binary.AppendUvarint(e.Buf, uint64(len(s)))
			e.Buf = append(e.Buf, s...)
		}
		c.dec = func(d *Decoder, v reflect.Value) {
			n := d.uvarint()
			if b := d.Take(n); b != nil {
				v.SetString(string(b))
			}
		}
	case reflect.Slice:
		ec, err := b.build(t.Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		if size := int(t.Elem().Size()); isMemory(ec) {
			c.setMemorySlice(size, t == b.cfg.InPlace)
			break
		}
		c.hasExt = ec.hasExt
		c.borrows = ec.borrows
		c.size = func(v reflect.Value, depth int) int {
			if v.IsNil() {
				return 1
			}
			n := v.Len()
			s := 1 + uvarintLen(n)
			if ec.fixed >= 0 {
				return s + n*ec.fixed
			}
			if depth++; depth > MaxDepth {
				return -1
			}
			for i := range n {
				es := ec.size(v.Index(i), depth)
				if es < 0 {
					return -1
				}
				s += es
			}
			return s
		}
		c.enc = func(e *Encoder, v reflect.Value) {
			if v.IsNil() {
				e.Buf = append(e.Buf, 0)
				return
			}
			if !e.enter(t) {
				return
			}
			e.Buf = append(e.Buf, 1)
			e.Buf = binary.AppendUvarint(e.Buf, uint64(v.Len()))
			for i := 0; i < v.Len() && e.err == nil; i++ {
				ec.enc(e, v.Index(i))
			}
			e.depth--
		}
		c.dec = func(d *Decoder, v reflect.Value) {
			if f := d.Take(1); f == nil || f[0] == 0 {
				return
			}
			n := d.uvarint()
			if !d.enter(t) {
				return
			}
			s := reflect.MakeSlice(t, n, n)
			for i := 0; i < n && d.err == nil; i++ {
				ec.dec(d, s.Index(i))
			}
			d.depth--
			v.Set(s)
		}
	case reflect.Array:
		ec, err := b.build(t.Elem(), fmt.Sprintf("%s[%d]", path, t.Len()))
		if err != nil {
			return nil, err
		}
		c.hasExt = ec.hasExt
		c.borrows = ec.borrows
		n := t.Len()
		if ec.fixed >= 0 {
			c.fixed = n * ec.fixed
		}
		c.size = func(v reflect.Value, depth int) int {
			if c.fixed >= 0 {
				return c.fixed
			}
			s := 0
			for i := range n {
				es := ec.size(v.Index(i), depth)
				if es < 0 {
					return -1
				}
				s += es
			}
			return s
		}
		c.enc = func(e *Encoder, v reflect.Value) {
			if t.Elem().Kind() == reflect.Uint8 && v.CanAddr() {
				e.Buf = append(e.Buf, v.Bytes()...)
				return
			}
			for i := 0; i < n && e.err == nil; i++ {
				ec.enc(e, v.Index(i))
			}
		}
		c.dec = func(d *Decoder, v reflect.Value) {
			for i := 0; i < n && d.err == nil; i++ {
				ec.dec(d, v.Index(i))
			}
		}
	case reflect.Map:
		kc, err := b.build(t.Key(), path+"[key]")
		if err != nil {
			return nil, err
		}
		vc, err := b.build(t.Elem(), path+"[value]")
		if err != nil {
			return nil, err
		}
		c.hasExt = kc.hasExt || vc.hasExt
		c.borrows = kc.borrows || vc.borrows
		c.size = func(v reflect.Value, depth int) int {
			if v.IsNil() {
				return 1
			}
			if depth++; depth > MaxDepth {
				return -1
			}
			s := 1 + uvarintLen(v.Len())
			it := v.MapRange()
			for it.Next() {
				ks, vs := kc.size(it.Key(), depth), vc.size(it.Value(), depth)
				if ks < 0 || vs < 0 {
					return -1
				}
				s += ks + vs
			}
			return s
		}
		c.enc = func(e *Encoder, v reflect.Value) {
			if v.IsNil() {
				e.Buf = append(e.Buf, 0)
				return
			}
			if !e.enter(t) {
				return
			}
			e.Buf = append(e.Buf, 1)
			e.Buf = binary.AppendUvarint(e.Buf, uint64(v.Len()))
			it := v.MapRange()
			for e.err == nil && it.Next() {
				kc.enc(e, it.Key())
				vc.enc(e, it.Value())
			}
			e.depth--
		}
		c.dec = func(d *Decoder, v reflect.Value) {
			if f := d.Take(1); f == nil || f[0] == 0 {
				return
			}
			n := d.uvarint()
			if !d.enter(t) {
				return
			}
			m := reflect.MakeMapWithSize(t, n)
			k, val := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			for i := 0; i < n && d.err == nil; i++ {
				k.SetZero()
				val.SetZero()
				kc.dec(d, k)
				vc.dec(d, val)
				m.SetMapIndex(k, val)
			}
			d.depth--
			v.Set(m)
		}
	case reflect.Pointer:
		ec, err := b.build(t.Elem(), "*"+path)
		if err != nil {
			return nil, err
		}
		c.hasExt = ec.hasExt
		c.borrows = ec.borrows
		c.size = func(v reflect.Value, depth int) int {
			if v.IsNil() {
				return 1
			}
			if depth++; depth > MaxDepth {
				return -1
			}
			s := ec.size(v.Elem(), depth)
			if s < 0 {
				return -1
			}
			return 1 + s
		}
		c.enc = func(e *Encoder, v reflect.Value) {
			if v.IsNil() {
				e.Buf = append(e.Buf, 0)
				return
			}
			if !e.enter(t) {
				return
			}
			e.Buf = append(e.Buf, 1)
			ec.enc(e, v.Elem())
			e.depth--
		}
		c.dec = func(d *Decoder, v reflect.Value) {
			if f := d.Take(1); f == nil || f[0] == 0 {
				return
			}
			if !d.enter(t) {
				return
			}
			p := reflect.New(t.Elem())
			ec.dec(d, p.Elem())
			d.depth--
			v.Set(p)
		}
	case reflect.Struct:
		type field struct {
			i int
			c *Codec
		}
		var fs []field
		fixed := 0
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Name == "_" {
				continue
			}
			if !f.IsExported() {
				return nil, fmt.Errorf("%w: field %s.%s is unexported: the default codec carries exported fields only; export it or implement encoding.BinaryAppender and encoding.BinaryUnmarshaler", ErrCodec, path, f.Name)
			}
			fc, err := b.build(f.Type, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			fs = append(fs, field{i, fc})
			c.hasExt = c.hasExt || fc.hasExt
			c.borrows = c.borrows || fc.borrows
			if fc.fixed >= 0 && fixed >= 0 {
				fixed += fc.fixed
			} else {
				fixed = -1
			}
		}
		c.fixed = fixed
		c.size = func(v reflect.Value, depth int) int {
			if c.fixed >= 0 {
				return c.fixed
			}
			s := 0
			for _, f := range fs {
				fsz := f.c.size(v.Field(f.i), depth)
				if fsz < 0 {
					return -1
				}
				s += fsz
			}
			return s
		}
		c.enc = func(e *Encoder, v reflect.Value) {
			for _, f := range fs {
				if e.err != nil {
					return
				}
				f.c.enc(e, v.Field(f.i))
			}
		}
		c.dec = func(d *Decoder, v reflect.Value) {
			for _, f := range fs {
				if d.err != nil {
					return
				}
				f.c.dec(d, v.Field(f.i))
			}
		}
	default:
		return nil, fmt.Errorf("%w: %s has kind %v, which the default codec cannot carry; implement encoding.BinaryAppender and encoding.BinaryUnmarshaler", ErrCodec, path, k)
	}
	return c, nil
}

// littleEndian: the machine's memory order is the wire's.
var littleEndian = func() bool {
	one := uint16(1)
	return *(*byte)(unsafe.Pointer(&one)) == 1
}()

// isMemory reports whether values of c's type encode as their memory: a
// number (not a bool, whose byte must be checked) on a little-endian
// machine.
func isMemory(c *Codec) bool {
	if !littleEndian || c.fast || c.fixed != int(c.typ.Size()) {
		return false
	}
	switch c.typ.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	}
	return false
}

// setMemorySlice makes c, a slice type whose elements (of size bytes)
// encode as their memory, copy them in one piece: a nil flag, the length,
// then the elements' bytes (the encoding element by element would give
// the same bytes). Decoding allocates without zeroing what it copies over.
// With inPlace (c is Config.InPlace), values decode in place when the
// Decoder may borrow.
func (c *Codec) setMemorySlice(size int, inPlace bool) {
	t := c.typ
	c.borrows = inPlace
	c.size = func(v reflect.Value, _ int) int {
		if v.IsNil() {
			return 1
		}
		n := v.Len()
		return 1 + uvarintLen(n) + n*size
	}
	c.enc = func(e *Encoder, v reflect.Value) {
		if v.IsNil() {
			e.Buf = append(e.Buf, 0)
			return
		}
		n := v.Len()
		e.Buf = append(e.Buf, 1)
		e.Buf = binary.AppendUvarint(e.Buf, uint64(n))
		if n > 0 {
			e.Buf = append(e.Buf, unsafe.Slice((*byte)(v.UnsafePointer()), n*size)...)
		}
	}
	c.dec = func(d *Decoder, v reflect.Value) {
		if f := d.Take(1); f == nil || f[0] == 0 {
			return
		}
		n := d.uvarint()
		if n > len(d.b)/size {
			d.Fail(fmt.Errorf("%w: %d elements of %d bytes, %d bytes left", ErrShort, n, size, len(d.b)))
			return
		}
		b := d.Take(n * size)
		switch {
		case b == nil:
		case n == 0:
			v.Set(reflect.MakeSlice(t, 0, 0))
		case c.borrows && d.borrow:
			v.SetBytes(b)
		default:
			// append allocates without zeroing what it copies over, and
			// the runtime aligns it for any number type.
			own := append([]byte(nil), b...)
			v.Set(reflect.SliceAt(t.Elem(), unsafe.Pointer(unsafe.SliceData(own)), n).Convert(t))
		}
	}
}

// setFixed makes c the codec of a fixed-size number or bool of n bytes.
func (c *Codec) setFixed(n int) {
	c.fixed = n
	c.size = func(reflect.Value, int) int { return n }
	k := c.typ.Kind()
	c.enc = func(e *Encoder, v reflect.Value) {
		var u uint64
		switch k {
		case reflect.Bool:
			if v.Bool() {
				u = 1
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			u = uint64(v.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			u = v.Uint()
		case reflect.Float32:
			u = uint64(math.Float32bits(float32(v.Float())))
		case reflect.Float64:
			u = math.Float64bits(v.Float())
		case reflect.Complex64:
			x := v.Complex()
			u = uint64(math.Float32bits(float32(real(x)))) | uint64(math.Float32bits(float32(imag(x))))<<32
		case reflect.Complex128:
			x := v.Complex()
			e.Buf = binary.LittleEndian.AppendUint64(e.Buf, math.Float64bits(real(x)))
			e.Buf = binary.LittleEndian.AppendUint64(e.Buf, math.Float64bits(imag(x)))
			return
		}
		switch n {
		case 1:
			e.Buf = append(e.Buf, byte(u))
		case 2:
			e.Buf = binary.LittleEndian.AppendUint16(e.Buf, uint16(u))
		case 4:
			e.Buf = binary.LittleEndian.AppendUint32(e.Buf, uint32(u))
		default:
			e.Buf = binary.LittleEndian.AppendUint64(e.Buf, u)
		}
	}
	c.dec = func(d *Decoder, v reflect.Value) {
		b := d.Take(n)
		if b == nil {
			return
		}
		if k == reflect.Complex128 {
			v.SetComplex(complex(math.Float64frombits(binary.LittleEndian.Uint64(b)), math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))))
			return
		}
		var u uint64
		switch n {
		case 1:
			u = uint64(b[0])
		case 2:
			u = uint64(binary.LittleEndian.Uint16(b))
		case 4:
			u = uint64(binary.LittleEndian.Uint32(b))
		default:
			u = binary.LittleEndian.Uint64(b)
		}
		switch k {
		case reflect.Bool:
			v.SetBool(u != 0)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			switch n { // sign-extend
			case 1:
				v.SetInt(int64(int8(u)))
			case 2:
				v.SetInt(int64(int16(u)))
			case 4:
				v.SetInt(int64(int32(u)))
			default:
				v.SetInt(int64(u))
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			v.SetUint(u)
		case reflect.Float32:
			v.SetFloat(float64(math.Float32frombits(uint32(u))))
		case reflect.Float64:
			v.SetFloat(math.Float64frombits(u))
		case reflect.Complex64:
			v.SetComplex(complex(float64(math.Float32frombits(uint32(u))), float64(math.Float32frombits(uint32(u>>32)))))
		}
	}
}

// Encode appends v's encoding to e.Buf; a failure is e.Err (the first
// one sticks). v must hold a value of c's type. For numbers, strings, and
// slices, arrays and structs of them, Encode allocates nothing beyond
// e.Buf's growth.
func (c *Codec) Encode(e *Encoder, v any) {
	if c.fast {
		var err error
		e.Buf, err = v.(encoding.BinaryAppender).AppendBinary(e.Buf)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("%v.AppendBinary: %w", c.typ, err)
		}
		return
	}
	if c.encAny != nil {
		c.encAny(e, v)
		return
	}
	c.enc(e, reflect.ValueOf(v))
}

// Size is v's exact encoded size, or -1 when only encoding tells (a type
// that encodes itself, or a value that nests deeper than MaxDepth).
func (c *Codec) Size(v any) int {
	if c.fast {
		return -1
	}
	if c.fixed >= 0 {
		return c.fixed
	}
	return c.size(reflect.ValueOf(v), 0)
}

// Decode decodes all of d's bytes as a value of c's type, which owns its
// memory but for InPlace slices when d borrows. It fails with d's first
// error (matching ErrShort for bytes cut short), or when bytes are left.
func (c *Codec) Decode(d *Decoder) (any, error) {
	if c.decAny != nil {
		return c.decAny(d)
	}
	p := reflect.New(c.typ)
	if c.fast {
		if err := p.Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(d.b); err != nil {
			return nil, fmt.Errorf("%v.UnmarshalBinary: %w", c.typ, err)
		}
		return p.Elem().Interface(), nil
	}
	c.dec(d, p.Elem())
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes left after decoding %v", len(d.b), c.typ)
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode %v: %w", c.typ, d.err)
	}
	return p.Elem().Interface(), nil
}
