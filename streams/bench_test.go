package streams_test

import (
	"context"
	"testing"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

// benchOnOnePE runs fn on the one PE of an in-process job.
func benchOnOnePE(b *testing.B, fn func(ctx context.Context, pe *shmem.PE, s *streams.Stream)) {
	ctx := context.Background()
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 1, HeapSize: 1 << 20}, func(ctx context.Context, pe *shmem.PE) error {
		s, err := streams.New(pe)
		if err != nil {
			return err
		}
		fn(ctx, pe, s)
		return s.Close(ctx)
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPutSynchronize: one 8-byte put on a stream and a Synchronize,
// the round trip through the worker.
func BenchmarkPutSynchronize(b *testing.B) {
	benchOnOnePE(b, func(ctx context.Context, pe *shmem.PE, s *streams.Stream) {
		x, _ := shmem.Calloc[int64](ctx, pe, 2)
		b.ResetTimer()
		for range b.N {
			if err := streams.Put(s, x.At(0), x.At(1), 0); err != nil {
				b.Fatal(err)
			}
			if err := s.Synchronize(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutEnqueue: 8-byte puts enqueued back to back, one Synchronize
// per 1024: the cost per op of a busy stream.
func BenchmarkPutEnqueue(b *testing.B) {
	benchOnOnePE(b, func(ctx context.Context, pe *shmem.PE, s *streams.Stream) {
		x, _ := shmem.Calloc[int64](ctx, pe, 2)
		b.ResetTimer()
		for i := range b.N {
			if err := streams.Put(s, x.At(0), x.At(1), 0); err != nil {
				b.Fatal(err)
			}
			if i%1024 == 1023 {
				if err := s.Synchronize(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Synchronize(ctx); err != nil {
			b.Fatal(err)
		}
	})
}
