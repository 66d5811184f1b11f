// Package fabrictest is the conformance suite of fabric.Fabric: what every
// transport (fabric/inproc, fabric/shm, fabric/hybrid) must do, checked
// through the interface alone, as the runtime above uses it. Each
// transport's tests open a job and call Run. (The runtime's own RMA-only
// mode, testseam.HidePeers, checks the layers above the other way round:
// the paths they take for a peer that is not mapped, on a transport that
// maps it.)
package fabrictest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
)

// Base is the first offset of a region the suite uses; it uses Span bytes
// from there. A job for Run needs regions of at least Base+Span bytes.
const (
	Base = 64 << 10
	Span = 512 << 10
)

// Run checks fs, the fabrics of every PE of one open job (fs[i] is PE
// i's; at least 2), in one process. The caller closes them after.
func Run(t *testing.T, fs []fabric.Fabric) {
	t.Helper()
	require.GreaterOrEqual(t, len(fs), 2, "a job of at least 2 PEs")
	for i, f := range fs {
		require.Equal(t, i, f.PE(), "fs[%d] is PE %d's fabric", i, i)
		require.Equal(t, len(fs), f.NPEs())
		require.Equal(t, fs[0].Size(), f.Size(), "every PE's region has one size")
	}
	require.GreaterOrEqual(t, fs[0].Size(), uintptr(Base+Span))
	t.Run("put-get", func(t *testing.T) { putGet(t, fs) })
	t.Run("amo", func(t *testing.T) { amos(t, fs) })
	t.Run("put-signal", func(t *testing.T) { putSignal(t, fs) })
	t.Run("wait", func(t *testing.T) { waits(t, fs) })
}

func word(f fabric.Fabric, off uintptr) *uint64 {
	return (*uint64)(unsafe.Pointer(&f.Region(f.PE())[off]))
}

// putGet: every PE puts a pattern into the next one; after Quiet the next
// one's region holds it, and a Get from any PE reads it back.
func putGet(t *testing.T, fs []fabric.Fabric) {
	n := len(fs)
	const off, size = Base, 3000
	pattern := func(pe int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(pe*31 + i)
		}
		return b
	}
	each(t, fs, func(pe int, f fabric.Fabric) error {
		if err := f.Put((pe+1)%n, off, pattern(pe)); err != nil {
			return err
		}
		return f.Quiet()
	})
	for pe, f := range fs {
		from := (pe + n - 1) % n
		assert.Equal(t, pattern(from), f.Region(pe)[off:off+size], "PE %d's region after PE %d's put", pe, from)
		got := make([]byte, size)
		require.NoError(t, fs[from].Get(pe, off, got))
		assert.Equal(t, pattern(from), got, "PE %d gets it back from PE %d", from, pe)
	}
}

// amos: every op on both widths, against the CPU atomic's model; adds
// from every PE on one word lose nothing.
func amos(t *testing.T, fs []fabric.Fabric) {
	last := fs[len(fs)-1]
	target := last.PE()
	const off = Base + 4096
	for op := fabric.AMOFetch; op <= fabric.AMOXor; op++ {
		atomic.StoreUint64(word(last, off), 6)
		old, err := fs[0].AMO64(target, off, op, 3, 6)
		require.NoError(t, err, "%v", op)
		assert.Equal(t, uint64(6), old, "%v: old value", op)
		_, want := Model(op, 6, 3, 6, ^uint64(0))
		assert.Equal(t, want, atomic.LoadUint64(word(last, off)), "%v: new value", op)

		w32 := (*uint32)(unsafe.Pointer(&last.Region(target)[off+8]))
		atomic.StoreUint32(w32, 6)
		old32, err := fs[0].AMO32(target, off+8, op, 3, 6)
		require.NoError(t, err, "%v (32 bits)", op)
		assert.Equal(t, uint32(6), old32, "%v (32 bits): old value", op)
	}
	atomic.StoreUint64(word(last, off), 0)
	const adds = 200
	each(t, fs, func(pe int, f fabric.Fabric) error {
		for range adds {
			if _, err := f.AMO64(target, off, fabric.AMOAdd, 1, 0); err != nil {
				return err
			}
		}
		return f.Quiet()
	})
	assert.Equal(t, uint64(adds*len(fs)), atomic.LoadUint64(word(last, off)))
}

