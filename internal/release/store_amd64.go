//go:build !race

package release

// Store64 stores v at *p, ordered after this goroutine's earlier loads and
// stores (a release store), without a fence after it: a caller that must
// order it before a later load (a look at a sleeper's word) fences
// itself.
//
//go:noescape
func Store64(p *uint64, v uint64)

// Store32 is Store64 for a uint32.
//
//go:noescape
func Store32(p *uint32, v uint32)
