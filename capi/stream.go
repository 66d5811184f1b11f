//go:build cgo

package capi

/*
#include <stdlib.h>
#include "gs.h"
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

// The device side from C (include/shmemx.h, stream.c): the device heap
// (shmemx_malloc_device) and NVSHMEM's *_on_stream operations over
// package streams.
//
// A C program names a stream by a shmemx_stream_t, which is a CUstream
// (struct CUstream_st *, what cudaStream_t is too). On a GPU it is one:
// shmemx_stream_create returns the CUstream of a new stream, and any
// other handle the program passes (its own cudaStream_t, or 0 for the
// legacy default stream) is borrowed on first use (streams.WithCUstream),
// never destroyed by gshmem. On the CPU fallback no CUstream exists:
// shmemx_stream_create returns a handle of gshmem's own (a never-freed C
// allocation, so no two are alike), 0 names a stream gshmem makes for the
// PE on first use, and any other handle is an error. streamTable keeps, per
// PE, the streams by handle and the handles destroyed since, so that using
// one after shmemx_stream_destroy says so.

// streamTable is a PE's streams by C handle.
type streamTable struct {
	mu   sync.Mutex
	m    map[uintptr]*streams.Stream
	dead map[uintptr]bool
	seq  uintptr // handles of the CPU fallback's streams made so far
}

// cpuHandleTag marks the handles of the CPU fallback's streams: no
// CUstream exists on a PE without a GPU, so any value unlike a pointer
// will do, and counting never reuses one.
const cpuHandleTag = uintptr(0x6773) << 48

// Kinds of team gshmemGoStream* take (stream.c): the predefined teams, or
// one a split made (its Go handle, binding.teams).
const (
	teamCreated = 0
	teamWorld   = 1
	teamShared  = 2
)

// streamOpts are the options of every stream C uses: its waits end when
// the PE's context does.
func (b *binding) streamOpts() []streams.Option {
	return []streams.Option{streams.WithContext(b.ctx)}
}

// onGPU reports whether b's device heap is GPU memory.
func (b *binding) onGPU() bool { return device.Of(b.pe).Kind() == device.GPU }

// fillDevice tells C where the device heap is (gs_pe.dev_*).
func (b *binding) fillDevice() {
	if b.st.dev_known != 0 {
		return
	}
	if off := b.pe.DeviceOffset(); off != 0 {
		size := b.pe.DeviceHeapSize() + hostshmem.DeviceReservedBytes
		base := uintptr(unsafe.Pointer(b.st.local)) + off
		if h := device.Of(b.pe).Heap(); h != nil && b.onGPU() {
			base = uintptr(h.Base())
		}
		b.st.dev_base, b.st.dev_off, b.st.dev_size = C.uintptr_t(base), C.uintptr_t(off), C.uintptr_t(size)
	}
	b.st.dev_known = 1
}

//export gshmemGoDeviceInit
func gshmemGoDeviceInit(h C.uintptr_t) { lookup(h).fillDevice() }

//export gshmemGoDeviceGPU
func gshmemGoDeviceGPU(h C.uintptr_t) C.int {
	b := lookup(h)
	if !b.onGPU() {
		return -1
	}
	return C.int(device.Of(b.pe).Heap().Context().Ordinal())
}

// devPtr is the address C sees for the device object at symmetric offset
// off.
func (b *binding) devPtr(off uintptr) uintptr {
	b.fillDevice()
	return uintptr(b.st.dev_base) + off - uintptr(b.st.dev_off)
}

//export gshmemGoMallocDevice
func gshmemGoMallocDevice(h C.uintptr_t, call *C.char, calloc C.int, size C.size_t) C.uintptr_t {
	b := lookup(h)
	b.fillDevice()
	var (
		s   hostshmem.Sym[byte]
		err error
	)
	if n := int(size); n < 0 {
		err = fmt.Errorf("%w: %d bytes", hostshmem.ErrInvalidArg, uint64(size))
	} else if calloc != 0 {
		s, err = hostshmem.CallocOn[byte](b.ctx, b.pe, hostshmem.Device, n)
	} else {
		s, err = hostshmem.MallocOn[byte](b.ctx, b.pe, hostshmem.Device, n)
	}
	if err != nil {
		// As shmem_malloc: a null pointer, and why on stderr.
		fmt.Fprintf(os.Stderr, "gshmem: PE %d: %s(%d bytes): %v\n", b.pe.MyPE(), C.GoString(call), uint64(size), err)
		return 0
	}
	if s.Len() == 0 {
		return 0
	}
	return C.uintptr_t(b.devPtr(s.Offset()))
}

//export gshmemGoFreeDevice
func gshmemGoFreeDevice(h C.uintptr_t, some C.int, off C.uintptr_t) {
	b := lookup(h)
	var s hostshmem.Sym[byte]
	if some != 0 {
		var err error
		if s, err = hostshmem.ObjectAt(b.pe, uintptr(off)); err == nil && s.Space() != hostshmem.Device {
			err = fmt.Errorf("%w: the object at offset %d is on the host heap: free it with shmem_free", hostshmem.ErrInvalidArg, uintptr(off))
		}
		if err != nil {
			b.fatal("shmemx_free_device", err)
		}
	}
	if err := hostshmem.Free(b.ctx, b.pe, s); err != nil {
		b.fatal("shmemx_free_device", err)
	}
}

// stream returns the stream C names h, borrowing a CUstream the first
// time a GPU program passes it (see above).
func (b *binding) stream(call string, h uintptr) *streams.Stream {
	t := &b.strm
	t.mu.Lock()
	if s := t.m[h]; s != nil {
		t.mu.Unlock()
		return s
	}
	dead := t.dead[h]
	t.mu.Unlock()
	switch {
	case dead:
		fatal(b, call, fmt.Sprintf("stream %#x was destroyed (shmemx_stream_destroy)", h))
	case h != 0 && !b.onGPU():
		fatal(b, call, fmt.Sprintf("%#x is not a stream of PE %d: make one with shmemx_stream_create (the PE runs the CPU fallback: no CUDA stream exists there)", h, b.pe.MyPE()))
	}
	opts := b.streamOpts()
	if b.onGPU() {
		opts = append(opts, streams.WithCUstream(h))
	}
	s, err := streams.New(b.pe, opts...)
	if err != nil {
		b.fatal(call, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.m[h]; o != nil { // another thread of the PE was first
		s.Close(b.ctx)
		return o
	}
	t.put(h, s)
	return s
}

func (t *streamTable) put(h uintptr, s *streams.Stream) {
	if t.m == nil {
		t.m = map[uintptr]*streams.Stream{}
	}
	t.m[h] = s
	delete(t.dead, h)
}

//export gshmemGoStreamCreate
func gshmemGoStreamCreate(h C.uintptr_t) C.uintptr_t {
	b := lookup(h)
	b.fillDevice()
	s, err := streams.New(b.pe, b.streamOpts()...)
	if err != nil {
		b.fatal("shmemx_stream_create", err)
	}
	sh, ok := s.CUstream()
	if !ok {
		// No CUstream: a handle of our own, unlike any other.
		b.strm.mu.Lock()
		b.strm.seq++
		sh = cpuHandleTag | b.strm.seq
		b.strm.mu.Unlock()
	}
	b.strm.mu.Lock()
	b.strm.put(sh, s)
	b.strm.mu.Unlock()
	return C.uintptr_t(sh)
}

//export gshmemGoStreamFromCUDA
func gshmemGoStreamFromCUDA(h, sh C.uintptr_t) {
	b := lookup(h)
	if !b.onGPU() {
		fatal(b, "shmemx_stream_from_cuda", fmt.Sprintf("CUstream %#x: PE %d has no GPU (it runs the CPU fallback): use shmemx_stream_create", uintptr(sh), b.pe.MyPE()))
	}
	b.strm.mu.Lock()
	delete(b.strm.dead, uintptr(sh)) // registering again revives it
	b.strm.mu.Unlock()
	b.stream("shmemx_stream_from_cuda", uintptr(sh))
}

//export gshmemGoStreamDestroy
func gshmemGoStreamDestroy(h, sh C.uintptr_t) {
	b := lookup(h)
	t := &b.strm
	t.mu.Lock()
	s := t.m[uintptr(sh)]
	if s != nil {
		delete(t.m, uintptr(sh))
		if t.dead == nil {
			t.dead = map[uintptr]bool{}
		}
		t.dead[uintptr(sh)] = true
	}
	dead := t.dead[uintptr(sh)]
	t.mu.Unlock()
	if s == nil {
		if dead {
			fatal(b, "shmemx_stream_destroy", fmt.Sprintf("stream %#x was destroyed already", uintptr(sh)))
		}
		fatal(b, "shmemx_stream_destroy", fmt.Sprintf("%#x is not a stream of PE %d", uintptr(sh), b.pe.MyPE()))
	}
	if err := s.Close(b.ctx); err != nil {
		b.fatal("shmemx_stream_destroy", err)
	}
}

//export gshmemGoStreamSync
func gshmemGoStreamSync(h, sh C.uintptr_t) {
	b := lookup(h)
	const call = "shmemx_stream_synchronize"
	s := b.stream(call, uintptr(sh))
	// A quiet first: on a GPU it reaches the CUstream after the kernels
	// the program queued there itself, so the wait covers them too; and
	// the puts are then complete at their targets.
	err := s.Quiet()
	if err == nil {
		err = s.Synchronize(b.ctx)
	}
	if err != nil {
		b.fatal(call, err)
	}
}

// on runs enqueue on the stream C names sh; on a GPU it then waits until
// the op is on the CUstream, so that kernels the program launches there
// next run after it.
func (b *binding) on(call *C.char, sh C.uintptr_t, enqueue func(s *streams.Stream) error) {
	name := C.GoString(call)
	s := b.stream(name, uintptr(sh))
	if enqueue == nil {
		return
	}
	if err := enqueue(s); err != nil {
		b.fatal(name, err)
	}
	if err := s.Submit(b.ctx); err != nil {
		b.fatal(name, err)
	}
}

// sym is the object of n bytes at symmetric offset off, or the end of the
// job.
func symAt[T hostshmem.Elem](b *binding, call *C.char, what string, off uintptr, n int) hostshmem.Sym[T] {
	s, err := hostshmem.SymAt[T](b.pe, off, n)
	if err != nil {
		b.fatal(C.GoString(call), fmt.Errorf("%s: %w", what, err))
	}
	return s
}

// Kinds of gshmemGoStreamRMA (stream.c).
const (
	streamPut = iota
	streamGet
	streamPutSignal
)

//export gshmemGoStreamRMA
func gshmemGoStreamRMA(h C.uintptr_t, call *C.char, kind C.int, sh C.uintptr_t, pe C.int, dst, src C.uintptr_t, n C.size_t, sig C.uintptr_t, sigVal C.uint64_t, sigOp C.int) {
	b := lookup(h)
	if n == 0 && kind != streamPutSignal {
		b.on(call, sh, nil)
		return
	}
	if n == 0 {
		dst, src = sig, sig // a signal alone: stream.c checked only sig_addr
	}
	d := symAt[byte](b, call, "dest", uintptr(dst), int(n))
	s := symAt[byte](b, call, "source", uintptr(src), int(n))
	b.on(call, sh, func(st *streams.Stream) error {
		switch kind {
		case streamPut:
			return streams.Put(st, d, s, int(pe))
		case streamGet:
			return streams.Get(st, d, s, int(pe))
		}
		w := symAt[uint64](b, call, "sig_addr", uintptr(sig), 1)
		return streams.PutSignal(st, d, s, w, uint64(sigVal), hostshmem.SignalOp(sigOp), int(pe))
	})
}

//export gshmemGoStreamWait
func gshmemGoStreamWait(h C.uintptr_t, call *C.char, sh, sig C.uintptr_t, cmp C.int, v C.uint64_t) {
	b := lookup(h)
	if uint(cmp) >= uint(len(cmps)) {
		fatal(b, C.GoString(call), fmt.Sprintf("comparison %d is none of SHMEM_CMP_EQ..SHMEM_CMP_GE", int(cmp)))
	}
	w := symAt[uint64](b, call, "sig_addr", uintptr(sig), 1)
	b.on(call, sh, func(s *streams.Stream) error { return streams.SignalWait(s, w, cmps[cmp], uint64(v)) })
}

//export gshmemGoStreamQuiet
func gshmemGoStreamQuiet(h C.uintptr_t, call *C.char, sh C.uintptr_t) {
	lookup(h).on(call, sh, func(s *streams.Stream) error { return s.Quiet() })
}

// streamTeam is the Go team C names: a predefined one, or one a split made.
// The teams of splits are binding.teams, which team creation fills
// (teamCreated: h is the team's handle there).
func (b *binding) streamTeam(call *C.char, kind C.int, h C.uintptr_t) *hostshmem.Team {
	t := b.team(kind, h) // teamWorld and teamShared are coll.go's pre values
	if t == nil {
		fatal(b, C.GoString(call), fmt.Sprintf("team handle %#x names no team of PE %d", uintptr(h), b.pe.MyPE()))
	}
	return t
}

//export gshmemGoStreamBarrier
func gshmemGoStreamBarrier(h C.uintptr_t, call *C.char, sh C.uintptr_t, tkind C.int, th C.uintptr_t) {
	b := lookup(h)
	t := b.streamTeam(call, tkind, th)
	b.on(call, sh, func(s *streams.Stream) error { return s.Barrier(t) })
}

// Collectives and element types of gshmemGoStreamColl (stream.c).
const (
	collReduce = iota
	collBroadcast
	collFcollect
	collAlltoall
)

const (
	dtFloat = iota
	dtDouble
	dtInt32
	dtInt64
)

// streamArgs is one collective on a stream as C asked for it.
type streamArgs struct {
	kind     int
	op       hostshmem.ReduceOp
	team     *hostshmem.Team
	dst, src uintptr
	dn, sn   int // elements of dst and src the call touches
	n, root  int
}

//export gshmemGoStreamColl
func gshmemGoStreamColl(h C.uintptr_t, call *C.char, sh C.uintptr_t, kind, dt, op, tkind C.int, th, dst, src C.uintptr_t, n C.size_t, root C.int) {
	b := lookup(h)
	a := streamArgs{kind: int(kind), op: hostshmem.ReduceOp(op), team: b.streamTeam(call, tkind, th),
		dst: uintptr(dst), src: uintptr(src), n: int(n), root: int(root)}
	if a.n < 0 {
		fatal(b, C.GoString(call), fmt.Sprintf("%d elements", uint64(n)))
	}
	a.dn, a.sn = a.n, a.n
	switch a.kind {
	case collFcollect:
		a.dn = a.n * a.team.NPEs()
	case collAlltoall:
		a.dn, a.sn = a.n*a.team.NPEs(), a.n*a.team.NPEs()
	}
	switch dt {
	case dtFloat:
		streamColl[float32](b, call, sh, a)
	case dtInt32:
		streamColl[int32](b, call, sh, a)
	case dtInt64:
		streamColl[int64](b, call, sh, a)
	case dtDouble:
		goColl[float64](b, call, sh, a, "double")
	}
}

// streamColl enqueues a collective of the types streams reduces on a GPU.
func streamColl[T streams.CollElem](b *binding, call *C.char, sh C.uintptr_t, a streamArgs) {
	d := symAt[T](b, call, "dest", a.dst, a.dn)
	s := symAt[T](b, call, "source", a.src, a.sn)
	b.on(call, sh, func(st *streams.Stream) error {
		switch a.kind {
		case collReduce:
			return streams.AllReduce(st, a.team, a.op, d, s, a.n)
		case collBroadcast:
			return streams.Broadcast(st, a.team, d, s, a.n, a.root)
		case collFcollect:
			return streams.AllGather(st, a.team, d, s, a.n)
		}
		return streams.AllToAll(st, a.team, d, s, a.n)
	})
}

// goColl enqueues a collective of a type the GPU kernels lack as a Go
// function that runs hostshmem's: in stream order on the CPU engine, and
// on a GPU for host-heap objects (GPU memory needs a kernel).
func goColl[T hostshmem.Elem](b *binding, call *C.char, sh C.uintptr_t, a streamArgs, typ string) {
	d := symAt[T](b, call, "dest", a.dst, a.dn)
	s := symAt[T](b, call, "source", a.src, a.sn)
	if b.pe.DeviceMemory() != nil && (d.Space() == hostshmem.Device || s.Space() == hostshmem.Device) {
		fatal(b, C.GoString(call), fmt.Sprintf("%s has no GPU kernel: on a GPU, stream collectives on the device heap move float, int, long and long long (dest %v, source %v)", typ, d, s))
	}
	if a.kind == collReduce {
		if err := hostshmem.CheckReduceOp[T](a.op); err != nil {
			b.fatal(C.GoString(call), err)
		}
	}
	if a.kind == collBroadcast && (a.root < 0 || a.root >= a.team.NPEs()) {
		b.fatal(C.GoString(call), fmt.Errorf("%w: root %d not in a team of %d", hostshmem.ErrInvalidPE, a.root, a.team.NPEs()))
	}
	if a.team.PE() != b.pe {
		b.fatal(C.GoString(call), fmt.Errorf("%w: %v belongs to another PE", hostshmem.ErrTeam, a.team))
	}
	b.on(call, sh, func(st *streams.Stream) error {
		return st.Go(func(ctx context.Context) error {
			switch a.kind {
			case collReduce:
				return hostshmem.AllReduce(ctx, a.team, a.op, d, s, a.n)
			case collBroadcast:
				return hostshmem.Broadcast(ctx, a.team, d, s, a.n, a.root)
			case collFcollect:
				return hostshmem.AllGather(ctx, a.team, d, s, a.n)
			}
			return hostshmem.AllToAll(ctx, a.team, d, s, a.n)
		})
	})
}
