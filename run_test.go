package gshmem_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/streams"
)

var scenarios = petest.Scenarios{
	"killed": scenarioKilled,
}

// firstContactEnv makes the test binary a program that runs two in-process
// jobs, host-only ("host") or using the device side ("device"), for
// TestFirstContact.
const firstContactEnv = "GSHMEM_TEST_FIRST_CONTACT"

func TestMain(m *testing.M) {
	if mode := os.Getenv(firstContactEnv); mode != "" {
		os.Exit(firstContact(mode))
	}
	if mode := os.Getenv(slurmHelperEnv); mode != "" {
		os.Exit(slurmHelper(mode))
	}
	petest.Main(m, scenarios)
}

func firstContact(mode string) int {
	cfg, err := gshmem.LoadConfig(nil)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	cfg.NPEs, cfg.HeapSize, cfg.DeviceHeapSize = 2, 1<<20, 1<<20
	for range 2 {
		err := gshmem.RunWith(context.Background(), cfg, func(ctx context.Context, pe *gshmem.PE) error {
			if mode == "host" {
				_, err := hostshmem.Malloc[int64](ctx, pe, 8)
				return err
			}
			if _, err := hostshmem.MallocOn[int64](ctx, pe, hostshmem.Device, 8); err != nil {
				return err
			}
			s, err := streams.New(pe)
			if err != nil {
				return err
			}
			return s.Close(ctx)
		})
		if err != nil {
			fmt.Println(err)
			return 1
		}
	}
	return 0
}

// A program says nothing about the device side until it uses it; then,
// on the CPU fallback that it did not choose, it says so once per
// process, as information (what it runs on, and how to choose it).
func TestFirstContact(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	plan, err := device.Choose("")
	require.NoError(t, err)
	for _, c := range []struct {
		mode, device string
		says         bool
	}{
		{"host", "", false},
		{"device", "", !plan.GPU()},
		{"device", "cpu", false},
	} {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GSHMEM_") }),
			firstContactEnv+"="+c.mode, "GSHMEM_DEVICE="+c.device)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "%s, GSHMEM_DEVICE=%q: %s%s", c.mode, c.device, out, stderr.String())
		if !c.says {
			assert.Empty(t, stderr.String(), "%s, GSHMEM_DEVICE=%q", c.mode, c.device)
			continue
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		require.Len(t, lines, 1, "once per process, however many jobs and PEs:\n%s", stderr.String())
		assert.Regexp(t, `^gshmem: no GPU \(.+\): the device heap and streams run on the CPU \(GSHMEM_DEVICE=cpu chooses this quietly\)$`, lines[0])
	}
}

// The context Run gives every PE ends when one PE fails, however it fails,
// and says which PE and how; the failing PE's own context ends too.
func TestRunContextEndsWhenAPEFails(t *testing.T) {
	const n = 3
	for name, fail := range map[string]func(ctx context.Context, pe *gshmem.PE) error{
		"error": func(context.Context, *gshmem.PE) error { return errors.New("boom") },
		"panic": func(context.Context, *gshmem.PE) error { panic("boom") },
		"abort": func(ctx context.Context, pe *gshmem.PE) error {
			pe.Abort()
			<-ctx.Done()
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			causes := make([]error, n)
			err := gshmem.RunWith(ctx, gshmem.Config{NPEs: n, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
				if err := pe.BarrierAll(ctx); err != nil {
					return err
				}
				if pe.MyPE() == n-1 {
					return fail(ctx, pe)
				}
				<-ctx.Done()
				causes[pe.MyPE()] = context.Cause(ctx)
				return nil
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("PE %d", n-1))
			require.NoError(t, ctx.Err(), "the PEs stopped because of the failure, not the test's deadline")
			for me := range n - 1 {
				var perr *fabric.PeerError
				require.ErrorAs(t, causes[me], &perr, "PE %d", me)
				assert.Equal(t, n-1, perr.PE, "PE %d", me)
				if name != "abort" {
					assert.Contains(t, perr.How, "boom", "PE %d: the cause carries the failure", me)
				}
			}
		})
	}
}

