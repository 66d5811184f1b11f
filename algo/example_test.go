package algo_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/algo"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Ring allreduce on 4 PEs: PE i contributes [i+1, 10(i+1), 100(i+1),
// ...], and every PE ends with the sums [10, 100, 1000, ...].
func ExampleRing() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 4, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		const n = 5
		ws, err := algo.NewWorkspace[float32](ctx, pe, n) // collective over the world
		if err != nil {
			return err
		}
		x, err := shmem.Malloc[float32](ctx, pe, n)
		if err != nil {
			return err
		}
		v := float32(pe.MyPE() + 1)
		for i := range shmem.Local(pe, x) {
			shmem.Local(pe, x)[i] = v
			v *= 10
		}
		// In place: dest and source are the same object.
		if err := algo.Ring(ctx, ws, pe.TeamWorld(), shmem.OpSum, x, x, n); err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			fmt.Println(shmem.Local(pe, x))
		}
		return ws.Free(ctx)
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: [10 100 1000 10000 100000]
}

// A new algorithm is a function with the AllReduce signature; one line
// per element type checks it against the serial reference on jobs of 1 to
// 8 PEs, on the world team and on sub-teams, for every op and for element
// counts from 0 to 4099 (algo.TestAllReduce does the same in a test).
func ExampleCheck() {
	err := algo.Check(context.Background(), algo.OneShot[int32], algo.Config{})
	fmt.Println(err)
	// Output: <nil>
}
