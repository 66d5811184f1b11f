package mapped_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/internal/fabrictest"
	"github.com/gshmem/gshmem/fabric/internal/mapped"
	"github.com/gshmem/gshmem/internal/futex"
)

// segment maps an anonymous segment of HeaderSize+size bytes (memory Go
// does not manage, like a real transport's) and unmaps it at cleanup.
func segment(t *testing.T, size int) []byte {
	t.Helper()
	seg, err := syscall.Mmap(-1, 0, mapped.HeaderSize+size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Munmap(seg) })
	return seg
}

// segments returns npes initialised segments of size region bytes each.
func segments(t *testing.T, npes, size int) [][]byte {
	t.Helper()
	segs := make([][]byte, npes)
	for i := range segs {
		segs[i] = segment(t, size)
		mapped.InitHeader(segs[i], i, npes, 0)
	}
	return segs
}

// job builds one Mapped per PE over segs, all sharing live and sleeper.
func job(t *testing.T, segs [][]byte, live mapped.Liveness, sl mapped.Sleeper) []*mapped.Mapped {
	t.Helper()
	pol := fabric.DefaultWaitPolicy(false)
	pol.Spin, pol.SpinTime, pol.Yields = 16, 0, 4 // reach the sleep quickly
	ms := make([]*mapped.Mapped, len(segs))
	for i := range ms {
		m, err := mapped.New(mapped.Config{
			PE: i, Transport: "test", Segments: segs, Liveness: live, Sleeper: sl, Wait: pol,
		})
		require.NoError(t, err)
		ms[i] = m
	}
	return ms
}

func TestMagicSpellsGshmem01(t *testing.T) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], mapped.Magic)
	assert.Equal(t, "gshmem01", string(b[:]))
}

// The header is shared between processes: its layout is part of the wire
// format, and words written by different PEs must not share a cache line.
func TestHeaderLayout(t *testing.T) {
	var h mapped.Header
	assert.LessOrEqual(t, unsafe.Sizeof(h), uintptr(mapped.HeaderSize))
	lines := map[uintptr]string{}
	for name, off := range map[string]uintptr{
		"State":    unsafe.Offsetof(h.State),
		"Seq":      unsafe.Offsetof(h.Seq),
		"Sleepers": unsafe.Offsetof(h.Sleepers),
		"Watch":    unsafe.Offsetof(h.Watch),
		"Boot":     unsafe.Offsetof(h.Boot),
		"Cause":    unsafe.Offsetof(h.Cause),
	} {
		if other, ok := lines[off/64]; ok {
			t.Errorf("%s and %s share cache line %d", name, other, off/64)
		}
		lines[off/64] = name
	}
	assert.Zero(t, unsafe.Offsetof(h.Magic))
	assert.Zero(t, unsafe.Offsetof(h.Size)%8, "Size must be 8-byte aligned")
}

// headerLayouts records the Header layout of every header version. PEs of
// different builds check only the version, so a layout change must come
// with a new version (and a new entry here).
var headerLayouts = map[uint32]map[string]uintptr{
	2: {
		"Magic": 0, "Version": 8, "PE": 12, "NPEs": 16, "Pid": 20, "Size": 24, "State": 32,
		"Seq": 64, "Sleepers": 128, "Pending": 132, "Wild": 136, "Watch": 192, "Boot": 256, "Cause": 320,
		"sizeof": 384,
	},
	3: { // Exit: the status of a GlobalExit
		"Magic": 0, "Version": 8, "PE": 12, "NPEs": 16, "Pid": 20, "Size": 24, "State": 32, "Exit": 36,
		"Seq": 64, "Sleepers": 128, "Pending": 132, "Wild": 136, "Watch": 192, "Boot": 256, "Cause": 320,
		"sizeof": 384,
	},
}

func TestHeaderLayoutMatchesVersion(t *testing.T) {
	seg := segment(t, 8)
	mapped.InitHeader(seg, 0, 1, 0)
	v := mapped.HeaderOf(seg).Version
	var h mapped.Header
	got := map[string]uintptr{
		"Magic": unsafe.Offsetof(h.Magic), "Version": unsafe.Offsetof(h.Version), "PE": unsafe.Offsetof(h.PE),
		"NPEs": unsafe.Offsetof(h.NPEs), "Pid": unsafe.Offsetof(h.Pid), "Size": unsafe.Offsetof(h.Size),
		"State": unsafe.Offsetof(h.State), "Exit": unsafe.Offsetof(h.Exit), "Seq": unsafe.Offsetof(h.Seq), "Sleepers": unsafe.Offsetof(h.Sleepers),
		"Pending": unsafe.Offsetof(h.Pending), "Wild": unsafe.Offsetof(h.Wild), "Watch": unsafe.Offsetof(h.Watch),
		"Boot": unsafe.Offsetof(h.Boot), "Cause": unsafe.Offsetof(h.Cause), "sizeof": unsafe.Sizeof(h),
	}
	want, ok := headerLayouts[v]
	require.True(t, ok, "header version %d has no recorded layout: add it to headerLayouts", v)
	assert.Equal(t, want, got, "the Header layout changed but its version (%d) did not: bump headerVersion", v)
}

func TestInitHeader(t *testing.T) {
	seg := segment(t, 8192)
	for i := range seg[:mapped.HeaderSize] {
		seg[i] = 0xff // garbage from an earlier life
	}
	mapped.InitHeader(seg, 2, 5, 1234)
	h := mapped.HeaderOf(seg)
	assert.Equal(t, uint64(mapped.Magic), h.Magic)
	assert.Equal(t, uint32(2), h.PE)
	assert.Equal(t, uint32(5), h.NPEs)
	assert.Equal(t, uint32(1234), h.Pid)
	assert.Equal(t, uint64(8192), h.Size)
	assert.Equal(t, uint32(mapped.StateReady), h.State)
	assert.Zero(t, h.Seq)
	assert.Zero(t, h.Sleepers)
	assert.Zero(t, h.Boot)
	assert.Zero(t, h.Cause)
	assert.Equal(t, unsafe.Pointer(&seg[0]), unsafe.Pointer(h))
}

