// Package testseam holds the settings that only tests give the runtime,
// kept off the public API: gshmem.RunWith reads them from its context.
package testseam

import (
	"context"

	"github.com/gshmem/gshmem/fabric"
)

type rmaOnlyKey struct{}

// WithRMAOnly returns ctx marked so that gshmem.RunWith's in-process PEs
// reach each other only through the fabric's Put, Get and atomics, never
// by loads and stores, the way they will over a network transport: for
// testing those paths.
func WithRMAOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, rmaOnlyKey{}, true)
}

// RMAOnly reports whether ctx was marked by WithRMAOnly.
func RMAOnly(ctx context.Context) bool {
	v, _ := ctx.Value(rmaOnlyKey{}).(bool)
	return v
}

// HidePeers returns f with its peers' regions hidden (Region returns nil
// for every PE but f's own): the runtime above then reaches peers only
// through Put, Get and the AMOs. The other methods are f's.
func HidePeers(f fabric.Fabric) fabric.Fabric { return rmaOnly{f} }

type rmaOnly struct{ fabric.Fabric }

// GlobalExit and Exited forward to f's, if it is a fabric.Exiter.
func (f rmaOnly) GlobalExit(status int) {
	if e, ok := f.Fabric.(fabric.Exiter); ok {
		e.GlobalExit(status)
	}
}

func (f rmaOnly) Exited() (pe, status int, ok bool) {
	if e, ok := f.Fabric.(fabric.Exiter); ok {
		return e.Exited()
	}
	return -1, 0, false
}

// WaitPolicy is f's (fabric.PolicyOf): hiding the peers changes no wait.
func (f rmaOnly) WaitPolicy() fabric.WaitPolicy { return fabric.PolicyOf(f.Fabric) }

func (f rmaOnly) Region(pe int) []byte {
	if pe != f.PE() {
		return nil
	}
	return f.Fabric.Region(pe)
}
