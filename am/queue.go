package am

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gshmem/gshmem/am/codec"
	"github.com/gshmem/gshmem/am/internal/ring"
	"github.com/gshmem/gshmem/fabric"
)

// A frame in a ring (package ring: the size word and the kind are its,
// kPad is its ring.KindPad): a 24-byte header, then its body, padded to 8
// bytes.
//
//	0  uint32 size (header and body, padded; a pad frame is 8 bytes long
//	          and stands for the rest of the ring)
//	4  uint8  kind (kReq, kReply, kRelease, kPad)
//	5  uint8  flags (flagLarge: the body is an arena reference, 16 bytes:
//	          offset and length in the sender's arena)
//	6  uint8  padding bytes at the end of the body
//	8  uint64 id: the call at the origin (kRelease: the arena offset)
//	16 uint64 tid: the AM type (kReq), the status (kReply)

func putHeader(b []byte, size int, kind, flags byte, id, tid uint64) {
	binary.LittleEndian.PutUint32(b, uint32(size))
	b[4], b[5], b[6], b[7] = kind, flags, 0, 0
	binary.LittleEndian.PutUint64(b[8:], id)
	binary.LittleEndian.PutUint64(b[16:], tid)
}

func pad8(n int) int { return (n + 7) &^ 7 }

// appendFrame appends a frame to q's stage with body encoded by enc (which
// appends to e.Buf) with q's encoder, and returns the encoder error. c is
// the call whose request it is (nil for other frames): the encoder's Ctx,
// for the Darc handles the request carries. The caller holds q.mu.
func appendFrame(q *outQ, kind, flags byte, id, tid uint64, c *call, enc func(e *codec.Encoder)) error {
	start := len(q.stage)
	q.stage = append(q.stage, make([]byte, frameHdr)...)
	e := &q.enc
	e.Reset(q.stage, c) // also its depth: an encoder that panicked left it anywhere
	if enc != nil {
		enc(e)
	}
	if err := e.Err(); err != nil {
		q.stage = q.stage[:start]
		e.Reset(nil, nil)
		return err
	}
	end := pad8(len(e.Buf))
	pad := end - len(e.Buf)
	for len(e.Buf) < end {
		e.Buf = append(e.Buf, 0)
	}
	q.stage = e.Buf
	e.Reset(nil, nil)
	putHeader(q.stage[start:], end-start, kind, flags, id, tid)
	q.stage[start+6] = byte(pad)
	return nil
}

// transport is a World's side of the rings: its producer ends (the out
// queues, each under its lock), its consumer ends (under the poll token),
// the control frames waiting for a flush, and its arena.
type transport struct {
	rings *ring.Rings  // the per-pair rings: consumed under the poll token
	out   []*outQ      // the producer side of this PE's ring on each PE
	poll1 atomic.Int32 // the poll token: 1 while someone drains the queues
	dec   decoder      // the poll token holder's
	rel   struct {     // releases of peers' arena chunks, sent on the next flush
		sync.Mutex
		q []relMsg
	}
	dirty atomic.Int32 // out queues with staged bytes, plus pending releases
	arena ring.Arena   // this PE's arena: chunks lent to peers
}

// relMsg is a control frame to send on the next flush (it cannot be sent
// from where it arises: polling never blocks).
type relMsg struct {
	pe   int
	kind byte
	id   uint64
}

// outQ is this PE's producer side of the queue to one peer.
type outQ struct {
	mu    sync.Mutex
	stage []byte        // whole frames not yet in the ring
	prod  ring.Producer // the ring's tail and the consumer's head as last read
	dirty bool
	enc   codec.Encoder // encodes frames into stage
}

