package hostshmem

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/internal/cause"
	"github.com/gshmem/gshmem/internal/release"
)

// Agreement. Every collective call on a team (allocation and BarrierAll
// are collectives on the world team) starts with an entry step in which
// each member tells every other one what it called: a descriptor of the
// arguments that must match (the call, the root, the count, the element
// type, the operation) and whether its own arguments fit. The step is also
// the call's first synchronisation, so it costs nothing the call did not
// already pay. After it every member knows the same verdict: the call goes
// ahead on every member, or it fails on every member with the same error
// (the arguments of the lowest-numbered member that did not fit, or the
// two calls that differ), and the team stays usable.
//
// Teams of up to exchangeMax members enter by exchange: each member puts
// its descriptor (and a small payload) into its slot on every other member,
// then waits for every slot. Larger teams enter by a dissemination barrier
// that combines the members' verdicts on the way. Every call on a team
// enters the same way, so a member in one collective never waits on a
// mechanism another member's different call does not use: mismatched
// calls are detected, not deadlocked.
//
// Each member also publishes a record of its call (double-buffered by call
// number) in its own copy of the team block; members read the records of
// the members an error names, on the error path only.
//
// Context. A call whose context is already done when it starts takes no
// part (on teams entered by dissemination), or takes part only to tell the
// other members (by exchange; it collects their slots at its next call):
// either way the team stays usable. A context that ends while the call
// waits for other members leaves the call half done on some members: the
// member marks the team broken in every member's flags and slots, so that
// members waiting for it stop now, and every later call on the team fails
// with ErrBroken, on every member, instead of pairing with the wrong call.

const (
	// exchangeMax is the largest team that enters calls by exchange and
	// has push slots.
	exchangeMax = 64

	recBytes = 320               // one call record
	recHdr   = 64                // seq, code, 4 args, aux, error word
	recText  = recBytes - recHdr // error text bytes
	// tbRecs is the size of a team's record area: two call records and
	// the broken record.
	tbRecs = 3 * recBytes

	errBit   = uint64(1) << 63 // descriptor flag: this member's arguments do not fit
	poisoned = ^uint64(0)      // epoch of a flag or slot of a broken team
	// originWord is where a poisoned line names the member that broke the
	// team: a word no live call reads (flags carry 5 words after the
	// epoch; a slot is poisoned only on the parity of a push that never
	// comes, and its payload is not read then).
	originWord = 56
)

// Call codes, in records and descriptors.
const (
	cBarrierAll uint8 = iota + 1
	cSyncAll
	cFinalize
	cTeamSync
	cTeamBarrier
	cSplitStrided
	cSplit2D
	cDestroy
	cBroadcast
	cReduce
	cReduceScatter
	cFCollect
	cCollect
	cCollectData
	cAllToAll
	cAllToAlls
	cAlloc
	cAllocDone
	cRealloc
	cFree
)

var callNames = [...]string{"", "barrier_all", "sync_all", "finalize", "team_sync", "barrier",
	"team_split_strided", "team_split_2d", "team_destroy", "broadcast", "reduce", "reduce_scatter",
	"fcollect", "collect", "collect", "alltoall", "alltoalls", "alloc", "alloc", "realloc", "free"}

// call is one collective call as the agreement sees it.
type call struct {
	op   string    // the name errors give
	code uint8     // what was called
	args [4]uint64 // what must match on every member
	aux  uint64    // published, not compared (Collect's count)
	err  error     // this member's own argument error; nil when they fit
}

// desc is the call's descriptor: a hash of what must match, errBit set
// when this member's arguments do not fit.
func (c *call) desc() uint64 {
	h := uint64(c.code)*0x9e3779b97f4a7c15 ^ 0xcbf29ce484222325
	for _, a := range c.args {
		h ^= a
		h *= 0x100000001b3
		h ^= h >> 29
	}
	h &^= errBit
	if c.err != nil {
		h |= errBit
	}
	return h
}

// typeTag names T in a descriptor: its reflect kind and its class (so that
// Float16 and BFloat16 differ from uint16 and from each other).
func typeTag[T Elem]() uint64 {
	c, k := classOf[T]()
	return uint64(c)<<8 | uint64(k)
}

