package am

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric/inproc"
	"github.com/gshmem/gshmem/hostshmem"
)

// TestNewRejectsBadOptions: New refuses a negative, too small or too large
// size on every PE, before any collective step and without overflowing a
// size computation, with ErrInvalidArg naming the field, its value and
// the limit; the PEs can make a World afterwards.
func TestNewRejectsBadOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 2
	_, pes := InprocPEs(t, n)
	defer func() {
		for _, pe := range pes {
			pe.Abort()
		}
	}()
	heap := fmt.Sprint(pes[0].HeapSize())
	for _, c := range []struct {
		opt  Options
		want []string // in the error: the field, its value, the limit
	}{
		{Options{RingBytes: 1 << 62}, []string{"RingBytes", fmt.Sprint(1 << 62), fmt.Sprint(maxRingBytes)}},
		{Options{RingBytes: math.MaxInt &^ 63}, []string{"RingBytes", fmt.Sprint(math.MaxInt &^ 63), fmt.Sprint(maxRingBytes)}},
		{Options{RingBytes: maxRingBytes + 64}, []string{"RingBytes", fmt.Sprint(maxRingBytes + 64), fmt.Sprint(maxRingBytes)}},
		{Options{RingBytes: -4096}, []string{"RingBytes", "-4096", "4096"}},
		{Options{RingBytes: 64}, []string{"RingBytes", "64", "4096"}},
		{Options{RingBytes: 4100}, []string{"RingBytes", "4100", "multiple of 64"}},
		{Options{RingBytes: maxRingBytes}, []string{"RingBytes", fmt.Sprint(maxRingBytes), heap}}, // in range, but not in an 8 MiB heap
		{Options{RingBytes: 4 << 20, ArenaBytes: 2 << 20}, []string{"RingBytes", fmt.Sprint(4 << 20), "ArenaBytes", heap}},
		{Options{Threads: -1}, []string{"Threads", "-1", "negative"}},
		{Options{Threads: 1 << 40}, []string{"Threads", fmt.Sprint(1 << 40), fmt.Sprint(maxThreads)}},
		{Options{LargeBytes: -1}, []string{"LargeBytes", "-1", "negative"}},
		{Options{ArenaBytes: -64}, []string{"ArenaBytes", "-64", "negative"}},
		{Options{ArenaBytes: 63}, []string{"ArenaBytes", "63", "at least 64"}},
		{Options{ArenaBytes: math.MaxInt}, []string{"ArenaBytes", fmt.Sprint(math.MaxInt), heap}},
		{Options{DarcSlots: -1}, []string{"DarcSlots", "-1", "negative"}},
		{Options{DarcSlots: maxDarcSlots + 1}, []string{"DarcSlots", fmt.Sprint(maxDarcSlots + 1), fmt.Sprint(maxDarcSlots)}},
		{Options{DarcSlots: math.MaxInt}, []string{"DarcSlots", fmt.Sprint(math.MaxInt), fmt.Sprint(maxDarcSlots)}},
		{Options{ConvertWarn: -time.Second}, []string{"ConvertWarn", "-1s", "negative"}},
	} {
		name := strings.Join(c.want[:2], "=")
		t.Run(name, func(t *testing.T) {
			ws := make([]*World, n)
			errs := OnEachPE(n, func(i int) (err error) {
				ws[i], err = New(ctx, pes[i], NewRegistry(), c.opt)
				return err
			})
			for i, err := range errs {
				assert.True(t, ws[i] == nil, "PE %d: no World", i)
				require.ErrorIs(t, err, ErrInvalidArg, "PE %d", i)
				for _, s := range c.want {
					assert.ErrorContains(t, err, s, "PE %d", i)
				}
			}
		})
	}
	// Nothing was allocated, and the PEs are still in step: a good World works.
	ws := make([]*World, n)
	require.NoError(t, errors.Join(OnEachPE(n, func(i int) (err error) {
		ws[i], err = New(ctx, pes[i], NewRegistry(), Options{Threads: 1, RingBytes: 4096, DarcSlots: maxDarcSlots, LargeBytes: 1 << 20})
		return err
	})...))
	assert.Equal(t, 1024, ws[0].opt.LargeBytes, "LargeBytes is capped at RingBytes/4")
	require.NoError(t, errors.Join(OnEachPE(n, func(i int) error { return ws[i].Close(ctx) })...))
}

// The PE's configured handler goroutines (GSHMEM_THREADS, read by
// gshmem.Run) are held to the same limit as Options.Threads.
func TestNewRejectsConfiguredThreads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	job, err := inproc.New(1, hostshmem.RegionSize(8<<20))
	require.NoError(t, err)
	pe, err := hostshmem.New(job.Fabric(0), hostshmem.Config{Threads: 1 << 40})
	require.NoError(t, err)
	defer pe.Abort()
	_, err = New(ctx, pe, NewRegistry(), Options{})
	require.ErrorIs(t, err, ErrInvalidArg)
	for _, s := range []string{"GSHMEM_THREADS", fmt.Sprint(1 << 40), fmt.Sprint(maxThreads)} {
		assert.ErrorContains(t, err, s)
	}
}
