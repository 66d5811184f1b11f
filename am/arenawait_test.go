package am

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

type bigPayload struct{ P []byte }

// drained returns the arena chunks still in use once the releases in
// flight to w have landed (it polls for up to 5 s), after a Barrier
// that followed the last AM: the receiver sent its releases before it
// arrived, but this PE may have left the Barrier without reading them.
func drained(w *World) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.poll()
		n := w.tx.arena.InUse()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

func (b bigPayload) Exec(*Context) (int, error) { return len(b.P), nil }

// TestArenaWait sends more large payloads at once than the arena holds, so
// that launches wait for the receiver to release chunks (past the
// waiter's spin, into the fabric's wait), and checks that every AM
// arrives whole and that the arena is empty afterwards: a chunk allocated
// twice for one payload (once by a wake-up's check, once by the wait's)
// would stay in use, or fill the arena for good.
func TestArenaWait(t *testing.T) {
	reg := NewRegistry()
	MustRegister[bigPayload](reg, "internal.big")
	const size, n = 300 << 10, 40
	petest.RunPEs(t, 2, hostshmem.Config{}, func(pe *hostshmem.PE) error {
		ctx := context.Background()
		w, err := New(ctx, pe, reg, Options{ArenaBytes: 2*size + 4096, Threads: 1})
		if err != nil {
			return err
		}
		defer w.Abort()
		defer time.AfterFunc(time.Minute, w.Abort).Stop() // a leak would block launches for good: fail instead
		for round := range 8 {                            // the double allocation needs a wake-up at the wrong moment: try often
			if pe.MyPE() == 0 {
				futs := make([]*Future[int], n)
				for i := range futs {
					futs[i] = Exec(w, 1, bigPayload{P: make([]byte, size-i)})
				}
				for i, f := range futs {
					got, err := f.Wait(ctx)
					if err != nil {
						return err
					}
					if got != size-i {
						return fmt.Errorf("round %d, AM %d: %d bytes arrived, sent %d", round, i, got, size-i)
					}
				}
			}
			if err := w.Barrier(ctx); err != nil {
				return err
			}
			require.Zero(t, drained(w), "PE %d, round %d: arena chunks still in use", pe.MyPE(), round)
		}
		return w.Close(ctx)
	})
}
