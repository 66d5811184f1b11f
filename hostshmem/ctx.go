package hostshmem

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Comm is what RMA and atomic operations are issued on: a *PE (its default
// context) or a *Ctx. Operations on a nil *Ctx return an error matching
// ErrInvalidArg.
type Comm interface {
	comm() *Ctx
}

// CtxOption is a set of bits describing how a context will be used
// (OpenSHMEM SHMEM_CTX_*). Combine them with |.
type CtxOption uint

// Context options.
const (
	// CtxSerialized: the context is never used by two goroutines at the
	// same time (the program serialises its uses). Its bookkeeping skips
	// atomic updates.
	CtxSerialized CtxOption = 1 << iota
	// CtxPrivate: the context is used by one goroutine only, the one that
	// created it or one it hands the context to for good (Go has no thread
	// identity, so gshmem cannot check this; the promise is the same as
	// CtxSerialized's, with no second user at all). Its bookkeeping skips
	// atomic updates.
	CtxPrivate
	// CtxNostore: the context will not be used for puts, signals or atomics
	// that update memory. It is a hint that gshmem records and does not
	// enforce; a store on such a context still works.
	CtxNostore

	ctxAllOptions = CtxSerialized | CtxPrivate | CtxNostore
	ctxUnshared   = CtxSerialized | CtxPrivate
)

var ctxOptionNames = [...]string{"CtxSerialized", "CtxPrivate", "CtxNostore"}

func (o CtxOption) String() string {
	if o == 0 {
		return "0"
	}
	var parts []string
	for i, name := range ctxOptionNames {
		if o&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	if rest := o &^ ctxAllOptions; rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint(rest)))
	}
	return strings.Join(parts, "|")
}

// Ctx is a communication context (OpenSHMEM 1.5 section 9.5): a stream of
// operations of one PE whose completion Quiet and Fence on this context
// govern. Make one with CtxCreate; the PE's default context is the *PE
// itself, passed as a Comm.
//
// Quiet(c) completes the puts, gets and atomics issued on c only; Fence(c)
// orders those issued on c only. On a load/store transport (inproc, shm)
// every operation is complete when it returns, so Quiet and Fence on a
// context only order, but each context keeps its own count of the
// non-blocking operations issued on it since its last Quiet, which is
// where a transport with asynchronous operations tracks what Quiet on this
// context must wait for. (The default context counts nothing: Quiet on it
// completes everything the PE issued.)
//
// A context created without CtxPrivate or CtxSerialized may be used from
// several goroutines at once, like the default context. One created with
// either must not be: it skips the atomic bookkeeping a shared context
// needs. Destroy must not run concurrently with other uses of the context.
type Ctx struct {
	// pe is the PE operations on the context go to; nil once the context
	// is destroyed (and in the zero Ctx). Every operation checks it: one
	// predictable branch.
	pe    *PE
	owner *PE // the PE the context belongs to, kept after Destroy
	opts  CtxOption
	// counts says c keeps count of its non-blocking operations: every
	// created context, not the default one, whose Quiet is the fabric's
	// and completes everything the PE issued (counting there would cost
	// every NBI an atomic add).
	counts bool

	// nbi counts the non-blocking operations issued on the context since
	// its last Quiet: shared contexts on their own cache line with atomic
	// adds, private and serialised ones with plain adds.
	_      [lineSize]byte
	shared atomic.Uint64
	_      [lineSize - 8]byte
	mine   uint64

	// books is PE-wide bookkeeping, used on the default context (p.dflt)
	// only, which every PE has: it needs no field of PE.
	books peBooks
}

// peBooks is a PE's bookkeeping of its contexts and locks.
type peBooks struct {
	ctxs  atomic.Int64 // contexts created and not yet destroyed
	locks struct {     // locks this PE holds or is queued for (lock.go)
		sync.Mutex
		m map[uintptr]lockState
	}
}

// comm is c, or for a nil *Ctx the stand-in nilCtx, on which every
// operation fails (live).
func (c *Ctx) comm() *Ctx {
	if c == nil {
		return &nilCtx
	}
	return c
}

// nilCtx stands in for a nil *Ctx passed as a Comm. It has no PE, so no
// operation ever writes it.
var nilCtx Ctx

func (p *PE) comm() *Ctx { return &p.dflt }

