package hostshmem_test

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() {
	scenarios["extreme"] = scenarioExtreme
	scenarios["nil_ctx"] = scenarioNilCtx
}

// TestExtremeArgs: counts, strides and PEs at the ends of int's range are
// errors naming them, never panics, and move no data.
func TestExtremeArgs(t *testing.T) { petest.Both(t, scenarios, "extreme", 2, 3) }

// TestNilCtx: a nil *Ctx where a Comm is accepted is an error, not a panic.
func TestNilCtx(t *testing.T) { petest.Both(t, scenarios, "nil_ctx", 2) }

// extremes are the counts, strides and PEs the scenarios try.
var extremes = []int{math.MinInt, math.MinInt + 1, -2, -1, 0, 1, 2, 3, 17,
	math.MaxInt / 2, math.MaxInt/2 + 1, math.MaxInt - 1, math.MaxInt}

// stridedOverflows reports whether (n-1)*stride+1, the elements a strided
// transfer of n > 0 elements spans, overflows int.
func stridedOverflows(n, stride int) bool {
	hi, lo := bits.Mul(uint(n-1), uint(stride))
	return hi != 0 || lo >= math.MaxInt
}

func scenarioExtreme(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	const N = 16
	x, err := shmem.Calloc[int64](ctx, pe, N)
	require.NoError(t, err)
	sig, err := shmem.Calloc[uint64](ctx, pe, 1)
	require.NoError(t, err)
	buf := make([]int64, N)
	for i := range buf {
		buf[i] = int64(100 + i) // a partial transfer would show in x
	}

	// Every strided transfer that does not fit fails before moving data;
	// one whose span overflows int says so, naming the count and strides.
	// (The ones that fit are scenarioRMA's.)
	want := slices.Clone(buf)
	for _, to := range []int{me, next} {
		for _, ds := range extremes {
			for _, ls := range extremes {
				for _, cnt := range extremes {
					if cnt > 0 && ds > 0 && ls > 0 && !stridedOverflows(cnt, ds) && !stridedOverflows(cnt, ls) &&
						(cnt-1)*ds+1 <= N && (cnt-1)*ls+1 <= N {
						continue // fits
					}
					for _, op := range []string{"iput", "iget"} {
						var err error
						if op == "iput" {
							err = shmem.IPut(pe, x, buf, ds, ls, cnt, to)
						} else {
							err = shmem.IGet(pe, buf, x, ls, ds, cnt, to)
							require.Equal(t, want, buf, "%s wrote", op)
						}
						what := fmt.Sprintf("%s(symmetric stride %d, local stride %d, n %d) on PE %d", op, ds, ls, cnt, to)
						switch {
						case cnt < 0 || ds < 1 || ls < 1:
							require.ErrorIs(t, err, shmem.ErrInvalidArg, what)
						case cnt == 0:
							require.NoError(t, err, what)
						case stridedOverflows(cnt, ds) || stridedOverflows(cnt, ls):
							require.ErrorIs(t, err, shmem.ErrInvalidArg, what)
							assert.Contains(t, err.Error(), fmt.Sprintf("%d elements at strides %d (symmetric) and %d (local)", cnt, ds, ls), what)
						default:
							require.ErrorIs(t, err, shmem.ErrOutOfRange, what)
						}
					}
				}
			}
		}
	}

	// PEs out of range, on every kind of call.
	for _, bad := range extremes {
		if bad >= 0 && bad < n {
			continue
		}
		_, g := shmem.G(pe, x, bad)
		_, fa := shmem.AtomicFetchAdd(pe, x, 1, bad)
		for name, err := range map[string]error{
			"put":        shmem.Put(pe, x, buf[:1], bad),
			"get":        shmem.Get(pe, buf[:1], x, bad),
			"p":          shmem.P(pe, x, 1, bad),
			"g":          g,
			"iput":       shmem.IPut(pe, x, buf, 1, 1, 2, bad),
			"iget":       shmem.IGet(pe, buf, x, 1, 1, 2, bad),
			"fetch_add":  fa,
			"put_signal": shmem.PutSignal(pe, x, buf[:1], sig, 1, shmem.SignalSet, bad),
		} {
			require.ErrorIs(t, err, shmem.ErrInvalidPE, "%s to PE %d", name, bad)
			assert.Contains(t, err.Error(), fmt.Sprintf("PE %d not in [0, %d)", bad, n), name)
		}
		assert.Nil(t, shmem.Peer(pe, x, bad), "Peer of PE %d", bad)
	}

	// Out-of-range indices make invalid Syms, whatever their values.
	for _, i := range extremes {
		if i < 0 || i >= N {
			require.ErrorIs(t, x.At(i).Err(), shmem.ErrOutOfRange, "At(%d)", i)
			assert.Nil(t, shmem.Local(pe, x.At(i)))
		}
		for _, j := range extremes {
			if i < 0 || j < i || j > N {
				require.ErrorIs(t, x.Slice(i, j).Err(), shmem.ErrOutOfRange, "Slice(%d, %d)", i, j)
				assert.Nil(t, shmem.Local(pe, x.Slice(i, j)))
				assert.Nil(t, shmem.Peer(pe, x.Slice(i, j), next))
			}
		}
	}

	// Nothing above changed memory: the object is still all zero everywhere.
	require.NoError(t, pe.BarrierAll(ctx))
	for j := 0; j < n; j++ {
		got := make([]int64, N)
		require.NoError(t, shmem.Get(pe, got, x, j))
		assert.Equal(t, make([]int64, N), got, "PE %d's object changed", j)
	}
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, sig))
	require.NoError(t, shmem.Free(ctx, pe, x))
}

