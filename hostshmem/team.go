package hostshmem

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/internal/release"
)

// ErrTeam: a null, destroyed or otherwise unusable team, or a PE that is
// not a member where membership is required.
var ErrTeam = errors.New("invalid team")

// The team pool: every team's runtime state (sync flags, call records,
// team-creation slots, push slots) lives in a block of the pool, at the same
// offset on every member. A PE tracks its free chunks in a bitmap; creating
// a team takes the first run free on every PE of the parent.
const (
	teamPoolOff   = 0
	teamChunk     = 32 << 10
	teamChunks    = 64
	teamPoolBytes = teamChunk * teamChunks

	tbFlags    = 0                            // 2 banks of maxRounds sync flags
	tbBcast    = 2 * maxRounds * lineSize     // broadcast tree flag
	tbNet      = tbBcast + lineSize           // 2 banks of maxRounds flags: the sync among node leaders (hierarchy)
	tbRec      = tbNet + 2*maxRounds*lineSize // call records (see agree.go)
	tbState    = tbRec + tbRecs               // this member's entryState (see agree.go)
	tbExchange = tbState + lineSize           // team creation: 2 parities x size lines
	maxBlock   = 16 * teamChunk               // largest team block
)

// TeamConfig configures a team (OpenSHMEM shmem_team_config_t).
type TeamConfig struct {
	// NumContexts is the number of contexts the program intends to create
	// on the team (with CreateCtx), at least 0; gshmem has no per-team
	// context limit and records it.
	NumContexts int
}

// Team is a set of PEs: world PEs start, start+stride, ..., size of them.
// Collective calls on a team are made by every member, in the same order;
// a PE makes one collective call on a team at a time. A nil *Team is the
// null team: every call on it returns ErrTeam.
type Team struct {
	p                   *PE
	start, stride, size int
	me                  int // this PE's index in the team
	block               uintptr
	first, nchunk       int
	pushMax             uintptr // largest payload of a push slot
	cfg                 TeamConfig
	predefined          bool

	// destroyed is set by Destroy (under gate); team contexts and TeamPtr
	// read it without gate.
	destroyed atomic.Bool

	// gate is held (1) by the goroutine in a collective call on t: one
	// call at a time; with st.busy, it guards the fields below. A spin
	// lock (see lock), not a sync.Mutex: a 2-PE barrier is a few hundred
	// nanoseconds, and each locked instruction on its path costs ~15 ns
	// on the development machine, where Unlock is one and this lock's
	// release store is none.
	gate uint32
	// st is the state a call's entry step changes, in this PE's copy of
	// the team block rather than in Go's heap, so that a binding's fast
	// path can enter calls too (AllEntry): calls, push epochs, the pending
	// epoch, and busy, which Go's calls hold with gate and the fast path
	// alone.
	st        *entryState
	epoch     uint64   // syncs done
	netCalls  uint64   // calls that moved data by messages (reduceNet): their signals' value
	broken    string   // why the team is broken (see abandon); "" while it is not
	createSeq uint64   // child-team creations done
	aw        struct { // the await in progress
		e uint64
	}
	ready func() bool // t.awaitReady, bound once
	// fl is the flag wait in progress (waitFlag): flagged, bound once,
	// reports whether word w reached epoch e, so that a wait, which
	// hands its condition to the fabric, allocates nothing.
	fl struct {
		w *uint64
		e uint64
	}
	flagged func() bool
	comb    [5]uint64 // disseminate's combination
	// srcs and ints are scratch of one entry per member (or two, plus
	// one) that reductions and Collect fill on every call; see srcsOf.
	srcs [][]byte
	ints []int

	// hier is the team's members by node when they run on more than one
	// node (nil otherwise): its syncs and small reductions do each node's
	// part over shared memory, then the network's among one leader per
	// node (see hierarchy).
	hier   *hierarchy
	nepoch uint64 // syncs done among the leaders (hier only; under gate)
}