// sendFrame stages one frame to pe and flushes by the aggregation rule.
func (w *World) sendFrame(pe int, kind, flags byte, id, tid uint64, c *call, enc func(e *codec.Encoder)) error {
	if err := w.deadErr(pe); err != nil {
		return err
	}
	q := w.tx.out[pe]
	q.mu.Lock()
	defer q.mu.Unlock()
	start := len(q.stage)
	first := start == 0
	if err := appendFrame(q, kind, flags, id, tid, c, enc); err != nil {
		return err
	}
	if n := len(q.stage) - start; n > w.opt.RingBytes/2 {
		q.stage = q.stage[:start]
		return fmt.Errorf("%w: frame of %d bytes does not fit a queue of %d", ErrTooLarge, n, w.opt.RingBytes)
	}
	return w.afterStageLocked(pe, q, first)
}

// afterStageLocked applies the aggregation rule. A frame goes at once
// when it is alone in the stage and the receiver is not far behind (by
// our last look at its head: a lone AM must not wait, and reading a
// peer's head costs a cache miss, so we look again only when the backlog
// seems large). Frames to a receiver that is behind aggregate in the
// stage until it reaches FlushBytes, or until this PE waits or idles
// (block and the idle worker flush dirty stages).
func (w *World) afterStageLocked(pe int, q *outQ, first bool) error {
	behind := func() bool { return q.prod.Backlog() >= uint64(w.opt.RingBytes)/4 }
	flush := w.opt.FlushBytes < 0 || len(q.stage) >= w.opt.FlushBytes || (first && !behind())
	if !flush && first {
		if _, err := w.tx.rings.Refresh(pe, &q.prod); err != nil { // its head word
			return err
		}
		flush = !behind()
	}
	if flush {
		return w.flushLocked(w.ctx, pe, q)
	}
	if !q.dirty {
		q.dirty = true
		if w.tx.dirty.Add(1) == 1 {
			w.fab.Notify(w.me, w.base, 8) // a sleeping sentinel flushes it
		}
	}
	return nil
}

// flushDirty flushes every queue with staged frames and stages pending
// releases.
func (w *World) flushDirty() {
	if w.tx.dirty.Load() == 0 {
		return
	}
	w.tx.rel.Lock()
	rel := w.tx.rel.q
	w.tx.rel.q = nil
	w.tx.rel.Unlock()
	for _, r := range rel {
		w.tx.dirty.Add(-1)
		w.sendFrame(r.pe, r.kind, 0, r.id, 0, nil, nil) // a dead peer needs none
	}
	for pe, q := range w.tx.out {
		if w.tx.dirty.Load() == 0 {
			return
		}
		if !q.mu.TryLock() {
			continue // its holder flushes
		}
		if q.dirty {
			w.flushLocked(w.ctx, pe, q)
		}
		q.mu.Unlock()
	}
}

// flushLocked writes q's stage into pe's ring (ring.Rings.Publish),
// waiting for room as the consumer drains it (and draining our own queues
// meanwhile, so two PEs that fill each other's rings both progress). The
// caller holds q.mu.
func (w *World) flushLocked(ctx context.Context, pe int, q *outQ) error {
	if q.dirty {
		q.dirty = false
		w.tx.dirty.Add(-1)
	}
	if len(q.stage) == 0 {
		return nil
	}
	if err := w.deadErr(pe); err != nil {
		q.stage = q.stage[:0] // it will never read them
		return err
	}
	s := q.stage
	var b fabric.Backoff // paces the waits for room
	waiting := false
	for len(s) > 0 {
		k, err := w.tx.rings.Publish(pe, &q.prod, s)
		if err != nil {
			return err
		}
		if k > 0 {
			s = s[k:]
			waiting = false
			continue
		}
		// Full: wait for the consumer.
		moved, err := w.tx.rings.Refresh(pe, &q.prod)
		if err != nil {
			return err
		}
		if moved {
			continue
		}
		if err := w.deadErr(pe); err != nil {
			q.stage = q.stage[:0]
			return err
		}
		w.poll()
		if !waiting {
			b, waiting = w.pol.Backoff(), true
		}
		if b.Sleeping() { // the consumer is slow, or dead
			if err := w.fab.Err(); err != nil {
				w.peerError(err)
				if err := w.deadErr(pe); err != nil {
					q.stage = q.stage[:0]
					return err
				}
			}
		}
		// Yields let this PE's other goroutines (its handlers) run.
		if err := b.Pause(ctx); err != nil {
			return err
		}
	}
	q.stage = q.stage[:0]
	return nil
}

