//go:build ofi && cgo

package ofi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/ofi"
)

// The tests run the real tcp;ofi_rxm provider on the loopback interface:
// two endpoints in this process, and this process against a child (the test
// binary run again with childEnv set) that serves its region and echoes
// what it is sent.

const (
	provider  = "tcp;ofi_rxm"
	childEnv  = "GSHMEM_OFI_TEST_CHILD"
	regionLen = 4 << 20
)

func TestMain(m *testing.M) {
	// libfabric reads its variables at its first fi_getinfo: set them
	// before any Open, here and (inherited) in the child.
	if os.Getenv("FI_TCP_IFACE") == "" {
		os.Setenv("FI_TCP_IFACE", "lo")
	}
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	code := m.Run()
	stopBenchPeer()
	os.Exit(code)
}

// region maps n bytes outside the Go heap, as the runtime's symmetric
// regions are.
func region(t testing.TB, n int) []byte {
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	return mem
}

// echo is the remote side's Handler: it sends every message back to its
// sender, and reports a PutData as the message "D" + data (8 bytes). The
// message "ADD" + off (8 bytes) starts a goroutine that adds 1 to the
// uint64 at off in its own region with sync/atomic until the message
// "STOP", and then sends "DONE" + the number of adds (8 bytes).
type echo struct {
	e    *ofi.Endpoint
	mem  []byte
	stop *atomic.Bool
}

func newEcho(e *ofi.Endpoint, mem []byte) echo { return echo{e, mem, new(atomic.Bool)} }

func (h echo) OnMessage(from int, msg []byte) {
	switch {
	case len(msg) == 11 && string(msg[:3]) == "ADD":
		w := (*uint64)(unsafe.Pointer(&h.mem[binary.LittleEndian.Uint64(msg[3:])]))
		h.stop.Store(false)
		go func() {
			n := uint64(0)
			for ; !h.stop.Load(); n++ {
				atomic.AddUint64(w, 1)
			}
			if err := h.e.Send(from, binary.LittleEndian.AppendUint64([]byte("DONE"), n)); err != nil {
				fmt.Fprintln(os.Stderr, "echo add:", err)
			}
		}()
		return
	case string(msg) == "STOP":
		h.stop.Store(true)
		return
	}
	if err := h.e.Send(from, msg); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
	}
}

func (h echo) OnData(from int, data uint64) {
	msg := binary.LittleEndian.AppendUint64([]byte("D"), data)
	if err := h.e.Send(from, msg); err != nil {
		fmt.Fprintln(os.Stderr, "echo data:", err)
	}
}

// inbox is the local side's Handler: it queues what arrives.
type inbox struct{ ch chan msg }

type msg struct {
	from int
	data []byte
}

func newInbox() *inbox { return &inbox{ch: make(chan msg, 4096)} }

func (b *inbox) OnMessage(from int, m []byte) { b.ch <- msg{from, bytes.Clone(m)} }
func (b *inbox) OnData(from int, data uint64) {
	b.ch <- msg{from, binary.LittleEndian.AppendUint64([]byte("L"), data)}
}

// next waits (with a deadline) for the next message.
func (b *inbox) next(t testing.TB) msg {
	t.Helper()
	select {
	case m := <-b.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
		return msg{}
	}
}

func open(t testing.TB) *ofi.Endpoint { return openTimeout(t, 5*time.Second) }