// hierarchy is a team's members grouped by node. Every member computes the
// same one from the fabric's topology.
type hierarchy struct {
	local   []int // the members on this PE's node, ascending (team indices)
	leaders []int // each node's first member, ascending: the node's leader
	li      int   // this PE's index in local
	lead    int   // this PE's index in leaders; -1 when it is not a leader
}

// hierarchyOf groups the members of team spec sp by node, or returns nil
// when they all run on one node or each on its own.
func (p *PE) hierarchyOf(sp teamSpec) *hierarchy {
	if _, ok := p.fab.(fabric.Topology); !ok || sp.size < 2 {
		return nil
	}
	me := (p.me - sp.start) / sp.stride
	myNode := fabric.NodeOf(p.fab, p.me)
	h := &hierarchy{lead: -1}
	seen := map[int]bool{}
	for i := 0; i < sp.size; i++ {
		n := fabric.NodeOf(p.fab, sp.start+i*sp.stride)
		if !seen[n] {
			seen[n] = true
			if i == me {
				h.lead = len(h.leaders)
			}
			h.leaders = append(h.leaders, i)
		}
		if n == myNode {
			if i == me {
				h.li = len(h.local)
			}
			h.local = append(h.local, i)
		}
	}
	if len(h.leaders) < 2 || len(h.leaders) == sp.size {
		// One node, or one member per node: nothing to do by node.
		return nil
	}
	return h
}

// wantPush is the push-slot payload for a new team of spec sp: none for a
// team across nodes, whose members do not push to each other (see
// hierarchy).
func (p *PE) wantPush(sp teamSpec) uintptr {
	if p.hierarchyOf(sp) != nil {
		return 0
	}
	return p.pushMax
}

type teamSpec struct{ start, stride, size int }

// blockBytes is the size of a team block for size members with push slots
// of pushMax bytes (none when 0), and, for a team of up to exchangeMax
// members, the network areas (see netOff).
func blockBytes(size int, pushMax uintptr) uintptr {
	b := netBase(size, pushMax)
	if size <= exchangeMax {
		b += uintptr(size) * netStride(size)
	}
	return b
}

// netBase is where a team block's network areas start: after the push
// slots.
func netBase(size int, pushMax uintptr) uintptr {
	n := uintptr(size)
	b := tbExchange + 2*n*lineSize
	if pushMax > 0 {
		b += 2 * n * (lineSize + pushMax)
	}
	return b
}

// netStride is the size of one member's network area in a team of size
// members: a line of signal words, then room for a tail of size-1
// elements of the largest type (see reduceNet).
func netStride(size int) uintptr {
	return lineSize + (uintptr(size-1)*maxElemSize+lineSize-1)&^(lineSize-1)
}

// netOff is the network area of member from in this PE's copy of t's
// block (a team of up to exchangeMax members): written only by from, by
// the collectives that move data by messages on a team whose members do
// not all share memory (reduceNet).
func (t *Team) netOff(from int) uintptr {
	return t.block + netBase(t.size, t.pushMax) + uintptr(from)*netStride(t.size)
}

// sizing picks the push-slot payload and the chunks of a team of size
// members: the configured payload if the block fits in maxBlock, else the
// largest smaller power of two that fits, at least 64 bytes; no slots
// (pushMax 0) when want is 0 or for a team of more than exchangeMax
// members, which enters calls by dissemination and moves data by direct
// loads. ok is false when
// the block does not fit (a team of more than ~4000 PEs).
func sizing(size int, want uintptr) (pushMax uintptr, chunks int, ok bool) {
	if size <= exchangeMax && want > 0 {
		for pushMax = want; pushMax > 64 && blockBytes(size, pushMax) > maxBlock; pushMax /= 2 {
		}
		pushMax = max(pushMax, 64)
	}
	b := blockBytes(size, pushMax)
	return pushMax, int((b + teamChunk - 1) / teamChunk), b <= maxBlock
}

