package am

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/gshmem/gshmem/am/codec"
	"github.com/gshmem/gshmem/fabric"
)

// A frame in a ring: a 24-byte header, then its body, padded to 8 bytes.
// Its first word is never zero (the size is at least 8): a zero word where
// the consumer's head is says that nothing more has been published.
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

// sendFrame stages one frame to pe and flushes by the aggregation rule.
func (w *World) sendFrame(pe int, kind, flags byte, id, tid uint64, c *call, enc func(e *codec.Encoder)) error {
	if err := w.deadErr(pe); err != nil {
		return err
	}
	q := w.out[pe]
	q.mu.Lock()
	defer q.mu.Unlock()
	start := len(q.stage)
	first := start == 0
	if err := appendFrame(q, kind, flags, id, tid, c, enc); err != nil {
		return err
	}
	if n := len(q.stage) - start; n > int(w.ringB)/2 {
		q.stage = q.stage[:start]
		return fmt.Errorf("%w: frame of %d bytes does not fit a queue of %d", ErrTooLarge, n, w.ringB)
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
	behind := func() bool { return q.tail-q.head >= w.ringB/4 }
	flush := w.opt.FlushBytes < 0 || len(q.stage) >= w.opt.FlushBytes || (first && !behind())
	if !flush && first {
		h, err := w.peerLoad(pe, w.ringOff(w.me)) // its head word
		if err != nil {
			return err
		}
		q.head = h
		flush = !behind()
	}
	if flush {
		return w.flushLocked(w.ctx, pe, q)
	}
	if !q.dirty {
		q.dirty = true
		if w.dirty.Add(1) == 1 {
			w.fab.Notify(w.me, w.base, 8) // a sleeping sentinel flushes it
		}
	}
	return nil
}

// flushDirty flushes every queue with staged frames and stages pending
// releases.
func (w *World) flushDirty() {
	if w.dirty.Load() == 0 {
		return
	}
	w.rel.Lock()
	rel := w.rel.q
	w.rel.q = nil
	w.rel.Unlock()
	for _, r := range rel {
		w.dirty.Add(-1)
		w.sendFrame(r.pe, r.kind, 0, r.id, 0, nil, nil) // a dead peer needs none
	}
	for pe, q := range w.out {
		if w.dirty.Load() == 0 {
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

// flushLocked writes q's stage into pe's ring, waiting for room as the
// consumer drains it (and draining our own queues meanwhile, so two PEs
// that fill each other's rings both progress). The caller holds q.mu.
//
// A ring carries its own signal: the consumer polls the header word at
// its head, and a frame is there when that word is not zero. The producer
// writes a run of whole frames with its first header word left out, then
// a zero word after the run (the terminator: the consumer stops there),
// then the first header word with one atomic store, which also wakes a
// sleeping consumer. The frames and the word that announces them share a
// cache line, so a lone AM costs the consumer one line transfer; the zero
// word after each run is why the space a run needs is its length plus 8.
func (w *World) flushLocked(ctx context.Context, pe int, q *outQ) error {
	if q.dirty {
		q.dirty = false
		w.dirty.Add(-1)
	}
	if len(q.stage) == 0 {
		return nil
	}
	ring := w.ringOff(w.me) // our ring on pe: same offset on every PE
	R := w.ringB
	s := q.stage
	var b fabric.Backoff // paces the waits for room
	waiting := false
	for len(s) > 0 {
		pos := q.tail % R
		room := R - pos // contiguous bytes to the ring's end
		free := R - (q.tail - q.head)
		free -= min(free, termB) // the terminator's word stays free
		// Whole frames that fit both.
		lim := min(room, free)
		run := uint64(0)
		for run < uint64(len(s)) {
			sz := uint64(binary.LittleEndian.Uint32(s[run:]))
			if run+sz > lim {
				break
			}
			run += sz
		}
		if run > 0 {
			if err := w.writeRun(pe, ring, pos, s[:run], run); err != nil {
				return err
			}
			q.tail += run
			s = s[run:]
			waiting = false
			continue
		}
		if free >= room && room < R { // the next frame needs the ring's start: pad to the end
			var p [8]byte
			binary.LittleEndian.PutUint32(p[:], uint32(room))
			p[4] = kPad
			if err := w.writeRun(pe, ring, pos, p[:], room); err != nil {
				return err
			}
			q.tail += room
			continue
		}
		// Full: wait for the consumer.
		h, err := w.peerLoad(pe, ring)
		if err != nil {
			return err
		}
		if h != q.head {
			q.head = h
			continue
		}
		if err := w.deadErr(pe); err != nil {
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

// writeRun writes frames b (span bytes of ring from pos on: a pad frame is
// one header standing for the rest of the ring) into our ring on pe and
// publishes them, as flushLocked describes: the rest of b, the terminator
// after the span, then b's first header word, atomically. Where pe is
// mapped these are stores into its memory and an exchange that also
// notifies; where it is reachable only by RMA, a PutSignal.
func (w *World) writeRun(pe int, ring uintptr, pos uint64, b []byte, span uint64) error {
	data := ring + ringHdr
	hdr := binary.LittleEndian.Uint64(b)
	end := data + uintptr((pos+span)%w.ringB)
	at := data + uintptr(pos)
	if r := w.regions[pe]; r != nil {
		copy(r[at+8:], b[8:])
		*wordIn(r, end) = 0
		_, err := w.fab.AMO64(pe, at, fabric.AMOSet, hdr, 0)
		return err
	}
	// Frames and terminator, then the header: one message on a network
	// when the terminator follows the frames (the run does not end at
	// the ring's end), where it is one PutSignal.
	if end == at+uintptr(len(b)) {
		run := make([]byte, len(b)-8+termB)
		copy(run, b[8:])
		return w.fab.PutSignal(pe, at+8, run, at, fabric.AMOSet, hdr, fabric.CompleteByProtocol)
	}
	var zero [termB]byte
	if err := w.fab.Put(pe, end, zero[:]); err != nil {
		return err
	}
	return w.fab.PutSignal(pe, at+8, b[8:], at, fabric.AMOSet, hdr, fabric.CompleteByProtocol)
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
	if !w.inboundReady() || !w.poll1.CompareAndSwap(0, 1) {
		return 0, nil
	}
	var tbuf [8]*task
	ts := tbuf[:0]
	R := w.ringB
	for src := range w.n {
		ring := w.ringOff(src)
		data := w.local[ring+ringHdr : ring+ringHdr+uintptr(R)]
		head := w.inH[src].Load()
		start := head
		for !w.bad[src].Load() {
			pos := head % R
			hdr := atomic.LoadUint64(wordIn(data, uintptr(pos)))
			if hdr == 0 {
				break
			}
			sz := uint64(uint32(hdr))
			if sz < 8 || sz > R-pos || sz%8 != 0 || (sz < frameHdr && byte(hdr>>32) != kPad) {
				// A corrupt ring cannot be resynchronised: fail the peer.
				w.bad[src].Store(true)
				w.peerError(&fabric.PeerError{PE: src, How: fmt.Sprintf("sent a corrupt AM frame (size %d at %d)", sz, pos)})
				break
			}
			if byte(hdr>>32) != kPad {
				if t := w.frame(src, data[pos:pos+sz]); t != nil {
					ts = append(ts, t)
				}
				n++
			}
			head += sz
		}
		if head != start {
			w.inH[src].Store(head)
			atomic.StoreUint64(w.word(ring), head) // the producer's room
		}
	}
	w.poll1.Store(0)
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
	if r := w.regions[src]; r != nil {
		if off+n > uint64(len(r)) {
			return nil, off, true, fmt.Errorf("%w: arena reference [%d, %d) outside PE %d's region", ErrCodec, off, off+n, src)
		}
		return r[off : off+n : off+n], off, true, nil
	}
	buf := make([]byte, n)
	if err := w.fab.Get(src, uintptr(off), buf); err != nil {
		return nil, off, true, err
	}
	return buf, off, true, nil
}

func (w *World) release(pe int, off uint64) { w.ctl(pe, kRelease, off) }

// ctl queues a control frame to pe for the next flush.
func (w *World) ctl(pe int, kind byte, id uint64) {
	w.rel.Lock()
	w.rel.q = append(w.rel.q, relMsg{pe, kind, id})
	w.rel.Unlock()
	if w.dirty.Add(1) == 1 {
		w.fab.Notify(w.me, w.base, 8)
	}
}

// decoder returns the World's decoder reset to read b (with borrow: Bytes
// may point into b). It is the poll token holder's: frame decodes with it.
func (w *World) decoder(b []byte, borrow bool) *decoder {
	d := &w.dec
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
		w.arena.free(id)
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