func tagString(tag uint64) string {
	switch elemClass(tag >> 8) {
	case classFloat16:
		return "Float16"
	case classBFloat16:
		return "BFloat16"
	}
	return reflect.Kind(tag & 0xff).String()
}

// ErrBroken: a member of the team gave up on a collective call half way
// (its context ended while it waited for the others); the members no
// longer agree on where they are, so every later collective on the team
// fails with this error. Destroy the team (the world team: end the job).
var ErrBroken = errors.New("team unusable: a member abandoned a collective call")

// collError is the error every member of a failed call returns.
type collError struct {
	msg string
	is  error // sentinel it matches
}

func (e *collError) Error() string { return e.msg }
func (e *collError) Unwrap() error { return e.is }

// Sentinels an error text in a record can name: the index travels.
var sentinels = [...]error{nil, ErrInvalidPE, ErrOutOfRange, ErrInvalidArg, ErrHeapFull, ErrOverlap,
	ErrTeam, ErrNoDevice, ErrFinalized, ErrMismatch, context.Canceled, context.DeadlineExceeded, fabric.ErrPeerDead}

func sentinelOf(err error) uint64 {
	for i, s := range sentinels {
		if s != nil && errors.Is(err, s) {
			return uint64(i)
		}
	}
	return 0
}

// errText is err's text without the "gshmem: op: " prefix the record's
// reader adds back, cut to what a record holds.
func errText(op string, err error) string {
	s := strings.TrimPrefix(err.Error(), "gshmem: ")
	s = strings.TrimPrefix(s, op+": ")
	if len(s) > recText {
		s = s[:recText-3] + "..."
	}
	return s
}

// recOff is the offset of the call record of call number seq (in every
// member's copy of the block).
func (t *Team) recOff(seq uint64) uintptr { return t.block + tbRec + uintptr(seq%2)*recBytes }

// brokenOff is the offset of a member's broken record: why it gave up.
func (t *Team) brokenOff() uintptr { return t.block + tbRec + 2*recBytes }

// publish writes this member's record of call c, number seq.
func (t *Team) publish(c *call, seq uint64) {
	r := t.p.local[t.recOff(seq):]
	w := func(i int, v uint64) { *wordAt[uint64](r, uintptr(i)*8) = v }
	w(0, seq)
	w(1, uint64(c.code))
	for i, a := range c.args {
		w(2+i, a)
	}
	w(6, c.aux)
	var ew uint64
	if c.err != nil {
		txt := errText(c.op, c.err)
		ew = 1 | sentinelOf(c.err)<<8 | uint64(len(txt))<<16
		copy(r[recHdr:recBytes], txt)
	}
	// The release store of the flag or slot that follows publishes the
	// record (a release store here too: no locked instruction).
	release.Store64(wordAt[uint64](r, 56), ew)
}

// record is a member's published call record.
type record struct {
	seq  uint64
	code uint8
	args [4]uint64
	aux  uint64
	is   error  // the sentinel its error matched
	text string // its error, "" when its arguments fit
}

// readRecord reads member i's record of call seq.
func (t *Team) readRecord(i int, seq uint64) (record, error) {
	// A mapped peer's record is read in place; an unmapped one's comes by
	// a Get into a buffer made for it (a local buffer here would move to
	// the heap on every call, mapped or not: Collect reads records on
	// every call).
	b, err := t.p.peerBytes(t.WorldPE(i), t.recOff(seq), recBytes, nil)
	if err != nil {
		return record{}, err
	}
	ld := func(k int) uint64 { return atomic.LoadUint64(wordAt[uint64](b, uintptr(k)*8)) }
	r := record{seq: ld(0), code: uint8(ld(1)), aux: ld(6)}
	for k := range r.args {
		r.args[k] = ld(2 + k)
	}
	if ew := ld(7); ew&1 != 0 {
		if s := ew >> 8 & 0xff; s < uint64(len(sentinels)) {
			r.is = sentinels[s]
		}
		n := min(int(ew>>16&0xffff), recText)
		r.text = string(b[recHdr : recHdr+n])
	}
	return r, nil
}

