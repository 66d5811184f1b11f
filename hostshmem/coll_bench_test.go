package hostshmem_test

import (
	"context"
	"testing"
	"time"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// benchColl runs op b.N times on every one of two inproc PEs: the cost of
// one small collective, its entry step and checks included, which
// `gpurun bench`'s barrier, sync, bcast and reduce rows measure across
// processes. -benchmem shows what a call allocates.
func benchColl(b *testing.B, op func(ctx context.Context, pe *shmem.PE, x shmem.Sym[int64]) error) {
	opts := gshmem.Config{NPEs: 2, HeapSize: 1 << 20}
	err := gshmem.RunWith(context.Background(), opts, func(ctx context.Context, pe *shmem.PE) error {
		x, err := shmem.Calloc[int64](ctx, pe, 4)
		if err != nil {
			return err
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			b.ResetTimer()
		}
		for i := 0; i < b.N && err == nil; i++ {
			err = op(ctx, pe, x)
		}
		if pe.MyPE() == 0 {
			b.StopTimer()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkBarrierAll(b *testing.B) {
	benchColl(b, func(ctx context.Context, pe *shmem.PE, _ shmem.Sym[int64]) error { return pe.BarrierAll(ctx) })
}

func BenchmarkSyncAll(b *testing.B) {
	benchColl(b, func(ctx context.Context, pe *shmem.PE, _ shmem.Sym[int64]) error { return pe.SyncAll(ctx) })
}

func BenchmarkBroadcast8(b *testing.B) {
	benchColl(b, func(ctx context.Context, pe *shmem.PE, x shmem.Sym[int64]) error {
		return shmem.Broadcast(ctx, pe.TeamWorld(), x.Slice(1, 2), x.Slice(0, 1), 1, 0)
	})
}

func BenchmarkReduce8(b *testing.B) {
	benchColl(b, func(ctx context.Context, pe *shmem.PE, x shmem.Sym[int64]) error {
		return shmem.Reduce(ctx, pe.TeamWorld(), shmem.OpSum, x.Slice(1, 2), x.Slice(0, 1), 1)
	})
}

// BenchmarkBarrierAfterWork: PE 1 computes for 30 µs (or 300) before
// each barrier, so PE 0 waits that long in it: longer than a spin of fixed
// length. A spin adapted to the waits it sees (fabric.WaitPolicy.AdaptSpin)
// catches 30 µs without sleeping, where a fixed spin yields and then
// sleeps and pays a wake-up each time, and spins little before 300 µs.
// ns/op is the work plus what the barrier adds.
func BenchmarkBarrierAfterWork(b *testing.B) {
	for _, work := range []time.Duration{30 * time.Microsecond, 300 * time.Microsecond} {
		b.Run(work.String(), func(b *testing.B) {
			benchColl(b, func(ctx context.Context, pe *shmem.PE, _ shmem.Sym[int64]) error {
				if pe.MyPE() == 1 {
					for t0 := time.Now(); time.Since(t0) < work; {
					}
				}
				return pe.BarrierAll(ctx)
			})
		})
	}
}
