package am

import (
	"context"
	"fmt"
	"hash/crc32"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// viewAM reports where its payload was: in the origin's region (in place)
// or elsewhere, and its checksum.
type viewAM struct {
	V Bytes
	B []byte
}

type viewSeen struct {
	VInPlace, BInPlace bool
	VSum, BSum         uint32
}

func (a viewAM) Exec(ctx *Context) (viewSeen, error) {
	r := ctx.World().regions[ctx.Origin()]
	in := func(b []byte) bool {
		if len(b) == 0 || r == nil {
			return false
		}
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(r)))
		return p >= lo && p < lo+uintptr(len(r))
	}
	return viewSeen{in(a.V), in(a.B), crc32.ChecksumIEEE(a.V), crc32.ChecksumIEEE(a.B)}, nil
}

// TestBytesInPlace: a large request's Bytes field is read in place in
// the sender's arena (a []byte beside it is copied), arrives whole, and
// its chunk goes back when the handler returns; a small request's Bytes
// is a copy.
func TestBytesInPlace(t *testing.T) {
	reg := NewRegistry()
	MustRegister[viewAM](reg, "internal.view")
	petest.RunPEs(t, 2, hostshmem.Config{}, func(pe *hostshmem.PE) error {
		ctx := context.Background()
		w, err := New(ctx, pe, reg, Options{ArenaBytes: 256 << 10})
		if err != nil {
			return err
		}
		defer w.Abort()
		defer time.AfterFunc(time.Minute, w.Abort).Stop() // a leak would block launches for good: fail instead
		if pe.MyPE() == 0 {
			for _, n := range []int{10, 100 << 10} {
				v, b := make([]byte, n), make([]byte, n)
				for i := range n {
					v[i], b[i] = byte(i*7), byte(i*13)
				}
				got, err := Exec(w, 1, viewAM{V: v, B: b}).Wait(ctx)
				if err != nil {
					return err
				}
				large := n >= w.opt.LargeBytes
				require.Equal(t, large, got.VInPlace, "%d bytes: Bytes in place iff the payload is large", n)
				require.False(t, got.BInPlace, "%d bytes: []byte copied", n)
				require.Equal(t, crc32.ChecksumIEEE(v), got.VSum, "%d bytes", n)
				require.Equal(t, crc32.ChecksumIEEE(b), got.BSum, "%d bytes", n)
			}
		}
		if err := w.Barrier(ctx); err != nil {
			return err
		}
		if n := drained(w); n != 0 {
			return fmt.Errorf("PE %d: %d arena chunks still in use", pe.MyPE(), n)
		}
		return w.Close(ctx)
	})
}
