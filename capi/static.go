//go:build cgo

package capi

/*
#include <stdlib.h>
#include "gs.h"

int gs_static_find(char **start, uintptr_t *size, uintptr_t *rel);
int gs_static_share(char *start, size_t size, const char *name, const char **step);
*/
import "C"

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/gshmem/gshmem/hostshmem"
)

// Symmetric static data. In OpenSHMEM a C program's global and static
// variables are symmetric objects: shmem_long_p(&x, 1, pe) writes PE pe's
// copy of a global x. Where PEs are processes, each runs the same
// executable, so x lies at the same offset of every PE's data segment
// (.data and .bss); what a peer needs is a mapping of that segment.
//
// At shmem_init every process PE moves its data segment into a memory file
// and maps the file over the same addresses, shared (gs_static_share: the
// program keeps its addresses and values). The PEs then tell each other,
// through a small symmetric allocation, their process id, the file's
// descriptor and the segment's size, and each opens its node's peers'
// files through /proc/PID/fd/FD (which a process of the same user may
// read; pidfd_getfd would need the right to trace them) and maps them. The
// files have no name: nothing is left behind however the PEs end, and each
// file's memory goes with the last process that maps it.
//
// C then reaches a peer's static data as it reaches its heap: gs_sym gives
// a static address an offset past the region (gs_is_static), and the slow
// branches of the hot paths (gs_go_rma, gs_go_strided) copy through the
// peer's mapping (data_base) in C. A store there wakes every sleeper of the
// peer (fabric's watches are ranges of the heap). Static data of a PE on
// another node is not mapped: an access to it fails naming the PE.
//
// Where static data cannot be symmetric, its first use as a symmetric
// object fails with the reason (data_why): shmemx_run's PEs share one copy
// of the program's globals; PEs whose data segments differ (not the same
// executable) would corrupt each other's memory.
//
// After shmem_init the data segment stays shared with the node's peers,
// also in a child that fork makes without exec: a program that forks
// must not let the child store into its globals.

// staticName is the name of PE pe's memory file, which a peer checks
// before it maps the file.
func staticName(pe int) string { return "gshmem-static-" + strconv.Itoa(pe) }

// The words each PE publishes in the exchange.
const (
	wPID  = iota // the process id
	wFD          // the memory file's descriptor; -1: it could not share its data
	wSize        // bytes of the data segment
	wRel         // the segment's start relative to the program's load address
	wOK          // 1 once it mapped all its node's peers, else 0
	nWords
)

