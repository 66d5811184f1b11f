package am

import (
	"reflect"

	"github.com/gshmem/gshmem/am/codec"
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

var bytesType = reflect.TypeFor[Bytes]()

// wire is how this package compiles its codecs (package codec): Bytes
// decode in place, and Darc handles encode as references to the
// receiver's instance (darcExt, in darc.go).
func wire() codec.Config { return codec.Config{Ext: darcExt, InPlace: bytesType} }

// decoder is the World's codec.Decoder (its Ctx points back to it), with
// what decoding a Darc handle needs.
type decoder struct {
	codec.Decoder
	w     *World
	darcs []darcRef // Darc handles made while decoding, dropped after Exec
}