// poll drains every queue to this PE once, if no one else is draining:
// replies complete their calls, requests become tasks, releases free arena
// chunks. It never blocks. It returns the frames it handled.
func (w *World) poll() int {
	n, _ := w.pollTake(false)
	return n
}

// pollTake is poll that, when take is set, hands the first request it
// finds to the caller (to run at once, skipping the run queue) instead of
// queueing it.
func (w *World) pollTake(take bool) (n int, first *task) {
	// Look before taking the token: a spinning waiter polls empty queues
	// most of the time, and the token is a locked instruction.
	if !w.inboundReady() || !w.tx.poll1.CompareAndSwap(0, 1) {
		return 0, nil
	}
	var tbuf [8]*task
	ts := tbuf[:0]
	for src := range w.n {
		cur := w.tx.rings.Open(src)
		for {
			f, err := w.tx.rings.Next(&cur)
			if err != nil { // a corrupt ring: fail its producer
				w.peerError(err)
				break
			}
			if f == nil {
				break
			}
			if t := w.frame(src, f); t != nil {
				ts = append(ts, t)
			}
			n++
		}
		w.tx.rings.Commit(&cur)
	}
	w.tx.poll1.Store(0)
	if take && len(ts) > 0 {
		first, ts = ts[0], ts[1:]
	}
	w.push(ts...)
	return n, first
}

// body returns a frame's payload: in the frame, or, for a large one, in
// the sender's arena (in place where it is mapped, else copied by Get).
// large reports whether an arena chunk must be released.
func (w *World) body(src int, f []byte) (b []byte, arenaOff uint64, large bool, err error) {
	sz := binary.LittleEndian.Uint32(f)
	b = f[frameHdr : int(sz)-int(f[6]&7)]
	if f[5]&flagLarge == 0 {
		return b, 0, false, nil
	}
	off, n := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	b, err = w.tx.rings.Chunk(src, off, n)
	if re := (*ring.RefError)(nil); errors.As(err, &re) {
		err = fmt.Errorf("%w: %w", ErrCodec, err)
	}
	return b, off, true, err
}

func (w *World) release(pe int, off uint64) { w.ctl(pe, kRelease, off) }

// allocArena takes n bytes of this PE's arena for a message to pe, waiting
// (and helping w progress) while the arena is full of payloads in flight.
func (w *World) allocArena(n uint64, pe int) (uint64, error) {
	a := &w.tx.arena
	if n > a.Size() {
		return 0, fmt.Errorf("%w: %d bytes exceed the arena of %d (Options.ArenaBytes)", ErrTooLarge, n, a.Size())
	}
	if off, ok := a.TryAlloc(n, pe); ok {
		return off, nil
	}
	// block may ask again after the answer was yes: allocate once. Chunks
	// come back as receivers release them, or all at once from a PE that
	// died (peerError reclaims them); a message to a dead PE stops waiting.
	var off uint64
	got := false
	err := w.block(w.ctx, condFunc(func() bool {
		if !got {
			off, got = a.TryAlloc(n, pe)
		}
		return got || w.deadErr(pe) != nil
	}))
	if err == nil && !got {
		err = w.deadErr(pe)
	}
	if err != nil {
		if got {
			a.Free(off)
		}
		return 0, fmt.Errorf("am: waiting for %d bytes of arena: %w", n, err)
	}
	return off, nil
}

// ctl queues a control frame to pe for the next flush.
func (w *World) ctl(pe int, kind byte, id uint64) {
	w.tx.rel.Lock()
	w.tx.rel.q = append(w.tx.rel.q, relMsg{pe, kind, id})
	w.tx.rel.Unlock()
	if w.tx.dirty.Add(1) == 1 {
		w.fab.Notify(w.me, w.base, 8)
	}
}