// String describes the call a record holds, e.g. "reduce(sum, 8 float32)".
func (r record) String() string {
	name := "?"
	if int(r.code) < len(callNames) {
		name = callNames[r.code]
	}
	a := r.args
	switch r.code {
	case cBroadcast:
		return fmt.Sprintf("%s(root %d, %d %s)", name, int64(a[0]), int64(a[1]), tagString(a[2]))
	case cReduce, cReduceScatter:
		return fmt.Sprintf("%s(%v, %d %s)", name, ReduceOp(a[0]), int64(a[1]), tagString(a[2]))
	case cFCollect, cAllToAll:
		return fmt.Sprintf("%s(%d %s)", name, int64(a[0]), tagString(a[1]))
	case cAllToAlls:
		return fmt.Sprintf("%s(strides %d, %d; %d %s)", name, int64(a[1]), int64(a[2]), int64(a[0]), tagString(a[3]))
	case cCollect:
		return fmt.Sprintf("%s(%s)", name, tagString(a[0]))
	case cCollectData:
		return fmt.Sprintf("%s(%d %s in all)", name, int64(a[0]), tagString(a[1]))
	case cSplitStrided:
		return fmt.Sprintf("%s(start %d, stride %d, size %d)", name, int64(a[0]), int64(a[1]), int64(a[2]))
	case cSplit2D:
		return fmt.Sprintf("%s(xrange %d)", name, int64(a[0]))
	case cAlloc, cAllocDone, cRealloc, cFree:
		return describeAlloc(r.code, a)
	}
	return name
}

// verdict is the outcome every member of call seq reaches: nil, the error
// of member bad (>= 0), whose arguments did not fit, or the mismatch
// between the calls of members lo and hi (lo != hi).
func (t *Team) verdict(op string, seq uint64, bad, lo, hi int) error {
	if bad >= t.size || lo < 0 || lo >= t.size || hi < 0 || hi >= t.size {
		return fmt.Errorf("gshmem: %s: %w: members' verdicts are corrupt (member %d failed, members %d and %d differ, of %d)", op, ErrBroken, bad, lo, hi, t.size)
	}
	if bad >= 0 {
		r, err := t.readRecord(bad, seq)
		if err != nil {
			return fmt.Errorf("gshmem: %s: PE %d's arguments do not fit; reading why: %w", op, t.WorldPE(bad), err)
		}
		is := r.is
		if is == nil {
			is = ErrInvalidArg
		}
		return &collError{msg: fmt.Sprintf("gshmem: %s: PE %d: %s", op, t.WorldPE(bad), r.text), is: is}
	}
	if lo == hi {
		return nil
	}
	a, err := t.readRecord(lo, seq)
	if err == nil {
		var b record
		if b, err = t.readRecord(hi, seq); err == nil {
			return &collError{is: ErrMismatch, msg: fmt.Sprintf("gshmem: %s: %v: PE %d called %v, PE %d called %v",
				op, ErrMismatch, t.WorldPE(lo), a, t.WorldPE(hi), b)}
		}
	}
	return fmt.Errorf("gshmem: %s: %w between PE %d and PE %d (reading their calls: %v)", op, ErrMismatch, t.WorldPE(lo), t.WorldPE(hi), err)
}

// enter is the entry step of collective call c on t (t.gate held). With
// data (teams entered by exchange only) each member's push to member j
// carries data(j), readable with t.payload(e%2, i, n) until the call
// returns; the returned e is the push epoch. On an error no payload may
// be read.
func (t *Team) enter(ctx context.Context, c *call, data func(j int) []byte) (uint64, error) {
	if t.broken != "" {
		return 0, t.brokenErr(c.op)
	}
	if t.size == 1 {
		if c.err != nil {
			return 0, &collError{msg: fmt.Sprintf("gshmem: %s: PE %d: %s", c.op, t.p.me, errText(c.op, c.err)), is: orInvalid(sentinels[sentinelOf(c.err)])}
		}
		return 0, nil
	}
	if !t.exchanges() {
		if err := cause.Err(ctx); err != nil {
			return 0, notStarted(c.op, err)
		}
		t.st.calls++
		t.publish(c, t.st.calls)
		return 0, t.disseminate(ctx, c.op, c.desc(), t.st.calls)
	}
	return t.enterExchange(ctx, c, data)
}

func orInvalid(err error) error {
	if err == nil {
		return ErrInvalidArg
	}
	return err
}

func notStarted(op string, err error) error {
	return fmt.Errorf("gshmem: %s: not started: %w", op, err)
}