func (t *Team) slotOff(par, from int) uintptr {
	n := uintptr(t.size)
	return t.block + tbExchange + 2*n*lineSize + (uintptr(par)*n+uintptr(from))*(lineSize+t.pushMax)
}

// MaxPEs is the largest job a PE can be part of: a team's block grows with
// its members (two lines each for team creation), and the three predefined
// teams must fit the team pool.
const MaxPEs = (maxBlock - tbExchange) / (2 * lineSize)

// initTeams sets up the pool and the predefined teams. Every PE does the
// same, so the blocks agree without communication.
func (p *PE) initTeams() error {
	if p.n > MaxPEs {
		return fmt.Errorf("gshmem: a job of %d PEs: %w: at most %d (hostshmem.MaxPEs)", p.n, ErrInvalidArg, MaxPEs)
	}
	p.teams.free = ^uint64(0)
	w, err := p.newTeamLocked(teamSpec{0, 1, p.n}, TeamConfig{})
	if err != nil {
		return err
	}
	a, err := p.newTeamLocked(teamSpec{0, 1, p.n}, TeamConfig{})
	if err != nil {
		return err
	}
	// The shared team last: its size differs from node to node, and so
	// may its block's.
	s, err := p.newTeamLocked(p.sharedSpec(), TeamConfig{})
	if err != nil {
		return err
	}
	w.predefined, s.predefined, a.predefined = true, true, true
	p.teams.world, p.teams.shared, p.teams.all = w, s, a
	return nil
}

// sharedSpec is the spec of TeamShared: the PEs of this PE's node when
// they are evenly spaced (every PE on one node; blocks of PEs per node;
// PEs dealt to the nodes in turn), else this PE alone.
func (p *PE) sharedSpec() teamSpec {
	me := fabric.NodeOf(p.fab, p.me)
	var pes []int
	for pe := 0; pe < p.n; pe++ {
		if fabric.NodeOf(p.fab, pe) == me {
			pes = append(pes, pe)
		}
	}
	if len(pes) == 1 {
		return teamSpec{p.me, 1, 1}
	}
	stride := pes[1] - pes[0]
	for i := 2; i < len(pes); i++ {
		if pes[i]-pes[i-1] != stride {
			return teamSpec{p.me, 1, 1}
		}
	}
	return teamSpec{pes[0], stride, len(pes)}
}

// newTeamLocked takes the first free run of chunks this PE alone sees
// (used for the predefined teams, which every PE builds identically).
func (p *PE) newTeamLocked(sp teamSpec, cfg TeamConfig) (*Team, error) {
	pm, k, ok := sizing(sp.size, p.wantPush(sp))
	first := firstFit(p.teams.free, k)
	if first < 0 || !ok {
		return nil, fmt.Errorf("gshmem: team of %d PEs: %w: team pool has no run of %d free chunks", sp.size, ErrTeam, k)
	}
	// No zeroing: the segments are fresh, and a faster peer may already
	// have raised a flag in this PE's copy of the block.
	return p.adopt(sp, cfg, first, k, pm, false), nil
}

// adopt builds this PE's Team for spec sp on chunks [first, first+k),
// marking them used and, with zero, zeroing this PE's copy of the block
// (chunks are reused after Destroy; the creator syncs after zeroing).
func (p *PE) adopt(sp teamSpec, cfg TeamConfig, first, k int, pushMax uintptr, zero bool) *Team {
	p.teams.free &^= runMask(first, k)
	t := &Team{
		p: p, start: sp.start, stride: sp.stride, size: sp.size,
		me:    (p.me - sp.start) / sp.stride,
		block: teamPoolOff + uintptr(first)*teamChunk, first: first, nchunk: k,
		pushMax: pushMax, cfg: cfg,
	}
	t.ready, t.flagged = t.awaitReady, t.flagReached
	t.st = (*entryState)(unsafe.Pointer(&p.local[t.block+tbState]))
	*t.st = entryState{}
	t.hier = p.hierarchyOf(sp)
	if zero {
		clear(p.local[t.block : t.block+uintptr(k)*teamChunk])
	}
	return t
}

