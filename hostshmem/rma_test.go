package hostshmem_test

import (
	"fmt"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// value is a distinct value for element i written by PE src in round r.
func value[T shmem.Elem](src, i, r int) T {
	v := src*131 + i*7 + r + 1
	var z T
	switch p := any(&z).(type) {
	case *complex64:
		*p = complex(float32(v), float32(-v))
	case *complex128:
		*p = complex(float64(v), float64(-v))
	default:
		return convert[T](v)
	}
	return z
}

// convert is T(v) for the non-complex element types.
func convert[T shmem.Elem](v int) T {
	var z T
	switch p := any(&z).(type) {
	case *float32:
		*p = float32(v)
	case *float64:
		*p = float64(v)
	case *int8:
		*p = int8(v)
	case *int16:
		*p = int16(v)
	case *int32:
		*p = int32(v)
	case *int64:
		*p = int64(v)
	case *int:
		*p = v
	case *uint8:
		*p = uint8(v)
	case *uint16:
		*p = uint16(v)
	case *uint32:
		*p = uint32(v)
	case *uint64:
		*p = uint64(v)
	default:
		panic(fmt.Sprintf("convert: %T", z))
	}
	return z
}

// rmaType exercises every RMA call on one element type around the ring.
func rmaType[T shmem.Elem](t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next, prev := (me+1)%n, (me+n-1)%n
	const N = 37
	dst, err := shmem.Calloc[T](ctx, pe, 4*N)
	require.NoError(t, err)
	src := make([]T, N)
	for i := range src {
		src[i] = value[T](me, i, 0)
	}
	local := shmem.Local(pe, dst)

	// Put and PutNBI to the next PE, into two halves.
	require.NoError(t, shmem.Put(pe, dst, src, next))
	require.NoError(t, shmem.PutNBI(pe, dst.Slice(N, 2*N), src, next))
	require.NoError(t, pe.BarrierAll(ctx))
	for i := 0; i < N; i++ {
		require.Equal(t, value[T](prev, i, 0), local[i], "put element %d", i)
		require.Equal(t, value[T](prev, i, 0), local[N+i], "put_nbi element %d", i)
	}

	// Get and GetNBI from the previous PE read back what it holds (which
	// came from the PE before it).
	got := make([]T, N)
	require.NoError(t, shmem.Get(pe, got, dst, prev))
	for i := range got {
		require.Equal(t, value[T]((prev+n-1)%n, i, 0), got[i], "get element %d", i)
	}
	clear(got)
	require.NoError(t, shmem.GetNBI(pe, got, dst.Slice(N, 2*N), prev))
	require.NoError(t, pe.Quiet())
	require.Equal(t, value[T]((prev+n-1)%n, 5, 0), got[5])

	// P and G on single elements.
	require.NoError(t, shmem.P(pe, dst.At(2*N), value[T](me, 0, 1), next))
	require.NoError(t, pe.BarrierAll(ctx))
	g, err := shmem.G(pe, dst.At(2*N), next)
	require.NoError(t, err)
	assert.Equal(t, value[T](me, 0, 1), g, "g of what p wrote")
	assert.Equal(t, value[T](prev, 0, 1), local[2*N])

	// Strided: every 3rd source element into every 2nd target slot.
	require.NoError(t, pe.BarrierAll(ctx))
	region := dst.Slice(3*N, 4*N)
	require.NoError(t, shmem.IPut(pe, region, src, 2, 3, 12, next))
	require.NoError(t, pe.BarrierAll(ctx))
	for i := 0; i < 12; i++ {
		require.Equal(t, value[T](prev, 3*i, 0), local[3*N+2*i], "iput element %d", i)
	}
	strided := make([]T, 24)
	require.NoError(t, shmem.IGet(pe, strided, region, 2, 2, 12, prev))
	for i := 0; i < 12; i++ {
		require.Equal(t, value[T]((prev+n-1)%n, 3*i, 0), strided[2*i], "iget element %d", i)
	}
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, dst))
}

func scenarioRMA(t *petest.T, pe *shmem.PE) {
	rmaType[int8](t, pe)
	rmaType[int16](t, pe)
	rmaType[int32](t, pe)
	rmaType[int64](t, pe)
	rmaType[uint8](t, pe)
	rmaType[uint16](t, pe)
	rmaType[uint32](t, pe)
	rmaType[uint64](t, pe)
	rmaType[float32](t, pe)
	rmaType[float64](t, pe)
	rmaType[complex64](t, pe)
	rmaType[complex128](t, pe)
	rmaType[int](t, pe)

	// Byte-level putmem/getmem on a typed object, and a large transfer.
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	big, err := shmem.Malloc[uint32](ctx, pe, 1<<18)
	require.NoError(t, err)
	src := make([]uint32, big.Len())
	for i := range src {
		src[i] = uint32(me<<24 | i)
	}
	raw := make([]byte, 4*len(src))
	for i, v := range src {
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	require.NoError(t, shmem.PutMem(pe, shmem.Bytes(big), raw, next))
	require.NoError(t, pe.BarrierAll(ctx))
	prev := (me + n - 1) % n
	l := shmem.Local(pe, big)
	assert.Equal(t, uint32(prev<<24|12345), l[12345])
	back := make([]byte, 8)
	require.NoError(t, shmem.GetMem(pe, back, shmem.Bytes(big).Slice(4, 12), next))
	assert.Equal(t, raw[4:12], back)
	require.NoError(t, pe.BarrierAll(ctx))
}