// entryState is a member's state of a team's entry steps, in its copy of
// the team block (tbState): the layout a binding's fast path shares
// (AllEntry; capi's gs.h declares it again).
type entryState struct {
	busy    uint32 // a call is in progress: Go's (under gate) or a fast path's
	broken  uint32 // 1 once the team broke (t.broken says why)
	calls   uint64 // collective calls entered
	cepoch  uint64 // push epochs done
	pending uint64 // push epoch signalled but not awaited (see enterExchange)
}

// exchanges reports whether t enters calls by exchange.
func (t *Team) exchanges() bool { return t.pushMax > 0 }

func (t *Team) enterExchange(ctx context.Context, c *call, data func(j int) []byte) (uint64, error) {
	done := cause.Err(ctx)
	if t.st.pending != 0 {
		if err := t.drain(ctx, c.op); err != nil {
			return 0, err
		}
	}
	if done != nil {
		// Tell the others this call fails here; collect their pushes at
		// the next call.
		c.err = fmt.Errorf("%w: the context was done before the call started", done)
		data = nil
	}
	t.st.calls++
	seq := t.st.calls
	t.publish(c, seq)
	t.st.cepoch++
	e, d := t.st.cepoch, c.desc()
	for j := 0; j < t.size; j++ {
		if j == t.me {
			continue
		}
		var b []byte
		if data != nil && c.err == nil {
			b = data(j)
		}
		if err := t.push(e, j, d, b); err != nil {
			return 0, t.abandon(c.op, err)
		}
	}
	if done != nil {
		t.st.pending = e
		return 0, t.verdict(c.op, seq, t.me, 0, 0)
	}
	return t.finishExchange(ctx, c.op, seq, e, d)
}

// finishExchange is the rest of call seq's entry by exchange once this
// member pushed epoch e with descriptor d to every other: it waits for
// their pushes and reaches the call's verdict.
func (t *Team) finishExchange(ctx context.Context, op string, seq, e, d uint64) (uint64, error) {
	if err := t.await(ctx, op, e); err != nil {
		return 0, t.abandon(op, err)
	}
	par := int(e % 2)
	bad, hi := -1, 0
	d0 := d
	if t.me != 0 {
		d0 = *wordAt[uint64](t.p.local, t.slotOff(par, 0)+8)
	}
	for i := 0; i < t.size; i++ {
		di := d
		if i != t.me {
			di = *wordAt[uint64](t.p.local, t.slotOff(par, i)+8)
		}
		if di&errBit != 0 && bad < 0 {
			bad = i
		}
		if di != d0 && hi == 0 {
			hi = i
		}
	}
	if err := t.verdict(op, seq, bad, 0, hi); err != nil {
		return 0, err
	}
	return e, nil
}

// drain waits for the pushes of the call this member signalled without
// waiting (its context was done) and consumes them. It fails, leaving
// them pending, when ctx ends first: this call then has not started.
func (t *Team) drain(ctx context.Context, op string) error {
	t.aw.e = t.st.pending
	if !t.awaitReady() {
		if err := cause.Err(ctx); err != nil {
			return notStarted(op, err)
		}
		if err := t.p.wait(ctx, op, t.ready, t.slotOff(int(t.st.pending%2), 0), uintptr(t.size)*(lineSize+t.pushMax)); err != nil {
			if ctx.Err() != nil {
				return notStarted(op, err)
			}
			return err
		}
	}
	if err := t.checkPoison(op, t.st.pending); err != nil {
		return err
	}
	t.st.pending = 0
	return nil
}

// push puts data into member j's slot for this PE at epoch e with
// descriptor d. Every call on the team is an exchange, so j has consumed
// what this PE last put in that slot (two calls ago) before it pushed to
// this PE in the call in between: no acknowledgement is needed.
func (t *Team) push(e uint64, j int, d uint64, data []byte) error {
	p := t.p
	w, off := t.WorldPE(j), t.slotOff(int(e%2), t.me)
	if r := p.regions[w]; r != nil {
		// Payload and descriptor are plain stores on the epoch's own line
		// (a payload of up to 48 bytes moves as one cache line); the
		// release store that raises the epoch orders them before it, and
		// Notify's fence orders it before the look at j's sleepers. Not a
		// locked exchange: that holds this core until j, polling the line,
		// gives it up (a third of a 2-PE barrier; internal/release).
		copy(r[off+slotHdr:], data)
		*wordAt[uint64](r, off+8) = d
		release.Store64(wordAt[uint64](r, off), e)
		p.fab.Notify(w, off, 8)
		return nil
	}
	// Descriptor and payload, then the epoch: one message on a network.
	b := make([]byte, slotHdr-8+len(data))
	*(*uint64)(unsafe.Pointer(&b[0])) = d
	copy(b[slotHdr-8:], data)
	return p.fab.PutSignal(w, off+8, b, off, fabric.AMOSet, e, fabric.CompleteByProtocol)
}