func TestNewRejectsBadSegments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pe     int
		npes   int
		mutate func(t *testing.T, segs [][]byte) [][]byte
		want   []string
	}{
		{"PE too large", 2, 2, nil, []string{"PE 2 out of range [0, 2)"}},
		{"PE negative", -1, 2, nil, []string{"PE -1 out of range [0, 2)"}},
		{"no segments", 0, 2, func(*testing.T, [][]byte) [][]byte { return nil }, []string{"PE 0 out of range [0, 0)"}},
		{"short segment", 0, 2, func(_ *testing.T, s [][]byte) [][]byte { s[1] = s[1][:100]; return s }, []string{"segment of PE 1 is 100 bytes, smaller than its header"}},
		{"uninitialised", 0, 2, func(_ *testing.T, s [][]byte) [][]byte { clear(s[1][:mapped.HeaderSize]); return s }, []string{"segment of PE 1 has no valid header", "magic 0x0"}},
		{"wrong magic", 0, 2, func(_ *testing.T, s [][]byte) [][]byte { mapped.HeaderOf(s[1]).Magic = 0xdead; return s }, []string{"segment of PE 1", "magic 0xdead"}},
		{"wrong version", 1, 2, func(_ *testing.T, s [][]byte) [][]byte { mapped.HeaderOf(s[0]).Version = 99; return s }, []string{"segment of PE 0", "version 99"}},
		{"wrong PE", 0, 3, func(_ *testing.T, s [][]byte) [][]byte { mapped.HeaderOf(s[2]).PE = 1; return s }, []string{"segment of PE 2 claims PE 1 of 3, want PE 2 of 3"}},
		{"swapped segments", 0, 2, func(_ *testing.T, s [][]byte) [][]byte { s[0], s[1] = s[1], s[0]; return s }, []string{"segment of PE 0 claims PE 1 of 2, want PE 0 of 2"}},
		{"wrong NPEs", 0, 2, func(_ *testing.T, s [][]byte) [][]byte { mapped.HeaderOf(s[1]).NPEs = 3; return s }, []string{"segment of PE 1 claims PE 1 of 3, want PE 1 of 2"}},
		{"too few segments", 0, 3, func(_ *testing.T, s [][]byte) [][]byte { return s[:2] }, []string{"segment of PE 0 claims PE 0 of 3, want PE 0 of 2"}},
		{"header size", 0, 2, func(_ *testing.T, s [][]byte) [][]byte { mapped.HeaderOf(s[1]).Size = 8; return s }, []string{"segment of PE 1 maps 4096 region bytes, header says 8"}},
		{"truncated mapping", 0, 2, func(_ *testing.T, s [][]byte) [][]byte {
			s[1] = s[1][:mapped.HeaderSize+1024]
			return s
		}, []string{"segment of PE 1 maps 1024 region bytes, header says 4096"}},
		{"size differs", 1, 3, func(t *testing.T, s [][]byte) [][]byte {
			big := segment(t, 8192)
			mapped.InitHeader(big, 2, 3, 0)
			s[2] = big
			return s
		}, []string{"symmetric size differs", "PE 0 has 4096 bytes", "PE 2 has 8192"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			segs := segments(t, tc.npes, 4096)
			if tc.mutate != nil {
				segs = tc.mutate(t, segs)
			}
			m, err := mapped.New(mapped.Config{PE: tc.pe, Segments: segs})
			require.Error(t, err)
			assert.Nil(t, m)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestMappedAccessors(t *testing.T) {
	segs := segments(t, 3, 4096)
	ms := job(t, segs, nil, nil)
	for pe, m := range ms {
		assert.Equal(t, pe, m.PE())
		assert.Equal(t, 3, m.NPEs())
		assert.Equal(t, "test", m.Transport())
		assert.Equal(t, uintptr(4096), m.Size())
		for q := range 3 {
			r := m.Region(q)
			require.Len(t, r, 4096)
			assert.Equal(t, 4096, cap(r), "appending to a region must not run into the next mapping")
			assert.Equal(t, unsafe.Pointer(&segs[q][mapped.HeaderSize]), unsafe.Pointer(&r[0]))
			assert.Equal(t, mapped.HeaderOf(segs[q]), m.Header(q))
		}
		assert.NoError(t, m.Err(), "no Liveness: peers cannot die")
		assert.Equal(t, -1, m.FailedPeer())
	}
}

func TestMappedPutGet(t *testing.T) {
	ms := job(t, segments(t, 3, 4096), nil, nil)
	src := []byte("hello, symmetric world")
	require.NoError(t, ms[0].Put(2, 100, src))
	src[0] = 'X' // src may be reused once Put returns
	dst := make([]byte, 22)
	require.NoError(t, ms[1].Get(2, 100, dst))
	assert.Equal(t, "hello, symmetric world", string(dst))
	assert.Equal(t, "hello, symmetric world", string(ms[2].Region(2)[100:122]))
	assert.Zero(t, ms[2].Region(2)[99])
	assert.Zero(t, ms[2].Region(2)[122])
	// Put at the last bytes of the region.
	require.NoError(t, ms[2].Put(0, 4096-3, []byte{1, 2, 3}))
	require.NoError(t, ms[1].Get(0, 4096-3, dst[:3]))
	assert.Equal(t, []byte{1, 2, 3}, dst[:3])
	assert.NoError(t, ms[0].Quiet())
}

// PutSignal copies the data, then applies the signal's set or add, and
// wakes the target's waiters on either.
func TestMappedPutSignal(t *testing.T) {
	segs := segments(t, 2, 4096)
	ms := job(t, segs, nil, newChanSleeper(segs))
	r1 := ms[1].Region(1)
	sig := word64(r1, 64)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ms[1].Wait(ctx, func() bool { return atomic.LoadUint64(sig) == 7 }, 64, 8)
	}()
	require.Eventually(t, func() bool { return atomic.LoadUint32(&ms[1].Header(1).Sleepers) == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, ms[0].PutSignal(1, 1024, []byte("payload"), 64, fabric.AMOSet, 7, fabric.CompleteAtQuiet))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("PutSignal did not wake the waiter on its signal")
	}
	assert.Equal(t, "payload", string(r1[1024:1031]))
	require.NoError(t, ms[0].PutSignal(1, 0, nil, 64, fabric.AMOAdd, 3, fabric.CompleteByProtocol))
	assert.Equal(t, uint64(10), atomic.LoadUint64(sig))
}

// recordingSleeper counts Wake calls per PE and never sleeps.
type recordingSleeper struct {
	mu    sync.Mutex
	wakes map[int]int
}

func (r *recordingSleeper) Sleep(context.Context, int, uint32, time.Duration) {}

func (r *recordingSleeper) Wake(pe int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wakes == nil {
		r.wakes = map[int]int{}
	}
	r.wakes[pe]++
}

func (r *recordingSleeper) take() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.wakes
	r.wakes = nil
	return w
}

// watchAll and watchLines set what PE h's (simulated) sleeper watches.
func watchAll(h *mapped.Header) {
	atomic.StoreUint32(&h.Sleepers, 1)
	atomic.StoreUint32(&h.Wild, 1)
	atomic.StoreUint32(&h.Pending, 0)
}

func watchLines(h *mapped.Header, lo, hi uint64) {
	atomic.StoreUint32(&h.Sleepers, 1)
	atomic.StoreUint32(&h.Wild, 0)
	atomic.StoreUint64(&h.Watch[0], lo<<32|(hi+1)) // the packing Header documents
	atomic.StoreUint32(&h.Pending, 0)
}

// Writes wake the target's sleepers, and only when it has some that armed
// a wake: the first Notify after a waiter armed (Pending 0) bumps the
// target's Seq (so a sleeper about to sleep sees it) and calls Wake; later
// ones cost loads until a waiter arms again. Reads and Quiet wake nobody.
func TestMappedNotifyProtocol(t *testing.T) {
	rs := &recordingSleeper{}
	segs := segments(t, 3, 4096)
	ms := job(t, segs, nil, rs)
	h1 := ms[0].Header(1)

	require.NoError(t, ms[0].Put(1, 0, []byte{1}))
	assert.Empty(t, rs.take(), "nobody sleeps on PE 1: no wake")
	assert.Zero(t, atomic.LoadUint32(&h1.Seq))

	watchAll(h1)
	require.NoError(t, ms[0].Put(1, 0, []byte{2}))
	assert.Equal(t, map[int]int{1: 1}, rs.take())
	assert.Equal(t, uint32(1), atomic.LoadUint32(&h1.Seq))
	require.NoError(t, ms[2].Put(1, 0, []byte{3}))
	ms[0].Notify(1, 0, 0)
	assert.Empty(t, rs.take(), "a wake is already on its way")
	assert.Equal(t, uint32(1), atomic.LoadUint32(&h1.Seq))

	watchAll(h1)
	require.NoError(t, ms[2].Get(1, 0, make([]byte, 1)))
	_, err := ms[2].AMO64(1, 8, fabric.AMOFetch, 0, 0)
	require.NoError(t, err)
	_, err = ms[2].AMO32(1, 8, fabric.AMOFetch, 0, 0)
	require.NoError(t, err)
	require.NoError(t, ms[2].Quiet())
	assert.Empty(t, rs.take(), "reads and Quiet wake nobody")

	for op := fabric.AMOSet; op <= fabric.AMOXor; op++ {
		watchAll(h1)
		_, err := ms[2].AMO64(1, 8, op, 1, 0)
		require.NoError(t, err)
		assert.Equal(t, map[int]int{1: 1}, rs.take(), "AMO64 %v", op)
		watchAll(h1)
		_, err = ms[2].AMO32(1, 16, op, 1, 0)
		require.NoError(t, err)
		assert.Equal(t, map[int]int{1: 1}, rs.take(), "AMO32 %v", op)
	}

	watchAll(h1)
	ms[0].Notify(2, 0, 0)
	assert.Empty(t, rs.take(), "PE 2 has no sleepers")
	ms[0].Notify(1, 4000, 8)
	assert.Equal(t, map[int]int{1: 1}, rs.take(), "a sleeper watching everything wakes on any bytes")

	// PokeAll wakes every PE, armed or not.
	ms[2].PokeAll()
	assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1}, rs.take())
}

