package am_test

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// probe is a Darc value that is told when its Darc is freed.
type probe struct {
	n     *atomic.Int64
	freed chan struct{}
}

func (p probe) DarcFreed() { close(p.freed) }

// boxed travels in an AM as its Darc and a tag (am.Carrier).
type boxed struct {
	d   *am.Darc[probe]
	tag uint32
}

func (b *boxed) Carried(buf []byte) (any, []byte) {
	return b.d, binary.LittleEndian.AppendUint32(buf, b.tag)
}

func (b *boxed) Land(w *am.World, d any, buf []byte) error {
	if w == nil {
		return fmt.Errorf("no World")
	}
	b.d, b.tag = d.(*am.Darc[probe]), binary.LittleEndian.Uint32(buf)
	if b.tag == 0xdead {
		return fmt.Errorf("tag %#x refused", b.tag)
	}
	return nil
}

// BoxAdd adds N plus the box's tag to the receiver's probe.
type BoxAdd struct {
	B *boxed
	N int64
}

func (a BoxAdd) Exec(ctx *am.Context) (int64, error) {
	return a.B.d.Get().n.Add(a.N + int64(a.B.tag)), nil
}

func init() { am.MustRegister[BoxAdd](reg, "test.boxadd") }

func TestHooks(t *testing.T) { petest.Both(t, scenarios, "hooks", 2, 3) }

type attachKey struct{}

func scenarioHooks(t *petest.T, pe *hostshmem.PE) {
	ctx := t.Context()
	w := newWorld(t, pe, am.Options{})
	defer w.Abort()
	defer hits.Delete(w) // a later World may reuse its address
	me, n := w.MyPE(), w.NPEs()

	// Attach: one value per key, made once.
	made := 0
	mk := func() any { made++; return &made }
	v := w.Attach(attachKey{}, mk)
	require.Same(t, v, w.Attach(attachKey{}, mk))
	require.Equal(t, 1, made)
	require.Nil(t, w.Attach([]int{1}, mk), "an incomparable key")
	require.Nil(t, (*am.World)(nil).Attach(attachKey{}, mk))
	require.Nil(t, w.Attach(attachKey{}, nil))

	// A Carrier rides in AMs as its Darc and its bytes.
	p := probe{n: new(atomic.Int64), freed: make(chan struct{})}
	d, err := am.NewDarc(ctx, w, p)
	require.NoError(t, err)
	_, err = am.Exec(w, (me+1)%n, BoxAdd{B: &boxed{d: d, tag: 10}, N: 1}).Wait(ctx)
	require.NoError(t, err)
	_, err = am.Exec(w, (me+1)%n, BoxAdd{N: 1}).Wait(ctx)
	require.ErrorContains(t, err, "nil", "a nil Carrier cannot travel")
	if n > 1 {
		_, err = am.Exec(w, (me+1)%n, BoxAdd{B: &boxed{d: d, tag: 0xdead}}).Wait(ctx)
		require.ErrorContains(t, err, "refused", "Land's error fails the AM")
	}
	require.NoError(t, w.WaitAll(ctx))
	require.NoError(t, w.Barrier(ctx))
	require.EqualValues(t, 11, p.n.Load())
	require.Equal(t, 1, d.LocalRefs(), "the AMs' references are gone")

	// Freer: told once every PE dropped its handle.
	if me == 0 {
		require.NoError(t, d.Drop())
	}
	require.NoError(t, w.Barrier(ctx))
	select {
	case <-p.freed:
		require.FailNow(t, "freed while PEs still hold references")
	default:
	}
	if me != 0 {
		require.NoError(t, d.Drop())
	}
	select {
	case <-p.freed:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the Darc's value was not told it was freed", "PE %d", me)
	}
	require.NoError(t, w.Barrier(ctx))
	closeWorld(t, w)
}