// decoder returns the World's decoder reset to read b (with borrow: Bytes
// may point into b). It is the poll token holder's: frame decodes with it.
func (w *World) decoder(b []byte, borrow bool) *decoder {
	d := &w.tx.dec
	d.w, d.darcs = w, nil
	d.Reset(b, borrow, d)
	return d
}

// frame handles one frame from src (under the poll token): it returns the
// task a request becomes, or nil.
func (w *World) frame(src int, f []byte) *task {
	kind := f[4]
	id := binary.LittleEndian.Uint64(f[8:])
	tid := binary.LittleEndian.Uint64(f[16:])
	switch kind {
	case kRelease:
		w.tx.arena.Free(id)
		return nil
	case kDarcFree:
		w.freeDarc(unpackID(id))
		return nil
	case kReq:
		t := &task{src: src, id: id, tid: tid}
		b, aoff, large, err := w.body(src, f)
		e := w.reg.lookupID(tid)
		if large {
			if err == nil && e != nil && e.arg.Borrows() {
				t.chunk, t.held = aoff, true // Bytes read it in place: released after the handler
			} else {
				defer w.release(src, aoff)
			}
		}
		switch {
		case err != nil:
			t.err = err
		case e == nil:
			t.err = ErrUnregistered
		default:
			t.e = e
			d := w.decoder(b, t.held)
			t.arg, t.err = e.arg.Decode(&d.Decoder)
			t.darcs, d.darcs = d.darcs, nil
			if t.err != nil {
				t.err = fmt.Errorf("%w: %w", ErrCodec, t.err)
				dropRefs(w, t.darcs)
				t.darcs = nil
			}
		}
		return t
	case kReply:
		c := w.calls.get(id)
		b, aoff, large, err := w.body(src, f)
		if large {
			defer w.release(src, aoff)
		}
		if c == nil {
			return nil // failed already (its PE was declared dead, or closed)
		}
		if err != nil {
			w.complete(c, nil, fmt.Errorf("am: %s reply from PE %d: %w", c.name(), src, err))
			return nil
		}
		switch tid & 0xff {
		case stOK:
			d := w.decoder(b, false)
			v, err := c.e.res.Decode(&d.Decoder)
			dropRefs(w, d.darcs) // a Darc in a result is held by the decoded value's own Clone
			d.darcs = nil
			if err != nil {
				w.complete(c, nil, &Error{PE: src, AM: c.name(), Kind: ErrCodec, Msg: "result: " + err.Error()})
				return nil
			}
			w.complete(c, v, nil)
		case stErr:
			kind := wireKinds[byte(tid>>8)]
			if kind == nil {
				kind = ErrHandler
			}
			w.complete(c, nil, &Error{PE: src, AM: c.name(), Kind: kind, Msg: string(b)})
		case stNext:
			if len(b) < 8 {
				w.complete(c, nil, &Error{PE: src, AM: c.name(), Kind: ErrCodec, Msg: "returned AM: truncated"})
				return nil
			}
			ntid := binary.LittleEndian.Uint64(b)
			ne := w.reg.lookupID(ntid)
			if ne == nil {
				w.complete(c, nil, &Error{PE: w.me, AM: c.name(), Kind: ErrUnregistered, Msg: fmt.Sprintf("returned AM type %#x", ntid)})
				return nil
			}
			d := w.decoder(b[8:], false)
			a, err := ne.arg.Decode(&d.Decoder)
			darcs := d.darcs
			d.darcs = nil
			if err != nil {
				dropRefs(w, darcs)
				w.complete(c, nil, &Error{PE: src, AM: ne.name, Kind: ErrCodec, Msg: "returned AM: " + err.Error()})
				return nil
			}
			return &task{e: ne, arg: a, src: w.me, call: c, wrap: c.e.mkNext, darcs: darcs}
		}
		return nil
	}
	return nil
}
