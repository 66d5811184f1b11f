//go:build cgo

package capi

/*
#cgo CFLAGS: -I${SRCDIR}/../include -O2 -fno-strict-aliasing -Wall
#include <stdlib.h>
#include "gs.h"

void gs_call(void (*fn)(void *), void *arg, gs_pe *s);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/memcopy"
)

// binding is one PE of the C interface: its hostshmem.PE, its C state,
// and the contexts and teams C holds handles of.
type binding struct {
	pe     *hostshmem.PE
	st     *C.gs_pe
	ctx    context.Context
	inproc bool
	h      uintptr // its index in bindings (gs_pe.handle)

	copier memcopy.Copier // gs_copy's large copies

	mu    sync.Mutex
	ctxs  map[uintptr]*hostshmem.Ctx
	teams map[uintptr]*hostshmem.Team
	next  uintptr

	strm streamTable // the streams C names by handle (stream.go)
}

// bindings holds every live binding of this process, at the index that
// its C state's handle holds: C calls into Go with it, and a lookup must
// cost a load, not a map's (cgo.Handle's costs ~20 ns, a sixth of a
// barrier). Copied on write (new, free), read without a lock. The C
// interface is process-wide by its definition (capi's doc): this is the
// one table of Go values it needs.
var bindings struct {
	mu   sync.Mutex
	tab  atomic.Pointer[[]*binding]
	free []uintptr // indices of freed bindings, for reuse
}

func lookup(h C.uintptr_t) *binding {
	return (*bindings.tab.Load())[h-1]
}

// register gives b an index in bindings (1-based, so that C's 0 means
// none).
func register(b *binding) uintptr {
	bindings.mu.Lock()
	defer bindings.mu.Unlock()
	var tab []*binding
	if p := bindings.tab.Load(); p != nil {
		tab = *p
	}
	tab = slices.Clone(tab)
	var i uintptr
	if n := len(bindings.free); n > 0 {
		i, bindings.free = bindings.free[n-1], bindings.free[:n-1]
		tab[i-1] = b
	} else {
		tab = append(tab, b)
		i = uintptr(len(tab))
	}
	bindings.tab.Store(&tab)
	return i
}

// unregister frees b's index; C must not call with it again.
func unregister(b *binding) {
	bindings.mu.Lock()
	defer bindings.mu.Unlock()
	tab := slices.Clone(*bindings.tab.Load())
	tab[b.h-1] = nil
	bindings.tab.Store(&tab)
	bindings.free = append(bindings.free, b.h)
}

// newBinding fills the C state of pe: the regions' bases and the sleep
// words, in memory C owns.
func newBinding(ctx context.Context, pe *hostshmem.PE, inproc, unmapOdd bool) *binding {
	n := pe.NPEs()
	st := (*C.gs_pe)(C.calloc(1, C.size_t(unsafe.Sizeof(C.gs_pe{}))))
	st.me, st.npes = C.int(pe.MyPE()), C.int(n)
	local := pe.Region(pe.MyPE())
	st.local = (*C.char)(unsafe.Pointer(unsafe.SliceData(local)))
	st.size = C.uintptr_t(len(local))
	lo, hi := pe.HostHeap()
	st.lo, st.hi = C.uintptr_t(lo), C.uintptr_t(hi)
	st.base = (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	st.sleep = (**C.uint64_t)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.uint64_t)(nil)))))
	st.wild = (**C.uint32_t)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.uint32_t)(nil)))))
	st.watch = (**C.uint64_t)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.uint64_t)(nil)))))
	bases := unsafe.Slice(st.base, n)
	sleeps := unsafe.Slice(st.sleep, n)
	wilds, watches := unsafe.Slice(st.wild, n), unsafe.Slice(st.watch, n)
	st.all_mapped = 1
	for i := range n {
		if r := pe.Region(i); r != nil {
			bases[i] = (*C.char)(unsafe.Pointer(unsafe.SliceData(r)))
		} else {
			st.all_mapped = 0
		}
		sleeps[i] = (*C.uint64_t)(unsafe.Pointer(pe.SleepWord(i)))
		wild, slots, line := pe.Watches(i)
		if wild != nil && len(slots) > 0 && line > 0 && line&(line-1) == 0 {
			wilds[i], watches[i] = (*C.uint32_t)(unsafe.Pointer(wild)), (*C.uint64_t)(unsafe.Pointer(&slots[0]))
			st.nwatch, st.line_shift = C.int(len(slots)), C.int(bits.TrailingZeros(uint(line)))
		}
	}
	// unmapOdd (config.EnvCAPIUnmap, the tests): odd-numbered PEs reach
	// every PE, themselves too, through Go, as they would a PE on another
	// node, so that C's paths and Go's meet on the same words.
	if unmapOdd && pe.MyPE()%2 == 1 {
		clear(bases)
		st.all_mapped = 0
	}
	if a, ok := pe.AllEntry(); ok && st.all_mapped == 1 {
		st.all.ok, st.all.me, st.all.size = 1, C.int(a.Me), C.int(a.Size)
		st.all.start, st.all.stride = C.int(a.Start), C.int(a.Stride)
		st.all.state, st.all.slots, st.all.slot_stride = C.uintptr_t(a.State), C.uintptr_t(a.Slots), C.uintptr_t(a.SlotStride)
		st.all.records, st.all.record_bytes = C.uintptr_t(a.Records), C.uintptr_t(a.RecordBytes)
		st.all.code = [2]C.uint64_t{C.uint64_t(a.BarrierCode), C.uint64_t(a.SyncCode)}
		st.all.desc = [2]C.uint64_t{C.uint64_t(a.BarrierDesc), C.uint64_t(a.SyncDesc)}
		st.all.poisoned = C.uint64_t(a.Poisoned)
	}
	sh := pe.TeamShared()
	st.shared_start, st.shared_size, st.shared_stride = C.int(sh.WorldPE(0)), C.int(sh.NPEs()), 1
	if sh.NPEs() > 1 {
		st.shared_stride = C.int(sh.WorldPE(1) - sh.WorldPE(0))
	}
	// C's waits look as often as the fabric's own (its WaitPolicy's Spin:
	// a few µs where a PE has a processor of its own, a few looks where
	// PEs outnumber the processors) before they go on in Go.
	st.spin = C.uint64_t(max(fabric.PolicyOf(pe.Fabric()).Spin, 1))
	if inproc {
		st.inproc = 1
	}
	b := &binding{pe: pe, st: st, ctx: ctx, inproc: inproc, copier: memcopy.New("/sys"), ctxs: map[uintptr]*hostshmem.Ctx{}, teams: map[uintptr]*hostshmem.Team{}}
	b.h = register(b)
	st.handle = C.uintptr_t(b.h)
	return b
}

// fatal prints what went wrong in call and ends the job as
// shmem_global_exit(1) does.
func (b *binding) fatal(call string, err error) {
	fatal(b, call, err.Error())
}

func fatal(b *binding, call, msg string) {
	if b == nil {
		fmt.Fprintf(os.Stderr, "gshmem: %s: %s\n", call, msg)
		os.Exit(1)
	}
	if e, ok := b.pe.Fabric().(fabric.Exiter); ok {
		if _, status, ok := e.Exited(); ok {
			// A peer ended the job (shmem_global_exit, or a failure of
			// its own, which it reported): this PE's call failed because
			// of it; end with its status and say nothing more.
			os.Exit(status)
		}
	}
	fmt.Fprintf(os.Stderr, "gshmem: PE %d: %s: %s\n", b.pe.MyPE(), call, msg)
	exit(b, 1)
}

// exit ends the job with status: every PE's process (GlobalExit), or,
// for shmemx_run's PEs, this process.
func exit(b *binding, status int) {
	if b == nil || b.inproc {
		os.Exit(status)
	}
	b.pe.GlobalExit(status)
	os.Exit(status)
}

//export gshmemGoFatal
func gshmemGoFatal(h C.uintptr_t, call, msg *C.char) {
	var b *binding
	if h != 0 {
		b = lookup(h)
	}
	fatal(b, C.GoString(call), C.GoString(msg))
}

//export gshmemGoGlobalExit
func gshmemGoGlobalExit(h C.uintptr_t, status C.int) {
	var b *binding
	if h != 0 {
		b = lookup(h)
	}
	exit(b, int(status))
}

//export gshmemGoInit
func gshmemGoInit() *C.gs_pe {
	ctx := context.Background()
	pe, err := gshmem.Init(ctx)
	if err != nil {
		fatal(nil, "shmem_init", err.Error())
	}
	b := newBinding(ctx, pe, false, os.Getenv(config.EnvCAPIUnmap) == "odd")
	b.staticData()
	b.scratch()
	return b.st
}

//export gshmemGoFinalize
func gshmemGoFinalize(h C.uintptr_t) {
	b := lookup(h)
	if b.inproc {
		// shmemx_run finalizes the PE when its function returns; here
		// the PEs only meet.
		if err := b.pe.BarrierAll(b.ctx); err != nil {
			b.fatal("shmem_finalize", err)
		}
		return
	}
	b.st.finalized = 1
	if err := b.pe.Finalize(b.ctx); err != nil {
		b.fatal("shmem_finalize", err)
	}
}

//export gshmemGoRun
func gshmemGoRun(npes C.int, fn, arg unsafe.Pointer) C.int {
	cfg, err := gshmem.LoadConfig(nil)
	if err != nil {
		fatal(nil, "shmemx_run", err.Error())
	}
	cfg.NPEs = int(npes)
	cfg.Transport = gshmem.TransportInproc
	cfg.Bootstrap = gshmem.BootstrapInproc
	unmapOdd := os.Getenv(config.EnvCAPIUnmap) == "odd"
	err = gshmem.RunWith(context.Background(), cfg, func(ctx context.Context, pe *gshmem.PE) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b := newBinding(ctx, pe, true, unmapOdd)
		b.staticData()
		b.scratch()
		defer b.free()
		C.gs_call((*[0]byte)(fn), arg, b.st)
		return nil
	})
	if err != nil {
		var ee *gshmem.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.Status)
		}
		fmt.Fprintf(os.Stderr, "gshmem: shmemx_run: %v\n", err)
		return 1
	}
	return 0
}

// scratch allocates the PE's scratch words (gs_pe.scratch): a symmetric
// object of the C interface's own, which every PE allocates at start-up,
// as it must.
func (b *binding) scratch() {
	s, err := hostshmem.Calloc[int64](b.ctx, b.pe, 8)
	if err != nil {
		b.fatal("shmem_init", err)
	}
	b.st.scratch = (*C.long)(unsafe.Pointer(unsafe.SliceData(hostshmem.Local(b.pe, s))))
}

// free releases b's C state once its PE is done with it.
func (b *binding) free() {
	b.st.finalized = 1
	unregister(b)
	b.freeStatic()
	C.gs_free_objs(b.st)
	C.free(unsafe.Pointer(b.st.base))
	C.free(unsafe.Pointer(b.st.sleep))
	C.free(unsafe.Pointer(b.st.wild))
	C.free(unsafe.Pointer(b.st.watch))
	C.free(unsafe.Pointer(b.st))
}

//export gshmemGoTransport
func gshmemGoTransport(h C.uintptr_t, buf *C.char, n C.size_t) {
	t := lookup(h).pe.Transport()
	out := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	out[copy(out[:len(out)-1], t)] = 0
}

//export gshmemGoCopy
func gshmemGoCopy(h C.uintptr_t, dst, src unsafe.Pointer, n C.size_t) {
	lookup(h).copier.Copy(unsafe.Slice((*byte)(dst), int(n)), unsafe.Slice((*byte)(src), int(n)))
}

//export gshmemGoNotify
func gshmemGoNotify(h C.uintptr_t, pe C.int, off, n C.size_t) {
	lookup(h).pe.Notify(int(pe), uintptr(off), uintptr(n))
}

// comm is the Go context a C context handle names: the PE itself for 0
// (the default context).
func (b *binding) comm(ctxh C.uintptr_t) hostshmem.Comm {
	if ctxh == 0 {
		return b.pe
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ctxs[uintptr(ctxh)]
}

// Kinds of gshmemGoRMA (gs.h).
const (
	kindPut = iota
	kindGet
	kindPutNBI
	kindGetNBI
)

//export gshmemGoRMA
func gshmemGoRMA(h, ctxh C.uintptr_t, call *C.char, kind, pe C.int, off C.uintptr_t, local unsafe.Pointer, n C.size_t) {
	b := lookup(h)
	s, err := hostshmem.SymAt[byte](b.pe, uintptr(off), int(n))
	if err == nil {
		buf := unsafe.Slice((*byte)(local), int(n))
		c := b.comm(ctxh)
		switch kind {
		case kindPut:
			err = hostshmem.Put(c, s, buf, int(pe))
		case kindGet:
			err = hostshmem.Get(c, buf, s, int(pe))
		case kindPutNBI:
			err = hostshmem.PutNBI(c, s, buf, int(pe))
		case kindGetNBI:
			err = hostshmem.GetNBI(c, buf, s, int(pe))
		}
	}
	if err != nil {
		b.fatal(C.GoString(call), err)
	}
}

//export gshmemGoStrided
func gshmemGoStrided(h, ctxh C.uintptr_t, call *C.char, put, pe C.int, off C.uintptr_t, local unsafe.Pointer, dst, sst C.ptrdiff_t, nelems, size C.size_t) {
	b := lookup(h)
	c := b.comm(ctxh)
	// Element by element: the strided forms of hostshmem are typed, and
	// this path serves only the device heap and unmapped peers.
	stride := dst
	lstride := sst
	if put == 0 {
		stride, lstride = sst, dst
	}
	for i := 0; i < int(nelems); i++ {
		s, err := hostshmem.SymAt[byte](b.pe, uintptr(off)+uintptr(i)*uintptr(stride)*uintptr(size), int(size))
		if err == nil {
			buf := unsafe.Slice((*byte)(unsafe.Add(local, i*int(lstride)*int(size))), int(size))
			if put != 0 {
				err = hostshmem.Put(c, s, buf, int(pe))
			} else {
				err = hostshmem.Get(c, buf, s, int(pe))
			}
		}
		if err != nil {
			b.fatal(C.GoString(call), err)
		}
	}
}

//export gshmemGoQuiet
func gshmemGoQuiet(h, ctxh C.uintptr_t) {
	b := lookup(h)
	if err := hostshmem.Quiet(b.comm(ctxh)); err != nil {
		b.fatal("shmem_quiet", err)
	}
}

//export gshmemGoBarrierAll
func gshmemGoBarrierAll(h C.uintptr_t, call *C.char) {
	b := lookup(h)
	if err := b.pe.BarrierAll(b.ctx); err != nil {
		b.fatal(C.GoString(call), err)
	}
}

//export gshmemGoFinishEntry
func gshmemGoFinishEntry(h C.uintptr_t, sync C.int, seq, e C.uint64_t) {
	b := lookup(h)
	if err := b.pe.FinishEntry(b.ctx, sync != 0, uint64(seq), uint64(e)); err != nil {
		call := "shmem_barrier_all"
		if sync != 0 {
			call = "shmem_sync_all"
		}
		b.fatal(call, err)
	}
}

//export gshmemGoSyncAll
func gshmemGoSyncAll(h C.uintptr_t) {
	b := lookup(h)
	if err := b.pe.SyncAll(b.ctx); err != nil {
		b.fatal("shmem_sync_all", err)
	}
}

// Kinds of gshmemGoAlloc (core.c).
const (
	allocMalloc = iota
	allocCalloc
	allocAlign
	allocRealloc
)

//export gshmemGoAlloc
func gshmemGoAlloc(h C.uintptr_t, call *C.char, kind C.int, size, align C.size_t, hints C.long, old C.uintptr_t) C.int64_t {
	b := lookup(h)
	var (
		s   hostshmem.Sym[byte]
		err error
	)
	n := int(size)
	if n < 0 {
		err = fmt.Errorf("%w: %d bytes", hostshmem.ErrInvalidArg, uint64(size))
	} else {
		switch kind {
		case allocMalloc:
			s, err = hostshmem.MallocWithHints[byte](b.ctx, b.pe, n, hostshmem.MallocHint(hints))
		case allocCalloc:
			s, err = hostshmem.Calloc[byte](b.ctx, b.pe, n)
		case allocAlign:
			s, err = hostshmem.Align[byte](b.ctx, b.pe, uintptr(align), n)
		case allocRealloc:
			if s, err = hostshmem.ObjectAt(b.pe, uintptr(old)); err == nil {
				s, err = hostshmem.Realloc(b.ctx, b.pe, s, n)
			}
		}
	}
	if err != nil {
		// The specification's answer is a null pointer; say why.
		fmt.Fprintf(os.Stderr, "gshmem: PE %d: %s(%d bytes): %v\n", b.pe.MyPE(), C.GoString(call), uint64(size), err)
		return -1
	}
	if s.Len() == 0 {
		return -1 // size 0: a null pointer, as the specification says
	}
	return C.int64_t(s.Offset())
}

//export gshmemGoFree
func gshmemGoFree(h C.uintptr_t, some C.int, off C.uintptr_t) {
	b := lookup(h)
	var s hostshmem.Sym[byte]
	if some != 0 {
		var err error
		if s, err = hostshmem.ObjectAt(b.pe, uintptr(off)); err != nil {
			b.fatal("shmem_free", err)
		}
	}
	if err := hostshmem.Free(b.ctx, b.pe, s); err != nil {
		b.fatal("shmem_free", err)
	}
}
