package fabric_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
)

func TestDefaultWaitPolicy(t *testing.T) {
	own, crowded := fabric.DefaultWaitPolicy(false), fabric.DefaultWaitPolicy(true)
	require.NoError(t, own.Check())
	require.NoError(t, crowded.Check())
	assert.Less(t, crowded.Spin, own.Spin, "crowded PEs spin less")
	assert.Less(t, crowded.Yields, own.Yields)
	assert.Less(t, crowded.SpinFor, own.SpinFor)
	assert.Equal(t, own.MinTick, crowded.MinTick, "ticks do not depend on crowding")
	assert.Equal(t, own.MaxTick, crowded.MaxTick)
	assert.Equal(t, own.Stall, crowded.Stall)
}

func TestWaitPolicyCheck(t *testing.T) {
	for name, mod := range map[string]func(*fabric.WaitPolicy){
		"negative Spin":      func(p *fabric.WaitPolicy) { p.Spin = -1 },
		"negative Yields":    func(p *fabric.WaitPolicy) { p.Yields = -1 },
		"negative SpinFor":   func(p *fabric.WaitPolicy) { p.SpinFor = -1 },
		"zero MinTick":       func(p *fabric.WaitPolicy) { p.MinTick = 0 },
		"MaxTick < MinTick":  func(p *fabric.WaitPolicy) { p.MaxTick = p.MinTick - 1 },
		"zero Stall":         func(p *fabric.WaitPolicy) { p.Stall = 0 },
		"negative Stall too": func(p *fabric.WaitPolicy) { p.Stall = -time.Second },
	} {
		p := fabric.DefaultWaitPolicy(false)
		mod(&p)
		assert.Error(t, p.Check(), name)
	}
}

// A Backoff yields for SpinFor, then sleeps ticks that double up to
// MaxTick; a PollBackoff sleeps from its first Pause.
func TestBackoff(t *testing.T) {
	ctx := context.Background()
	p := fabric.DefaultWaitPolicy(false)
	p.SpinFor, p.MinTick, p.MaxTick = time.Millisecond, time.Millisecond, 4*time.Millisecond

	b := p.Backoff()
	t0 := time.Now()
	for !b.Sleeping() {
		require.NoError(t, b.Pause(ctx))
	}
	assert.GreaterOrEqual(t, time.Since(t0), p.SpinFor, "yields for SpinFor before it sleeps")
	b.Reset()
	assert.False(t, b.Sleeping(), "Reset yields first again")

	b = p.PollBackoff()
	assert.True(t, b.Sleeping(), "a PollBackoff sleeps from its first Pause")
	t0 = time.Now()
	for range 4 {
		require.NoError(t, b.Pause(ctx))
	}
	// Sleeps never end early: 1 + 2 + 4 + 4 ms at least.
	assert.GreaterOrEqual(t, time.Since(t0), 11*time.Millisecond)
	b.Reset()
	assert.True(t, b.Sleeping(), "a PollBackoff stays a poll")
}

// Pause ends with the context, with its cause, in the middle of a sleep.
func TestBackoffContext(t *testing.T) {
	p := fabric.DefaultWaitPolicy(false)
	p.MinTick, p.MaxTick = time.Hour, time.Hour
	why := errors.New("the job failed")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 10*time.Millisecond, why)
	defer cancel()
	b := p.PollBackoff()
	t0 := time.Now()
	err := b.Pause(ctx)
	assert.Less(t, time.Since(t0), time.Minute)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, why)
	assert.ErrorIs(t, b.Pause(ctx), context.DeadlineExceeded, "an ended context ends Pause at once")
}

// A Backoff lives on its loop's stack: am makes one per flush of a full
// queue, on the path of every AM.
func TestBackoffDoesNotAllocate(t *testing.T) {
	p := fabric.DefaultWaitPolicy(false)
	p.SpinFor = time.Hour // yields only
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		b := p.Backoff()
		b.Pause(ctx)
	})
	assert.Zero(t, allocs)
}

// AdaptSpin covers twice a wait of up to 8*SpinTime that its spin did not
// catch, halves the spin time after a longer one, and keeps it within
// [SpinTime, 8*SpinTime].
func TestAdaptSpin(t *testing.T) {
	p := fabric.DefaultWaitPolicy(false)
	require.Positive(t, p.SpinTime)
	s := p.SpinTime
	for _, c := range []struct {
		name         string
		spin, waited time.Duration
		want         time.Duration
	}{
		{"just missed", s, s + 1, 2*s + 2},
		{"a hand-off of 3 spins", s, 3 * s, 6 * s},
		{"never shorter after a hand-off", 4 * s, s, 4 * s},
		{"at most 8*SpinTime", s, 8 * s, 8 * s},
		{"far off", 4 * s, 8*s + 1, 2 * s},
		{"not below SpinTime", s, time.Hour, s},
	} {
		assert.Equal(t, c.want, p.AdaptSpin(c.spin, c.waited), c.name)
	}
	crowded := fabric.DefaultWaitPolicy(true)
	assert.Zero(t, crowded.SpinTime, "crowded PEs count their looks")
	p.SpinTime = -1
	assert.Error(t, p.Check(), "negative SpinTime")
}