// staticData sets up b's static data: its range, and, for a process PE
// of several, the mappings of its node's peers' copies. The exchange is
// collective: every PE's shmem_init calls it.
func (b *binding) staticData() {
	st := b.st
	var (
		start     *C.char
		size, rel C.uintptr_t
	)
	if C.gs_static_find(&start, &size, &rel) != 0 {
		return // no writable data: static addresses are not symmetric ones
	}
	st.data, st.data_size = start, size
	if b.inproc {
		st.data_why = C.CString("shmemx_run's PEs are threads of one process and share one copy of the " +
			"program's globals; allocate symmetric objects with shmem_malloc")
		return
	}
	n, me := b.pe.NPEs(), b.pe.MyPE()
	st.data_base = (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	bases := unsafe.Slice(st.data_base, n)
	bases[me] = start
	if n == 1 {
		return
	}
	why := ""
	fd := -1
	if !exeCallsShmem() {
		why = "the program's executable does not call OpenSHMEM itself (an interpreter that loaded libgshmem), " +
			"so its static data is left as it is"
	} else {
		name := C.CString(staticName(me))
		var step *C.char
		r := int(C.gs_static_share(start, C.size_t(size), name, &step))
		C.free(unsafe.Pointer(name))
		if r < 0 {
			why = fmt.Sprintf("PE %d could not share its static data [%p, %p): %s: %v", me, start,
				unsafe.Add(unsafe.Pointer(start), int(size)), C.GoString(step), syscall.Errno(-r))
		} else {
			fd = r
			defer syscall.Close(fd)
		}
	}

	sym, err := hostshmem.Malloc[int64](b.ctx, b.pe, nWords)
	if err != nil {
		b.fatal("shmem_init", fmt.Errorf("exchange static data: %w", err))
	}
	mine := hostshmem.Local(b.pe, sym)
	mine[wPID], mine[wFD], mine[wSize], mine[wRel] = int64(os.Getpid()), int64(fd), int64(size), int64(rel)
	if err := b.pe.BarrierAll(b.ctx); err != nil {
		b.fatal("shmem_init", err)
	}
	peer := make([]int64, nWords)
	for i := range n {
		if i == me || b.pe.Region(i) == nil || why != "" {
			continue // another node's PE: its static data stays out of reach
		}
		if err := hostshmem.Get(b.pe, peer, sym, i); err != nil {
			b.fatal("shmem_init", fmt.Errorf("exchange static data: %w", err))
		}
		p, err := mapPeerData(i, peer, int64(size), int64(rel))
		if err != nil {
			why = err.Error()
			continue
		}
		bases[i] = (*C.char)(p)
	}
	if why == "" {
		mine[wOK] = 1
	}
	// Every peer has opened this PE's file once all are here, and all
	// know whether all of the node's PEs could map their peers.
	if err := b.pe.BarrierAll(b.ctx); err != nil {
		b.fatal("shmem_init", err)
	}
	for i := range n {
		if why != "" {
			break
		}
		if i == me || b.pe.Region(i) == nil {
			continue
		}
		if err := hostshmem.Get(b.pe, peer, sym, i); err != nil {
			b.fatal("shmem_init", fmt.Errorf("exchange static data: %w", err))
		}
		if peer[wOK] != 1 {
			why = fmt.Sprintf("PE %d could not map its peers' static data (its own error says why)", i)
		}
	}
	if err := hostshmem.Free(b.ctx, b.pe, sym); err != nil {
		b.fatal("shmem_init", fmt.Errorf("exchange static data: %w", err))
	}
	if why != "" {
		st.data_why = C.CString(why)
	}
}

// exeCallsShmem says whether the program's executable calls OpenSHMEM
// itself: whether it needs libgshmem or imports an OpenSHMEM routine. Only
// then can its globals be symmetric objects; an interpreter that loads
// libgshmem at run time (shmem4py) keeps its data segment private, out of
// the way of its other threads. When the executable cannot be read, it
// is taken to call OpenSHMEM.
func exeCallsShmem() bool {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return true
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	for _, l := range libs {
		if strings.HasPrefix(l, "libgshmem") {
			return true
		}
	}
	syms, _ := f.ImportedSymbols()
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "shmem_") || strings.HasPrefix(s.Name, "shmemx_") || s.Name == "start_pes" {
			return true
		}
	}
	return false
}

// mapPeerData maps PE pe's static data, which it described in words,
// after checking that it has the size and place of this PE's.
func mapPeerData(pe int, words []int64, size, rel int64) (unsafe.Pointer, error) {
	if words[wFD] < 0 {
		return nil, fmt.Errorf("PE %d could not share its static data (its own error says why)", pe)
	}
	if words[wSize] != size || words[wRel] != rel {
		return nil, fmt.Errorf("PE %d's static data is %d bytes at %#x of its program, this PE's %d bytes at %#x: "+
			"the PEs do not run the same executable", pe, words[wSize], words[wRel], size, rel)
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", words[wPID], words[wFD])
	want := "/memfd:" + staticName(pe) + " (deleted)"
	if link, err := os.Readlink(path); err != nil || link != want {
		if err == nil {
			err = fmt.Errorf("it is %q, not %q", link, want)
		}
		return nil, fmt.Errorf("PE %d's static data %s: %w", pe, path, err)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			err = fmt.Errorf("%w (a PE opens its peers' files through /proc: they must run as the same user and stay dumpable)", err)
		}
		return nil, fmt.Errorf("open PE %d's static data %s: %w", pe, path, err)
	}
	defer syscall.Close(fd)
	var fst syscall.Stat_t
	if err := syscall.Fstat(fd, &fst); err != nil {
		return nil, fmt.Errorf("stat PE %d's static data %s: %w", pe, path, err)
	}
	if fst.Size != size {
		return nil, fmt.Errorf("PE %d's static data %s holds %d bytes, not %d", pe, path, fst.Size, size)
	}
	m, err := syscall.Mmap(fd, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map PE %d's static data %s: %w", pe, path, err)
	}
	return unsafe.Pointer(unsafe.SliceData(m)), nil
}

// freeStatic releases what staticData allocated in C (the mappings of a
// process PE's peers stay until the process ends).
func (b *binding) freeStatic() {
	C.free(unsafe.Pointer(b.st.data_base))
	C.free(unsafe.Pointer(b.st.data_why))
	b.st.data_base, b.st.data_why = nil, nil
}
