//go:build ofi && cgo

package hybrid_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gshmem/gshmem/fabric"
)

// BenchmarkPingPongSignal is the round trip of PutSignal between two
// nodes' PEs, each waiting for the other's signal in Wait (which drives
// the network: Endpoint.Drive), with each Completion.
func BenchmarkPingPongSignal(b *testing.B) {
	b.Run("at-quiet", func(b *testing.B) { pingPongSignal(b, fabric.CompleteAtQuiet) })
	b.Run("by-protocol", func(b *testing.B) { pingPongSignal(b, fabric.CompleteByProtocol) })
}

func pingPongSignal(b *testing.B, c fabric.Completion) {
	fs := openJob(b, []int{0, 1})
	ctx := context.Background()
	const sig = 64
	r0, r1 := fs[0].Region(0), fs[1].Region(1)
	done := make(chan struct{})
	n := uint64(b.N)
	go func() {
		defer close(done)
		for i := uint64(1); i <= n; i++ {
			fs[1].Wait(ctx, func() bool { return atomic.LoadUint64(word64(r1, sig)) >= i }, sig, 8)
			fs[1].PutSignal(0, 0, nil, sig, fabric.AMOSet, i, c)
		}
	}()
	b.ResetTimer()
	for i := uint64(1); i <= n; i++ {
		fs[0].PutSignal(1, 0, nil, sig, fabric.AMOSet, i, c)
		fs[0].Wait(ctx, func() bool { return atomic.LoadUint64(word64(r0, sig)) >= i }, sig, 8)
	}
	<-done
}

// BenchmarkGetAcrossNodes is a Get of each size from a PE of the other
// node (the pull that large collectives across nodes make).
func BenchmarkGetAcrossNodes(b *testing.B) {
	fs := openJob(b, []int{0, 1})
	for _, n := range []int{8, 64 << 10, 512 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]byte, n)
			b.SetBytes(int64(n))
			for b.Loop() {
				if err := fs[0].Get(1, 4096, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