// A sleeper watching region lines [2, 3] (bytes 128..255) is woken by a
// write that touches one of those lines, and by nothing else.
func TestMappedNotifyMatchesWatchedLines(t *testing.T) {
	rs := &recordingSleeper{}
	segs := segments(t, 2, 4096)
	ms := job(t, segs, nil, rs)
	h1 := ms[0].Header(1)
	for _, tc := range []struct {
		off, n uintptr
		wake   bool
	}{
		{0, 128, false},   // lines 0-1
		{120, 8, false},   // line 1, up to byte 127
		{121, 8, true},    // reaches byte 128
		{128, 1, true},    // first watched byte
		{255, 1, true},    // last watched byte
		{256, 8, false},   // line 4
		{200, 100, true},  // straddles the end
		{0, 4096, true},   // covers it all
		{4088, 8, false},  // far away
		{64 * 3, 8, true}, // line 3
		{0, 0, true},      // n == 0: everybody
	} {
		watchLines(h1, 2, 3)
		ms[0].Notify(1, tc.off, tc.n)
		if tc.wake {
			assert.Equal(t, map[int]int{1: 1}, rs.take(), "Notify(off %d, n %d) must wake", tc.off, tc.n)
		} else {
			assert.Empty(t, rs.take(), "Notify(off %d, n %d) must not wake", tc.off, tc.n)
		}
	}
	// Put and the AMOs notify exactly the bytes they write.
	watchLines(h1, 2, 2)
	require.NoError(t, ms[0].Put(1, 64, make([]byte, 64)))
	_, err := ms[0].AMO64(1, 120, fabric.AMOAdd, 1, 0)
	require.NoError(t, err)
	_, err = ms[0].AMO32(1, 192, fabric.AMOAdd, 1, 0)
	require.NoError(t, err)
	assert.Empty(t, rs.take())
	require.NoError(t, ms[0].Put(1, 100, make([]byte, 29)))
	assert.Equal(t, map[int]int{1: 1}, rs.take())
	watchLines(h1, 2, 2)
	_, err = ms[0].AMO32(1, 188, fabric.AMOSwap, 1, 0)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{1: 1}, rs.take())
}

// chanSleeper sleeps until Wake or ctx, ignoring the tick d: a wake the
// Mapped protocol loses shows up as a hang, not as a tick's latency. It
// counts the sleeps that started and the wakes per PE.
//
// Under the race detector it honours d: there sync/atomic stores are
// release stores, not sequentially consistent (golang/go#58020), so the
// store/load handshake between a waiter and a notifier can miss, which
// costs a tick in production code and would hang here.
type chanSleeper struct {
	hdrs   []*mapped.Header
	mu     sync.Mutex
	ch     []chan struct{}
	sleeps atomic.Int64
	wakes  []atomic.Int64
}

