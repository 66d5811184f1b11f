package am

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"unsafe"
)

// Bytes is a byte slice that a handler reads in place. In a request whose
// payload is large (at least Options.LargeBytes), so that it travels
// through the sender's arena in the symmetric heap, a Bytes field of the
// AM points into that arena and is valid only until the handler returns,
// when the chunk goes back to the sender: the payload is copied once, by
// the sender. A handler that keeps the bytes must copy them
// (bytes.Clone). Everywhere else (smaller requests, results, returned
// AMs, ExecLocal) a Bytes is a copy the receiver owns, as a []byte is,
// or, for ExecLocal, the sender's own slice.
type Bytes []byte

// codec encodes and decodes the values of one type. Types that implement
// encoding.BinaryAppender (value) and encoding.BinaryUnmarshaler (pointer)
// encode themselves (the fast path); every other type gets a compiled
// reflective codec: numbers little-endian, lengths as uvarints, structs
// field by field (exported fields only), pointers with a nil flag.
type codec struct {
	typ   reflect.Type
	fixed int // encoded size when it never varies, else -1
	fast  bool
	// hasDarc: values may hold Darc handles.
	hasDarc bool
	// borrows: values may hold Bytes, which a request's handler reads in
	// place when its payload came through the arena.
	borrows bool
	// size is the exact encoded size of v (-1: unknown, fast-path types,
	// or v nests deeper than maxDepth), v being depth levels down.
	size func(v reflect.Value, depth int) int
	enc  func(e *encoder, v reflect.Value)
	dec  func(d *decoder, v reflect.Value)
	// encAny and decAny, when set, are the typed fast path of encodeValue
	// and decodeValue (no reflection, no reflect.New): see setTyped.
	encAny func(e *encoder, v any)
	decAny func(d *decoder) (any, error)
}

// setTyped gives c, T's codec, a typed path without reflection where T's
// encoding is its memory: zero-size types, and numbers (not bools) on a
// little-endian machine. Register calls it for the AM and result types.
func setTyped[T any](c *codec) {
	if c == nil || c.fast || c.hasDarc || c.fixed < 0 {
		return
	}
	t := reflect.TypeFor[T]()
	if c.typ != t || int(t.Size()) != c.fixed {
		return
	}
	n := c.fixed
	if n == 0 {
		c.encAny = func(*encoder, any) {}
		c.decAny = func(d *decoder) (any, error) {
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
	c.encAny = func(e *encoder, v any) {
		x := v.(T)
		e.buf = append(e.buf, unsafe.Slice((*byte)(unsafe.Pointer(&x)), n)...)
	}
	c.decAny = func(d *decoder) (any, error) {
		if len(d.b) != n {
			return nil, fmt.Errorf("decode %v: %w: %d bytes, want %d", t, errShort, len(d.b), n)
		}
		var x T
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&x)), n), d.b)
		return x, nil
	}
}

// maxDepth bounds how deep a value nests in pointers, slices and maps (the
// only kinds through which a type can contain itself): deeper, and a
// cyclic value (one that points to itself), fail to encode and to decode
// instead of overflowing the stack. A linked list of more than maxDepth
// elements is too deep too.
const maxDepth = 10000

// errDepth says that a value of typ nests deeper than maxDepth.
func errDepth(typ reflect.Type) error {
	return fmt.Errorf("%v nests more than %d pointers, slices or maps deep (a value that points to itself?)", typ, maxDepth)
}

// encoder appends encodings to buf; the first error sticks.
type encoder struct {
	buf   []byte
	err   error
	call  *call // the call whose message this is: it holds the Darc references the message carries until its reply
	depth int   // pointers, slices and maps entered (maxDepth)
}

// enter goes one level down into a value of type t (a pointer, slice or
// map), or reports false, setting the error, past maxDepth or after an
// error (so that a cyclic value stops at once on every branch). A true
// return is paired with a depth decrement.
func (e *encoder) enter(t reflect.Type) bool {
	if e.err != nil {
		return false
	}
	if e.depth >= maxDepth {
		e.err = errDepth(t)
		return false
	}
	e.depth++
	return true
}

// decoder reads encodings from b; the first error sticks.
type decoder struct {
	b      []byte
	err    error
	w      *World
	darcs  []darcRef // Darc handles made while decoding, dropped after Exec
	borrow bool      // b outlives the decoded value's handler: Bytes may point into it
	depth  int       // pointers, slices and maps entered (maxDepth)
}

// enter is encoder.enter's twin.
func (d *decoder) enter(t reflect.Type) bool {
	if d.err != nil {
		return false
	}
	if d.depth >= maxDepth {
		d.err = errDepth(t)
		return false
	}
	d.depth++
	return true
}

