package bench

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteTableMissingValues(t *testing.T) {
	ours := []Result{
		{Impl: ImplGshmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 20},
		{Impl: ImplGshmem, Op: OpFetchAdd, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 1500},
		{Impl: ImplGshmem, Op: OpPutBW, PEs: 2, Bytes: 1 << 20, Iters: 100, NsPerOp: 50000},
		{Impl: ImplGshmem, Op: OpPutBW, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 20},
		{Impl: ImplGshmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 999}, // duplicate: ignored
	}
	peers := []Result{
		{Impl: ImplShmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 40},
		{Impl: ImplShmem, Op: OpBarrier, PEs: 2, Bytes: 0, Iters: 100, NsPerOp: 400},
		{Impl: ImplShmem, Op: OpPutBW, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 40},
		{Impl: ImplMPI, Op: OpBarrier, PEs: 2, Bytes: 0, Iters: 100, NsPerOp: 2.5e6},
		{Impl: ImplMPI, Op: OpAllreduce, PEs: 4, Bytes: 1 << 20, Iters: 100, NsPerOp: 1e6},
	}
	memmove := []Result{
		{Impl: ImplMemmove, Op: OpMemmove, PEs: 1, Bytes: 1 << 20, Iters: 100, NsPerOp: 25000},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, ours, peers, memmove))
	want := `Latency, time per operation; vs-X: gshmem speed-up over X = X's time / gshmem's (above 1: gshmem is faster)
op       size  PEs  gshmem  openmpi-shmem  openmpi-mpi  vs-openmpi-shmem  vs-openmpi-mpi  vs-best
put        8B    2  20.0ns         40.0ns            -             2.00x               -    2.00x
fadd       8B    2  1.50µs              -            -                 -               -        -
barrier    0B    2       -          400ns       2.50ms                 -               -        -

Bandwidth, 1 GB/s = 1e9 B/s, allreduce as bus bandwidth; vs-X: gshmem speed-up over X = gshmem's bandwidth / X's (above 1: gshmem is faster)
op         size  PEs    gshmem  openmpi-shmem  openmpi-mpi   memmove  vs-openmpi-shmem  vs-openmpi-mpi  vs-memmove  vs-best
putbw        8B    2   400MB/s        200MB/s            -         -             2.00x               -           -    2.00x
putbw      1MiB    2  21.0GB/s              -            -  41.9GB/s                 -               -       0.50x        -
allreduce  1MiB    4         -              -     1.57GB/s  41.9GB/s                 -               -           -        -
`
	assert.Equal(t, want, buf.String())
}

func TestWriteTableOursOnly(t *testing.T) {
	ours := []Result{
		{Impl: "gshmem-shm", Op: OpPut, PEs: 2, Bytes: 8, Iters: 1, NsPerOp: 25},
		{Impl: "gshmem-shm", Op: OpPutBW, PEs: 2, Bytes: 4096, Iters: 1, NsPerOp: 100},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, ours, nil, nil))
	want := `Latency, time per operation; vs-X: gshmem-shm speed-up over X = X's time / gshmem-shm's (above 1: gshmem-shm is faster)
op   size  PEs  gshmem-shm
put    8B    2      25.0ns

Bandwidth, 1 GB/s = 1e9 B/s, allreduce as bus bandwidth; vs-X: gshmem-shm speed-up over X = gshmem-shm's bandwidth / X's (above 1: gshmem-shm is faster)
op     size  PEs  gshmem-shm
putbw  4KiB    2    41.0GB/s
`
	assert.Equal(t, want, buf.String())
}

func TestWriteTablePeersOnly(t *testing.T) {
	peers := []Result{{Impl: ImplShmem, Op: OpGet, PEs: 2, Bytes: 8, Iters: 1, NsPerOp: 37.5}}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, nil, peers, nil))
	assert.Equal(t, `Latency, time per operation; vs-X: gshmem speed-up over X = X's time / gshmem's (above 1: gshmem is faster)
op   size  PEs  gshmem  openmpi-shmem  vs-openmpi-shmem
get    8B    2       -         37.5ns                 -
`, buf.String())
}