func newChanSleeper(segs [][]byte) *chanSleeper {
	s := &chanSleeper{wakes: make([]atomic.Int64, len(segs))}
	for _, seg := range segs {
		s.hdrs = append(s.hdrs, mapped.HeaderOf(seg))
		s.ch = append(s.ch, make(chan struct{}))
	}
	return s
}

func (s *chanSleeper) Sleep(ctx context.Context, pe int, seq uint32, d time.Duration) {
	s.mu.Lock()
	if atomic.LoadUint32(&s.hdrs[pe].Seq) != seq {
		s.mu.Unlock()
		return
	}
	ch := s.ch[pe]
	s.sleeps.Add(1)
	s.mu.Unlock()
	var tick <-chan time.Time
	if raceEnabled {
		t := time.NewTimer(d)
		defer t.Stop()
		tick = t.C
	}
	select {
	case <-ch:
	case <-tick:
	case <-ctx.Done():
	}
}

// raceEnabled says whether this test binary was built with -race.
var raceEnabled = func() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}()

func (s *chanSleeper) Wake(pe int) {
	s.wakes[pe].Add(1)
	s.mu.Lock()
	close(s.ch[pe])
	s.ch[pe] = make(chan struct{})
	s.mu.Unlock()
}

func word64(r []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&r[off])) }

// TestMappedPingPongNoLostWakes bounces a counter between two PEs many
// times; with a sleeper that has no timeout, one lost wake hangs the test.
func TestMappedPingPongNoLostWakes(t *testing.T) {
	for _, name := range []string{"chan", "futex"} {
		for _, watch := range []uintptr{8, 0} {
			t.Run(fmt.Sprintf("%s/n=%d", name, watch), func(t *testing.T) {
				segs := segments(t, 2, 4096)
				var sl mapped.Sleeper
				if name == "chan" {
					sl = newChanSleeper(segs)
				}
				ms := job(t, segs, nil, sl)
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
				defer cancel()
				// A futex sleep holds its P until sysmon retakes it, so with
				// GOMAXPROCS=1 on a loaded machine futex hops take
				// milliseconds: fewer rounds there.
				// Under -race a missed handshake costs a tick (see chanSleeper).
				rounds := 2000
				if name == "futex" || raceEnabled {
					rounds = 300
				}
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for pe := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						m := ms[pe]
						mine := word64(m.Region(pe), 0)
						for i := pe; i < rounds; i += 2 {
							if err := m.Wait(ctx, func() bool { return atomic.LoadUint64(mine) == uint64(i) }, 0, watch); err != nil {
								errs[pe] = fmt.Errorf("PE %d round %d: %w", pe, i, err)
								cancel()
								return
							}
							if _, err := m.AMO64(1-pe, 0, fabric.AMOSet, uint64(i+1), 0); err != nil {
								errs[pe] = err
								return
							}
						}
					}()
				}
				wg.Wait()
				require.NoError(t, errors.Join(errs...))
			})
		}
	}
}

// sleeping waits until the chanSleeper has started want sleeps.
func sleeping(t *testing.T, s *chanSleeper, want int64) {
	t.Helper()
	require.Eventually(t, func() bool { return s.sleeps.Load() >= want }, 5*time.Second, 100*time.Microsecond, "no sleep %d", want)
}

// A waiter sleeps through writes to bytes it does not watch, wakes on one
// to the bytes it does, and goes back to sleep while its condition is false.
func TestMappedWaitWatchesItsBytes(t *testing.T) {
	segs := segments(t, 2, 4096)
	sl := newChanSleeper(segs)
	ms := job(t, segs, nil, sl)
	flag := word64(ms[0].Region(0), 256)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ms[0].Wait(ctx, func() bool { return atomic.LoadUint64(flag) == 1 }, 256, 8)
	}()
	sleeping(t, sl, 1)
	require.NoError(t, ms[1].Put(0, 0, make([]byte, 256)))
	_, err := ms[1].AMO64(0, 320, fabric.AMOAdd, 1, 0) // the next line
	require.NoError(t, err)
	ms[1].Notify(0, 1024, 64)
	assert.Zero(t, sl.wakes[0].Load(), "writes elsewhere woke the waiter")

	require.NoError(t, ms[1].Put(0, 250, make([]byte, 8))) // touches byte 256, flag still 0
	assert.Equal(t, int64(1), sl.wakes[0].Load())
	sleeping(t, sl, 2) // back to sleep

	_, err = ms[1].AMO64(0, 256, fabric.AMOSet, 1, 0)
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by a write to its bytes")
	}
	h := ms[0].Header(0)
	assert.Zero(t, atomic.LoadUint32(&h.Sleepers))
	assert.Zero(t, atomic.LoadUint32(&h.Wild))
	assert.Equal(t, [8]uint64{}, h.Watch, "the waiter left its watch slot taken")
}

// A waiter with n == 0 watches everything.
func TestMappedWaitWatchAll(t *testing.T) {
	segs := segments(t, 2, 4096)
	sl := newChanSleeper(segs)
	ms := job(t, segs, nil, sl)
	flag := word64(ms[0].Region(0), 256)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ms[0].Wait(ctx, func() bool { return atomic.LoadUint64(flag) == 1 }, 0, 0)
	}()
	sleeping(t, sl, 1)
	assert.Equal(t, uint32(1), atomic.LoadUint32(&ms[1].Header(0).Wild))
	atomic.StoreUint64(flag, 1) // a store the fabric does not see...
	ms[1].Notify(0, 3000, 8)    // ...and a notify of other bytes
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter watching everything was not woken")
	}
	assert.Zero(t, atomic.LoadUint32(&ms[0].Header(0).Wild))
}

// More sleepers than watch slots: the ones without a slot watch
// everything, and nobody misses its write.
func TestMappedWatchSlotsOverflow(t *testing.T) {
	segs := segments(t, 2, 4096)
	sl := newChanSleeper(segs)
	ms := job(t, segs, nil, sl)
	n := len(mapped.Header{}.Watch) + 2
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := word64(ms[0].Region(0), 64*i)
			errs[i] = ms[0].Wait(ctx, func() bool { return atomic.LoadUint64(w) == 1 }, uintptr(64*i), 8)
		}()
	}
	h := ms[0].Header(0)
	require.Eventually(t, func() bool { return atomic.LoadUint32(&h.Sleepers) == uint32(n) }, 5*time.Second, 100*time.Microsecond)
	if !raceEnabled { // else sleepers tick and re-arm meanwhile
		assert.Equal(t, uint32(2), atomic.LoadUint32(&h.Wild), "the two sleepers without a slot watch everything")
	}
	for i := n - 1; i >= 0; i-- {
		_, err := ms[1].AMO64(0, uintptr(64*i), fabric.AMOSet, 1, 0)
		require.NoError(t, err)
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	assert.Zero(t, atomic.LoadUint32(&h.Wild))
	assert.Equal(t, [8]uint64{}, h.Watch)
}

