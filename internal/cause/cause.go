// Package cause turns a context that ended into the error a wait returns.
package cause

import (
	"context"
	"fmt"
)

// Err is ctx.Err(), carrying context.Cause(ctx) too when that says more:
// a wait whose context gshmem.Run cancelled because a peer died then ends
// with an error that matches both context.Canceled and the peer's
// *fabric.PeerError, and names the peer. It is nil while ctx is not done.
func Err(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	if c := context.Cause(ctx); c != nil && c != err {
		return fmt.Errorf("%w: %w", err, c)
	}
	return err
}
