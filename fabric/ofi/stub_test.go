//go:build !ofi || !cgo

package ofi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric/ofi"
)

// TestStubUnavailable: without the ofi tag (or cgo), Open fails with an
// error of the unavailable kind that says how to build the transport in.
func TestStubUnavailable(t *testing.T) {
	e, err := ofi.Open(context.Background(), ofi.Options{Provider: "tcp;ofi_rxm"})
	if e != nil || !errors.Is(err, errdefs.ErrUnavailable) || !errors.Is(err, ofi.ErrNoLibfabric) {
		t.Fatalf("Open = %v, %v; want nil and ErrNoLibfabric (ErrUnavailable)", e, err)
	}
}
