//go:build cgo

package pmix

// The mechanical layer: one Go function per shim.h call, taking and
// returning Go strings and integers. No Go pointer passed here is kept by C
// after the call returns.

/*
#cgo LDFLAGS: -ldl
#include "shim.h"
*/
import "C"

import "unsafe"

const haveCgo = true

// status is a pmix_status_t, or one of the shim's own codes (statusBadType
// and the like).
type status int32

const (
	statusOK       = status(C.GSHM_PMIX_SUCCESS)
	statusTimeout  = status(C.GSHM_PMIX_ERR_TIMEOUT)
	statusNotFound = status(C.GSHM_PMIX_ERR_NOT_FOUND)
	statusBadType  = status(C.GSHM_PMIX_BADTYPE)

	typeString = int(C.GSHM_PMIX_STRING)

	loadOK      = C.GSHM_PMIX_LOAD_OK
	loadDlopen  = C.GSHM_PMIX_LOAD_DLOPEN
	loadMissing = C.GSHM_PMIX_LOAD_MISSING
)

// lib is an opened libpmix with every entry point resolved.
type lib struct {
	p *C.gshm_pmix
}

func openLib(path string) (lib, int, string) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	msg := (*C.char)(C.malloc(4096))
	defer C.free(unsafe.Pointer(msg))
	var p *C.gshm_pmix
	st := C.gshm_pmix_load(cpath, &p, msg, 4096)
	return lib{p}, int(st), C.GoString(msg)
}

// symbolNames lists every entry point openLib resolves.
func symbolNames() (names []string) {
	for i := 0; i < int(C.GSHM_PMIX_NSYMS); i++ {
		names = append(names, C.GoString(C.gshm_pmix_sym_name(C.int(i))))
	}
	return names
}

func (l lib) version() string { return C.GoString(C.gshm_pmix_version(l.p)) }

func (l lib) errorString(st status) string {
	s := C.gshm_pmix_error_string(l.p, C.int(st))
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

func (l lib) init() (nspace string, rank uint32, st status) {
	buf := (*C.char)(C.calloc(1, C.GSHM_PMIX_MAX_NSLEN+1))
	defer C.free(unsafe.Pointer(buf))
	var r C.uint32_t
	st = status(C.gshm_pmix_init(l.p, buf, &r))
	return C.GoString(buf), uint32(r), st
}

// get returns a number or, when typ is typeString, a string.
func (l lib) get(nspace string, rank uint32, key string, optional bool, timeout int) (typ int, num uint64, str string, st status) {
	cns, ckey := C.CString(nspace), C.CString(key)
	defer C.free(unsafe.Pointer(cns))
	defer C.free(unsafe.Pointer(ckey))
	opt := C.int(0)
	if optional {
		opt = 1
	}
	var t C.int
	var n C.uint64_t
	var s *C.char
	st = status(C.gshm_pmix_get(l.p, cns, C.uint32_t(rank), ckey, opt, C.int(timeout), &t, &n, &s))
	if s != nil {
		str = C.GoString(s)
		C.free(unsafe.Pointer(s))
	}
	return int(t), uint64(n), str, st
}

func (l lib) put(key, val string) status {
	ckey, cval := C.CString(key), C.CString(val)
	defer C.free(unsafe.Pointer(ckey))
	defer C.free(unsafe.Pointer(cval))
	return status(C.gshm_pmix_put(l.p, ckey, cval))
}

func (l lib) fence(nspace string, timeout int) status {
	cns := C.CString(nspace)
	defer C.free(unsafe.Pointer(cns))
	return status(C.gshm_pmix_fence(l.p, cns, C.int(timeout)))
}

func (l lib) resolveNodes(nspace string) (string, status) {
	cns := C.CString(nspace)
	defer C.free(unsafe.Pointer(cns))
	var out *C.char
	st := status(C.gshm_pmix_resolve_nodes(l.p, cns, &out))
	if out == nil {
		return "", st
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoString(out), st
}

func (l lib) resolvePeers(node, nspace string) ([]uint32, status) {
	cnode, cns := C.CString(node), C.CString(nspace)
	defer C.free(unsafe.Pointer(cnode))
	defer C.free(unsafe.Pointer(cns))
	var r *C.uint32_t
	var n C.size_t
	st := status(C.gshm_pmix_resolve_peers(l.p, cnode, cns, &r, &n))
	if r == nil {
		return nil, st
	}
	defer C.free(unsafe.Pointer(r))
	ranks := make([]uint32, int(n))
	copy(ranks, unsafe.Slice((*uint32)(unsafe.Pointer(r)), int(n)))
	return ranks, st
}

func (l lib) abort(code int, msg string) status {
	cmsg := C.CString(msg)
	defer C.free(unsafe.Pointer(cmsg))
	return status(C.gshm_pmix_abort(l.p, C.int(code), cmsg))
}

func (l lib) finalize() status { return status(C.gshm_pmix_finalize(l.p)) }
