package petest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
	inprocfab "github.com/gshmem/gshmem/fabric/inproc"
	"github.com/gshmem/gshmem/hostshmem"
)

// DeviceModel is device memory the host cannot load from or store to:
// every PE's device heap in an anonymous mapping of its own (outside the
// race detector's view, like GPU memory), reached only through the
// hostshmem.DeviceMemory that For returns. It tests the runtime's routing
// of device offsets (hostshmem, streams) on machines without a GPU; it is
// not a model of a GPU.
type DeviceModel struct {
	heaps  [][]byte
	gets   []atomic.Int64 // Get calls, by the PE that made them
	closed atomic.Int32
}

// NewDeviceModel maps npes device heaps of size bytes each, unmapped when
// the test ends.
func NewDeviceModel(t testing.TB, npes int, size uintptr) *DeviceModel {
	m := &DeviceModel{heaps: make([][]byte, npes), gets: make([]atomic.Int64, npes)}
	for i := range m.heaps {
		b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			t.Fatalf("petest: device model: %v", err)
		}
		t.Cleanup(func() { syscall.Munmap(b) })
		m.heaps[i] = b
	}
	return m
}

// For is PE me's view: the DeviceMemory to attach to it.
func (m *DeviceModel) For(me int) hostshmem.DeviceMemory { return modelView{m, me} }

// Heap is PE pe's device heap, for checking where bytes landed.
func (m *DeviceModel) Heap(pe int) []byte { return m.heaps[pe] }

// Gets is how many times PE pe's view was asked to Get (a host wait on
// GPU memory reloads the variables with one Get per look).
func (m *DeviceModel) Gets(pe int) int64 { return m.gets[pe].Load() }

// Closed is how many views were closed (each PE closes its own at
// Finalize).
func (m *DeviceModel) Closed() int { return int(m.closed.Load()) }

type modelView struct {
	m  *DeviceModel
	me int
}

func (v modelView) span(pe int, off uintptr, n int) ([]byte, error) {
	h := v.m.heaps
	if pe < 0 || pe >= len(h) || off+uintptr(n) > uintptr(len(h[pe])) {
		return nil, errors.New("petest: device model: out of range")
	}
	return h[pe][off : off+uintptr(n)], nil
}

func (v modelView) Put(pe int, off uintptr, src []byte) error {
	b, err := v.span(pe, off, len(src))
	copy(b, src)
	return err
}

func (v modelView) Get(pe int, off uintptr, dst []byte) error {
	v.m.gets[v.me].Add(1)
	b, err := v.span(pe, off, len(dst))
	copy(dst, b)
	return err
}

func (v modelView) AMO64(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	b, err := v.span(pe, off, 8)
	if err != nil {
		return 0, err
	}
	return fabric.AMO64((*uint64)(unsafe.Pointer(&b[0])), op, operand, cmp), nil
}

func (v modelView) AMO32(int, uintptr, fabric.AMOOp, uint32, uint32) (uint32, error) {
	return 0, errors.New("petest: device model: no 32-bit atomics")
}

func (v modelView) Zero(off, n uintptr) error {
	b, err := v.span(v.me, off, int(n))
	clear(b)
	return err
}

func (v modelView) Close(context.Context) error { v.m.closed.Add(1); return nil }

// RunPEs runs fn on n in-process PEs made by hostshmem.New with cfg, each
// with 1 MiB of host heap (plus cfg's device heap when it lives in the
// region), and finalizes them. A PE whose fn returns an error or stops the
// test (t.FailNow, a panic) fails the test and leaves the job, so its
// peers' waits end instead of hanging.
func RunPEs(t *testing.T, n int, cfg hostshmem.Config, fn func(pe *hostshmem.PE) error) {
	t.Helper()
	size := hostshmem.RegionSize(1 << 20)
	if !cfg.DeviceExternal {
		size += cfg.DeviceHeap
	}
	job, err := inprocfab.New(n, size)
	if err != nil {
		t.Fatalf("petest: %v", err)
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pe, err := hostshmem.New(job.Fabric(i), cfg)
			if err != nil {
				t.Errorf("PE %d: %v", i, err)
				job.Fail(i, err.Error())
				job.Fabric(i).Close(fabric.Failed)
				return
			}
			ok := false
			defer func() {
				if !ok { // fn failed, panicked or called FailNow
					job.Fail(i, "stopped")
					pe.Abort()
				}
			}()
			if err := fn(pe); err != nil {
				t.Errorf("PE %d: %v", i, err)
				return
			}
			ok = true
			if err := pe.Finalize(context.Background()); err != nil {
				t.Errorf("PE %d: finalize: %v", i, err)
			}
		}()
	}
	wg.Wait()
}