var errShort = errors.New("message truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(fmt.Errorf("%w: need %d bytes, have %d", errShort, n, len(d.b)))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) uvarint() int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > math.MaxInt32 {
		d.fail(fmt.Errorf("%w: bad length", errShort))
		return 0
	}
	d.b = d.b[n:]
	if int(v) > len(d.b)*8+8 { // no element encodes in less than 1/8 byte
		d.fail(fmt.Errorf("%w: length %d exceeds the %d bytes left", errShort, v, len(d.b)))
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

// codecFor builds t's codec, or says why t cannot be carried.
func codecFor(t reflect.Type) (*codec, error) {
	return build(t, map[reflect.Type]*codec{}, t.String())
}

// darcCodecType is implemented by the Darc handle types (pointers), which
// encode as a reference to the receiver's instance.
type darcCodecType interface {
	encodeDarc(e *encoder)
	decodeDarc(d *decoder)
}

var darcCodecIface = reflect.TypeFor[darcCodecType]()

func build(t reflect.Type, seen map[reflect.Type]*codec, path string) (*codec, error) {
	if c := seen[t]; c != nil {
		return c, nil
	}
	c := &codec{typ: t, fixed: -1}
	seen[t] = c
	if t.Implements(darcCodecIface) && t.Kind() == reflect.Pointer {
		c.hasDarc = true
		c.size = func(reflect.Value, int) int { return darcWireBytes }
		c.fixed = darcWireBytes
		c.enc = func(e *encoder, v reflect.Value) { v.Interface().(darcCodecType).encodeDarc(e) }
		c.dec = func(d *decoder, v reflect.Value) {
			p := reflect.New(t.Elem())
			p.Interface().(darcCodecType).decodeDarc(d)
			v.Set(p)
		}
		return c, nil
	}
	if t.Implements(binaryAppenderType) && reflect.PointerTo(t).Implements(binaryUnmarshalerType) {
		c.fast = true
		c.size = func(reflect.Value, int) int { return -1 }
		c.enc = func(e *encoder, v reflect.Value) {
			start := len(e.buf)
			e.buf = append(e.buf, 0, 0, 0, 0)
			var err error
			e.buf, err = v.Interface().(encoding.BinaryAppender).AppendBinary(e.buf)
			if err != nil && e.err == nil {
				e.err = fmt.Errorf("%v.AppendBinary: %w", t, err)
			}
			binary.LittleEndian.PutUint32(e.buf[start:], uint32(len(e.buf)-start-4))
		}
		c.dec = func(d *decoder, v reflect.Value) {
			var n uint32
			if b := d.take(4); b != nil {
				n = binary.LittleEndian.Uint32(b)
			}
			b := d.take(int(n))
			if d.err != nil {
				return
			}
			if err := v.Addr().Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
				d.fail(fmt.Errorf("%v.UnmarshalBinary: %w", t, err))
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
		c.enc = func(e *encoder, v reflect.Value) {
			s := v.String()
			e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
			e.buf = append(e.buf, s...)
		}
		c.dec = func(d *decoder, v reflect.Value) {
			n := d.uvarint()
			if b := d.take(n); b != nil {
				v.SetString(string(b))
			}
		}
	case reflect.Slice:
		ec, err := build(t.Elem(), seen, path+"[]")
		if err != nil {
			return nil, err
		}
		if size := int(t.Elem().Size()); isMemory(ec) {
			c.setMemorySlice(size)
			break
		}
		c.hasDarc = ec.hasDarc
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
			if depth++; depth > maxDepth {
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
		c.enc = func(e *encoder, v reflect.Value) {
			if v.IsNil() {
				e.buf = append(e.buf, 0)
				return
			}
			if !e.enter(t) {
				return
			}
			e.buf = append(e.buf, 1)
			e.buf = binary.AppendUvarint(e.buf, uint64(v.Len()))
			for i := 0; i < v.Len() && e.err == nil; i++ {
				ec.enc(e, v.Index(i))
			}
			e.depth--
		}
		c.dec = func(d *decoder, v reflect.Value) {
			if f := d.take(1); f == nil || f[0] == 0 {
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
		ec, err := build(t.Elem(), seen, fmt.Sprintf("%s[%d]", path, t.Len()))
		if err != nil {
			return nil, err
		}
		c.hasDarc = ec.hasDarc
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
		c.enc = func(e *encoder, v reflect.Value) {
			if t.Elem().Kind() == reflect.Uint8 && v.CanAddr() {
				e.buf = append(e.buf, v.Bytes()...)
				return
			}
			for i := 0; i < n && e.err == nil; i++ {
				ec.enc(e, v.Index(i))
			}
		}
		c.dec = func(d *decoder, v reflect.Value) {
			for i := 0; i < n && d.err == nil; i++ {
				ec.dec(d, v.Index(i))
			}
		}
	case reflect.Map:
		kc, err := build(t.Key(), seen, path+"[key]")
		if err != nil {
			return nil, err
		}
		vc, err := build(t.Elem(), seen, path+"[value]")
		if err != nil {
			return nil, err
		}
		c.hasDarc = kc.hasDarc || vc.hasDarc
		c.borrows = kc.borrows || vc.borrows
		c.size = func(v reflect.Value, depth int) int {
			if v.IsNil() {
				return 1
			}
			if depth++; depth > maxDepth {
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
		c.enc = func(e *encoder, v reflect.Value) {
			if v.IsNil() {
				e.buf = append(e.buf, 0)
				return
			}
			if !e.enter(t) {
				return
			}
			e.buf = append(e.buf, 1)
			e.buf = binary.AppendUvarint(e.buf, uint64(v.Len()))
			it := v.MapRange()
			for e.err == nil && it.Next() {
				kc.enc(e, it.Key())
				vc.enc(e, it.Value())
			}
			e.depth--
		}
		c.dec = func(d *decoder, v reflect.Value) {
			if f := d.take(1); f == nil || f[0] == 0 {
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
		ec, err := build(t.Elem(), seen, "*"+path)
		if err != nil {
			return nil, err
		}
		c.hasDarc = ec.hasDarc
		c.borrows = ec.borrows
		c.size = func(v reflect.Value, depth int) int {
			if v.IsNil() {
				return 1
			}
			if depth++; depth > maxDepth {
				return -1
			}
			s := ec.size(v.Elem(), depth)
			if s < 0 {
				return -1
			}
			return 1 + s
		}
		c.enc = func(e *encoder, v reflect.Value) {
			if v.IsNil() {
				e.buf = append(e.buf, 0)
				return
			}
			if !e.enter(t) {
				return
			}
			e.buf = append(e.buf, 1)
			ec.enc(e, v.Elem())
			e.depth--
		}
		c.dec = func(d *decoder, v reflect.Value) {
			if f := d.take(1); f == nil || f[0] == 0 {
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
			c *codec
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
			fc, err := build(f.Type, seen, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			fs = append(fs, field{i, fc})
			c.hasDarc = c.hasDarc || fc.hasDarc
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
		c.enc = func(e *encoder, v reflect.Value) {
			for _, f := range fs {
				if e.err != nil {
					return
				}
				f.c.enc(e, v.Field(f.i))
			}
		}
		c.dec = func(d *decoder, v reflect.Value) {
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
func isMemory(c *codec) bool {
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

var bytesType = reflect.TypeFor[Bytes]()

// setMemorySlice makes c, a slice type whose elements (of size bytes)
// encode as their memory, copy them in one piece: a nil flag, the length,
// then the elements' bytes (the encoding element by element would give
// the same bytes). Decoding allocates without zeroing what it copies over.
// Bytes decode in place when the decoder may borrow.
func (c *codec) setMemorySlice(size int) {
	t := c.typ
	c.borrows = t == bytesType
	c.size = func(v reflect.Value, _ int) int {
		if v.IsNil() {
			return 1
		}
		n := v.Len()
		return 1 + uvarintLen(n) + n*size
	}
	c.enc = func(e *encoder, v reflect.Value) {
		if v.IsNil() {
			e.buf = append(e.buf, 0)
			return
		}
		n := v.Len()
		e.buf = append(e.buf, 1)
		e.buf = binary.AppendUvarint(e.buf, uint64(n))
		if n > 0 {
			e.buf = append(e.buf, unsafe.Slice((*byte)(v.UnsafePointer()), n*size)...)
		}
	}
	c.dec = func(d *decoder, v reflect.Value) {
		if f := d.take(1); f == nil || f[0] == 0 {
			return
		}
		n := d.uvarint()
		if n > len(d.b)/size {
			d.fail(fmt.Errorf("%w: %d elements of %d bytes, %d bytes left", errShort, n, size, len(d.b)))
			return
		}
		b := d.take(n * size)
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
func (c *codec) setFixed(n int) {
	c.fixed = n
	c.size = func(reflect.Value, int) int { return n }
	k := c.typ.Kind()
	c.enc = func(e *encoder, v reflect.Value) {
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
			e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(real(x)))
			e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(imag(x)))
			return
		}
		switch n {
		case 1:
			e.buf = append(e.buf, byte(u))
		case 2:
			e.buf = binary.LittleEndian.AppendUint16(e.buf, uint16(u))
		case 4:
			e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(u))
		default:
			e.buf = binary.LittleEndian.AppendUint64(e.buf, u)
		}
	}
	c.dec = func(d *decoder, v reflect.Value) {
		b := d.take(n)
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

// encodeValue appends v's encoding to e.buf.
func (c *codec) encodeValue(e *encoder, v any) {
	if c.fast {
		var err error
		e.buf, err = v.(encoding.BinaryAppender).AppendBinary(e.buf)
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

// sizeOf is v's exact encoded size, or -1 when only encoding tells.
func (c *codec) sizeOf(v any) int {
	if c.fast {
		return -1
	}
	if c.fixed >= 0 {
		return c.fixed
	}
	return c.size(reflect.ValueOf(v), 0)
}

// decodeValue decodes all of d.b as a value of c's type.
func (c *codec) decodeValue(d *decoder) (any, error) {
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