// await waits until every other member has pushed epoch e to this PE.
func (t *Team) await(ctx context.Context, op string, e uint64) error {
	t.aw.e = e
	if !t.awaitReady() {
		span := uintptr(t.size) * (lineSize + t.pushMax)
		if err := t.p.wait(ctx, op, t.ready, t.slotOff(int(e%2), 0), span); err != nil {
			return err
		}
	}
	return t.checkPoison(op, e)
}

// awaitReady is the condition of the await in progress (t.ready, a method
// value made once, so a wait allocates nothing).
func (t *Team) awaitReady() bool {
	par := int(t.aw.e % 2)
	for i := 0; i < t.size; i++ {
		if i != t.me && atomic.LoadUint64(wordAt[uint64](t.p.local, t.slotOff(par, i))) < t.aw.e {
			return false
		}
	}
	return true
}

// checkPoison fails when a slot of epoch e's parity says the team broke.
func (t *Team) checkPoison(op string, e uint64) error {
	par := int(e % 2)
	for i := 0; i < t.size; i++ {
		off := t.slotOff(par, i)
		if i != t.me && atomic.LoadUint64(wordAt[uint64](t.p.local, off)) == poisoned {
			return t.sawPoison(op, int(atomic.LoadUint64(wordAt[uint64](t.p.local, off+originWord))))
		}
	}
	return nil
}

// slotHdr is the header (epoch, descriptor) before a slot's payload.
const slotHdr = 16

// payload is member i's data in this PE's slot of parity par.
func (t *Team) payload(par, i int, n uintptr) []byte {
	off := t.slotOff(par, i) + slotHdr
	return t.p.local[off : off+n : off+n]
}

// disseminate is a dissemination barrier among t's members on the team's
// flags (round k: member i raises flag k of member i+2^k and waits for its
// own flag k). With a call (seq > 0) the rounds also combine the members'
// verdicts: the lowest member whose arguments do not fit, and the least
// and greatest descriptors with their members; after the last round every
// member holds the same combination. Flags come in two banks, by epoch
// parity: a member may raise epoch e+1 before a slower one has read e.
func (t *Team) disseminate(ctx context.Context, op string, d, seq uint64) error {
	// The combination: [err, minDesc, minWho, maxDesc, maxWho], in the
	// team's scratch: its bytes go to the fabric, and a local would move
	// to the heap on every call.
	v := &t.comb
	*v = [5]uint64{}
	comb := seq > 0
	if comb {
		if d&errBit != 0 {
			v[0] = uint64(1)<<32 - uint64(t.me)
		}
		*v = [5]uint64{v[0], d, uint64(t.me), d, uint64(t.me)}
	}
	if h := t.hier; h != nil {
		// Across nodes: the members of each node combine over shared
		// memory, the node leaders over the network, and each leader
		// hands the result to its node (the others bring the identity).
		t.epoch++
		if err := t.dissem(ctx, op, h.local, h.li, t.block+tbFlags, t.epoch, v, comb); err != nil {
			return err
		}
		if h.lead >= 0 {
			t.nepoch++
			if err := t.dissem(ctx, op, h.leaders, h.lead, t.block+tbNet, t.nepoch, v, comb); err != nil {
				return err
			}
		} else if comb {
			*v = [5]uint64{0, ^uint64(0), ^uint64(0), 0, 0}
		}
		t.epoch++
		if err := t.dissem(ctx, op, h.local, h.li, t.block+tbFlags, t.epoch, v, comb); err != nil {
			return err
		}
	} else {
		t.epoch++
		if err := t.dissem(ctx, op, nil, t.me, t.block+tbFlags, t.epoch, v, comb); err != nil {
			return err
		}
	}
	if !comb {
		return nil
	}
	bad := -1
	if v[0] != 0 {
		bad = int(uint64(1)<<32 - v[0])
	}
	lo, hi := int(v[2]), int(v[4])
	if v[1] == v[3] {
		hi = lo
	}
	return t.verdict(op, seq, bad, lo, hi)
}

