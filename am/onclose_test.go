package am_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
)

// A World its program forgot to close stops with its PE at Finalize
// instead of leaving handler goroutines on unmapped memory.
func TestWorldStopsWithItsPE(t *testing.T) {
	var worlds []*am.World
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 8 << 20},
		func(ctx context.Context, pe *gshmem.PE) error {
			w, err := am.New(context.Background(), pe, reg, am.Options{})
			if err != nil {
				return err
			}
			if pe.MyPE() == 0 {
				worlds = append(worlds, w)
			}
			_, err = am.Exec(w, 1-pe.MyPE(), Square{X: 3}).Wait(context.Background())
			return err // no Close
		})
	require.NoError(t, err)
	require.Len(t, worlds, 1)
	_, err = am.Exec(worlds[0], 1, Square{X: 2}).Wait(context.Background())
	require.ErrorIs(t, err, am.ErrClosed, "the World was aborted when its PE was finalized")
}
