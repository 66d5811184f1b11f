//go:build !amd64

package memcopy

import "unsafe"

// repMovsb is copy where there is no REP MOVSB; Copy never uses it there
// (hasERMS is false).
func repMovsb(dst, src *byte, n uintptr) {
	copy(unsafe.Slice(dst, n), unsafe.Slice(src, n))
}

// hasERMS is false: REP MOVSB is an amd64 instruction.
func hasERMS() bool { return false }
