package am_test

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// Die kills the process it runs in (SIGKILL): its PE dies mid-handler.
type Die struct{}

func (Die) Exec(ctx *am.Context) (int, error) {
	fmt.Printf("PE %d: dying in a handler\n", ctx.MyPE())
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func init() {
	am.MustRegister[Die](reg, "test.die")
	scenarios["fault"] = scenarioFault
}

// scenarioFault: PE 2 dies while PEs 0 and 1 wait on AMs it runs; their
// futures fail with an error naming it. Survivors ignore the launcher's
// SIGTERM so that their own detection is what the test sees.
func scenarioFault(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	signal.Ignore(syscall.SIGTERM)
	w := newWorld(t, pe, am.Options{})
	me := pe.MyPE()
	if me == 2 {
		select {} // serve until killed by our own handler
	}
	var f *am.Future[int]
	if me == 0 {
		f = am.Exec(w, 2, Die{})
	} else {
		time.Sleep(100 * time.Millisecond)
		f = am.Exec(w, 2, WhoAmI{}) // in flight or refused: fails either way
	}
	_, err := f.Wait(ctx)
	var perr *fabric.PeerError
	if errors.As(err, &perr) && perr.PE == 2 && errors.Is(err, fabric.ErrPeerDead) {
		fmt.Printf("PE %d: AM to PE 2 failed: %v\n", me, err)
	} else {
		fmt.Printf("PE %d: unexpected: %v\n", me, err)
	}
	os.Exit(3)
}

// TestFaultShm: a PE killed mid-handler fails the futures waiting on it
// on both survivors, within seconds; nothing is left in /dev/shm.
func TestFaultShm(t *testing.T) {
	r := petest.Launch(t, "fault", 3)
	t.Log(r.Output)
	assert.Equal(t, 128+9, r.Code, "exit status is the killed PE's")
	assert.Less(t, r.Elapsed, 10*time.Second)
	assert.Contains(t, r.Output, "PE 2: dying in a handler")
	for _, survivor := range []int{0, 1} {
		assert.Regexp(t, fmt.Sprintf(`PE %d: AM to PE 2 failed: .*PE 2 \(pid \d+\)`, survivor), r.Output)
	}
}
