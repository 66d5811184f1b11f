// Package ring is the transport under package am: one ring per ordered
// pair of PEs in the receiver's symmetric heap, written by the sender and
// drained by the receiver, and each PE's arena for payloads too large for
// a ring.
//
// # Layout
//
// A PE's rings lie from Config.Base on, at the same offset on every PE (a
// symmetric allocation), the ring from PE src at Base + src*(HeadBytes +
// Config.Size):
//
//	0          head line: the consumer's head (bytes consumed, ever),
//	           which the producer reads for room
//	HeadBytes  Config.Size bytes of frames
//
// The memory must be zero on every PE before any PE publishes (am
// allocates it with Calloc, then a barrier).
//
// # Frames
//
// A frame is a multiple of 8 bytes and at least Config.MinFrame bytes
// long; its first 4 bytes are its size (little endian) and its fifth its
// kind, KindPad being the ring's own: a pad frame is 8 bytes long and
// stands for the rest of the ring. The rest of the header and the body are
// the caller's. A frame's first word is never zero, so a zero word where
// the consumer's head is says that nothing more has been published.
//
// # Publishing
//
// A ring carries its own signal: the consumer watches the header word at
// its head. The producer writes a run of whole frames with the run's first
// header word left out, a zero word after the run (the terminator: the
// consumer stops there), then the first header word with one atomic store,
// which also wakes a consumer asleep in the fabric's Wait on the ring. The
// frames and the word that announces them share a cache line, so a lone
// frame costs the consumer one line transfer; the terminator is why a run
// needs its length plus 8 bytes of room. Where the receiver's memory is
// mapped (shm, inproc) these are stores into it and an atomic exchange;
// where it is reachable only by RMA, Puts and one fabric.PutSignal.
//
// # Ownership
//
// Each ring has one producer and one consumer. A Producer belongs to the
// caller, which serialises its use (am: the out queue's lock). The consumer
// side (Open, Next, Commit) must be used by one goroutine at a time (am:
// the poll token's holder); Ready may be called by anyone at any time.
package ring

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
)

const (
	// LineBytes is a cache line: ring heads, ring sizes and arena chunks
	// are multiples of it.
	LineBytes = 64
	// HeadBytes is the head line before each ring's frames.
	HeadBytes = LineBytes
	// TermBytes is the zero word after a run of frames.
	TermBytes = 8
	// KindPad is the kind (a frame's fifth byte) of a pad frame: 8 bytes
	// that stand for the rest of the ring. Callers' kinds are other values.
	KindPad = 1
)

// AreaBytes is the size of the rings of n PEs of size bytes each (see
// Layout).
func AreaBytes(n, size int) uint64 { return uint64(n) * (HeadBytes + uint64(size)) }

// Config places a PE's rings.
type Config struct {
	// Base is the region offset of the rings, the same on every PE; a
	// multiple of 8.
	Base uintptr
	// Size is the bytes of frames per ring: a multiple of 64, and at most
	// 1 GiB (a frame's size is a 32-bit word).
	Size int
	// MinFrame is the size of the smallest frame but a pad (am: its
	// 24-byte header): a smaller one is corrupt.
	MinFrame int
}

// Rings is one PE's ends of the rings: the consumer of the rings in its
// own region (one from each PE), and the producer of its ring in each
// peer's region.
type Rings struct {
	fab      fabric.Fabric
	me, n    int
	base     uintptr
	stride   uintptr // bytes per ring (head line and frames)
	size     uint64  // bytes of frames per ring
	minFrame uint64
	local    []byte   // this PE's region
	regions  [][]byte // peers' regions, nil where reachable only by RMA
	heads    []atomic.Uint64
	bad      []atomic.Bool
}

// New returns fab's PE's rings placed by cfg.
func New(fab fabric.Fabric, cfg Config) *Rings {
	n := fab.NPEs()
	r := &Rings{
		fab: fab, me: fab.PE(), n: n, base: cfg.Base,
		stride: HeadBytes + uintptr(cfg.Size), size: uint64(cfg.Size), minFrame: uint64(cfg.MinFrame),
		local: fab.Region(fab.PE()), regions: make([][]byte, n),
		heads: make([]atomic.Uint64, n), bad: make([]atomic.Bool, n),
	}
	for i := range n {
		r.regions[i] = fab.Region(i)
	}
	return r
}