// CtxCreate makes a context on p with the options opts (0 for none). The
// context belongs to p; release it with Destroy.
func CtxCreate(p *PE, opts CtxOption) (*Ctx, error) {
	if opts&^ctxAllOptions != 0 {
		return nil, fmt.Errorf("gshmem: ctx_create: %w: unknown option bits %#x in %v", ErrInvalidArg, uint(opts&^ctxAllOptions), opts)
	}
	if p.closed() {
		return nil, errFinalized("ctx_create")
	}
	p.dflt.books.ctxs.Add(1)
	return &Ctx{pe: p, owner: p, opts: opts, counts: true}, nil
}

// Destroy quiets c, then releases it: every later use of c, Destroy
// included, returns an error matching ErrCtxDestroyed. It returns Quiet's
// error, if any, having destroyed c all the same.
func (c *Ctx) Destroy() error {
	p, err := c.comm().live("ctx_destroy", false)
	if err != nil {
		return err
	}
	if c == &p.dflt {
		return fmt.Errorf("gshmem: ctx_destroy: %w: the default context cannot be destroyed", ErrInvalidArg)
	}
	err = c.quiet("ctx_destroy")
	c.pe = nil
	p.dflt.books.ctxs.Add(-1)
	return err
}

// PE returns the PE the context belongs to (nil for the zero Ctx and a
// nil *Ctx).
func (c *Ctx) PE() *PE {
	if c == nil {
		return nil
	}
	return c.owner
}

// Options returns the options c was created with (0 for a nil *Ctx).
func (c *Ctx) Options() CtxOption {
	if c == nil {
		return 0
	}
	return c.opts
}

// Quiet is Quiet on c.
func (c *Ctx) Quiet() error { return Quiet(c) }

// Fence is Fence on c.
func (c *Ctx) Fence() error { return Fence(c) }

// Contexts is the number of contexts created on p and not yet destroyed.
func (p *PE) Contexts() int { return int(p.dflt.books.ctxs.Load()) }

// live returns the PE that operation op on c goes to, or an error when c
// was destroyed or stands for a nil *Ctx (see comm); nbi says op is
// non-blocking, and c counts it. It inlines: a blocking operation (nbi the
// constant false) costs one predictable branch, an NBI on the default
// context two.
func (c *Ctx) live(op string, nbi bool) (p *PE, err error) {
	p = c.pe
	if p == nil || nbi && c.counts { // written so that it fits the inlining budget
		p, err = c.liveSlow(op)
	}
	return p, err
}

// liveSlow is live for destroyed and nil contexts and for the non-blocking
// operations that c counts.
func (c *Ctx) liveSlow(op string) (*PE, error) {
	p := c.pe
	if p == nil {
		if c == &nilCtx {
			return nil, fmt.Errorf("gshmem: %s: %w: nil context", op, ErrInvalidArg)
		}
		return nil, c.errDestroyed(op)
	}
	c.issued()
	return p, nil
}

func (c *Ctx) errDestroyed(op string) error {
	if c.owner == nil {
		return fmt.Errorf("gshmem: %s: %w: the zero Ctx was not made by CtxCreate", op, ErrCtxDestroyed)
	}
	return fmt.Errorf("gshmem: %s: %w: context of PE %d", op, ErrCtxDestroyed, c.owner.me)
}

// issued counts a non-blocking operation issued on c.
func (c *Ctx) issued() {
	if c.opts&ctxUnshared != 0 {
		c.mine++
	} else {
		c.shared.Add(1)
	}
}

// quiet is Quiet on c: it completes the operations issued on c. The count
// of outstanding operations is settled before the fabric's Quiet, so an
// operation issued concurrently stays counted for the next Quiet.
func (c *Ctx) quiet(op string) error {
	p, err := c.live(op, false)
	if err != nil {
		return err
	}
	if p.closed() {
		return errFinalized(op)
	}
	if c.counts {
		if c.opts&ctxUnshared != 0 {
			c.mine = 0
		} else if n := c.shared.Load(); n != 0 {
			c.shared.Add(-n) // not Store(0): keep adds made meanwhile
		}
	}
	if err := p.fab.Quiet(); err != nil {
		return fmt.Errorf("gshmem: %s: %w", op, err)
	}
	return nil
}
