//go:build !amd64 || race

package release

import "sync/atomic"

// Store64 stores v at *p, ordered after this goroutine's earlier loads and
// stores (a release store). Here it is sync/atomic's store: on other
// architectures, and in race-detector builds, which see only sync/atomic's
// synchronisation.
func Store64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// Store32 is Store64 for a uint32.
func Store32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