func runMask(first, k int) uint64 {
	if k >= 64 {
		return ^uint64(0)
	}
	return ((uint64(1) << k) - 1) << first
}

// firstFit returns the first chunk of a run of k free chunks, or -1.
func firstFit(free uint64, k int) int {
	for first := 0; first+k <= teamChunks; first++ {
		if free&runMask(first, k) == runMask(first, k) {
			return first
		}
	}
	return -1
}

// TeamWorld is the team of every PE (OpenSHMEM SHMEM_TEAM_WORLD).
func (p *PE) TeamWorld() *Team { return p.teams.world }

// TeamShared is the team of the PEs that share memory with this PE
// (SHMEM_TEAM_SHARED): with the inproc and shm transports, every PE; in a
// job across nodes, the PEs of this PE's node (when they are evenly
// spaced, as srun's block and cyclic distributions place them; else this
// PE alone).
func (p *PE) TeamShared() *Team { return p.teams.shared }

// MyPE is this PE's index in t, or -1 for the null team.
func (t *Team) MyPE() int {
	if t == nil {
		return -1
	}
	return t.me
}

// NPEs is the number of PEs in t, or -1 for the null team.
func (t *Team) NPEs() int {
	if t == nil {
		return -1
	}
	return t.size
}

// WorldPE is the world PE number of member i of t, or -1 if there is none.
func (t *Team) WorldPE(i int) int {
	if t == nil || i < 0 || i >= t.size {
		return -1
	}
	return t.start + t.stride*i
}

// TranslatePE returns the index in dest of member pe of t, or -1 when
// either team is null or that PE is not in dest (shmem_team_translate_pe).
func (t *Team) TranslatePE(pe int, dest *Team) int {
	w := t.WorldPE(pe)
	if w < 0 || dest == nil {
		return -1
	}
	d := w - dest.start
	if d < 0 || d%dest.stride != 0 || d/dest.stride >= dest.size {
		return -1
	}
	return d / dest.stride
}

// Config returns the configuration t was created with.
func (t *Team) Config() TeamConfig {
	if t == nil {
		return TeamConfig{}
	}
	return t.cfg
}

// String describes t, e.g. "Team{PEs 1+2i, i<3; me 0}".
func (t *Team) String() string {
	if t == nil {
		return "Team{null}"
	}
	return fmt.Sprintf("Team{PEs %d+%di, i<%d; me %d}", t.start, t.stride, t.size, t.me)
}

// lock takes t for a collective call: it must be a live team of this PE.
func (t *Team) lock(op string) error {
	if t == nil {
		return fmt.Errorf("gshmem: %s: %w: null team", op, ErrTeam)
	}
	if !atomic.CompareAndSwapUint32(&t.gate, 0, 1) {
		// Another goroutine of this PE is in a call on t (collectives on
		// one team from two threads at once, which OpenSHMEM leaves
		// undefined, queue here): wait for it, yielding, then sleeping.
		b := fabric.PolicyOf(t.p.fab).Backoff()
		for !atomic.CompareAndSwapUint32(&t.gate, 0, 1) {
			_ = b.Pause(context.Background())
		}
	}
	if t.destroyed.Load() {
		release.Store32(&t.gate, 0)
		return fmt.Errorf("gshmem: %s: %w: %v was destroyed", op, ErrTeam, t)
	}
	if t.p.closed() {
		release.Store32(&t.gate, 0)
		return errFinalized(op)
	}
	if !atomic.CompareAndSwapUint32(&t.st.busy, 0, 1) {
		// A binding's fast path is in a call on t on another thread of
		// this PE (a program that calls collectives on one team from two
		// threads at once, which OpenSHMEM leaves undefined): wait for it.
		b := fabric.PolicyOf(t.p.fab).Backoff()
		for !atomic.CompareAndSwapUint32(&t.st.busy, 0, 1) {
			_ = b.Pause(context.Background())
		}
	}
	return nil
}