// putSignal: a waiter that sees the signal sees the data, with each
// Completion and at every size; Quiet completes CompleteAtQuiet ones; adds
// add.
func putSignal(t *testing.T, fs []fabric.Fabric) {
	last := fs[len(fs)-1]
	target := last.PE()
	const sig, data = Base + 8192, Base + 16384
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Small sizes, then sizes longer than a network transport's message.
	sizes := []int{100, 200, 300, 400, 500, 600, 10<<10 + 3, 300<<10 + 5}
	for i, n := range sizes {
		round := uint64(i + 1)
		c := fabric.Completion(round % 2)
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(round) + byte(i)
		}
		done := make(chan error, 1)
		go func() {
			err := last.Wait(ctx, func() bool { return atomic.LoadUint64(word(last, sig)) == round }, sig, 8)
			if err == nil && string(last.Region(target)[data:data+uintptr(len(src))]) != string(src) {
				err = fmt.Errorf("round %d: the signal came before the data", round)
			}
			done <- err
		}()
		require.NoError(t, fs[0].PutSignal(target, data, src, sig, fabric.AMOSet, round, c))
		require.NoError(t, <-done)
	}
	atomic.StoreUint64(word(last, sig), 0)
	for range 50 {
		require.NoError(t, fs[0].PutSignal(target, data, []byte{1}, sig, fabric.AMOAdd, 2, fabric.CompleteAtQuiet))
	}
	require.NoError(t, fs[0].Quiet())
	assert.Equal(t, uint64(100), atomic.LoadUint64(word(last, sig)), "every add is applied when Quiet returns")
}

// waits: a Put from another PE ends a Wait on the bytes it writes; a
// context that ends ends a Wait with its error.
func waits(t *testing.T, fs []fabric.Fabric) {
	last := fs[len(fs)-1]
	target := last.PE()
	const off = Base + 32768
	atomic.StoreUint64(word(last, off), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- last.Wait(ctx, func() bool { return atomic.LoadUint64(word(last, off)) == 9 }, off, 8)
	}()
	require.NoError(t, fs[0].Put(target, off, binary.LittleEndian.AppendUint64(nil, 9)))
	require.NoError(t, fs[0].Quiet())
	require.NoError(t, <-done)

	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	err := last.Wait(short, func() bool { return false }, off, 8)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// each runs f on every PE at once and fails t with their errors.
func each(t *testing.T, fs []fabric.Fabric, f func(pe int, f fabric.Fabric) error) {
	t.Helper()
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for pe := range fs {
		wg.Go(func() { errs[pe] = f(pe, fs[pe]) })
	}
	wg.Wait()
	for pe, err := range errs {
		require.NoError(t, err, "PE %d", pe)
	}
}

// Model is what op does to a word holding old, applied alone: it returns
// the value the AMO returns (the previous one, for every op) and the new
// word. mask is the width's (^uint64(0), or 0xffffffff for 32 bits).
// Transports' tests check their AMOs against it.
func Model(op fabric.AMOOp, old, operand, cmp, mask uint64) (ret, after uint64) {
	switch op {
	case fabric.AMOFetch:
		return old, old
	case fabric.AMOSet, fabric.AMOSwap:
		return old, operand
	case fabric.AMOCompareSwap:
		if old == cmp {
			return old, operand
		}
		return old, old
	case fabric.AMOAdd:
		return old, (old + operand) & mask
	case fabric.AMOAnd:
		return old, old & operand
	case fabric.AMOOr:
		return old, old | operand
	case fabric.AMOXor:
		return old, old ^ operand
	}
	panic("fabrictest: unknown AMO " + op.String())
}