func openTimeout(t testing.TB, timeout time.Duration) *ofi.Endpoint {
	t.Helper()
	e, err := ofi.Open(context.Background(), ofi.Options{Provider: provider, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// inProcess returns endpoint a (peer 0) connected to b (peer 1) in this
// process; b echoes.
func inProcess(t testing.TB) (a *ofi.Endpoint, in *inbox) {
	// Regions first: their Cleanups run after the endpoints' Close.
	mema, memb := region(t, regionLen), region(t, regionLen)
	a, b := open(t), open(t)
	t.Cleanup(func() { a.Close(); b.Close() })
	wa, err := a.Register(mema)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := b.Register(memb)
	if err != nil {
		t.Fatal(err)
	}
	in = newInbox()
	a.SetHandler(in)
	b.SetHandler(newEcho(b, memb))
	peers := []ofi.Peer{{Addr: a.Addr(), Win: wa}, {Addr: b.Addr(), Win: wb}}
	ctx := context.Background()
	if err := a.Connect(ctx, peers); err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(ctx, peers); err != nil {
		t.Fatal(err)
	}
	return a, in
}

// child is a peer process: the test binary run with childEnv set.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startChild starts a child and connects a fresh endpoint (peer 0) to it
// (peer 1).
func startChild(t testing.TB) (a *ofi.Endpoint, in *inbox, c *child) {
	return startChildTimeout(t, 5*time.Second)
}

func startChildTimeout(t testing.TB, timeout time.Duration) (a *ofi.Endpoint, in *inbox, c *child) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c = &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	a = openTimeout(t, timeout)
	wa, err := a.Register(region(t, regionLen))
	if err != nil {
		t.Fatal(err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	pb, err := parsePeer(line)
	if err != nil {
		t.Fatal(err)
	}
	pa := ofi.Peer{Addr: a.Addr(), Win: wa}
	fmt.Fprintln(stdin, formatPeer(pa))
	if line, err = c.out.ReadString('\n'); err != nil || line != "READY\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	in = newInbox()
	a.SetHandler(in)
	if err := a.Connect(context.Background(), []ofi.Peer{pa, pb}); err != nil {
		t.Fatal(err)
	}
	return a, in, c
}

// stop ends the child cleanly (EOF on its stdin) and checks its status.
func (c *child) stop(t testing.TB) {
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
}

func formatPeer(p ofi.Peer) string {
	return fmt.Sprintf("%s %d %d %d", hex.EncodeToString(p.Addr), p.Win.Base, p.Win.Key, p.Win.Len)
}

func parsePeer(line string) (p ofi.Peer, err error) {
	var h string
	if _, err = fmt.Sscan(line, &h, &p.Win.Base, &p.Win.Key, &p.Win.Len); err != nil {
		return p, fmt.Errorf("peer line %q: %v", line, err)
	}
	p.Addr, err = hex.DecodeString(h)
	return p, err
}

// runChild is the child's main: print its peer line, read the parent's,
// connect, echo until stdin closes.
func runChild() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }
	e, err := ofi.Open(context.Background(), ofi.Options{Provider: provider})
	if err != nil {
		return fail(err)
	}
	mem, err := syscall.Mmap(-1, 0, regionLen, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return fail(err)
	}
	w, err := e.Register(mem)
	if err != nil {
		return fail(err)
	}
	self := ofi.Peer{Addr: e.Addr(), Win: w}
	fmt.Println(formatPeer(self))
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadString('\n')
	if err != nil {
		return fail(err)
	}
	parent, err := parsePeer(line)
	if err != nil {
		return fail(err)
	}
	e.SetHandler(newEcho(e, mem))
	if err := e.Connect(context.Background(), []ofi.Peer{parent, self}); err != nil {
		return fail(err)
	}
	fmt.Println("READY")
	io.Copy(io.Discard, in)
	if err := e.Close(); err != nil {
		return fail(err)
	}
	return 0
}

// pattern returns n bytes that differ from those of another seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// scenario runs every operation of a against peer 1, which echoes.
func scenario(t *testing.T, a *ofi.Endpoint, in *inbox) {
	ctx := context.Background()
	const r = 1
	t.Run("PutGet", func(t *testing.T) {
		for _, c := range []struct {
			off uintptr
			n   int
		}{{0, 8}, {100, 1}, {4096, 64}, {8192, 65}, {1 << 20, 1<<20 + 3}} {
			src := pattern(c.n, byte(c.off))
			if err := a.Put(r, c.off, src); err != nil {
				t.Fatal(err)
			}
			want := bytes.Clone(src)
			clear(src) // reusable at once
			if err := a.Quiet(ctx); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, c.n)
			if err := a.Get(r, c.off, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Get(%d, %d bytes) after Put differs", c.off, c.n)
			}
		}
	})
	t.Run("PutData", func(t *testing.T) {
		for _, n := range []int{0, 16, 100000} {
			src := pattern(n, 3)
			data := uint64(0xABCDEF0000+n) & (1<<a.DataBits() - 1)
			if err := a.PutData(r, 2<<20, src, data); err != nil {
				t.Fatal(err)
			}
			m := in.next(t)
			if m.from != r || string(m.data[:1]) != "D" || binary.LittleEndian.Uint64(m.data[1:]) != data {
				t.Fatalf("echo of PutData = %d %q, want from %d data %#x", m.from, m.data, r, data)
			}
			// The echo was sent from OnData, which ran after the bytes
			// were placed.
			got := make([]byte, n)
			if err := a.Get(r, 2<<20, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, src) {
				t.Fatalf("PutData of %d bytes: bytes differ", n)
			}
		}
		if err := a.PutData(r, 0, nil, 1<<a.DataBits()); !errors.Is(err, errdefs.ErrInvalidArg) {
			t.Fatalf("PutData with data too wide = %v, want ErrInvalidArg", err)
		}
	})
	t.Run("SendOrder", func(t *testing.T) {
		const n = 300 // more than the receive buffers posted
		for i := 0; i < n; i++ {
			m := pattern(1+i*13%a.MaxMsg(), byte(i))
			if err := a.Send(r, m); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			m := in.next(t)
			if m.from != r || !bytes.Equal(m.data, pattern(1+i*13%a.MaxMsg(), byte(i))) {
				t.Fatalf("message %d: from %d, %d bytes: not the %dth sent", i, m.from, len(m.data), i)
			}
		}
		if err := a.Quiet(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("AMO64", func(t *testing.T) {
		const off = 3 << 20
		var model uint64
		apply := func(op fabric.AMOOp, x, cmp uint64) {
			old, err := a.AMO64(r, off, op, x, cmp)
			if err != nil {
				t.Fatal(err)
			}
			if old != model {
				t.Fatalf("AMO64 %v(%#x): old %#x, want %#x", op, x, old, model)
			}
			switch op {
			case fabric.AMOSet, fabric.AMOSwap:
				model = x
			case fabric.AMOCompareSwap:
				if model == cmp {
					model = x
				}
			case fabric.AMOAdd:
				model += x
			case fabric.AMOAnd:
				model &= x
			case fabric.AMOOr:
				model |= x
			case fabric.AMOXor:
				model ^= x
			}
		}
		old, err := a.AMO64(r, off, fabric.AMOFetch, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		model = old
		apply(fabric.AMOSet, 0xFFFF_0000_1234_5678, 0)
		apply(fabric.AMOAdd, 0x1_0000_0001, 0)
		apply(fabric.AMOAnd, 0xF0F0_F0F0_F0F0_F0F0, 0)
		apply(fabric.AMOOr, 0x0101, 0)
		apply(fabric.AMOXor, 0xFFFF, 0)
		apply(fabric.AMOSwap, 7, 0)
		apply(fabric.AMOCompareSwap, 9, 8) // no match
		apply(fabric.AMOCompareSwap, 9, 7) // match
		apply(fabric.AMOFetch, 0, 0)
		if model != 9 {
			t.Fatalf("model %d", model)
		}
	})
	t.Run("AMO32", func(t *testing.T) {
		const off = 3<<20 + 64
		if _, err := a.AMO32(r, off, fabric.AMOSet, 0xFFFFFFF0, 0); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			op          fabric.AMOOp
			x, cmp, old uint32
		}{
			{fabric.AMOAdd, 0x20, 0, 0xFFFFFFF0}, // wraps to 0x10
			{fabric.AMOOr, 0x3, 0, 0x10},
			{fabric.AMOAnd, 0x12, 0, 0x13},
			{fabric.AMOXor, 0x1, 0, 0x12},
			{fabric.AMOSwap, 5, 0, 0x13},
			{fabric.AMOCompareSwap, 6, 4, 5},
			{fabric.AMOCompareSwap, 6, 5, 5},
			{fabric.AMOFetch, 0, 0, 6},
		} {
			old, err := a.AMO32(r, off, c.op, c.x, c.cmp)
			if err != nil || old != c.old {
				t.Fatalf("AMO32 %v(%#x, %#x) = %#x, %v; want %#x", c.op, c.x, c.cmp, old, err, c.old)
			}
		}
		// The neighbouring word is untouched.
		v, err := a.AMO32(r, off+4, fabric.AMOFetch, 0, 0)
		if err != nil || v != 0 {
			t.Fatalf("next word = %#x, %v; want 0", v, err)
		}
	})
	t.Run("AMOWithCPUAtomics", func(t *testing.T) {
		// The target adds with sync/atomic while this endpoint adds
		// with AMO64: tcp;ofi_rxm runs remote atomics at the target
		// with the CPU's atomic instructions, so no add is lost.
		const off, remote = 3<<20 + 128, 2000
		if _, err := a.AMO64(r, off, fabric.AMOSet, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := a.Send(r, binary.LittleEndian.AppendUint64([]byte("ADD"), off)); err != nil {
			t.Fatal(err)
		}
		for range remote {
			if _, err := a.AMO64(r, off, fabric.AMOAdd, 1, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Send(r, []byte("STOP")); err != nil {
			t.Fatal(err)
		}
		m := in.next(t)
		if len(m.data) != 12 || string(m.data[:4]) != "DONE" {
			t.Fatalf("got %q, want DONE and a count", m.data)
		}
		local := binary.LittleEndian.Uint64(m.data[4:])
		got, err := a.AMO64(r, off, fabric.AMOFetch, 0, 0)
		if err != nil || got != local+remote {
			t.Fatalf("after %d local and %d remote adds: %d, %v", local, remote, got, err)
		}
		t.Logf("%d local sync/atomic adds and %d remote AMO adds: none lost", local, remote)
	})
	t.Run("Errors", func(t *testing.T) {
		err := a.Put(5, 0, []byte{1})
		if !errors.Is(err, errdefs.ErrInvalidPE) || !strings.Contains(err.Error(), "peer 5") {
			t.Errorf("Put to peer 5 = %v", err)
		}
		err = a.Get(r, regionLen-4, make([]byte, 8))
		if !errors.Is(err, errdefs.ErrOutOfRange) || !strings.Contains(err.Error(), fmt.Sprint(regionLen+4)) {
			t.Errorf("Get beyond the region = %v", err)
		}
		_, err = a.AMO64(r, 4, fabric.AMOAdd, 1, 0)
		if !errors.Is(err, errdefs.ErrInvalidArg) {
			t.Errorf("misaligned AMO64 = %v", err)
		}
		_, err = a.AMO64(r, regionLen, fabric.AMOAdd, 1, 0)
		if !errors.Is(err, errdefs.ErrOutOfRange) {
			t.Errorf("AMO64 beyond the region = %v", err)
		}
		err = a.Send(r, make([]byte, a.MaxMsg()+1))
		if !errors.Is(err, errdefs.ErrInvalidArg) {
			t.Errorf("Send of MaxMsg+1 bytes = %v", err)
		}
	})
}

func TestInProcess(t *testing.T) {
	a, in := inProcess(t)
	if a.Provider() != provider {
		t.Errorf("Provider() = %q", a.Provider())
	}
	for _, op := range []fabric.AMOOp{fabric.AMOAdd, fabric.AMOCompareSwap} {
		t.Logf("%s: native 64-bit %v: %v", a.Provider(), op, a.NativeAMO(64, op))
	}
	scenario(t, a, in)
}

func TestTwoProcesses(t *testing.T) {
	a, in, c := startChild(t)
	scenario(t, a, in)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c.stop(t)
}

// TestUnreachablePeer: a peer without an address is an error naming it,
// and Send/PutData need this endpoint among the peers.
func TestUnreachablePeer(t *testing.T) {
	a, b := open(t), open(t)
	defer a.Close()
	defer b.Close()
	wb, err := b.Register(region(t, 4096))
	if err != nil {
		t.Fatal(err)
	}
	// a is not among its own peers: it cannot say who it is.
	if err := a.Connect(context.Background(), []ofi.Peer{{Addr: nil}, {Addr: b.Addr(), Win: wb}}); err != nil {
		t.Fatal(err)
	}
	err = a.Put(0, 0, []byte{1})
	if !errors.Is(err, ofi.ErrUnreachable) || !errors.Is(err, errdefs.ErrInvalidPE) || !strings.Contains(err.Error(), "peer 0") {
		t.Errorf("Put to a nil-Addr peer = %v", err)
	}
	if err := a.Send(1, []byte("x")); !errors.Is(err, errdefs.ErrInvalidArg) {
		t.Errorf("Send without self = %v", err)
	}
	if err := a.Connect(context.Background(), nil); !errors.Is(err, errdefs.ErrInvalidArg) {
		t.Errorf("second Connect = %v", err)
	}
	// Wrong key: the provider refuses the access; the error names the peer.
	a2 := open(t)
	defer a2.Close()
	if _, err := a2.Register(region(t, 4096)); err != nil {
		t.Fatal(err)
	}
	bad := ofi.Window{Base: wb.Base, Key: wb.Key + 12345, Len: wb.Len}
	if err := a2.Connect(context.Background(), []ofi.Peer{{Addr: a2.Addr()}, {Addr: b.Addr(), Win: bad}}); err != nil {
		t.Fatal(err)
	}
	err = a2.Get(1, 0, make([]byte, 8))
	var oe *ofi.OpError
	if !errors.As(err, &oe) || oe.Peer != 1 || oe.Op != "get" {
		t.Errorf("Get with a bad key = %v, want an *OpError naming get on peer 1", err)
	}
}

// TestGone: after Gone(peer), every operation on that peer fails at once
// with an OpError naming it that matches ErrPeerGone and ErrPeerDead,
// where a send to a process that is gone would retry until the timeout.
func TestGone(t *testing.T) {
	a, _ := inProcess(t)
	if err := a.Get(1, 0, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	a.Gone(1)
	a.Gone(-1)           // out of range: nothing
	a.Gone(ofi.MaxPeers) // likewise
	_, amoErr := a.AMO64(1, 0, fabric.AMOAdd, 1, 0)
	for op, err := range map[string]error{
		"put":  a.Put(1, 0, []byte{1}),
		"get":  a.Get(1, 0, make([]byte, 8)),
		"send": a.Send(1, []byte("x")),
		"amo":  amoErr,
	} {
		var oe *ofi.OpError
		if !errors.As(err, &oe) || oe.Peer != 1 || !strings.HasPrefix(oe.Op, op) || !errors.Is(err, ofi.ErrPeerGone) || !errors.Is(err, errdefs.ErrPeerDead) {
			t.Errorf("%s on a peer marked gone = %v, want an *OpError for %s on peer 1 matching ErrPeerGone and ErrPeerDead", op, err, op)
		}
	}
}

func TestClosed(t *testing.T) {
	a, _ := inProcess(t)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, amoErr := a.AMO64(1, 0, fabric.AMOAdd, 1, 0)
	_, regErr := a.Register(make([]byte, 8))
	for name, err := range map[string]error{
		"Put":      a.Put(1, 0, []byte{1}),
		"PutData":  a.PutData(1, 0, nil, 1),
		"Get":      a.Get(1, 0, make([]byte, 1)),
		"AMO64":    amoErr,
		"Send":     a.Send(1, []byte{1}),
		"Quiet":    a.Quiet(ctx),
		"Register": regErr,
		"Connect":  a.Connect(ctx, nil),
		"Close":    a.Close(),
	} {
		if !errors.Is(err, errdefs.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// TestCloseWakesWaiter: a Get blocked on a peer that stopped serving (a
// stopped process) returns ErrClosed when the endpoint closes.
func TestCloseWakesWaiter(t *testing.T) {
	a, _, c := startChild(t)
	defer c.cmd.Process.Kill()
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Get(1, 0, make([]byte, 8)) }()
	// The Get is blocked (the child cannot answer); wait until Close
	// has happened, then the Get must end.
	time.AfterFunc(100*time.Millisecond, func() { a.Close() })
	select {
	case err := <-done:
		if !errors.Is(err, errdefs.ErrClosed) {
			t.Fatalf("Get across Close = %v, want ErrClosed", err)
		}
	case <-time.After(4 * time.Second): // under the 5 s Timeout
		t.Fatal("Get still blocked 4 s after Close")
	}
}

// TestDeadPeer: kill -9 the child; the parent's Get, AMO and Quiet return
// errors naming the peer, within Options.Timeout each (tcp;ofi_rxm fails
// them at once with ENOTCONN here; the timeout is the backstop).
func TestDeadPeer(t *testing.T) {
	const timeout = 2 * time.Second
	a, _, c := startChildTimeout(t, timeout)
	defer a.Close()
	if err := a.Get(1, 0, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	check := func(what string, err error) {
		t.Helper()
		var oe *ofi.OpError
		if !errors.As(err, &oe) || (oe.Peer != 1 && what != "quiet") {
			t.Fatalf("%s on a dead peer = %v, want an *OpError naming peer 1", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	t0 := time.Now()
	check("get", a.Get(1, 0, make([]byte, 8)))
	_, err := a.AMO64(1, 0, fabric.AMOAdd, 1, 0)
	check("amo", err)
	if err := a.Put(1, 0, make([]byte, 1000)); err != nil {
		check("put", err)
	} else {
		check("quiet", a.Quiet(context.Background()))
	}
	if took := time.Since(t0); took > 3*timeout+2*time.Second {
		t.Fatalf("three errors took %v", took)
	}
}

// benchPeer is the child the benchmarks share (started once).
var benchPeer struct {
	sync.Mutex
	a  *ofi.Endpoint
	in *inbox
	c  *child
}

func stopBenchPeer() {
	benchPeer.Lock()
	defer benchPeer.Unlock()
	if benchPeer.c != nil {
		benchPeer.a.Close()
		benchPeer.c.stdin.Close()
		benchPeer.c.cmd.Wait()
	}
}

func benchEndpoint(b *testing.B) (*ofi.Endpoint, *inbox) {
	benchPeer.Lock()
	defer benchPeer.Unlock()
	if benchPeer.c == nil {
		// The endpoint outlives this benchmark: register memory that
		// no Cleanup unmaps.
		benchPeer.a, benchPeer.in, benchPeer.c = startChild(&keep{b})
	}
	return benchPeer.a, benchPeer.in
}

// keep is a testing.TB whose Cleanups never run (the bench peer lives until
// TestMain ends the process).
type keep struct{ testing.TB }

func (keep) Cleanup(func()) {}

func BenchmarkPutQuiet8(b *testing.B) {
	a, _ := benchEndpoint(b)
	src := make([]byte, 8)
	ctx := context.Background()
	for b.Loop() {
		if err := a.Put(1, 0, src); err != nil {
			b.Fatal(err)
		}
		if err := a.Quiet(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet8(b *testing.B) {
	a, _ := benchEndpoint(b)
	dst := make([]byte, 8)
	for b.Loop() {
		if err := a.Get(1, 0, dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFetchAdd(b *testing.B) {
	a, _ := benchEndpoint(b)
	for b.Loop() {
		if _, err := a.AMO64(1, 64, fabric.AMOAdd, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSendRoundTrip(b *testing.B) {
	a, in := benchEndpoint(b)
	m := make([]byte, 8)
	for b.Loop() {
		if err := a.Send(1, m); err != nil {
			b.Fatal(err)
		}
		<-in.ch
	}
}

func BenchmarkPut1MiB(b *testing.B) {
	a, _ := benchEndpoint(b)
	src := make([]byte, 1<<20)
	ctx := context.Background()
	b.SetBytes(int64(len(src)))
	const window = 16 // puts in flight before a Quiet, as raw C's loop
	i := 0
	for b.Loop() {
		if err := a.Put(1, 0, src); err != nil {
			b.Fatal(err)
		}
		if i++; i%window == 0 {
			if err := a.Quiet(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := a.Quiet(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRawC runs bench/peer/ofi_bench.c, the same operations written
// directly against libfabric between two processes, and reports its
// figures as sub-benchmarks beside this package's: spin/ with a target
// that busy-polls its CQ (a core of its own), block/ with a target that
// sleeps on the CQ's wait fd when idle, as this package's progress
// goroutine does. It skips without gcc.
func BenchmarkRawC(b *testing.B) {
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("no gcc")
	}
	bin := b.TempDir() + "/ofi_bench"
	out, err := exec.Command("gcc", "-O2", "-o", bin, "../../bench/peer/ofi_bench.c", "-lfabric").CombinedOutput()
	if err != nil {
		b.Fatalf("gcc: %v\n%s", err, out)
	}
	names := map[string]string{"putq8": "PutQuiet8", "get8": "Get8", "fadd": "FetchAdd", "sendrt": "SendRoundTrip", "putbw": "Put1MiB"}
	for _, mode := range []struct{ name, flag string }{{"spin", "0"}, {"block", "1"}} {
		cmd := exec.Command(bin, "-p", provider, "-b", mode.flag, "-s", "1048576", "-t", "300000000", "-r", "3")
		cmd.Stderr = os.Stderr
		out, err = cmd.Output()
		if err != nil {
			b.Fatalf("ofi_bench: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			var op string
			var size, iters int
			var ns float64
			if _, err := fmt.Sscanf(line, "RESULT %s %d %d %f", &op, &size, &iters, &ns); err != nil {
				continue
			}
			b.Run(mode.name+"/"+names[op], func(b *testing.B) {
				for b.Loop() {
				}
				b.ReportMetric(ns, "ns/op")
				if op == "putbw" {
					b.ReportMetric(float64(size)/ns*1e3, "MB/s")
				}
			})
		}
	}
}

// TestDrive: a caller's Drive reads the peer's answer and hands it to the
// Handler itself, and returns when its condition holds; with nothing to
// wait for it gives up after its time; after Close it only looks at cond.
func TestDrive(t *testing.T) {
	a, in := inProcess(t)
	if err := a.Send(1, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if !a.Drive(func() bool { return len(in.ch) > 0 }, 10*time.Second) {
		t.Fatal("Drive gave up before the echo came")
	}
	if m := in.next(t); string(m.data) != "ping" || m.from != 1 {
		t.Fatalf("echo = %q from %d, want \"ping\" from 1", m.data, m.from)
	}
	start := time.Now()
	if a.Drive(func() bool { return false }, 20*time.Millisecond) {
		t.Fatal("Drive on a condition that never holds returned true")
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("Drive gave up after %v, before its 20 ms", d)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !a.Drive(func() bool { return true }, time.Hour) || a.Drive(func() bool { return false }, time.Hour) {
		t.Fatal("Drive after Close does not return cond()")
	}
}