// Size is the bytes of frames per ring (Config.Size).
func (r *Rings) Size() int { return int(r.size) }

// ringOff is the region offset of the ring from PE src (in any PE's
// region: the layout is symmetric).
func (r *Rings) ringOff(src int) uintptr { return r.base + uintptr(src)*r.stride }

func wordIn(b []byte, off uintptr) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }

// load reads the word at off on PE pe.
func (r *Rings) load(pe int, off uintptr) (uint64, error) {
	if b := r.regions[pe]; b != nil {
		return atomic.LoadUint64(wordIn(b, off)), nil
	}
	return r.fab.AMO64(pe, off, fabric.AMOFetch, 0, 0)
}

// ---- the producer ----

// Producer is the producer's state of this PE's ring on one peer: bytes
// published, and the consumer's head as last read. Its zero value is a
// ring nothing was published to. Its owner serialises its use.
type Producer struct {
	tail uint64 // bytes published, ever
	head uint64 // the consumer's head, as last read (Refresh)
}

// Backlog is how many published bytes the consumer had not consumed at the
// last look at its head (Refresh).
func (p *Producer) Backlog() uint64 { return p.tail - p.head }

// Refresh reads the consumer's head of this PE's ring on pe into p, and
// reports whether it moved since the last look.
func (r *Rings) Refresh(pe int, p *Producer) (moved bool, err error) {
	h, err := r.load(pe, r.ringOff(r.me))
	if err != nil {
		return false, err
	}
	moved = h != p.head
	p.head = h
	return moved, nil
}

// Publish writes whole frames from the start of s into this PE's ring on
// pe, as many as fit by the consumer's head as last read (Refresh),
// wrapping at the ring's end with a pad frame, and returns the bytes of s
// it published (0: the ring is full; Refresh, and try again). s must hold
// whole frames, each at most half the ring.
func (r *Rings) Publish(pe int, p *Producer, s []byte) (int, error) {
	R := r.size
	done := 0
	for done < len(s) {
		pos := p.tail % R
		room := R - pos // contiguous bytes to the ring's end
		free := R - (p.tail - p.head)
		free -= min(free, TermBytes) // the terminator's word stays free
		// Whole frames that fit both.
		lim := min(room, free)
		rest := s[done:]
		run := uint64(0)
		for run < uint64(len(rest)) {
			sz := uint64(binary.LittleEndian.Uint32(rest[run:]))
			if run+sz > lim {
				break
			}
			run += sz
		}
		if run > 0 {
			if err := r.writeRun(pe, pos, rest[:run], run); err != nil {
				return done, err
			}
			p.tail += run
			done += int(run)
			continue
		}
		if free >= room && room < R { // the next frame needs the ring's start: pad to the end
			var pad [8]byte
			binary.LittleEndian.PutUint32(pad[:], uint32(room))
			pad[4] = KindPad
			if err := r.writeRun(pe, pos, pad[:], room); err != nil {
				return done, err
			}
			p.tail += room
			continue
		}
		break // full
	}
	return done, nil
}

// writeRun writes frames b (span bytes of the ring from pos on: a pad
// frame is one header standing for the rest of the ring) into this PE's
// ring on pe and publishes them (see Publishing): the rest of b, the
// terminator after the span, then b's first header word, atomically.
func (r *Rings) writeRun(pe int, pos uint64, b []byte, span uint64) error {
	data := r.ringOff(r.me) + HeadBytes
	hdr := binary.LittleEndian.Uint64(b)
	end := data + uintptr((pos+span)%r.size)
	at := data + uintptr(pos)
	if m := r.regions[pe]; m != nil {
		copy(m[at+8:], b[8:])
		*wordIn(m, end) = 0
		_, err := r.fab.AMO64(pe, at, fabric.AMOSet, hdr, 0)
		return err
	}
	// Frames and terminator, then the header: one message on a network
	// when the terminator follows the frames (the run does not end at
	// the ring's end), where it is one PutSignal.
	if end == at+uintptr(len(b)) {
		run := make([]byte, len(b)-8+TermBytes)
		copy(run, b[8:])
		return r.fab.PutSignal(pe, at+8, run, at, fabric.AMOSet, hdr, fabric.CompleteByProtocol)
	}
	var zero [TermBytes]byte
	if err := r.fab.Put(pe, end, zero[:]); err != nil {
		return err
	}
	return r.fab.PutSignal(pe, at+8, b[8:], at, fabric.AMOSet, hdr, fabric.CompleteByProtocol)
}

