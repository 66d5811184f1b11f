// Package release has release stores: the store that the entry steps of
// collectives publish an epoch with, on another PE's line, and the one
// that unlocks a lock.
//
// On amd64 a plain store is a release store (x86-TSO keeps stores in
// order after earlier loads and stores), and it does not wait: the core
// goes on while the line comes over. sync/atomic's Store is an XCHG, a
// locked instruction that holds the core until it owns the line, which a
// peer polling that line keeps in its own cache. On the development
// machine (AMD EPYC family 26, two cores of a KVM guest) a two-process
// flag barrier takes 335-374 ns a round with XCHG on the peer's flag and
// 225-241 ns with a plain store followed by a locked instruction on a
// line of one's own (the fence a waker needs anyway before it looks at
// the peer's sleepers; BENCHMARKS.md, issue 16).
package release
