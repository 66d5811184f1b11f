package device

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
)

// Kind says where a PE's device heap lives.
type Kind int

// Kinds of device heap.
const (
	// None: the PE has no device heap (GSHMEM_DEVICE_SYMMETRIC_SIZE=0).
	None Kind = iota
	// CPU: the CPU fallback; the device heap is host memory at the end of
	// the symmetric region and streams run on worker goroutines.
	CPU
	// GPU: the device heap is GPU memory, mapped by the PE's peers on the
	// node; streams are CUDA streams.
	GPU
)

// String is "none", "cpu" or "gpu".
func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case CPU:
		return "cpu"
	case GPU:
		return "gpu"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Device describes one PE's device side.
type Device struct {
	kind Kind
	heap *Heap // GPU only
}

// Of returns pe's device: GPU when package gshmem attached a GPU heap to
// it, CPU when its device heap is the CPU fallback, None without one.
func Of(pe *hostshmem.PE) Device {
	pe.UsingDevice()
	if h, ok := pe.DeviceMemory().(*Heap); ok {
		return Device{kind: GPU, heap: h}
	}
	if pe.DeviceHeapSize() > 0 {
		return Device{kind: CPU}
	}
	return Device{kind: None}
}

// Kind is where the device heap lives.
func (d Device) Kind() Kind { return d.kind }

// Heap is the GPU heap (nil unless Kind is GPU).
func (d Device) Heap() *Heap { return d.heap }

// String describes the device, e.g. "GPU 0 (NVIDIA H100 80GB HBM3)" or
// "CPU fallback".
func (d Device) String() string {
	switch d.kind {
	case GPU:
		return fmt.Sprintf("GPU %d (%s)", d.heap.ctx.Ordinal(), d.heap.info.Name)
	case CPU:
		return "CPU fallback"
	}
	return "no device heap"
}

// Ptr returns the address of PE peer's copy of s as this process sees it
// (nvshmem_ptr): for a device object on a GPU, a device pointer into the
// peer's heap (mapped over CUDA IPC; pass it to kernels); on the CPU
// fallback and for host objects, a host address. It fails for a peer whose
// memory this process has not mapped (RMA-only or another node).
func Ptr[T hostshmem.Elem](pe *hostshmem.PE, s hostshmem.Sym[T], peer int) (uintptr, error) {
	pe.UsingDevice()
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("device: ptr: %w", err)
	}
	if peer < 0 || peer >= pe.NPEs() {
		return 0, fmt.Errorf("device: ptr: %w: PE %d of %d", hostshmem.ErrInvalidPE, peer, pe.NPEs())
	}
	if s.Len() == 0 {
		return 0, fmt.Errorf("device: ptr: %w: empty object", hostshmem.ErrInvalidArg)
	}
	if h, ok := pe.DeviceMemory().(*Heap); ok && s.Space() == hostshmem.Device {
		p, err := h.peer("ptr", peer)
		if err != nil {
			return 0, err
		}
		return uintptr(p) + s.Offset() - pe.DeviceOffset(), nil
	}
	v := hostshmem.Peer(pe, s, peer)
	if v == nil {
		return 0, fmt.Errorf("device: ptr: PE %d's memory is not mapped into this process (transport %s)", peer, pe.Transport())
	}
	return uintptr(unsafe.Pointer(&v[0])), nil
}

// Plan is the placement chosen for the device heaps of one process's PEs:
// GPUs through a loaded CUDA driver, or the CPU fallback (with the reason).
// Package gshmem makes one per run with Choose, then Attach for every PE.
type Plan struct {
	drv     *cuda.Driver
	devices int
	fixed   int    // GSHMEM_DEVICE as an ordinal, else -1
	reason  string // why the CPU fallback, when drv is nil

	proc        procID // this process, as its PEs' heap records name it
	mps         bool   // an MPS control daemon serves this process
	allowShared bool   // AllowSharedGPU
}

