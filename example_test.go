package gshmem_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Every PE adds its number to a counter on PE 0; after the barrier PE 0
// prints the sum. The same function runs unchanged as processes under
// gpurun.
func ExampleRun() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 4, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		counter, err := shmem.Calloc[int64](ctx, pe, 1) // collective: same object on every PE
		if err != nil {
			return err
		}
		if err := shmem.AtomicAdd(pe, counter, int64(pe.MyPE()), 0); err != nil {
			return err
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			fmt.Println("sum of PE numbers:", shmem.Local(pe, counter)[0])
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: sum of PE numbers: 6
}