// startWaiters starts n goroutines of PE 0 on ms: waiter w waits, round
// after round, for its word (line 10*w of PE 0) to reach the round and
// acknowledges it at the same offset of PE 1. A failure goes to errs[w]
// and cancels the rest.
func startWaiters(ctx context.Context, cancel func(), wg *sync.WaitGroup, ms []*mapped.Mapped, n int, rounds uint64, errs []error) {
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := uintptr(640 * w)
			mine := word64(ms[0].Region(0), int(off))
			for k := uint64(1); k <= rounds; k++ {
				if err := ms[0].Wait(ctx, func() bool { return atomic.LoadUint64(mine) == k }, off, 8); err != nil {
					errs[w] = fmt.Errorf("waiter %d round %d: %w", w, k, err)
					cancel()
					return
				}
				ms[0].AMO64(1, off, fabric.AMOSet, k, 0)
			}
		}()
	}
}

// Two goroutines of PE 0 wait on different words while PE 1 feeds them in
// turn: a wake meant for one waiter must not swallow the other's.
func TestMappedTwoWaitersNoLostWakes(t *testing.T) {
	segs := segments(t, 2, 4096)
	ms := job(t, segs, nil, newChanSleeper(segs))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	rounds := uint64(1000)
	if raceEnabled { // a missed handshake costs a tick (see chanSleeper)
		rounds = 300
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	startWaiters(ctx, cancel, &wg, ms, 2, rounds, errs)
	wg.Add(1)
	go func() { // PE 1 drives both
		defer wg.Done()
		a, b := word64(ms[1].Region(1), 0), word64(ms[1].Region(1), 640)
		for k := uint64(1); k <= rounds; k++ {
			ms[1].AMO64(0, 640, fabric.AMOSet, k, 0)
			ms[1].AMO64(0, 0, fabric.AMOSet, k, 0)
			if err := ms[1].Wait(ctx, func() bool { return atomic.LoadUint64(a) == k && atomic.LoadUint64(b) == k }, 0, 648); err != nil {
				errs[2] = fmt.Errorf("driver round %d: %w", k, err)
				cancel()
				return
			}
		}
	}()
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

func TestMappedWaitContext(t *testing.T) {
	ms := job(t, segments(t, 2, 4096), nil, nil)
	never := func() bool { return false }

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, ms[0].Wait(cancelled, never, 0, 0), context.Canceled)
	assert.NoError(t, ms[0].Wait(cancelled, func() bool { return true }, 0, 8), "a true condition wins over an ended context")

	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	start := time.Now()
	err := ms[0].Wait(ctx, never, 0, 8)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Zero(t, atomic.LoadUint32(&ms[0].Header(0).Sleepers), "Wait left its sleeper count raised")
}

func TestMappedWaitWokenByNotify(t *testing.T) {
	segs := segments(t, 2, 4096)
	ms := job(t, segs, nil, newChanSleeper(segs))
	flag := word64(ms[0].Region(0), 64)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ms[0].Wait(ctx, func() bool { return atomic.LoadUint64(flag) != 0 }, 64, 8)
	}()
	// Let PE 0 fall asleep, then set the flag behind the fabric's back
	// and Notify: the wake alone must end the sleep.
	require.Eventually(t, func() bool { return atomic.LoadUint32(&ms[0].Header(0).Sleepers) == 1 }, 5*time.Second, time.Millisecond)
	atomic.StoreUint64(flag, 1)
	start := time.Now()
	ms[1].Notify(0, 64, 8)
	select {
	case err := <-done:
		require.NoError(t, err)
		assert.Less(t, time.Since(start), time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("Notify did not wake the waiter")
	}
}

// fakeLive reports the PEs in dead as dead, the lowest first.
type fakeLive struct {
	mu      sync.Mutex
	dead    map[int]string
	checked func()
}

func (l *fakeLive) kill(pe int, how string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead == nil {
		l.dead = map[int]string{}
	}
	l.dead[pe] = how
}

func (l *fakeLive) Check() *fabric.PeerError {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.checked != nil {
		l.checked()
	}
	for pe := range 64 {
		if how, ok := l.dead[pe]; ok {
			return &fabric.PeerError{PE: pe, Pid: 1000 + pe, How: how}
		}
	}
	return nil
}

func (l *fakeLive) Describe(pe int) *fabric.PeerError {
	l.mu.Lock()
	defer l.mu.Unlock()
	if how, ok := l.dead[pe]; ok {
		return &fabric.PeerError{PE: pe, Pid: 1000 + pe, How: how}
	}
	return nil
}

func TestMappedWaitPeerDeath(t *testing.T) {
	live := &fakeLive{}
	segs := segments(t, 3, 4096)
	ms := job(t, segs, live, newChanSleeper(segs))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ms[0].Wait(ctx, func() bool { return false }, 0, 8) }()
	require.Eventually(t, func() bool { return atomic.LoadUint32(&ms[0].Header(0).Sleepers) == 1 }, 5*time.Second, time.Millisecond)
	live.kill(2, "was shot")
	ms[1].PokeAll() // what a transport does when it learns of a death
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a peer's death did not end the wait")
	}
	var pe *fabric.PeerError
	require.ErrorAs(t, err, &pe)
	assert.True(t, errors.Is(err, fabric.ErrPeerDead))
	assert.Equal(t, 2, pe.PE)
	assert.Equal(t, 1002, pe.Pid)
	assert.Equal(t, "gshmem: PE 2 (pid 1002) was shot", err.Error())
	assert.Equal(t, uint32(3), atomic.LoadUint32(&ms[0].Header(0).Cause), "the waiter records PE 2 (+1) as the cause of its own failure")
}

// A peer that wrote what the waiter waits for and then died does not fail
// the wait: the condition is re-checked after the death is seen.
func TestMappedWaitPeerDiedAfterWriting(t *testing.T) {
	var ready atomic.Bool
	live := &fakeLive{checked: func() { ready.Store(true) }}
	live.kill(1, "died")
	ms := job(t, segments(t, 2, 4096), live, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, ms[0].Wait(ctx, ready.Load, 0, 0))
	assert.Zero(t, ms[0].Header(0).Cause)
}