// dissem runs the rounds of a dissemination barrier at epoch e among
// members (team indices; nil for the whole team), this PE being members[me],
// on the two banks of flags at base, combining v on the way when comb.
func (t *Team) dissem(ctx context.Context, op string, members []int, me int, base uintptr, e uint64, v *[5]uint64, comb bool) error {
	p := t.p
	n := t.size
	if members != nil {
		n = len(members)
	}
	member := func(i int) int {
		if members != nil {
			return members[i]
		}
		return i
	}
	bank := base + uintptr(e%2)*maxRounds*lineSize
	for k, dist := 0, 1; dist < n; k, dist = k+1, dist*2 {
		to := me + dist
		if to >= n {
			to -= n
		}
		tpe := t.WorldPE(member(to))
		off := bank + uintptr(k)*lineSize
		var data []byte
		if comb {
			data = unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*8)
		}
		if err := p.fab.PutSignal(tpe, off+8, data, off, fabric.AMOSet, e, fabric.CompleteByProtocol); err != nil {
			return fmt.Errorf("gshmem: %s: signal PE %d: %w", op, tpe, err)
		}
		flag := wordAt[uint64](p.local, off)
		if atomic.LoadUint64(flag) < e {
			if err := t.waitFlag(ctx, flag, e, off); err != nil {
				from := me - dist
				if from < 0 {
					from += n
				}
				return t.abandon(op, fmt.Errorf("gshmem: %s: PE %d waiting for PE %d: %w", op, p.me, t.WorldPE(member(from)), err))
			}
		}
		if atomic.LoadUint64(flag) == poisoned {
			return t.sawPoison(op, int(atomic.LoadUint64(wordAt[uint64](p.local, off+originWord))))
		}
		if comb {
			var in [5]uint64
			for i := range in {
				in[i] = atomic.LoadUint64(wordAt[uint64](p.local, off+8+uintptr(i)*8))
			}
			v[0] = max(v[0], in[0])
			if in[1] < v[1] || in[1] == v[1] && in[2] < v[2] {
				v[1], v[2] = in[1], in[2]
			}
			if in[3] > v[3] || in[3] == v[3] && in[4] > v[4] {
				v[3], v[4] = in[3], in[4]
			}
		}
	}
	return nil
}

// syncLocked is a plain barrier among t's members (no agreement): the
// steps of a call after its entry.
func (t *Team) syncLocked(ctx context.Context, op string) error {
	return t.disseminate(ctx, op, 0, 0)
}

// leadersSync is a barrier among the node leaders of a team across nodes
// (this PE must be one).
func (t *Team) leadersSync(ctx context.Context, op string) error {
	t.nepoch++
	return t.dissem(ctx, op, t.hier.leaders, t.hier.lead, t.block+tbNet, t.nepoch, nil, false)
}

// localSync is a barrier among the members of this PE's node in a team
// across nodes.
func (t *Team) localSync(ctx context.Context, op string) error {
	t.epoch++
	return t.dissem(ctx, op, t.hier.local, t.hier.li, t.block+tbFlags, t.epoch, nil, false)
}

// waitFlag waits in the fabric until this PE's word w, at offset off,
// reaches epoch e (t.gate held).
func (t *Team) waitFlag(ctx context.Context, w *uint64, e uint64, off uintptr) error {
	t.fl.w, t.fl.e = w, e
	return t.p.fab.Wait(ctx, t.flagged, off, 8)
}

// flagReached is the condition of the flag wait in progress (t.flagged).
func (t *Team) flagReached() bool { return atomic.LoadUint64(t.fl.w) >= t.fl.e }

