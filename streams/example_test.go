package streams_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

// Each PE fills a gradient in a Go function (the CPU engine's kernel),
// sums it across the job on the same stream, and reads the result after
// Synchronize. The host goroutine only enqueues, then waits once.
func ExampleAllReduce() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 4, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		grad, err := shmem.Malloc[float32](ctx, pe, 4)
		if err != nil {
			return err
		}
		s, err := streams.New(pe)
		if err != nil {
			return err
		}
		defer s.Close(ctx)
		me := pe.MyPE()
		if err := s.Go(func(context.Context) error {
			g := shmem.Local(pe, grad)
			for i := range g {
				g[i] = float32(me + i) // "the kernel"
			}
			return nil
		}); err != nil {
			return err
		}
		if err := streams.AllReduce(s, pe.TeamWorld(), shmem.OpSum, grad, grad, 4); err != nil {
			return err
		}
		if err := s.Synchronize(ctx); err != nil {
			return err
		}
		if me == 0 {
			fmt.Println("sum:", shmem.Local(pe, grad))
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// sum: [6 10 14 18]
}

// A value produced on one stream is consumed on another: WaitEvent makes
// the second stream wait for an Event recorded on the first.
func ExampleStream_WaitEvent() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		x, err := shmem.Calloc[int64](ctx, pe, 1)
		if err != nil {
			return err
		}
		y, err := shmem.Calloc[int64](ctx, pe, 1)
		if err != nil {
			return err
		}
		compute, comm := mustNew(pe), mustNew(pe)
		defer compute.Close(ctx)
		defer comm.Close(ctx)
		me, other := pe.MyPE(), 1-pe.MyPE()
		_ = compute.Go(func(context.Context) error { shmem.Local(pe, x)[0] = int64(10 * (me + 1)); return nil })
		ready, err := compute.Record()
		if err != nil {
			return err
		}
		_ = comm.WaitEvent(ready)                     // comm's put waits for compute's value
		_ = streams.Put(comm, y, x, other)            // y on the other PE
		_ = comm.Barrier(pe.TeamWorld())              // every PE's put has landed
		if err := comm.Synchronize(ctx); err != nil { // reports any failure above
			return err
		}
		if me == 0 {
			fmt.Println("PE 0 got", shmem.Local(pe, y)[0])
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// PE 0 got 20
}

func mustNew(pe *gshmem.PE) *streams.Stream {
	s, err := streams.New(pe)
	if err != nil {
		panic(err)
	}
	return s
}
