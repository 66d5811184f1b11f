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
// govern. Make one with CtxCreate (on the world team) or Team.CreateCtx
// (on a team, whose numbers name target PEs); the PE's default context is
// the *PE itself, passed as a Comm.
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
	owner *PE // the PE the context belongs to, kept after Destroy
	// fast is the kinds of operation live lets through without liveSlow:
	// none on a destroyed context, the zero Ctx and a team context (whose
	// PE numbers liveSlow translates), opBlocking on a created context
	// (liveSlow counts its NBIs), both on the default context. Every
	// operation checks it: one predictable branch.
	fast opKind
	// team is the team a context made with Team.CreateCtx belongs to; nil
	// for the world team's (CtxCreate, the default context).
	team  *Team
	xlate bool // PE numbers are team's numbers: liveSlow translates them
	gone  bool // destroyed
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

// CtxCreate makes a context on p with the options opts (0 for none), on
// the world team (shmem_ctx_create). The context belongs to p; release it
// with Destroy.
func CtxCreate(p *PE, opts CtxOption) (*Ctx, error) {
	return newCtx(p, "ctx_create", opts, nil)
}

// CreateCtx makes a context on t with the options opts
// (shmem_team_create_ctx): operations on it name target PEs by their
// number in t, from 0 to t.NPEs()-1, and a number outside that range is an
// error matching ErrInvalidPE that names t's size. The context belongs to
// t.PE(); release it with Destroy. It is not collective.
//
// Destroying t destroys its contexts too: every later operation on them
// fails with ErrCtxDestroyed naming t, and their Destroy only releases
// them. Quiet them before t is destroyed. (A context on TeamWorld is a
// CtxCreate context, which no Destroy of a team reaches.)
func (t *Team) CreateCtx(opts CtxOption) (*Ctx, error) {
	const op = "team_create_ctx"
	if t == nil {
		return nil, fmt.Errorf("gshmem: %s: %w: null team", op, ErrTeam)
	}
	if t.destroyed.Load() {
		return nil, fmt.Errorf("gshmem: %s: %w: %v was destroyed", op, ErrTeam, t)
	}
	return newCtx(t.p, op, opts, t)
}

func newCtx(p *PE, op string, opts CtxOption, t *Team) (*Ctx, error) {
	if opts&^ctxAllOptions != 0 {
		return nil, fmt.Errorf("gshmem: %s: %w: unknown option bits %#x in %v", op, ErrInvalidArg, uint(opts&^ctxAllOptions), opts)
	}
	if p.closed() {
		return nil, errFinalized(op)
	}
	c := &Ctx{owner: p, fast: opBlocking, team: t, opts: opts, counts: true}
	if t != nil && !(t.predefined && t.start == 0 && t.stride == 1 && t.size == p.n) {
		// Team numbers are not world numbers, or the team may be
		// destroyed: every operation goes through liveSlow.
		c.fast, c.xlate = 0, true
	}
	p.dflt.books.ctxs.Add(1)
	return c, nil
}

// Destroy quiets c, then releases it: every later use of c, Destroy
// included, returns an error matching ErrCtxDestroyed. It returns Quiet's
// error, if any, having destroyed c all the same. A context whose team was
// destroyed is released without a Quiet.
func (c *Ctx) Destroy() error {
	const op = "ctx_destroy"
	c = c.comm()
	p := c.owner
	if c.gone || p == nil {
		_, err := c.liveSlow(op, opBlocking, 0)
		return err
	}
	if c == &p.dflt {
		return fmt.Errorf("gshmem: %s: %w: the default context cannot be destroyed", op, ErrInvalidArg)
	}
	var err error
	if c.team == nil || !c.team.destroyed.Load() {
		err = c.quiet(op)
	}
	c.fast, c.gone = 0, true
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

// Team returns the team c was created on (shmem_ctx_get_team): the world
// team for the contexts of CtxCreate, the team of Team.CreateCtx, also
// after either is destroyed; nil for the zero Ctx and a nil *Ctx. The
// default context's team (a *PE passed as a Comm) is p.TeamWorld().
func (c *Ctx) Team() *Team {
	if c == nil || c.owner == nil {
		return nil
	}
	if c.team != nil {
		return c.team
	}
	return c.owner.teams.world
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

// opKind is what kind of operation live lets through: a blocking one or
// a non-blocking one (which a created context counts).
type opKind uint8

const (
	opBlocking opKind = 1 << iota
	opNBI
)

// live returns the PE that operation op (of kind k) on c goes to and the
// world number of target PE pe, or an error when c was destroyed, stands
// for a nil *Ctx (see comm) or pe is not a member of c's team; a created
// context counts an NBI. It inlines, and costs one predictable branch on
// the default context and for a blocking operation on any context whose
// PE numbers are world numbers. On an error p is not to be used.
func (c *Ctx) live(op string, k opKind, pe int) (p *PE, w int, err error) {
	p = c.owner
	if c.fast&k == 0 { // written so that it fits the inlining budget
		pe, err = c.liveSlow(op, k, pe)
	}
	return p, pe, err
}

// liveSlow is live for destroyed and nil contexts, for team contexts
// (whose PE numbers it translates) and for the non-blocking operations
// that c counts: it returns the world number of target PE pe.
func (c *Ctx) liveSlow(op string, k opKind, pe int) (int, error) {
	switch {
	case c == &nilCtx:
		return 0, fmt.Errorf("gshmem: %s: %w: nil context", op, ErrInvalidArg)
	case c.gone || c.owner == nil:
		return 0, c.errDestroyed(op)
	case c.xlate:
		t := c.team
		if t.destroyed.Load() {
			return 0, fmt.Errorf("gshmem: %s: %w: context of PE %d on %v, which was destroyed", op, ErrCtxDestroyed, c.owner.me, t)
		}
		if uint(pe) >= uint(t.size) {
			return 0, fmt.Errorf("gshmem: %s: %w: PE %d not in [0, %d), the members of %v", op, ErrInvalidPE, pe, t.size, t)
		}
		pe = t.start + t.stride*pe
	}
	if k == opNBI && c.counts {
		c.issued()
	}
	return pe, nil
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
	p, _, err := c.live(op, opBlocking, 0)
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