// A wait under Run's context that ends because a PE failed says which.
func TestRunContextWaitNamesTheFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var waitErr error
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		x, err := hostshmem.Calloc[int64](ctx, pe, 1)
		if err != nil {
			return err
		}
		if pe.MyPE() == 1 {
			return errors.New("gave up")
		}
		waitErr = hostshmem.WaitUntil(ctx, pe, x, hostshmem.CmpEQ, 1) // never set
		return nil
	})
	require.Error(t, err)
	require.ErrorIs(t, waitErr, fabric.ErrPeerDead)
	assert.Contains(t, waitErr.Error(), "PE 1 failed: gave up")
}

// scenarioKilled: the last PE kills its own process; the others' contexts
// end, naming it. Survivors ignore the launcher's SIGTERM so that their
// own detection is what the test sees.
func scenarioKilled(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	signal.Ignore(syscall.SIGTERM)
	require.NoError(t, pe.BarrierAll(ctx))
	if pe.MyPE() == pe.NPEs()-1 {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	<-ctx.Done()
	fmt.Printf("PE %d: context ended: %v\n", pe.MyPE(), context.Cause(ctx))
	os.Exit(3)
}

// Under gpurun, a PE whose process dies ends the others' contexts within
// a tick of the watch, naming it; the launcher stops the job.
func TestRunContextEndsWhenAProcessDies(t *testing.T) {
	r := petest.Launch(t, "killed", 3)
	assert.Equal(t, 128+9, r.Code, "the killed PE's status:\n%s", r.Output)
	assert.Less(t, r.Elapsed, 10*time.Second)
	for _, pe := range []int{0, 1} {
		assert.Regexp(t, fmt.Sprintf(`PE %d: context ended: gshmem: PE 2 \(pid \d+\) died`, pe), r.Output)
	}
}

// GlobalExit in an in-process job: the calling PE's function ends there,
// every other PE's context ends with an *ExitError as its cause, and
// RunWith returns that ExitError, carrying the PE and the status.
func TestGlobalExitInproc(t *testing.T) {
	const n = 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	causes := make([]error, n)
	var deferred, after bool
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: n, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		// PE 1 may leave the barrier and call GlobalExit before a peer
		// has seen the barrier complete: that peer's barrier then fails,
		// and its context still ends with the ExitError.
		err := pe.BarrierAll(ctx)
		if pe.MyPE() == 1 {
			if err != nil {
				return err
			}
			defer func() { deferred = true }()
			pe.GlobalExit(7)
			after = true
			return nil
		}
		<-ctx.Done()
		causes[pe.MyPE()] = context.Cause(ctx)
		return nil
	})
	var exit *gshmem.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, gshmem.ExitError{PE: 1, Status: 7}, *exit)
	assert.EqualError(t, err, "gshmem: PE 1 ended the job with GlobalExit(7)")
	assert.True(t, deferred, "the calling function's deferred calls ran")
	assert.False(t, after, "GlobalExit did not return")
	require.NoError(t, ctx.Err())
	for _, me := range []int{0, 2} {
		require.ErrorAs(t, causes[me], &exit, "PE %d", me)
		assert.Equal(t, 7, exit.Status)
	}
}

// A wait on a PE that called GlobalExit fails at once, naming it and the
// status.
func TestGlobalExitEndsWaits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var waitErr error
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(_ context.Context, pe *gshmem.PE) error {
		x, err := hostshmem.Calloc[int64](ctx, pe, 1)
		if err != nil {
			return err
		}
		if pe.MyPE() == 1 {
			pe.GlobalExit(0)
		}
		waitErr = hostshmem.WaitUntil(ctx, pe, x, hostshmem.CmpEQ, 1) // under the test's context
		return nil
	})
	var exit *gshmem.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 0, exit.Status)
	require.ErrorIs(t, waitErr, fabric.ErrPeerDead)
	assert.Contains(t, waitErr.Error(), "PE 1 called GlobalExit(0)")
}
