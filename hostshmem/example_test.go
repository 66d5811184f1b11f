package hostshmem_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Each PE sends a vector to the next PE with PutSignal; the receiver waits
// for the signal, after which the whole vector is guaranteed to be there.
func ExamplePutSignal() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 3, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		me, n := pe.MyPE(), pe.NPEs()
		data, err := shmem.Malloc[float32](ctx, pe, 4)
		if err != nil {
			return err
		}
		sig, err := shmem.Calloc[uint64](ctx, pe, 1)
		if err != nil {
			return err
		}
		v := []float32{float32(me), float32(me) + 0.5, 0, 1}
		if err := shmem.PutSignal(pe, data, v, sig, 1, shmem.SignalSet, (me+1)%n); err != nil {
			return err
		}
		if _, err := shmem.SignalWaitUntil(ctx, pe, sig, shmem.CmpEQ, 1); err != nil {
			return err
		}
		got := shmem.Local(pe, data)
		if err := pe.BarrierAll(ctx); err != nil { // print in PE order
			return err
		}
		for i := 0; i < n; i++ {
			if i == me {
				fmt.Printf("PE %d got %v\n", me, got)
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// PE 0 got [2 2.5 0 1]
	// PE 1 got [0 0.5 0 1]
	// PE 2 got [1 1.5 0 1]
}

// Errors name what was wrong and the values involved, and match sentinels.
func ExamplePut_errors() {
	_ = gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		x, err := shmem.Malloc[int32](ctx, pe, 4)
		if err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			fmt.Println(shmem.Put(pe, x, []int32{1, 2, 3}, 7))
			fmt.Println(shmem.Put(pe, x, make([]int32, 5), 1))
			fmt.Println(shmem.P(pe, x.At(4), 1, 1))
		}
		return nil
	})
	// Output:
	// gshmem: put: PE out of range: PE 7 not in [0, 2)
	// gshmem: put: out of range: 5 elements do not fit in Sym[int32]{off=2097152 len=4}
	// gshmem: p: Sym.At(4): out of range: object has 4 elements
}

// A context on a team names target PEs by their number in the team: here
// the even PEs pass their world number around their own ring.
func ExampleTeam_CreateCtx() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 5, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		evens, err := pe.TeamWorld().SplitStrided(ctx, 0, 2, 3, nil) // world PEs 0, 2, 4
		if err != nil {
			return err
		}
		box, err := shmem.Calloc[int64](ctx, pe, 1)
		if err != nil {
			return err
		}
		if evens != nil {
			c, err := evens.CreateCtx(shmem.CtxPrivate)
			if err != nil {
				return err
			}
			next := (evens.MyPE() + 1) % evens.NPEs() // a team number
			if err := shmem.P(c, box, int64(pe.MyPE()), next); err != nil {
				return err
			}
			if err := c.Destroy(); err != nil { // Destroy quiets first
				return err
			}
			if err := evens.Barrier(ctx); err != nil {
				return err
			}
		}
		return printInOrder(ctx, pe, func() {
			if evens != nil {
				fmt.Printf("PE %d (team PE %d) got %d\n", pe.MyPE(), evens.MyPE(), shmem.Local(pe, box)[0])
			}
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// PE 0 (team PE 0) got 4
	// PE 2 (team PE 1) got 0
	// PE 4 (team PE 2) got 2
}

// A non-blocking fetch-add returns at once; the value it fetched is there
// after the next Quiet.
func ExampleAtomicFetchAddNBI() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 3, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		counter, err := shmem.Calloc[int64](ctx, pe, 1)
		if err != nil {
			return err
		}
		var ticket int64 // the runtime's until Quiet
		if err := shmem.AtomicFetchAddNBI(pe, &ticket, counter, 10, 0); err != nil {
			return err
		}
		// ... other work ...
		if err := pe.Quiet(); err != nil {
			return err
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		return printInOrder(ctx, pe, func() {
			fmt.Printf("PE %d: ticket is a multiple of 10 below 30: %v\n", pe.MyPE(), ticket%10 == 0 && ticket < 30)
			if pe.MyPE() == 0 {
				fmt.Println("counter:", shmem.Local(pe, counter)[0])
			}
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// PE 0: ticket is a multiple of 10 below 30: true
	// counter: 30
	// PE 1: ticket is a multiple of 10 below 30: true
	// PE 2: ticket is a multiple of 10 below 30: true
}

// Ptr gives a peer's copy of an object as a slice where its memory is
// mapped (the inproc and shm transports); elsewhere its error says why, and
// Put and Get reach the peer all the same.
func ExamplePtr() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		x, err := shmem.Calloc[int32](ctx, pe, 4)
		if err != nil {
			return err
		}
		other := 1 - pe.MyPE()
		if v, err := shmem.Ptr(pe, x, other); err == nil {
			v[pe.MyPE()] = int32(10 + pe.MyPE()) // a store into the peer's copy
		} else if err := shmem.P(pe, x.At(pe.MyPE()), int32(10+pe.MyPE()), other); err != nil {
			return err
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		_, err = shmem.Ptr(pe, x, 2)
		return printInOrder(ctx, pe, func() {
			fmt.Printf("PE %d: %v\n", pe.MyPE(), shmem.Local(pe, x))
			if pe.MyPE() == 0 {
				fmt.Println(err)
			}
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// PE 0: [0 11 0 0]
	// gshmem: ptr: PE out of range: PE 2 not in [0, 2)
	// PE 1: [10 0 0 0]
}

// printInOrder runs f on every PE in PE order.
func printInOrder(ctx context.Context, pe *shmem.PE, f func()) error {
	for i := 0; i < pe.NPEs(); i++ {
		if i == pe.MyPE() {
			f()
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
	}
	return nil
}