func TestMappedErrRootCause(t *testing.T) {
	for _, tc := range []struct {
		name   string
		causes map[int]uint32 // PE -> Cause word
		dead   []int
		wantPE int
		via    string
	}{
		{"no cause", nil, []int{1}, 1, ""},
		{"one hop", map[int]uint32{1: 3}, []int{1, 2}, 2, "seen through PE 1"},
		{"two hops", map[int]uint32{1: 3, 2: 4}, []int{1, 2, 3}, 3, "seen through PE 1"},
		{"cause is the asker", map[int]uint32{1: 1}, []int{1}, 1, ""},
		{"cause is itself", map[int]uint32{1: 2}, []int{1}, 1, ""},
		{"cause out of range", map[int]uint32{1: 99}, []int{1}, 1, ""},
		{"root not known dead", map[int]uint32{1: 3}, []int{1}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := &fakeLive{}
			for _, pe := range tc.dead {
				live.kill(pe, fmt.Sprintf("failed %d", pe))
			}
			segs := segments(t, 4, 4096)
			ms := job(t, segs, live, nil)
			for pe, c := range tc.causes {
				mapped.HeaderOf(segs[pe]).Cause = c
			}
			err := ms[0].Err()
			var pe *fabric.PeerError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.wantPE, pe.PE)
			assert.Contains(t, pe.How, fmt.Sprintf("failed %d", tc.wantPE))
			if tc.via != "" {
				assert.Contains(t, pe.How, tc.via)
			} else {
				assert.NotContains(t, pe.How, "seen through")
			}
		})
	}

	t.Run("cycle terminates", func(t *testing.T) {
		live := &fakeLive{}
		live.kill(1, "a")
		live.kill(2, "b")
		segs := segments(t, 4, 4096)
		ms := job(t, segs, live, nil)
		mapped.HeaderOf(segs[1]).Cause = 3
		mapped.HeaderOf(segs[2]).Cause = 2
		var pe *fabric.PeerError
		require.ErrorAs(t, ms[0].Err(), &pe)
		assert.Contains(t, []int{1, 2}, pe.PE)
	})
}

func TestMappedClose(t *testing.T) {
	segs := segments(t, 3, 4096)
	ms := job(t, segs, nil, nil)
	require.NoError(t, ms[1].Close(fabric.Finalized))
	assert.Equal(t, uint32(mapped.StateFinalized), atomic.LoadUint32(&ms[0].Header(1).State))
	assert.Equal(t, -1, ms[0].FailedPeer(), "a finalized PE has not failed")

	require.NoError(t, ms[2].Close(fabric.Failed))
	assert.Equal(t, uint32(mapped.StateFailed), atomic.LoadUint32(&ms[0].Header(2).State))
	assert.Equal(t, 2, ms[0].FailedPeer())
	assert.Equal(t, 2, ms[1].FailedPeer())
	assert.Equal(t, -1, ms[2].FailedPeer(), "FailedPeer skips the asker")
}

// Close(Failed) wakes the peers' sleepers at once, so that they notice the
// failure without waiting for a tick (here: without any tick at all).
func TestMappedCloseFailedWakesPeers(t *testing.T) {
	segs := segments(t, 2, 4096)
	var ms []*mapped.Mapped
	live := livenessFunc(func() *fabric.PeerError {
		if pe := ms[0].FailedPeer(); pe >= 0 {
			return &fabric.PeerError{PE: pe, How: "failed"}
		}
		return nil
	})
	ms = job(t, segs, live, newChanSleeper(segs))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ms[0].Wait(ctx, func() bool { return false }, 0, 8) }()
	require.Eventually(t, func() bool { return atomic.LoadUint32(&ms[0].Header(0).Sleepers) == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, ms[1].Close(fabric.Failed))
	select {
	case err := <-done:
		var pe *fabric.PeerError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 1, pe.PE)
	case <-time.After(5 * time.Second):
		t.Fatal("Close(Failed) did not wake the peer")
	}
}

type livenessFunc func() *fabric.PeerError

func (f livenessFunc) Check() *fabric.PeerError { return f() }
func (f livenessFunc) Describe(pe int) *fabric.PeerError {
	return &fabric.PeerError{PE: pe, How: "failed"}
}

func TestPeerError(t *testing.T) {
	e := &fabric.PeerError{PE: 3, How: "exited"}
	assert.Equal(t, "gshmem: PE 3 exited", e.Error())
	e.Pid = 42
	assert.Equal(t, "gshmem: PE 3 (pid 42) exited", e.Error())
	wrapped := fmt.Errorf("barrier: %w", e)
	assert.ErrorIs(t, wrapped, fabric.ErrPeerDead)
	assert.NotErrorIs(t, errors.New("x"), fabric.ErrPeerDead)
	assert.NotErrorIs(t, wrapped, context.Canceled)
}

func TestLeaveString(t *testing.T) {
	assert.Equal(t, "finalized", fabric.Finalized.String())
	assert.Equal(t, "failed", fabric.Failed.String())
	assert.Equal(t, "Leave(0)", fabric.Leave(0).String())
}

func TestAMOOpString(t *testing.T) {
	want := []string{"fetch", "set", "swap", "compare-swap", "add", "and", "or", "xor"}
	for i, w := range want {
		assert.Equal(t, w, fabric.AMOOp(i).String())
	}
	assert.Equal(t, "AMOOp(8)", fabric.AMOOp(8).String())
	assert.Equal(t, "AMOOp(255)", fabric.AMOOp(255).String())
}

type amoCase struct{ old, operand, cmp uint64 }

var amoCases = []amoCase{
	{0, 0, 0},
	{0, 1, 0},
	{0xf0f0f0f0f0f0f0f0, 0x0ff00ff00ff00ff0, 0xf0f0f0f0f0f0f0f0}, // compare hits
	{0xf0f0f0f0f0f0f0f0, 0x0ff00ff00ff00ff0, 0xf0f0f0f0f0f0f0f1}, // compare misses by one bit
	{0xffffffffffffffff, 1, 0},                                   // add wraps
	{5, 0xffffffffffffffff, 5},                                   // add of -1
	{0x8000000000000001, 0x00000001ffffffff, 0},                  // high bits matter
	{0x123456789abcdef0, 0x123456789abcdef0, 0x123456789abcdef0}, // xor with itself, cas to same
}

