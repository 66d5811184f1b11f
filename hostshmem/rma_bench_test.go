package hostshmem_test

import (
	"context"
	"testing"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// benchRMA runs op b.N times on PE 0 of two inproc PEs against an 8-word
// object on PE 1: the cost of one small put or get through the API's
// checks, which every call pays.
func benchRMA(b *testing.B, op func(pe *shmem.PE, x shmem.Sym[int64], buf []int64) error) {
	opts := gshmem.Config{NPEs: 2, HeapSize: 1 << 20}
	err := gshmem.RunWith(context.Background(), opts, func(ctx context.Context, pe *shmem.PE) error {
		x, err := shmem.Calloc[int64](context.Background(), pe, 8)
		if err != nil || pe.MyPE() != 0 {
			return err
		}
		buf := make([]int64, 8)
		b.ResetTimer()
		for i := 0; i < b.N && err == nil; i++ {
			err = op(pe, x, buf)
		}
		b.StopTimer()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkPut(b *testing.B) {
	benchRMA(b, func(pe *shmem.PE, x shmem.Sym[int64], buf []int64) error { return shmem.Put(pe, x, buf, 1) })
}

func BenchmarkGet(b *testing.B) {
	benchRMA(b, func(pe *shmem.PE, x shmem.Sym[int64], buf []int64) error { return shmem.Get(pe, buf, x, 1) })
}

func BenchmarkP(b *testing.B) {
	benchRMA(b, func(pe *shmem.PE, x shmem.Sym[int64], _ []int64) error { return shmem.P(pe, x, 7, 1) })
}

func BenchmarkG(b *testing.B) {
	benchRMA(b, func(pe *shmem.PE, x shmem.Sym[int64], _ []int64) error {
		_, err := shmem.G(pe, x, 1)
		return err
	})
}

func BenchmarkPutNBI(b *testing.B) {
	benchRMA(b, func(pe *shmem.PE, x shmem.Sym[int64], buf []int64) error { return shmem.PutNBI(pe, x, buf, 1) })
}
