//go:build !ofi || !cgo

package ofi

// The stand-in for endpoint_ofi.go in a build without the ofi tag or
// without cgo: Open fails with ErrNoLibfabric, so no Endpoint exists and
// its methods only need to compile with the same signatures. Each returns
// ErrNoLibfabric all the same.

import (
	"context"
	"time"

	"github.com/gshmem/gshmem/fabric"
)

// Endpoint is one libfabric RDM endpoint. In this build (no ofi tag or no
// cgo) Open never returns one.
type Endpoint struct{}

// Open returns ErrNoLibfabric, which matches errdefs.ErrUnavailable: this
// build has no libfabric.
func Open(ctx context.Context, o Options) (*Endpoint, error) { return nil, ErrNoLibfabric }

// Provider returns "".
func (e *Endpoint) Provider() string { return "" }

// Addr returns nil.
func (e *Endpoint) Addr() []byte { return nil }

// MaxMsg returns 0.
func (e *Endpoint) MaxMsg() int { return 0 }

// DataBits returns 0.
func (e *Endpoint) DataBits() int { return 0 }

// CPUAtomics returns false.
func (e *Endpoint) CPUAtomics() bool { return false }

// NativeAMO returns false.
func (e *Endpoint) NativeAMO(bits int, op fabric.AMOOp) bool { return false }

// Register returns ErrNoLibfabric.
func (e *Endpoint) Register(mem []byte) (Window, error) { return Window{}, ErrNoLibfabric }

// SetHandler does nothing.
func (e *Endpoint) SetHandler(h Handler) {}

// Connect returns ErrNoLibfabric.
func (e *Endpoint) Connect(ctx context.Context, peers []Peer) error { return ErrNoLibfabric }

// Put returns ErrNoLibfabric.
func (e *Endpoint) Put(peer int, off uintptr, src []byte) error { return ErrNoLibfabric }

// PutData returns ErrNoLibfabric.
func (e *Endpoint) PutData(peer int, off uintptr, src []byte, data uint64) error {
	return ErrNoLibfabric
}

// Get returns ErrNoLibfabric.
func (e *Endpoint) Get(peer int, off uintptr, dst []byte) error { return ErrNoLibfabric }

// AMO64 returns ErrNoLibfabric.
func (e *Endpoint) AMO64(peer int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	return 0, ErrNoLibfabric
}

// AMO32 returns ErrNoLibfabric.
func (e *Endpoint) AMO32(peer int, off uintptr, op fabric.AMOOp, operand, cmp uint32) (uint32, error) {
	return 0, ErrNoLibfabric
}

// Send returns ErrNoLibfabric.
func (e *Endpoint) Send(peer int, msg []byte) error { return ErrNoLibfabric }

// Quiet returns ErrNoLibfabric.
func (e *Endpoint) Quiet(ctx context.Context) error { return ErrNoLibfabric }

// Gone is a no-op without libfabric.
func (e *Endpoint) Gone(peer int) {}

// Unblock is a no-op without libfabric.
func (e *Endpoint) Unblock() {}

// Drive returns cond() without libfabric.
func (e *Endpoint) Drive(cond func() bool, d time.Duration) bool { return cond() }

// Close returns nil.
func (e *Endpoint) Close() error { return nil }

// Available reports whether this build has libfabric: false here (no ofi
// tag or no cgo).
func Available() bool { return false }