func scenarioNilCtx(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	next := (pe.MyPE() + 1) % pe.NPEs()
	x, err := shmem.Calloc[int64](ctx, pe, 4)
	require.NoError(t, err)
	sig, err := shmem.Calloc[uint64](ctx, pe, 1)
	require.NoError(t, err)
	buf := make([]int64, 2)

	var c *shmem.Ctx
	for name, err := range ctxCalls(c, x, sig, buf, next) {
		require.ErrorIs(t, err, shmem.ErrInvalidArg, name)
		assert.Contains(t, err.Error(), "nil context", name)
	}
	assert.Nil(t, c.PE())
	assert.Equal(t, shmem.CtxOption(0), c.Options())

	require.NoError(t, pe.BarrierAll(ctx))
	assert.Equal(t, []int64{0, 0, 0, 0}, shmem.Local(pe, x), "a nil context wrote")
	assert.Equal(t, uint64(0), shmem.Local(pe, sig)[0], "a nil context signalled")
	require.NoError(t, shmem.Free(ctx, pe, sig))
	require.NoError(t, shmem.Free(ctx, pe, x))
}

// TestForeignSym: a Sym allocated on a PE with a bigger heap, used on one
// whose host heap ends inside it (where its GPU heap begins), is out of
// range on every call and has no local copy.
func TestForeignSym(t *testing.T) {
	const heap = 1 << 20
	var foreign shmem.Sym[int64]
	opts := gshmem.Config{NPEs: 1, HeapSize: 4 * heap}
	require.NoError(t, gshmem.RunWith(context.Background(), opts, func(ctx context.Context, pe *shmem.PE) error {
		// The small PE's host heap ends 64 bytes into the second object.
		if _, err := shmem.Malloc[byte](context.Background(), pe, heap-64); err != nil {
			return err
		}
		var err error
		foreign, err = shmem.Malloc[int64](context.Background(), pe, 16)
		return err
	}))
	model := petest.NewDeviceModel(t, 1, heap)
	petest.RunPEs(t, 1, shmem.Config{DeviceHeap: heap, DeviceExternal: true}, func(pe *shmem.PE) error {
		require.NoError(t, pe.AttachDevice(model.For(0)))
		require.Less(t, foreign.Offset(), pe.DeviceOffset())
		require.Greater(t, foreign.Offset()+foreign.Size(), pe.DeviceOffset())
		buf := make([]int64, foreign.Len())
		_, test := shmem.TestAll(pe, foreign, nil, shmem.CmpEQ, 0)
		for name, err := range map[string]error{
			"put":            shmem.Put(pe, foreign, buf, 0),
			"get":            shmem.Get(pe, buf, foreign, 0),
			"iput":           shmem.IPut(pe, foreign, buf, 2, 1, 8, 0),
			"iget":           shmem.IGet(pe, buf, foreign, 1, 2, 8, 0),
			"wait_until_all": shmem.WaitUntilAll(context.Background(), pe, foreign, nil, shmem.CmpEQ, 0),
			"test_all":       test,
		} {
			require.ErrorIs(t, err, shmem.ErrOutOfRange, name)
			assert.Contains(t, err.Error(), fmt.Sprint(pe.DeviceOffset()), name)
		}
		assert.Nil(t, shmem.Local(pe, foreign))
		assert.Nil(t, shmem.Peer(pe, foreign, 0))
		assert.Len(t, shmem.Local(pe, foreign.Slice(0, 8)), 8, "the part below the GPU heap is host memory")
		return nil
	})
}
