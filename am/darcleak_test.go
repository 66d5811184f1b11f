package am_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
)

// logs collects what a World reports through Options.Logf.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// World.Close names each Darc handle the program never dropped, with the
// line that made it; dropped and converted handles are not reported.
func TestCloseReportsUndroppedDarcs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var l logs
	var line int
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 8 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		opt := am.Options{Logf: func(string, ...any) {}}
		if pe.MyPE() == 0 {
			opt.Logf = l.logf
		}
		w, err := am.New(ctx, pe, reg, opt)
		if err != nil {
			return err
		}
		_, _, here, _ := runtime.Caller(0)
		kept, err := am.NewDarc(ctx, w, atomic.Int64{}) // never dropped
		if err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			line = here + 1
		}
		c, err := kept.Clone()
		if err != nil {
			return err
		}
		if err := c.Drop(); err != nil {
			return err
		}
		other, err := am.NewDarc(ctx, w, 5)
		if err != nil {
			return err
		}
		rw, err := am.IntoLocalRw(ctx, other) // other is consumed; rw is dropped
		if err != nil {
			return err
		}
		if err := rw.Drop(); err != nil {
			return err
		}
		return w.Close(ctx)
	})
	require.NoError(t, err)
	got := l.get()
	require.Len(t, got, 1, "%q", got)
	assert.Regexp(t, `^am: PE 0: World\.Close: Darc\[atomic\.Int64\] darc\(owner 0, slot \d+, gen \d+\) made at .*darcleak_test\.go:`+fmt.Sprint(line)+` \(.*TestCloseReportsUndroppedDarcs.*\) was never dropped$`, got[0])
}

// A World left open reports its undropped handles when Finalize closes
// it; an abort reports nothing.
func TestFinalizeReportsUndroppedDarcs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var l logs
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 8 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, reg, am.Options{Logf: l.logf})
		if err != nil {
			return err
		}
		_, err = am.NewGlobalRwDarc(ctx, w, "x")
		return err // the World and the Darc left open
	})
	require.NoError(t, err)
	got := l.get()
	require.Len(t, got, 2, "one per PE: %q", got)
	for _, s := range got {
		assert.Contains(t, s, "World.Close: GlobalRwDarc[string]")
		assert.Contains(t, s, "was never dropped")
	}
}

// A handle that becomes unreachable without Drop is caught after a
// garbage collection: reported, and its reference dropped, so that the
// Darc is freed.
func TestUnreachableDarcIsDropped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var l logs
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 1, HeapSize: 8 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, reg, am.Options{Logf: l.logf})
		if err != nil {
			return err
		}
		func() {
			d, err := am.NewDarc(ctx, w, atomic.Int64{})
			require.NoError(t, err)
			d.Get().Add(1)
		}() // d is lost undropped
		require.Eventually(t, func() bool {
			runtime.GC()
			return w.LiveDarcs() == 0
		}, 10*time.Second, time.Millisecond, "the lost handle's reference was dropped and the Darc freed")
		return w.Close(ctx)
	})
	require.NoError(t, err)
	got := l.get()
	require.Len(t, got, 1, "reported once, by the cleanup, not again at Close: %q", got)
	assert.Contains(t, got[0], "Darc[atomic.Int64]")
	assert.Contains(t, got[0], "became unreachable without Drop")
	assert.True(t, strings.Contains(got[0], "darcleak_test.go:"), got[0])
}