// unlock ends what lock began. A destroyed team's block may already be
// another team's: its state is left alone.
func (t *Team) unlock() {
	if !t.destroyed.Load() {
		release.Store32(&t.st.busy, 0)
	}
	release.Store32(&t.gate, 0)
}

// Sync waits until every member of t has called Sync (shmem_team_sync). It
// does not complete outstanding puts; Barrier does.
func (t *Team) Sync(ctx context.Context) error {
	if err := t.lock("team_sync"); err != nil {
		return err
	}
	defer t.unlock()
	_, err := t.enter(ctx, &call{op: "team_sync", code: cTeamSync}, nil)
	return err
}

// Barrier completes this PE's outstanding operations (Quiet), then waits
// until every member of t has entered the barrier.
func (t *Team) Barrier(ctx context.Context) error {
	if err := t.lock("barrier"); err != nil {
		return err
	}
	defer t.unlock()
	return t.barrierLocked(ctx, &call{op: "barrier", code: cTeamBarrier})
}

// barrierLocked is a barrier that is call c: Quiet, then the entry step.
// A Quiet that fails (a dead peer) is this PE's error in the agreement.
func (t *Team) barrierLocked(ctx context.Context, c *call) error {
	if err := t.p.fab.Quiet(); err != nil {
		c.err = fmt.Errorf("gshmem: %s: complete outstanding operations: %w", c.op, err)
	}
	_, err := t.enter(ctx, c, nil)
	return err
}

// SplitStrided creates the team of t's members start, start+stride, ...
// (size of them, indices in t). It is collective over t: every member of t
// calls it with the same arguments; members not selected get the null team
// (nil) and no error. Mismatched arguments fail on every PE with
// ErrMismatch; arguments that do not fit (start, stride, size or
// cfg.NumContexts) fail on every PE with ErrInvalidArg naming the
// argument and its value.
func (t *Team) SplitStrided(ctx context.Context, start, stride, size int, cfg *TeamConfig) (*Team, error) {
	const op = "team_split_strided"
	if err := t.lock(op); err != nil {
		return nil, err
	}
	defer t.unlock()
	var c TeamConfig
	if cfg != nil {
		c = *cfg
	}
	if size == 1 && start >= 0 && start < t.size {
		stride = 1 // any stride selects one member
	}
	e := &call{op: op, code: cSplitStrided, args: [4]uint64{uint64(start), uint64(stride), uint64(size)}}
	e.err = splitFits(start, stride, size, t.size)
	if e.err == nil {
		e.err = configFits("cfg", c)
	}
	if _, err := t.enter(ctx, e, nil); err != nil {
		return nil, err
	}
	sp := teamSpec{t.WorldPE(start), t.stride * stride, size}
	if d := t.p.me - sp.start; d < 0 || d%sp.stride != 0 || d/sp.stride >= size {
		// Not selected: publish the selection (negative size), join nothing.
		sp = teamSpec{t.WorldPE(start), t.stride * stride, -size}
	}
	return t.createLocked(ctx, op, sp, c)
}

// splitFits checks the arguments of SplitStrided on a team of n members,
// naming the one that does not fit.
func splitFits(start, stride, size, n int) error {
	switch {
	case start < 0 || start >= n:
		return fmt.Errorf("%w: start %d not in [0, %d), the parent team's members", ErrInvalidArg, start, n)
	case size < 1:
		return fmt.Errorf("%w: size %d: want at least 1", ErrInvalidArg, size)
	case stride < 1:
		return fmt.Errorf("%w: stride %d: want at least 1", ErrInvalidArg, stride)
	case (n-1-start)/stride < size-1:
		return fmt.Errorf("%w: size %d: with start %d and stride %d the last member would be %d, beyond the parent team's %d members",
			ErrInvalidArg, size, start, stride, start+stride*(size-1), n)
	}
	return nil
}