func TestAMO64Helper(t *testing.T) {
	for op := fabric.AMOFetch; op <= fabric.AMOXor; op++ {
		for _, c := range amoCases {
			w := c.old
			got := fabric.AMO64(&w, op, c.operand, c.cmp)
			wantRet, wantNew := fabrictest.Model(op, c.old, c.operand, c.cmp, ^uint64(0))
			assert.Equal(t, wantRet, got, "%v(%#x, operand %#x, cmp %#x) returned", op, c.old, c.operand, c.cmp)
			assert.Equal(t, wantNew, w, "%v(%#x, operand %#x, cmp %#x) left", op, c.old, c.operand, c.cmp)
		}
	}
}

func TestAMO32Helper(t *testing.T) {
	for op := fabric.AMOFetch; op <= fabric.AMOXor; op++ {
		for _, c := range amoCases {
			old, operand, cmp := uint32(c.old), uint32(c.operand), uint32(c.cmp)
			w := old
			got := fabric.AMO32(&w, op, operand, cmp)
			wantRet, wantNew := fabrictest.Model(op, uint64(old), uint64(operand), uint64(cmp), 0xffffffff)
			assert.Equal(t, uint32(wantRet), got, "%v(%#x, operand %#x, cmp %#x) returned", op, old, operand, cmp)
			assert.Equal(t, uint32(wantNew), w, "%v(%#x, operand %#x, cmp %#x) left", op, old, operand, cmp)
		}
	}
	// 32-bit wrap, with nothing carried anywhere.
	w := [2]uint32{0xffffffff, 0}
	assert.Equal(t, uint32(0xffffffff), fabric.AMO32(&w[0], fabric.AMOAdd, 2, 0))
	assert.Equal(t, [2]uint32{1, 0}, w)
}

// fabric.go documents that every AMOOp returns the value the word held
// before the operation.
func TestAMOSetReturnsPreviousValue(t *testing.T) {
	w64 := uint64(41)
	assert.Equal(t, uint64(41), fabric.AMO64(&w64, fabric.AMOSet, 1, 0))
	w32 := uint32(41)
	assert.Equal(t, uint32(41), fabric.AMO32(&w32, fabric.AMOSet, 1, 0))
}

func TestAMOUnknownOpPanics(t *testing.T) {
	var w64 uint64
	var w32 uint32
	assert.PanicsWithValue(t, "fabric: unknown AMO AMOOp(8)", func() { fabric.AMO64(&w64, 8, 1, 0) })
	assert.PanicsWithValue(t, "fabric: unknown AMO AMOOp(200)", func() { fabric.AMO32(&w32, 200, 1, 0) })
}

