// Command ring passes a token around the PEs with puts and waits, with a
// barrier every few rounds: a smoke test of a job and the program the fault
// tests kill a PE of.
//
//	go run ./examples/ring -iters 10000
//	go run ./cmd/gpurun -n 3 ./examples/ring -seconds 5
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

func main() {
	iters := flag.Int64("iters", 1000, "rounds of the token around the ring")
	seconds := flag.Float64("seconds", 0, "run for this long instead of -iters rounds")
	every := flag.Int64("barrier-every", 100, "barrier after this many rounds")
	flag.Parse()
	if err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error { return ring(ctx, pe, *iters, *seconds, *every) }); err != nil {
		fmt.Fprintln(os.Stderr, "ring:", err)
		os.Exit(1)
	}
}

// ring: PE 0 sends round r (or -r to stop) to PE 1, each PE waits for a new
// value and forwards it to the next.
func ring(ctx context.Context, pe *gshmem.PE, iters int64, seconds float64, every int64) error {
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	token, err := shmem.Calloc[int64](ctx, pe, 1)
	if err != nil {
		return err
	}
	fmt.Printf("PE %d of %d: pid %d ready\n", me, n, os.Getpid())
	if err := pe.BarrierAll(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	start := time.Now()
	var last, r int64
	for {
		r++
		send := r
		if me == 0 {
			if (seconds > 0 && !time.Now().Before(deadline)) || (seconds == 0 && r > iters) {
				send = -r
			}
			if err := hop(ctx, pe, token, send, next); err != nil {
				return err
			}
		}
		if n > 1 || me != 0 {
			if err := shmem.WaitUntil(ctx, pe, token, shmem.CmpNE, last); err != nil {
				return fmt.Errorf("round %d: %w", r, err)
			}
		}
		got := shmem.Local(pe, token)[0]
		if me == 0 && n == 1 {
			got = send
		}
		if got != send && me == 0 || got != r && got != -r {
			return fmt.Errorf("round %d: token %d, want %d", r, got, send)
		}
		last = got
		if me != 0 {
			if err := hop(ctx, pe, token, got, next); err != nil {
				return err
			}
		}
		if got < 0 {
			break
		}
		if r%every == 0 {
			if err := pe.BarrierAll(ctx); err != nil {
				return fmt.Errorf("round %d: %w", r, err)
			}
		}
	}
	if me == 0 {
		el := time.Since(start)
		hops := (r - 1) * int64(n)
		fmt.Printf("ring: %d PEs, %d rounds in %v, %.2f µs per hop\n", n, r-1, el.Round(time.Millisecond), float64(el.Microseconds())/float64(max(hops, 1)))
	}
	return nil
}

func hop(ctx context.Context, pe *gshmem.PE, token shmem.Sym[int64], v int64, to int) error {
	if err := shmem.P(pe, token, v, to); err != nil {
		return err
	}
	return pe.Quiet()
}