// One convention in both sections: gshmem twice as fast as a peer reads
// 2.00x whether the row is a latency (half the time) or a bandwidth (twice
// the bytes per second), and half as fast reads 0.50x.
func TestWriteTableSpeedUpConvention(t *testing.T) {
	ours := []Result{
		{Impl: ImplGshmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 1, NsPerOp: 100},
		{Impl: ImplGshmem, Op: OpPutBW, PEs: 2, Bytes: 8, Iters: 1, NsPerOp: 100},
		{Impl: ImplGshmem, Op: OpGet, PEs: 2, Bytes: 8, Iters: 1, NsPerOp: 400},
		{Impl: ImplGshmem, Op: OpPutBW, PEs: 2, Bytes: 1024, Iters: 1, NsPerOp: 400},
	}
	peers := []Result{
		{Impl: ImplShmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 1, NsPerOp: 200},
		{Impl: ImplShmem, Op: OpPutBW, PEs: 2, Bytes: 8, Iters: 1, NsPerOp: 200},
		{Impl: ImplShmem, Op: OpGet, PEs: 2, Bytes: 8, Iters: 1, NsPerOp: 200},
		{Impl: ImplShmem, Op: OpPutBW, PEs: 2, Bytes: 1024, Iters: 1, NsPerOp: 200},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, ours, peers, nil))
	assert.Equal(t, `Latency, time per operation; vs-X: gshmem speed-up over X = X's time / gshmem's (above 1: gshmem is faster)
op   size  PEs  gshmem  openmpi-shmem  vs-openmpi-shmem
put    8B    2   100ns          200ns             2.00x
get    8B    2   400ns          200ns             0.50x

Bandwidth, 1 GB/s = 1e9 B/s, allreduce as bus bandwidth; vs-X: gshmem speed-up over X = gshmem's bandwidth / X's (above 1: gshmem is faster)
op     size  PEs    gshmem  openmpi-shmem  vs-openmpi-shmem
putbw    8B    2  80.0MB/s       40.0MB/s             2.00x
putbw  1KiB    2  2.56GB/s       5.12GB/s             0.50x
`, buf.String())
}

func TestWriteTableEmpty(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, nil, nil, []Result{{Op: OpMemmove, Bytes: 8, NsPerOp: 1}}))
	assert.Empty(t, buf.String(), "memmove alone makes no rows")
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTableWriteError(t *testing.T) {
	err := WriteTable(failWriter{}, []Result{{Op: OpPut, Bytes: 8, NsPerOp: 1}}, nil, nil)
	assert.EqualError(t, err, "disk full")
}

func TestFormat(t *testing.T) {
	for n, want := range map[int]string{0: "0B", 8: "8B", 1023: "1023B", 1024: "1KiB", 1536: "1.5KiB",
		4096: "4KiB", 1 << 20: "1MiB", 64 << 20: "64MiB", 3 << 30: "3GiB"} {
		assert.Equal(t, want, formatSize(n), "%d", n)
	}
	for ns, want := range map[float64]string{1.234: "1.23ns", 39.5: "39.5ns", 398.3: "398ns",
		1500: "1.50µs", 41223.9: "41.2µs", 10404468: "10.4ms", 2.5e9: "2.50s"} {
		assert.Equal(t, want, formatLatency(ns), "%v", ns)
	}
	for bps, want := range map[float64]string{2.1e8: "210MB/s", 5e6: "5.00MB/s", 6.45e9: "6.45GB/s",
		5.1e10: "51.0GB/s", 1.2e11: "120GB/s"} {
		assert.Equal(t, want, formatBandwidth(bps), "%v", bps)
	}
	// Rounding up crosses into the next unit rather than printing 1000.
	assert.Equal(t, "1.00µs", formatLatency(999.96))
	assert.Equal(t, "10.0ns", formatLatency(9.996))
	assert.Equal(t, "1.00GB/s", formatBandwidth(999.9e6))
	for ns, want := range map[float64]string{1: "1000Mupd/s", 12.5: "80.0Mupd/s", 999: "1.00Mupd/s",
		1001: "999kupd/s", 2e6: "0.50kupd/s"} {
		assert.Equal(t, want, formatRate(ns), "%v", ns)
	}
}

