package bench

import (
	"fmt"
	"slices"
	"time"

	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/device/cuda"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

// The device measures (-ops dev): on a GPU or the CPU fallback, whichever
// the PEs have, each beside its reference in the same run.
const (
	// OpDevPutBW is a stream put of Bytes from PE 0's device heap into PE
	// 1's, loops of puts then one Synchronize (bandwidth). Its reference,
	// ImplDeviceCopy, is a copy of Bytes within PE 0's device heap: a
	// device-to-device copy on a GPU, a Go copy on the CPU fallback.
	OpDevPutBW = "dputbw"
	// OpStreamAllreduce is a float32 sum allreduce of Bytes of device
	// objects on a stream, loops of allreduces then one Synchronize (bus
	// bandwidth). Its references: ImplHostAllreduce, the host allreduce of
	// host objects (hostshmem.AllReduce), and on a GPU ImplRoofline, the
	// GPU's memory bandwidth from its clock and bus width.
	//
	// A third reference, ImplDeviceCopy, is a copy of Bytes within PE 0's
	// device heap, then a wait for it; its NsPerOp is scaled by 2(N-1)/N
	// so that its bus bandwidth (the table's measure) is the copy's
	// bandwidth: on one GPU, in-process PEs' allreduce against the HBM a
	// plain copy gets in the same run (issue 12 item 11).
	OpStreamAllreduce = "sallreduce"
	// OpDevPutSync is an 8-byte stream put from PE 0's device heap into
	// PE 1's and a Synchronize, in a loop (latency: the round trip a
	// program waiting for its put pays). Its reference, ImplDeviceCopy, is
	// an 8-byte copy within PE 0's device heap and a wait for it.
	OpDevPutSync = "dputsync"
	// OpStreamAllreduceSync is a float32 sum allreduce of 1 KiB of device
	// objects on a stream and a Synchronize, on every PE, in a loop
	// (latency; sallreduce at 1 KiB is the same allreduce pipelined). Its
	// reference, ImplDeviceCopy, is a 1 KiB copy within PE 0's device heap
	// and a wait for it.
	OpStreamAllreduceSync = "sallreducesync"

	ImplDeviceCopy    = "device-copy"    // see OpDevPutBW
	ImplHostAllreduce = "host-allreduce" // see OpStreamAllreduce
	ImplRoofline      = "hbm-roofline"   // see OpStreamAllreduce
)

// DeviceOps are the device measures, in table order.
var DeviceOps = []string{OpDevPutSync, OpStreamAllreduceSync, OpDevPutBW, OpStreamAllreduce}

// deviceMeasure runs one device op at its sizes. It returns gshmem's rows
// and the reference rows (Impl set to one of the Impl constants above).
func (m *meter) deviceMeasure(op string) ([]Result, error) {
	pe := m.pe
	sizes := OpSizes(op, m.c.Sizes, m.c.CollSizes)
	if len(sizes) == 0 {
		return nil, nil
	}
	big := slices.Max(sizes)
	s, err := streams.New(pe)
	if err != nil {
		return nil, err
	}
	defer s.Close(m.ctx)
	dst, err := shmem.CallocOn[byte](m.ctx, pe, shmem.Device, big)
	if err != nil {
		return nil, fmt.Errorf("bench: %w (run with GSHMEM_DEVICE_SYMMETRIC_SIZE of at least %d)", err, 2*big+1<<20)
	}
	src, err := shmem.CallocOn[byte](m.ctx, pe, shmem.Device, big)
	if err != nil {
		return nil, fmt.Errorf("bench: %w (run with GSHMEM_DEVICE_SYMMETRIC_SIZE of at least %d)", err, 2*big+1<<20)
	}
	var out []Result
	for _, size := range sizes {
		var rs []Result
		switch op {
		case OpDevPutBW, OpDevPutSync:
			rs, err = m.devPut(op, s, dst.Slice(0, size), src.Slice(0, size))
		case OpStreamAllreduce, OpStreamAllreduceSync:
			rs, err = m.streamAllreduce(op, s, dst.Slice(0, size), src.Slice(0, size))
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if err := shmem.Free(m.ctx, pe, src); err != nil {
		return nil, err
	}
	return out, shmem.Free(m.ctx, pe, dst)
}

// devPut measures OpDevPutBW (puts, then one Synchronize) or
// OpDevPutSync (a Synchronize after each put) of dst.Len() bytes, and the
// device copy beside it.
func (m *meter) devPut(op string, s *streams.Stream, dst, src shmem.Sym[byte]) ([]Result, error) {
	each := op == OpDevPutSync
	r, err := m.measure(op, dst.Len(), pe0Loop, func(n int) (time.Duration, error) {
		for range n {
			if err := streams.Put(s, dst, src, 1); err != nil {
				return 0, err
			}
			if each {
				if err := s.Synchronize(m.ctx); err != nil {
					return 0, err
				}
			}
		}
		return 0, s.Synchronize(m.ctx)
	})
	if err != nil {
		return nil, err
	}
	ref, err := m.deviceCopy(op, dst, src, each)
	return []Result{r, ref}, err
}

// deviceCopy measures the ImplDeviceCopy reference of op: copies of
// dst.Len() bytes from src to dst within PE 0's device heap, then a wait
// for them, or with each a wait after every copy.
func (m *meter) deviceCopy(op string, dst, src shmem.Sym[byte], each bool) (Result, error) {
	copyOnce, wait, err := localCopy(m.pe, dst, src)
	if err != nil {
		return Result{}, err
	}
	ref, err := m.measure(op, dst.Len(), pe0Loop, func(n int) (time.Duration, error) {
		for range n {
			if err := copyOnce(); err != nil {
				return 0, err
			}
			if each {
				if err := wait(); err != nil {
					return 0, err
				}
			}
		}
		return 0, wait()
	})
	ref.Impl = ImplDeviceCopy
	return ref, err
}

// localCopy returns a function copying src to dst within this PE's device
// heap, cuMemcpyDtoD on a GPU and copy on the CPU fallback, and a function
// that waits until the copies made so far are done: a device-to-device
// cuMemcpyDtoD returns before the copy ends.
func localCopy(pe *shmem.PE, dst, src shmem.Sym[byte]) (copyOnce, wait func() error, err error) {
	me := pe.MyPE()
	d, err := device.Ptr(pe, dst, me)
	if err != nil {
		return nil, nil, err
	}
	sp, err := device.Ptr(pe, src, me)
	if err != nil {
		return nil, nil, err
	}
	if h := device.Of(pe).Heap(); h != nil {
		c, n := h.Context(), uintptr(dst.Len())
		return func() error { return c.CopyDtoD(cuda.DevicePtr(d), cuda.DevicePtr(sp), n) }, c.Synchronize, nil
	}
	dl, sl := shmem.Local(pe, dst), shmem.Local(pe, src)
	return func() error { copy(dl, sl); return nil }, func() error { return nil }, nil
}

// streamAllreduce measures OpStreamAllreduce (allreduces, then one
// Synchronize) or OpStreamAllreduceSync (a Synchronize after each) of size
// bytes, and their references; dst and src are size bytes of device heap
// for the device copy.
func (m *meter) streamAllreduce(op string, s *streams.Stream, dst, src shmem.Sym[byte]) ([]Result, error) {
	pe, world := m.pe, m.pe.TeamWorld()
	size := dst.Len()
	each := op == OpStreamAllreduceSync
	n := size / 4
	in, err := shmem.CallocOn[float32](m.ctx, pe, shmem.Device, n)
	if err != nil {
		return nil, err
	}
	out, err := shmem.CallocOn[float32](m.ctx, pe, shmem.Device, n)
	if err != nil {
		return nil, err
	}
	r, err := m.measure(op, size, allLoop, func(k int) (time.Duration, error) {
		for range k {
			if err := streams.AllReduce(s, world, shmem.OpSum, out, in, n); err != nil {
				return 0, err
			}
			if each {
				if err := s.Synchronize(m.ctx); err != nil {
					return 0, err
				}
			}
		}
		return 0, s.Synchronize(m.ctx)
	})
	if err != nil {
		return nil, err
	}
	cp, err := m.deviceCopy(op, dst, src, each)
	if err != nil {
		return nil, err
	}
	if !each && r.PEs > 1 {
		cp.NsPerOp *= 2 * float64(r.PEs-1) / float64(r.PEs) // bus bandwidth = the copy's bandwidth
	}
	for _, x := range []shmem.Sym[float32]{out, in} {
		if err := shmem.Free(m.ctx, pe, x); err != nil {
			return nil, err
		}
	}
	if each {
		return []Result{r, cp}, nil
	}
	// The host allreduce, then the device copy, then the roofline.
	hin, err := alloc[float32](m, n)
	if err != nil {
		return nil, err
	}
	hout, err := alloc[float32](m, n)
	if err != nil {
		return nil, err
	}
	ref, err := m.measure(OpStreamAllreduce, size, allLoop, func(k int) (time.Duration, error) {
		for range k {
			if err := shmem.AllReduce(m.ctx, world, shmem.OpSum, hout, hin, n); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})
	if err != nil {
		return nil, err
	}
	ref.Impl = ImplHostAllreduce
	rs := []Result{r, ref, cp}
	if h := device.Of(pe).Heap(); h != nil {
		if bw := roofline(h.Info()); bw > 0 {
			// The time the allreduce would take at the roofline's bus
			// bandwidth, as a row the table compares with.
			bus := float64(size) * 2 * float64(r.PEs-1) / float64(r.PEs)
			rs = append(rs, Result{Impl: ImplRoofline, Op: OpStreamAllreduce, PEs: r.PEs, Bytes: size, Iters: 1, NsPerOp: bus / bw * 1e9})
		}
	}
	for _, x := range []shmem.Sym[float32]{hout, hin} {
		if err := shmem.Free(m.ctx, pe, x); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// roofline is the GPU's memory bandwidth in bytes per second: two
// transfers per clock (DDR) times the bus width. 0 when the driver does
// not say.
func roofline(info cuda.Info) float64 {
	return 2 * float64(info.MemoryClockKHz) * 1e3 * float64(info.MemoryBusWidthBits) / 8
}
