package am

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
)

// TestDeadPEArena: large payloads sent to a PE that stopped serving fill
// the sender's arena; when that PE dies its chunks come back, so a large
// AM to a live PE that was waiting for room goes through instead of
// waiting forever, and one to the dead PE fails.
func TestDeadPEArena(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reg := NewRegistry()
	MustRegister[bigPayload](reg, "internal.big")
	const size = 40 << 10
	job, pes, ws := InprocWorlds(t, ctx, reg, 3, Options{Threads: 1, ArenaBytes: 3*size + 3*lineB})
	defer func() {
		for i := range ws {
			ws[i].Abort()
			pes[i].Abort()
		}
	}()
	ws[1].Abort() // PE 1 stops serving: it releases nothing
	var held []*Future[int]
	for range 3 {
		held = append(held, Exec(ws[0], 1, bigPayload{P: make([]byte, size)}))
	}
	require.Equal(t, 3, ws[0].tx.arena.InUse(), "the arena is full of PE 1's chunks")
	done := make(chan *Future[int], 1)
	go func() { done <- Exec(ws[0], 2, bigPayload{P: make([]byte, size)}) }() // waits for room
	select {
	case <-done:
		t.Fatal("a fourth chunk fit in an arena of three")
	case <-time.After(50 * time.Millisecond):
	}
	job.Fail(1, "killed by the test")
	pes[1].Abort()
	var f *Future[int]
	select {
	case f = <-done:
	case <-ctx.Done():
		t.Fatal("the AM to PE 2 still waits for arena room held by the dead PE 1")
	}
	v, err := f.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, size, v)
	for _, h := range held {
		_, err := h.Wait(ctx)
		require.ErrorIs(t, err, fabric.ErrPeerDead)
	}
	_, err = Exec(ws[0], 1, bigPayload{P: make([]byte, size)}).Wait(ctx)
	require.ErrorIs(t, err, fabric.ErrPeerDead)
}
