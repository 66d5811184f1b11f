package am

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/inproc"
	"github.com/gshmem/gshmem/hostshmem"
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
	job, err := inproc.New(3, hostshmem.RegionSize(8<<20))
	require.NoError(t, err)
	pes := make([]*hostshmem.PE, 3)
	for i := range pes {
		pes[i], err = hostshmem.New(job.Fabric(i), hostshmem.Config{})
		require.NoError(t, err)
	}
	const size = 40 << 10
	ws := make([]*World, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i], errs[i] = New(ctx, pes[i], reg, Options{Threads: 1, ArenaBytes: 3*size + 3*lineB})
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
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
	require.Equal(t, 3, ws[0].arena.inUse(), "the arena is full of PE 1's chunks")
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
