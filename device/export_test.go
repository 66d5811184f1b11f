package device

import (
	"context"

	"github.com/gshmem/gshmem/hostshmem"
)

// Quiescers is a heap's registry of QuiesceFuncs, for tests without a GPU.
type Quiescers = quiescers

// Add is OnQuiesce on a bare registry.
func (q *quiescers) Add(name string, fn QuiesceFunc) func() { return q.add(name, fn) }

// Window runs load in a load window of pe's job with q's quiescers, as
// LoadModule does (collective).
func Window(ctx context.Context, pe *hostshmem.PE, q *Quiescers, op string, load func() (func(), error)) error {
	a, err := newAgreement(ctx, pe)
	if err != nil {
		return err
	}
	return window(ctx, a, q, op, load)
}