// waitEpoch waits on this PE's word at off for epoch e within a call on t: a
// context that ends breaks the team, a poisoned word reports it.
func (t *Team) waitEpoch(ctx context.Context, op string, off uintptr, e uint64) error {
	w := wordAt[uint64](t.p.local, off)
	if atomic.LoadUint64(w) < e {
		if err := t.waitFlag(ctx, w, e, off); err != nil {
			return t.abandon(op, fmt.Errorf("gshmem: %s on PE %d: %w", op, t.p.me, err))
		}
	}
	if atomic.LoadUint64(w) == poisoned {
		return t.sawPoison(op, int(atomic.LoadUint64(wordAt[uint64](t.p.local, off+originWord))))
	}
	return nil
}

// abandon handles err, which ended a wait half way through a call on t:
// when this PE's context ended, the members no longer agree on where they
// are, so the team is marked broken everywhere; other errors (a dead
// peer) pass through, the job is ending anyway.
func (t *Team) abandon(op string, err error) error {
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fabric.ErrPeerDead) {
		// A context that ended because a peer died (the job's context
		// does) is that death: the other members learn of it as this
		// PE did, and report it, not this PE's giving up.
		return err
	}
	why := fmt.Sprintf("PE %d gave up on %s call #%d: %v", t.p.me, op, t.st.calls, unwrapAll(err))
	r := t.p.local[t.brokenOff():]
	n := copy(r[8:recBytes], why)
	atomic.StoreUint64(wordAt[uint64](r, 0), uint64(n))
	t.broken = why
	atomic.StoreUint32(&t.st.broken, 1)
	t.poison(t.me)
	return fmt.Errorf("gshmem: %s: %w (%w: every later collective on %v fails)", op, err, ErrBroken, t)
}

// unwrapAll is err's innermost error (context.Canceled, say).
func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// sawPoison handles a poisoned flag or slot that member origin started:
// this PE breaks too and passes the poison on, so that members waiting
// for this PE stop as well.
func (t *Team) sawPoison(op string, origin int) error {
	if t.broken == "" {
		why := fmt.Sprintf("member %d abandoned a call", origin)
		if origin >= 0 && origin < t.size {
			var buf [recBytes]byte
			if b, err := t.p.peerBytes(t.WorldPE(origin), t.brokenOff(), recBytes, buf[:]); err == nil {
				n := min(int(atomic.LoadUint64(wordAt[uint64](b, 0))), recBytes-8)
				why = string(b[8 : 8+n])
			}
		}
		t.broken = why
		atomic.StoreUint32(&t.st.broken, 1)
		t.poison(origin)
	}
	return t.brokenErr(op)
}

func (t *Team) brokenErr(op string) error {
	return fmt.Errorf("gshmem: %s: %w: %s", op, ErrBroken, t.broken)
}

// poison marks, in every member's copy of the block, every flag and slot
// this PE writes as broken by member origin: whoever waits on them stops.
func (t *Team) poison(origin int) {
	p := t.p
	set := func(w int, off uintptr) {
		var b [8]byte
		*(*uint64)(unsafe.Pointer(&b[0])) = uint64(origin)
		// Best effort: a peer the fabric cannot reach waits on nothing.
		_ = p.fab.PutSignal(w, off+originWord, b[:], off, fabric.AMOSet, poisoned, fabric.CompleteByProtocol)
	}
	flags := func(members []int, me int, base uintptr) {
		n := t.size
		if members != nil {
			n = len(members)
		}
		for k, dist := 0, 1; dist < n; k, dist = k+1, dist*2 {
			to := (me + dist) % n
			if members != nil {
				to = members[to]
			}
			for b := uintptr(0); b < 2; b++ {
				set(t.WorldPE(to), base+(b*maxRounds+uintptr(k))*lineSize)
			}
		}
	}
	if h := t.hier; h != nil {
		flags(h.local, h.li, t.block+tbFlags)
		if h.lead >= 0 {
			flags(h.leaders, h.lead, t.block+tbNet)
		}
	} else {
		flags(nil, t.me, t.block+tbFlags)
	}
	for j := 0; j < t.size; j++ {
		if j == t.me {
			continue
		}
		w := t.WorldPE(j)
		set(w, t.block+tbBcast)
		if t.size <= exchangeMax {
			set(w, t.netOff(t.me))
		}
		if t.exchanges() {
			// The parity of the push this PE would make next: a slot of
			// its last push may still be read by a member finishing that
			// call (which completes: this PE's part of it is done).
			set(w, t.slotOff(int((t.st.cepoch+1)%2), t.me))
		}
	}
}