// Choose loads the CUDA driver unless dev says "cpu", and returns the plan:
// GPU placement when a driver and a device are present, the CPU fallback
// otherwise (Reason says why). dev is gshmem.Config.Device
// (GSHMEM_DEVICE): "" (each PE on GPU local rank modulo the visible GPUs),
// "cpu" (the CPU fallback), or an ordinal, whose absence is an error.
func Choose(dev string) (*Plan, error) {
	p := &Plan{fixed: -1}
	dev = strings.TrimSpace(dev)
	o := -1
	if dev != "" && dev != config.DeviceCPU {
		n, err := strconv.Atoi(dev)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("device: %s=%q: want a GPU ordinal (0, 1, ...) or %s", config.EnvDevice, dev, config.DeviceCPU)
		}
		o = n
	}
	if dev == config.DeviceCPU {
		p.reason = config.EnvDevice + "=" + config.DeviceCPU
		return p, nil
	}
	drv, err := cuda.Load("")
	if err != nil {
		if errors.Is(err, cuda.ErrNoDriver) || errors.Is(err, cuda.ErrNoDevice) {
			p.reason = strings.TrimPrefix(err.Error(), "cuda: ")
			if ce := (*cuda.Error)(nil); errors.As(err, &ce) {
				p.reason = fmt.Sprintf("%s returned %s", ce.Op, ce.Name)
			}
			if dev != "" {
				return nil, fmt.Errorf("device: %s=%s but no GPU is usable: %w", config.EnvDevice, dev, err)
			}
			return p, nil
		}
		return nil, fmt.Errorf("device: %w", err)
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	p.drv, p.devices = drv, n
	p.proc = processIdentity()
	p.mps = mpsActive(os.Getenv, os.Stat)
	if o >= 0 {
		if o >= n {
			return nil, fmt.Errorf("device: %s=%d: only %d GPUs are visible", config.EnvDevice, o, n)
		}
		p.fixed = o
	}
	return p, nil
}

// AllowSharedGPU returns a copy of p that lets Attach place PEs of
// several processes on one GPU without MPS (gshmem.Config.SharedGPU,
// GSHMEM_SHARED_GPU=1); p itself refuses them with ErrSharedGPU. Every
// process of the job must allow it.
func (p *Plan) AllowSharedGPU(allow bool) *Plan {
	q := *p
	q.allowShared = allow
	return &q
}

// Devices is the number of visible GPUs (0 on the CPU fallback).
func (p *Plan) Devices() int { return p.devices }

// GPU reports whether the plan places device heaps on GPUs.
func (p *Plan) GPU() bool { return p.drv != nil }

// Reason says why the plan is the CPU fallback ("" for GPUs).
func (p *Plan) Reason() string { return p.reason }

// Ordinal is the GPU of the PE with local rank localRank: GSHMEM_DEVICE
// if set, else localRank modulo the visible GPUs.
func (p *Plan) Ordinal(localRank int) int {
	if p.fixed >= 0 {
		return p.fixed
	}
	if localRank < 0 {
		localRank = 0
	}
	return localRank % p.devices
}

// Describe is one line for `gpurun info`: the GPUs or why there are none.
func (p *Plan) Describe() string {
	if p.drv == nil {
		return "CPU fallback (" + p.reason + ")"
	}
	s := fmt.Sprintf("%d GPU(s), CUDA driver %d.%d:", p.devices, p.drv.Version()/1000, p.drv.Version()%1000/10)
	for i := 0; i < p.devices; i++ {
		info, err := p.drv.DeviceInfo(i)
		if err != nil {
			s += fmt.Sprintf(" [%d: %v]", i, err)
			continue
		}
		s += fmt.Sprintf(" [%d: %s, %d MiB, sm_%d%d]", i, info.Name, info.TotalMem>>20, info.ComputeCapability[0], info.ComputeCapability[1])
	}
	return s
}