// ---- the consumer ----

// Ready reports whether a peer published frames not consumed yet: whether
// the header word at a ring's head is not zero (rings found corrupt are
// not read). It is a hint (Next reads the rings again): a head read here
// may be stale by the time its header word is, and the producer may be
// rewriting that word's line. A plain load of an aligned word cannot
// tear, and the race detector is told to look away, as it cannot see the
// same access between processes anyway.
//
//go:norace
func (r *Rings) Ready() bool {
	R := r.size
	for src := range r.n {
		off := r.ringOff(src) + HeadBytes + uintptr(r.heads[src].Load()%R)
		if *wordIn(r.local, off) != 0 && !r.bad[src].Load() {
			return true
		}
	}
	return false
}

// Cursor reads the frames of the ring from one PE: Open makes it, Next
// steps it, Commit hands what it read back to the producer.
type Cursor struct {
	src         int
	head, start uint64
	data        []byte // the ring's frames
}

// Open returns a cursor at the consumer's head of the ring from src.
func (r *Rings) Open(src int) Cursor {
	data := r.ringOff(src) + HeadBytes
	h := r.heads[src].Load()
	return Cursor{src: src, head: h, start: h, data: r.local[data : data+uintptr(r.size)]}
}

// Next returns the next frame of c's ring, skipping pads, or nil when
// nothing more is published. The frame stays valid, in the ring, until
// Commit. A corrupt frame (its size not a multiple of 8, smaller than
// MinFrame, or past the ring's end) cannot be resynchronised: the ring is
// not read again, and Next returns a *fabric.PeerError naming its producer.
func (r *Rings) Next(c *Cursor) ([]byte, error) {
	R := r.size
	for !r.bad[c.src].Load() {
		pos := c.head % R
		hdr := atomic.LoadUint64(wordIn(c.data, uintptr(pos)))
		if hdr == 0 {
			return nil, nil
		}
		sz := uint64(uint32(hdr))
		pad := byte(hdr>>32) == KindPad
		if sz < 8 || sz > R-pos || sz%8 != 0 || (sz < r.minFrame && !pad) {
			r.bad[c.src].Store(true)
			return nil, &fabric.PeerError{PE: c.src, How: fmt.Sprintf("sent a corrupt AM frame (size %d at %d)", sz, pos)}
		}
		c.head += sz
		if !pad {
			return c.data[pos : pos+sz], nil
		}
	}
	return nil, nil
}

// Commit consumes what c read: the producer may overwrite it.
func (r *Rings) Commit(c *Cursor) {
	if c.head != c.start {
		r.heads[c.src].Store(c.head)
		atomic.StoreUint64(wordIn(r.local, r.ringOff(c.src)), c.head) // the producer's room
		c.start = c.head
	}
}

// RefError is a reference to bytes outside a peer's region.
type RefError struct {
	PE     int    // the PE whose region was referenced
	Off, N uint64 // the bytes referenced: [Off, Off+N)
}

// Error names the bytes and the PE.
func (e *RefError) Error() string {
	return fmt.Sprintf("arena reference [%d, %d) outside PE %d's region", e.Off, e.Off+e.N, e.PE)
}

// Chunk returns the n bytes at off in PE src's region (a chunk of its
// arena): in place where src's region is mapped (valid until src reuses
// the chunk), else a copy read by Get. Bytes outside a mapped region are a
// *RefError.
func (r *Rings) Chunk(src int, off, n uint64) ([]byte, error) {
	if m := r.regions[src]; m != nil {
		if off+n > uint64(len(m)) || off+n < off {
			return nil, &RefError{PE: src, Off: off, N: n}
		}
		return m[off : off+n : off+n], nil
	}
	buf := make([]byte, n)
	if err := r.fab.Get(src, uintptr(off), buf); err != nil {
		return nil, err
	}
	return buf, nil
}