// configFits checks the configuration named name of a new team.
func configFits(name string, c TeamConfig) error {
	if c.NumContexts < 0 {
		return fmt.Errorf("%w: %s.NumContexts %d: want at least 0", ErrInvalidArg, name, c.NumContexts)
	}
	return nil
}

// Split2D arranges t's members in a grid of xrange columns (member i at
// column i%xrange, row i/xrange) and returns this PE's row team (x) and
// column team (y). It is collective over t. An xrange below 1 or a
// negative NumContexts in xcfg or ycfg fails on every PE with
// ErrInvalidArg naming the argument and its value.
func (t *Team) Split2D(ctx context.Context, xrange int, xcfg, ycfg *TeamConfig) (x, y *Team, err error) {
	const op = "team_split_2d"
	if err := t.lock(op); err != nil {
		return nil, nil, err
	}
	defer t.unlock()
	var xc, yc TeamConfig
	if xcfg != nil {
		xc = *xcfg
	}
	if ycfg != nil {
		yc = *ycfg
	}
	e := &call{op: op, code: cSplit2D, args: [4]uint64{uint64(xrange)}}
	switch {
	case xrange < 1:
		e.err = fmt.Errorf("%w: xrange %d: want at least 1", ErrInvalidArg, xrange)
	case configFits("xcfg", xc) != nil:
		e.err = configFits("xcfg", xc)
	default:
		e.err = configFits("ycfg", yc)
	}
	if _, err := t.enter(ctx, e, nil); err != nil {
		return nil, nil, err
	}
	xrange = min(xrange, t.size)
	row, col := t.me/xrange, t.me%xrange
	xs := teamSpec{t.WorldPE(row * xrange), t.stride, min(xrange, t.size-row*xrange)}
	if x, err = t.createLocked(ctx, op, xs, xc); err != nil {
		return nil, nil, err
	}
	ys := teamSpec{t.WorldPE(col), t.stride * xrange, (t.size - col + xrange - 1) / xrange}
	if y, err = t.createLocked(ctx, op, ys, yc); err != nil {
		return nil, nil, err
	}
	return x, y, nil
}