// AMOs are atomic: concurrent adds, xors and compare-swap increments from
// several goroutines lose nothing.
func TestAMOConcurrent(t *testing.T) {
	segs := segments(t, 2, 4096)
	ms := job(t, segs, nil, nil)
	const workers, iters = 4, 2000
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := ms[g%2]
			for range iters {
				m.AMO64(1, 0, fabric.AMOAdd, 3, 0)
				m.AMO32(1, 8, fabric.AMOAdd, 1, 0)
				m.AMO64(1, 16, fabric.AMOXor, 1<<g, 0)
				m.AMO32(1, 24, fabric.AMOXor, 1<<g, 0)
				m.AMO64(1, 32, fabric.AMOOr, 1<<g, 0)
				for { // compare-swap increment
					old, _ := m.AMO64(1, 40, fabric.AMOFetch, 0, 0)
					if got, _ := m.AMO64(1, 40, fabric.AMOCompareSwap, old+1, old); got == old {
						break
					}
				}
				for {
					old, _ := m.AMO32(1, 48, fabric.AMOFetch, 0, 0)
					if got, _ := m.AMO32(1, 48, fabric.AMOCompareSwap, old+1, old); got == old {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	r := ms[0].Region(1)
	assert.Equal(t, uint64(3*workers*iters), *word64(r, 0))
	assert.Equal(t, uint32(workers*iters), *(*uint32)(unsafe.Pointer(&r[8])))
	assert.Zero(t, *word64(r, 16), "an even number of xors per bit cancels out")
	assert.Zero(t, *(*uint32)(unsafe.Pointer(&r[24])))
	assert.Equal(t, uint64(1<<workers-1), *word64(r, 32))
	assert.Equal(t, uint64(workers*iters), *word64(r, 40))
	assert.Equal(t, uint32(workers*iters), *(*uint32)(unsafe.Pointer(&r[48])))
}

// The fabric's AMOs act on the right word of the right PE: neighbours stay
// untouched.
func TestMappedAMOTargets(t *testing.T) {
	ms := job(t, segments(t, 3, 4096), nil, nil)
	for op := fabric.AMOFetch; op <= fabric.AMOXor; op++ {
		for _, c := range amoCases {
			r := ms[2].Region(2)
			clear(r[:64])
			*word64(r, 16) = c.old
			got, err := ms[0].AMO64(2, 16, op, c.operand, c.cmp)
			require.NoError(t, err)
			wantRet, wantNew := fabrictest.Model(op, c.old, c.operand, c.cmp, ^uint64(0))
			assert.Equal(t, wantRet, got, "%v", op)
			assert.Equal(t, wantNew, *word64(r, 16), "%v", op)
			assert.Zero(t, *word64(r, 8), "%v touched the word before", op)
			assert.Zero(t, *word64(r, 24), "%v touched the word after", op)
			assert.Zero(t, *word64(ms[1].Region(1), 16), "%v touched another PE", op)

			old32 := uint32(c.old)
			cmp32 := uint32(c.cmp)
			*(*uint32)(unsafe.Pointer(&r[36])) = old32
			got32, err := ms[1].AMO32(2, 36, op, uint32(c.operand), cmp32)
			require.NoError(t, err)
			wantRet, wantNew = fabrictest.Model(op, uint64(old32), uint64(uint32(c.operand)), uint64(cmp32), 0xffffffff)
			assert.Equal(t, uint32(wantRet), got32, "%v", op)
			assert.Equal(t, uint32(wantNew), *(*uint32)(unsafe.Pointer(&r[36])), "%v", op)
			assert.Zero(t, *(*uint32)(unsafe.Pointer(&r[32])), "%v touched the word before", op)
			assert.Zero(t, *(*uint32)(unsafe.Pointer(&r[40])), "%v touched the word after", op)
		}
	}
}

// countingFutex is the futex sleeper (on each PE's header Seq) counting
// how many goroutines of each PE sleep in it at once.
type countingFutex struct {
	hdrs     []*mapped.Header
	in, most [2]atomic.Int32
}

func (c *countingFutex) Sleep(_ context.Context, pe int, seq uint32, d time.Duration) {
	n := c.in[pe].Add(1)
	for m := c.most[pe].Load(); n > m && !c.most[pe].CompareAndSwap(m, n); m = c.most[pe].Load() {
	}
	futex.Wait(&c.hdrs[pe].Seq, seq, d)
	c.in[pe].Add(-1)
}

func (c *countingFutex) Wake(pe int) { futex.Wake(&c.hdrs[pe].Seq, 1<<30) }

// TestMappedOneSleeperPerPE: three goroutines of PE 0 wait on words of
// their own, which PE 1 sets round after round; every wake arrives, and
// only one of them at a time sleeps in the Sleeper (the others park in
// the Go runtime), so that a goroutine asleep in a futex never holds the
// only processor while another of its PE's goroutines could run.
func TestMappedOneSleeperPerPE(t *testing.T) {
	segs := segments(t, 2, 4096)
	cf := &countingFutex{hdrs: []*mapped.Header{mapped.HeaderOf(segs[0]), mapped.HeaderOf(segs[1])}}
	ms := job(t, segs, nil, cf)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const waiters = 3
	rounds := uint64(300)
	var wg sync.WaitGroup
	errs := make([]error, waiters+1)
	startWaiters(ctx, cancel, &wg, ms, waiters, rounds, errs)
	wg.Add(1)
	go func() { // PE 1 drives them, pausing so that they fall asleep
		defer wg.Done()
		for k := uint64(1); k <= rounds; k++ {
			if k%10 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
			for w := waiters - 1; w >= 0; w-- {
				ms[1].AMO64(0, uintptr(640*w), fabric.AMOSet, k, 0)
			}
			all := func() bool {
				for w := range waiters {
					if atomic.LoadUint64(word64(ms[1].Region(1), 640*w)) != k {
						return false
					}
				}
				return true
			}
			if err := ms[1].Wait(ctx, all, 0, 640*waiters); err != nil {
				errs[waiters] = fmt.Errorf("driver round %d: %w", k, err)
				cancel()
				return
			}
		}
	}()
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	assert.EqualValues(t, 1, cf.most[0].Load(), "PE 0's goroutines asleep in the Sleeper at once (0: they never slept)")
}

// New refuses a wait policy that fabric.WaitPolicy.Check refuses.
func TestNewChecksPolicy(t *testing.T) {
	p := fabric.DefaultWaitPolicy(false)
	p.MinTick = 0
	_, err := mapped.New(mapped.Config{PE: 0, Transport: "test", Segments: segments(t, 1, 64), Wait: p})
	assert.Error(t, err)
}

// A Mapped hands its policy to the layers above; the zero policy is the
// default, and a fabric without one gets the default too.
func TestPolicyOf(t *testing.T) {
	m, err := mapped.New(mapped.Config{PE: 0, Transport: "test", Segments: segments(t, 1, 64)})
	require.NoError(t, err)
	assert.Equal(t, fabric.DefaultWaitPolicy(false), fabric.PolicyOf(m))

	p := fabric.DefaultWaitPolicy(true)
	p.Stall = time.Second
	m, err = mapped.New(mapped.Config{PE: 0, Transport: "test", Segments: segments(t, 1, 64), Wait: p})
	require.NoError(t, err)
	assert.Equal(t, p, fabric.PolicyOf(m))
	assert.Equal(t, fabric.DefaultWaitPolicy(false), fabric.PolicyOf(noPolicy{m}), "a fabric without WaitPolicy")
}

// noPolicy is a Fabric that hides Mapped's WaitPolicy.
type noPolicy struct{ fabric.Fabric }

// TestMappedWaitAdaptsSpin: Wait's spin time follows what the waits see
// (fabric.WaitPolicy.AdaptSpin). A store that the first yield after the
// spin finds (the test's Yield makes it) grows it to cover that wait
// twice; a wait that the spin catches leaves it; a peer that stores
// milliseconds after the wait began shrinks it back to SpinTime.
func TestMappedWaitAdaptsSpin(t *testing.T) {
	segs := segments(t, 2, 4096)
	pol := fabric.DefaultWaitPolicy(false)
	var round, onYield atomic.Uint64 // onYield: the round the next yield stores
	flag := word64(segs[0][mapped.HeaderSize:], 0)
	yield := func() {
		if r := onYield.Swap(0); r != 0 {
			atomic.StoreUint64(flag, r)
		}
	}
	ms, sl := make([]*mapped.Mapped, 2), newChanSleeper(segs)
	for i := range ms {
		m, err := mapped.New(mapped.Config{PE: i, Transport: "test", Segments: segs, Sleeper: sl, Wait: pol, Yield: yield})
		require.NoError(t, err)
		ms[i] = m
	}
	assert.Equal(t, pol.SpinTime, ms[0].SpinTime(), "starts at the policy's")
	wait := func(r uint64) time.Duration {
		require.NoError(t, ms[0].Wait(context.Background(), func() bool { return atomic.LoadUint64(flag) >= r }, 0, 8))
		return ms[0].SpinTime()
	}

	var grown time.Duration
	for i := 0; i < 10 && grown < 2*pol.SpinTime; i++ {
		// A waiter preempted for more than 8*SpinTime before it looks
		// again (a loaded machine) sees a long wait instead: retried.
		r := round.Add(1)
		onYield.Store(r)
		grown = wait(r)
	}
	assert.GreaterOrEqual(t, grown, 2*pol.SpinTime, "a store the first yield finds: covered twice")

	r := round.Add(1)
	atomic.StoreUint64(flag, r)
	assert.Equal(t, grown, wait(r), "a wait the spin catches leaves it")

	for i := 0; i < 20 && ms[0].SpinTime() > pol.SpinTime; i++ {
		r := round.Add(1)
		go func() {
			time.Sleep(2 * time.Millisecond) // more than 8*SpinTime
			atomic.StoreUint64(word64(ms[1].Region(0), 0), r)
			ms[1].Notify(0, 0, 8)
		}()
		wait(r)
	}
	assert.Equal(t, pol.SpinTime, ms[0].SpinTime(), "far-off peers shrink it back to SpinTime")
}
