//go:build cgo

package capi

/*
#include "gs_coll.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/gshmem/gshmem/hostshmem"
)

// Teams, contexts and collectives: the Go side of coll.c. A C team or
// context made by a split or a create holds a handle of its
// hostshmem.Team or hostshmem.Ctx in binding.teams or binding.ctxs; the
// predefined teams are named by pre (1: world, 2: shared) instead.

// keep stores a team or context under a new handle (never 0).
func (b *binding) keep(t *hostshmem.Team, c *hostshmem.Ctx) uintptr {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	if t != nil {
		b.teams[b.next] = t
	}
	if c != nil {
		b.ctxs[b.next] = c
	}
	return b.next
}

// team is the Go team of a C team: predefined (pre 1: world, 2: shared)
// or made by a split (handle th).
func (b *binding) team(pre C.int, th C.uintptr_t) *hostshmem.Team {
	switch pre {
	case 1:
		return b.pe.TeamWorld()
	case 2:
		return b.pe.TeamShared()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.teams[uintptr(th)]
}

// teamInfo describes t for C.
func teamInfo(t *hostshmem.Team, h uintptr) C.struct_gshmem_team_info {
	info := C.struct_gshmem_team_info{start: C.int(t.WorldPE(0)), stride: 1, size: C.int(t.NPEs()), my: C.int(t.MyPE()), handle: C.uintptr_t(h)}
	if t.NPEs() > 1 {
		info.stride = C.int(t.WorldPE(1) - t.WorldPE(0))
	}
	return info
}

// usage reports err, a failure the specification lets call return: the
// program's mistake when the members disagree or a team is broken (the
// job ends), else a message on stderr and the nonzero result.
func (b *binding) usage(call string, err error) C.int {
	if errors.Is(err, hostshmem.ErrMismatch) || errors.Is(err, hostshmem.ErrBroken) {
		b.fatal(call, err)
	}
	fmt.Fprintf(os.Stderr, "gshmem: PE %d: %s: %v\n", b.pe.MyPE(), call, err)
	return -1
}

//export gshmemGoTeamSplit
func gshmemGoTeamSplit(h C.uintptr_t, pre C.int, th C.uintptr_t, call *C.char, twod, start, stride, size, nctx1, nctx2 C.int, out *C.struct_gshmem_team_info) C.int {
	b := lookup(h)
	parent := b.team(pre, th)
	outs := unsafe.Slice(out, 2)
	if twod != 0 {
		x, y, err := parent.Split2D(b.ctx, int(start), &hostshmem.TeamConfig{NumContexts: int(nctx1)}, &hostshmem.TeamConfig{NumContexts: int(nctx2)})
		if err != nil {
			return b.usage(C.GoString(call), err)
		}
		outs[0], outs[1] = teamInfo(x, b.keep(x, nil)), teamInfo(y, b.keep(y, nil))
		return 0
	}
	t, err := parent.SplitStrided(b.ctx, int(start), int(stride), int(size), &hostshmem.TeamConfig{NumContexts: int(nctx1)})
	if err != nil {
		return b.usage(C.GoString(call), err)
	}
	if t != nil {
		outs[0] = teamInfo(t, b.keep(t, nil))
	}
	return 0
}

//export gshmemGoTeamDestroy
func gshmemGoTeamDestroy(h, th C.uintptr_t) {
	b := lookup(h)
	t := b.team(0, th)
	if err := t.Destroy(b.ctx); err != nil {
		b.fatal("shmem_team_destroy", err)
	}
	b.mu.Lock()
	delete(b.teams, uintptr(th))
	b.mu.Unlock()
}

//export gshmemGoTeamConfig
func gshmemGoTeamConfig(h C.uintptr_t, pre C.int, th C.uintptr_t) C.int {
	b := lookup(h)
	return C.int(b.team(pre, th).Config().NumContexts)
}

//export gshmemGoTeamSync
func gshmemGoTeamSync(h C.uintptr_t, pre C.int, th C.uintptr_t, call *C.char, barrier C.int) {
	b := lookup(h)
	t := b.team(pre, th)
	var err error
	if barrier != 0 {
		err = t.Barrier(b.ctx)
	} else {
		err = t.Sync(b.ctx)
	}
	if err != nil {
		b.fatal(C.GoString(call), err)
	}
}

// The options of shmem_ctx_create (shmem.h's SHMEM_CTX_*).
const (
	ctxPrivate    = 1
	ctxSerialized = 2
	ctxNostore    = 4
)

//export gshmemGoCtxCreate
func gshmemGoCtxCreate(h C.uintptr_t, pre C.int, th C.uintptr_t, call *C.char, options C.long, out *C.uintptr_t) C.int {
	b := lookup(h)
	if options&^(ctxPrivate|ctxSerialized|ctxNostore) != 0 {
		return b.usage(C.GoString(call), fmt.Errorf("%w: options %#x: only SHMEM_CTX_PRIVATE, SHMEM_CTX_SERIALIZED and SHMEM_CTX_NOSTORE are defined", hostshmem.ErrInvalidArg, int64(options)))
	}
	var opts hostshmem.CtxOption
	if options&ctxPrivate != 0 {
		opts |= hostshmem.CtxPrivate
	}
	if options&ctxSerialized != 0 {
		opts |= hostshmem.CtxSerialized
	}
	if options&ctxNostore != 0 {
		opts |= hostshmem.CtxNostore
	}
	var (
		c   *hostshmem.Ctx
		err error
	)
	if pre == 1 {
		c, err = hostshmem.CtxCreate(b.pe, opts)
	} else {
		c, err = b.team(pre, th).CreateCtx(opts)
	}
	if err != nil {
		return b.usage(C.GoString(call), err)
	}
	*out = C.uintptr_t(b.keep(nil, c))
	return 0
}

//export gshmemGoCtxDestroy
func gshmemGoCtxDestroy(h, ctxh C.uintptr_t) {
	b := lookup(h)
	b.mu.Lock()
	c := b.ctxs[uintptr(ctxh)]
	delete(b.ctxs, uintptr(ctxh))
	b.mu.Unlock()
	if err := c.Destroy(); err != nil {
		b.fatal("shmem_ctx_destroy", err)
	}
}

// Kinds of collective (gs_coll.h).
const (
	kindBcast = iota
	kindCollect
	kindFCollect
	kindAllToAll
	kindAllToAlls
	kindReduce
)

// Element types of the collectives (gs_coll.h's GS_DT_*).
const (
	dtNone = iota
	dtI8
	dtI16
	dtI32
	dtI64
	dtU8
	dtU16
	dtU32
	dtU64
	dtF32
	dtF64
	dtC64
	dtC128
)

// collArgs are a collective's arguments as C passed them: offsets and
// element counts of the buffers, checked against the heap by C.
type collArgs struct {
	kind              int
	op                hostshmem.ReduceOp
	doff, soff        uintptr
	dlen, slen        int
	n, root, dst, sst int
}

func collAt[T hostshmem.Elem](ctx context.Context, p *hostshmem.PE, t *hostshmem.Team, a collArgs) error {
	dest, err := hostshmem.SymAt[T](p, a.doff, a.dlen)
	if err != nil {
		return fmt.Errorf("dest: %w", err)
	}
	source, err := hostshmem.SymAt[T](p, a.soff, a.slen)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	switch a.kind {
	case kindBcast:
		return hostshmem.Broadcast(ctx, t, dest, source, a.n, a.root)
	case kindCollect:
		_, err := hostshmem.Collect(ctx, t, dest, source, a.n)
		return err
	case kindFCollect:
		return hostshmem.FCollect(ctx, t, dest, source, a.n)
	case kindAllToAll:
		return hostshmem.AllToAll(ctx, t, dest, source, a.n)
	case kindAllToAlls:
		return hostshmem.AllToAlls(ctx, t, dest, source, a.dst, a.sst, a.n)
	case kindReduce:
		return hostshmem.Reduce(ctx, t, a.op, dest, source, a.n)
	}
	return fmt.Errorf("%w: collective kind %d", hostshmem.ErrInvalidArg, a.kind)
}

//export gshmemGoColl
func gshmemGoColl(h C.uintptr_t, pre C.int, th C.uintptr_t, call *C.char, kind, dt, op C.int, doff, dlen, soff, slen, nelems C.size_t, root C.int, dst, sst C.ptrdiff_t) {
	b := lookup(h)
	t := b.team(pre, th)
	a := collArgs{
		kind: int(kind), op: hostshmem.ReduceOp(op),
		doff: uintptr(doff), dlen: int(dlen), soff: uintptr(soff), slen: int(slen),
		n: int(nelems), root: int(root), dst: int(dst), sst: int(sst),
	}
	var err error
	switch dt {
	case dtI8:
		err = collAt[int8](b.ctx, b.pe, t, a)
	case dtI16:
		err = collAt[int16](b.ctx, b.pe, t, a)
	case dtI32:
		err = collAt[int32](b.ctx, b.pe, t, a)
	case dtI64:
		err = collAt[int64](b.ctx, b.pe, t, a)
	case dtU8:
		err = collAt[uint8](b.ctx, b.pe, t, a)
	case dtU16:
		err = collAt[uint16](b.ctx, b.pe, t, a)
	case dtU32:
		err = collAt[uint32](b.ctx, b.pe, t, a)
	case dtU64:
		err = collAt[uint64](b.ctx, b.pe, t, a)
	case dtF32:
		err = collAt[float32](b.ctx, b.pe, t, a)
	case dtF64:
		err = collAt[float64](b.ctx, b.pe, t, a)
	case dtC64:
		err = collAt[complex64](b.ctx, b.pe, t, a)
	case dtC128:
		err = collAt[complex128](b.ctx, b.pe, t, a)
	default:
		err = fmt.Errorf("%w: element type %d", hostshmem.ErrInvalidArg, int(dt))
	}
	if err != nil {
		b.fatal(C.GoString(call), err)
	}
}