func TestWriteTableCollectives(t *testing.T) {
	ours := []Result{
		{Impl: ImplGshmem, Op: OpAllreduce, PEs: 4, Bytes: 1 << 20, Iters: 9, NsPerOp: 400e3},
		{Impl: ImplGshmem, Op: OpAlltoall, PEs: 2, Bytes: 1024, Iters: 9, NsPerOp: 900},
		{Impl: ImplGshmem, Op: OpFCollect, PEs: 4, Bytes: 8, Iters: 9, NsPerOp: 1200},
		{Impl: ImplGshmem, Op: OpFCollect, PEs: 2, Bytes: 8, Iters: 9, NsPerOp: 600},
		{Impl: ImplGshmem, Op: OpSync, PEs: 2, Bytes: 0, Iters: 9, NsPerOp: 200},
		{Impl: ImplGshmem, Op: OpBcastBW, PEs: 2, Bytes: 1 << 20, Iters: 9, NsPerOp: 100e3},
		{Impl: ImplGshmem, Op: OpAllreduce, PEs: 2, Bytes: 1 << 20, Iters: 9, NsPerOp: 200e3},
	}
	peers := []Result{
		{Impl: ImplShmem, Op: OpFCollect, PEs: 2, Bytes: 8, Iters: 9, NsPerOp: 1200},
		{Impl: ImplMPI, Op: OpFCollect, PEs: 2, Bytes: 8, Iters: 9, NsPerOp: 300},
		{Impl: ImplShmem, Op: OpSync, PEs: 2, Bytes: 0, Iters: 9, NsPerOp: 400},
		{Impl: ImplMPI, Op: OpAlltoall, PEs: 2, Bytes: 1024, Iters: 9, NsPerOp: 1800},
		{Impl: ImplShmem, Op: OpAllreduce, PEs: 2, Bytes: 1 << 20, Iters: 9, NsPerOp: 400e3},
		{Impl: ImplMPI, Op: OpAllreduce, PEs: 4, Bytes: 1 << 20, Iters: 9, NsPerOp: 200e3},
		{Impl: ImplMPI, Op: OpBcastBW, PEs: 2, Bytes: 1 << 20, Iters: 9, NsPerOp: 50e3},
		{Impl: ImplShmem, Op: OpBcastBW, PEs: 2, Bytes: 1 << 20, Iters: 9, NsPerOp: 25e3},
		{Impl: ImplMPI, Op: OpAllreduce, PEs: 2, Bytes: 1 << 20, Iters: 9, NsPerOp: 800e3},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, ours, peers, nil))
	want := `Latency, time per operation; vs-X: gshmem speed-up over X = X's time / gshmem's (above 1: gshmem is faster)
op        size  PEs  gshmem  openmpi-shmem  openmpi-mpi  vs-openmpi-shmem  vs-openmpi-mpi  vs-best
sync        0B    2   200ns          400ns            -             2.00x               -    2.00x
fcollect    8B    2   600ns         1.20µs        300ns             2.00x           0.50x    0.50x
fcollect    8B    4  1.20µs              -            -                 -               -        -
alltoall  1KiB    2   900ns              -       1.80µs                 -           2.00x    2.00x

Bandwidth, 1 GB/s = 1e9 B/s, allreduce as bus bandwidth; vs-X: gshmem speed-up over X = gshmem's bandwidth / X's (above 1: gshmem is faster)
op         size  PEs    gshmem  openmpi-shmem  openmpi-mpi  vs-openmpi-shmem  vs-openmpi-mpi  vs-best
bcastbw    1MiB    2  10.5GB/s       41.9GB/s     21.0GB/s             0.25x           0.50x    0.25x
allreduce  1MiB    2  5.24GB/s       2.62GB/s     1.31GB/s             2.00x           4.00x    2.00x
allreduce  1MiB    4  3.93GB/s              -     7.86GB/s                 -           0.50x    0.50x
`
	assert.Equal(t, want, buf.String())
}

// The kernels are shown as rates, higher is better, with the speed-up
// above 1 where gshmem's rate is the higher.
func TestWriteTableRates(t *testing.T) {
	ours := []Result{
		{Impl: ImplGshmem, Op: OpIGather, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 25},
		{Impl: ImplGshmem, Op: OpHisto, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 50},
		{Impl: ImplGshmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 20},
		{Impl: ImplGshmem, Op: OpHisto, PEs: 4, Bytes: 8, Iters: 100, NsPerOp: 2000},
	}
	peers := []Result{
		{Impl: ImplShmem, Op: OpHisto, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 100},
		{Impl: ImplShmem, Op: OpIGather, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 12.5},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, ours, peers, nil))
	assert.Equal(t, `Latency, time per operation; vs-X: gshmem speed-up over X = X's time / gshmem's (above 1: gshmem is faster)
op   size  PEs  gshmem
put    8B    2  20.0ns

Rate per PE, 1 Mupd/s = 1e6 updates (histo: atomic adds, igather: gets, randperm: darts landed) per second on each PE; vs-X: gshmem speed-up over X = gshmem's rate / X's (above 1: gshmem is faster)
op       size  PEs      gshmem  openmpi-shmem  vs-openmpi-shmem
histo      8B    2  20.0Mupd/s     10.0Mupd/s             2.00x
histo      8B    4   500kupd/s              -                 -
igather    8B    2  40.0Mupd/s     80.0Mupd/s             0.50x
`, buf.String())
	assert.True(t, IsRate(OpHisto) && IsRate(OpIGather) && !IsRate(OpPut))
	assert.False(t, IsBandwidth(OpHisto) || IsBandwidth(OpIGather))
}

// TestWriteTableCInterface: gshmem's C interface is a column of its own,
// not a peer: vs-best is over Open MPI alone, and c-vs-best compares the
// C interface with the same peer.
func TestWriteTableCInterface(t *testing.T) {
	ours := []Result{{Impl: ImplGshmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 20}}
	peers := []Result{
		{Impl: ImplGshmemC, Op: OpPut, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 10},
		{Impl: ImplShmem, Op: OpPut, PEs: 2, Bytes: 8, Iters: 100, NsPerOp: 40},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, ours, peers, nil))
	want := `Latency, time per operation; vs-X: gshmem speed-up over X = X's time / gshmem's (above 1: gshmem is faster)
op   size  PEs  gshmem  gshmem-c  openmpi-shmem  vs-gshmem-c  vs-openmpi-shmem  vs-best  c-vs-best
put    8B    2  20.0ns    10.0ns         40.0ns        0.50x             2.00x    2.00x      4.00x
`
	assert.Equal(t, want, buf.String())
}
