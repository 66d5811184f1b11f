package am_test

import (
	"context"
	"testing"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/hostshmem"
)

// BenchmarkRoundTrip times an empty AM returning an int between two
// in-process PEs (the shm transport's code path: the rings are mapped),
// and counts the allocations per round trip on both PEs together.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 8 << 20},
		func(ctx context.Context, pe *hostshmem.PE) error {
			w, err := am.New(ctx, pe, reg, am.Options{Threads: 1})
			if err != nil {
				return err
			}
			defer w.Close(ctx)
			if err := w.Barrier(ctx); err != nil {
				return err
			}
			if pe.MyPE() == 0 {
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					v, err := am.Exec(w, 1, WhoAmI{}).Wait(ctx)
					if err != nil {
						return err
					}
					if v != 1 {
						b.Fatalf("ran on PE %d", v)
					}
				}
				b.StopTimer()
			}
			return w.Barrier(ctx)
		})
	if err != nil {
		b.Fatal(err)
	}
}