// createLocked is the collective step of every team creation over t, after
// the call's entry: each member publishes the team it joins (sp, in world
// PEs; a negative size names a team it is not selected for) and its free
// chunks, then every member checks the members' choices agree and takes
// the same run of chunks free on all of them.
func (t *Team) createLocked(ctx context.Context, op string, sp teamSpec, cfg TeamConfig) (*Team, error) {
	p := t.p
	p.teams.Lock()
	defer p.teams.Unlock()
	t.createSeq++
	seq := t.createSeq
	par := int(seq % 2)
	slot := func(i int) uintptr { return t.block + tbExchange + uintptr(par*t.size+i)*lineSize }
	mine := slot(t.me)
	w := func(i int, v uint64) { atomic.StoreUint64(wordAt[uint64](p.local, mine+uintptr(i)*8), v) }
	w(1, uint64(int64(sp.start)))
	w(2, uint64(int64(sp.stride)))
	w(3, uint64(int64(sp.size)))
	w(4, p.teams.free)
	w(0, seq)
	if err := t.syncLocked(ctx, op); err != nil {
		return nil, err
	}
	type rec struct {
		seq  uint64
		sp   teamSpec
		free uint64
	}
	recs := make([]rec, t.size)
	buf := make([]byte, 48)
	for i := range recs {
		b, err := p.peerBytes(t.WorldPE(i), slot(i), 48, buf)
		if err != nil {
			return nil, fmt.Errorf("gshmem: %s: %w", op, err)
		}
		ld := func(k int) uint64 { return atomic.LoadUint64(wordAt[uint64](b, uintptr(k)*8)) }
		recs[i] = rec{ld(0), teamSpec{int(int64(ld(1))), int(int64(ld(2))), int(int64(ld(3)))}, ld(4)}
	}
	free, maxSize := ^uint64(0), 0
	for i, r := range recs {
		if r.seq != seq {
			return nil, fmt.Errorf("gshmem: %s: %w: member %d made team-creation call #%d, member %d #%d", op, ErrMismatch, t.me, seq, i, r.seq)
		}
		free &= r.free
		// Every member of the team i joins (or names) must name the same.
		s := r.sp
		if s.size > 0 {
			maxSize = max(maxSize, s.size)
		}
		sz := s.size
		if sz < 0 {
			sz = -sz
		}
		for k := 0; k < sz; k++ {
			j := t.TranslateWorld(s.start + s.stride*k)
			if j < 0 {
				return nil, fmt.Errorf("gshmem: %s: %w: member %d names PE %d, not in %v", op, ErrInvalidArg, i, s.start+s.stride*k, t)
			}
			o := recs[j].sp
			if o.start != s.start || o.stride != s.stride || abs(o.size) != sz {
				return nil, fmt.Errorf("gshmem: %s: %w: member %d asks for team %+v, member %d for %+v", op, ErrMismatch, i, s, j, o)
			}
		}
	}
	var nt *Team
	if maxSize > 0 {
		_, k, ok := sizing(maxSize, p.pushMax)
		first := firstFit(free, k)
		if !ok {
			return nil, fmt.Errorf("gshmem: %s: %w: a team of %d PEs does not fit the team pool", op, ErrTeam, maxSize)
		}
		if first < 0 {
			return nil, fmt.Errorf("gshmem: %s: %w: the team pool has no run of %d free 32 KiB chunks on every member (free on all: %064b)", op, ErrTeam, k, free)
		}
		if sp.size > 0 {
			pm, km, _ := sizing(sp.size, p.wantPush(sp))
			nt = p.adopt(sp, cfg, first, km, pm, true)
		}
	}
	// Nobody signals into a block before every member zeroed it.
	if err := t.syncLocked(ctx, op); err != nil {
		return nil, err
	}
	return nt, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TranslateWorld returns the index in t of world PE w, or -1.
func (t *Team) TranslateWorld(w int) int {
	if t == nil {
		return -1
	}
	d := w - t.start
	if d < 0 || d%t.stride != 0 || d/t.stride >= t.size {
		return -1
	}
	return d / t.stride
}

// Destroy releases t (shmem_team_destroy). It is collective over t; the
// predefined teams cannot be destroyed. Using t afterwards returns ErrTeam.
// A broken team (ErrBroken) is released on this PE without synchronising.
func (t *Team) Destroy(ctx context.Context) error {
	if err := t.lock("team_destroy"); err != nil {
		return err
	}
	defer t.unlock()
	c := &call{op: "team_destroy", code: cDestroy}
	if t.predefined {
		c.err = fmt.Errorf("%w: %v is predefined", ErrTeam, t)
	}
	if t.broken == "" || t.predefined {
		if _, err := t.enter(ctx, c, nil); err != nil {
			return err
		}
	}
	t.destroyed.Store(true)
	t.p.teams.Lock()
	t.p.teams.free |= runMask(t.first, t.nchunk)
	t.p.teams.Unlock()
	return nil
}

// peerBytes returns bytes [off, off+n) of PE pe's region: the mapping
// itself where it is mapped (read it, don't keep it), else a copy fetched
// into buf.
func (p *PE) peerBytes(pe int, off, n uintptr, buf []byte) ([]byte, error) {
	if r := p.regions[pe]; r != nil {
		return r[off : off+n : off+n], nil
	}
	if uintptr(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	return buf, p.fab.Get(pe, off, buf)
}
