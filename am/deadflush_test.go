package am_test

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// Pid returns the process id of the PE it runs on.
type Pid struct{}

func (Pid) Exec(*am.Context) (int, error) { return os.Getpid(), nil }

func init() {
	am.MustRegister[Pid](reg, "test.pid")
	scenarios["dead-flush"] = scenarioDeadFlush
}

// scenarioDeadFlush: PE 0 fills the ring to PE 1, which is stopped
// (SIGSTOP) and drains nothing, so that PE 0's launch waits for room
// holding that ring's queue; then PE 1 is killed. The launch must fail
// with PE 1's death. Which of PE 0's goroutines learns of the death first
// varies from run to run; when it is the waiting launch itself, it used
// to deadlock on its own queue (peerError locked it again).
func scenarioDeadFlush(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	signal.Ignore(syscall.SIGTERM)
	w := newWorld(t, pe, am.Options{RingBytes: 4096, FlushBytes: 1024})
	if pe.MyPE() == 1 {
		select {} // stopped, then killed, by PE 0
	}
	pid, err := am.Exec(w, 1, Pid{}).Wait(ctx)
	if !assert.NoError(t, err) {
		return
	}
	syscall.Kill(pid, syscall.SIGSTOP)
	time.AfterFunc(500*time.Millisecond, func() { syscall.Kill(pid, syscall.SIGKILL) })
	start := time.Now()
	payload := make([]byte, 512)
	for i := 0; ; i++ {
		// No waiting: once the ring is full, a launch waits for room.
		if f := am.Exec(w, 1, Flood{I: i, P: payload}); f.Ready() {
			if _, err := f.Wait(ctx); err != nil {
				fmt.Printf("PE 0: launch %d failed after %v: %v\n", i, time.Since(start).Round(time.Millisecond), err)
				os.Exit(3)
			}
		}
		if time.Since(start) > 20*time.Second {
			fmt.Println("PE 0: no launch failed in 20 s")
			os.Exit(4)
		}
	}
}

// TestDeadPeerWhileFlushing: a launch waiting for room in the ring of a
// PE that dies fails with an error naming it, within seconds.
func TestDeadPeerWhileFlushing(t *testing.T) {
	r := petest.Launch(t, "dead-flush", 2)
	t.Log(r.Output)
	assert.Less(t, r.Elapsed, 15*time.Second)
	assert.Regexp(t, `PE 0: launch \d+ failed after .*PE 1`, r.Output)
}
