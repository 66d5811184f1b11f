package pmi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeManager is an in-process PMI-2 process manager for size tasks: the
// twin of Slurm's mpi/pmi2 plugin that the unit tests run the Client
// against (the Slurm tests run it against the real one).
type fakeManager struct {
	size    int
	mapping string
	mu      sync.Mutex
	kvs     map[string]string
	pending map[string]string // puts not yet fenced
	arrived int
	fenced  chan struct{} // closed when the current fence completes
	aborted chan string
	arrival chan int // the rank of each task that reaches a fence
	wg      sync.WaitGroup
}

func newFakeManager(size int) *fakeManager {
	return &fakeManager{size: size, kvs: map[string]string{}, pending: map[string]string{},
		fenced: make(chan struct{}), aborted: make(chan string, size), arrival: make(chan int, 64), mapping: fmt.Sprintf("(vector,(0,1,%d))", size)}
}

// task returns the descriptor task rank connects with; the manager serves
// it until the client hangs up.
func (m *fakeManager) task(t *testing.T, rank int) int {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	f := os.NewFile(uintptr(fds[1]), "manager side")
	conn, err := net.FileConn(f)
	f.Close()
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(); m.wg.Wait() })
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.serve(conn, rank)
	}()
	return fds[0]
}

func (m *fakeManager) serve(conn net.Conn, rank int) {
	hungUp := make(chan struct{})
	defer func() {
		close(hungUp)
		conn.Close()
	}()
	var writing sync.Mutex
	line, err := readLine(conn)
	if err != nil || line != "cmd=init pmi_version=2 pmi_subversion=0" {
		return
	}
	io.WriteString(conn, "cmd=response_to_init pmi_version=2 pmi_subversion=0 rc=0\n")
	reply := func(name string, fs ...field) {
		if len(fs) == 0 || fs[0].key != "rc" {
			fs = append([]field{{"rc", "0"}}, fs...)
		}
		b, _ := encode(command{name, fs})
		writing.Lock()
		conn.Write(b)
		writing.Unlock()
	}
	for {
		var n [lenSize]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return
		}
		size, _ := parseLen(n[:])
		body := make([]byte, size)
		if _, err := io.ReadFull(conn, body); err != nil {
			return
		}
		c, err := decode(body)
		if err != nil {
			return
		}
		switch c.name {
		case "fullinit":
			r, _ := c.get("pmirank")
			if r != strconv.Itoa(rank) {
				reply("fullinit-response", field{"rc", "1"})
				continue
			}
			reply("fullinit-response", field{"pmi-version", "2"}, field{"rank", r}, field{"size", strconv.Itoa(m.size)}, field{"appnum", "0"})
		case "job-getid":
			reply("job-getid-response", field{"jobid", "7.0"})
		case "kvs-put":
			k, _ := c.get("key")
			v, _ := c.get("value")
			m.mu.Lock()
			m.pending[k] = v
			m.mu.Unlock()
			reply("kvs-put-response")
		case "kvs-fence":
			m.mu.Lock()
			done := m.fenced
			m.arrival <- rank
			if m.arrived++; m.arrived == m.size {
				for k, v := range m.pending {
					m.kvs[k] = v
				}
				clear(m.pending)
				m.arrived = 0
				m.fenced = make(chan struct{})
				close(done)
			}
			m.mu.Unlock()
			// Keep reading meanwhile, as Slurm's plugin does: an abort
			// can come while a fence waits.
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				select {
				case <-done:
					reply("kvs-fence-response")
				case <-hungUp:
				}
			}()
		case "kvs-get":
			k, _ := c.get("key")
			m.mu.Lock()
			v, ok := m.kvs[k]
			m.mu.Unlock()
			if ok {
				reply("kvs-get-response", field{"found", "TRUE"}, field{"value", v})
			} else {
				reply("kvs-get-response", field{"found", "FALSE"})
			}
		case "info-getjobattr":
			if k, _ := c.get("key"); k == "PMI_process_mapping" {
				reply("info-getjobattr-response", field{"found", "TRUE"}, field{"value", m.mapping})
			} else {
				reply("info-getjobattr-response", field{"found", "FALSE"})
			}
		case "finalize":
			reply("finalize-response")
		case "abort":
			msg, _ := c.get("msg")
			m.aborted <- msg
			return
		default:
			reply(c.name+"-response", field{"rc", "-1"}, field{"errmsg", "unknown command"})
		}
	}
}

// Tasks put, fence and read each other's keys, values with '=' intact
// (and refuse values with ';', which Slurm would cut short); the job attribute places them.
func TestExchange(t *testing.T) {
	const n = 3
	m := newFakeManager(n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for r := range n {
		fd := m.task(t, r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = func() error {
				c, err := Open(ctx, Options{FD: fd, JobID: "7.0", Rank: r})
				if err != nil {
					return err
				}
				if c.Rank() != r || c.Size() != n {
					return fmt.Errorf("rank %d of %d, want %d of %d", c.Rank(), c.Size(), r, n)
				}
				if err := c.Put(ctx, "k-"+strconv.Itoa(r), fmt.Sprintf("v=%d,x", r)); err != nil {
					return err
				}
				if err := c.Fence(ctx); err != nil {
					return err
				}
				for p := range n {
					v, ok, err := c.Get(ctx, p, "k-"+strconv.Itoa(p))
					if err != nil || !ok || v != fmt.Sprintf("v=%d,x", p) {
						return fmt.Errorf("get k-%d: %q %v %v", p, v, ok, err)
					}
				}
				if err := c.Put(ctx, "semicolon", "a;b"); err == nil || !strings.Contains(err.Error(), "without ';'") {
					return fmt.Errorf("put a value with ';': %v", err)
				}
				if _, ok, err := c.Get(ctx, -1, "absent"); ok || err != nil {
					return fmt.Errorf("get absent: found %v, %v", ok, err)
				}
				mp, ok, err := c.JobAttr(ctx, "PMI_process_mapping")
				if err != nil || !ok || mp != m.mapping {
					return fmt.Errorf("mapping %q %v %v", mp, ok, err)
				}
				if id, err := c.JobID(ctx); err != nil || id != "7.0" {
					return fmt.Errorf("job id %q %v", id, err)
				}
				if _, _, err := c.NodeAttr(ctx, "x", false); err == nil || !strings.Contains(err.Error(), "unknown command") {
					return fmt.Errorf("a command the manager fails: %v", err)
				}
				if err := c.Finalize(ctx); err != nil {
					return err
				}
				if err := c.Put(ctx, "late", "v"); !errors.Is(err, ErrClosed) {
					return fmt.Errorf("put after finalize: %v", err)
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	for r, err := range errs {
		assert.NoError(t, err, "rank %d", r)
	}
}

// A fence that a task never reaches ends with the context, the error says
// so, and the Client is broken afterwards; Abort still reaches the
// manager.
func TestFenceTimeout(t *testing.T) {
	m := newFakeManager(2)
	ctx := context.Background()
	c, err := Open(ctx, Options{FD: m.task(t, 0), Rank: 0})
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Fence(short)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "kvs-fence")
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.ErrorIs(t, c.Put(ctx, "k", "v"), ErrBroken)
	require.NoError(t, c.Abort("gave up"))
	assert.Equal(t, "gave up", <-m.aborted)
	assert.ErrorIs(t, c.Abort("again"), ErrClosed)
}

// A cancelled context ends a blocked call at once, with its cause.
func TestCancel(t *testing.T) {
	m := newFakeManager(2)
	c, err := Open(context.Background(), Options{FD: m.task(t, 0), Rank: 0})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	why := errors.New("a peer failed")
	go func() {
		<-m.arrival // the fence is waiting on the manager
		cancel(why)
	}()
	assert.ErrorIs(t, c.Fence(ctx), why)
}

// Open's errors say what was wrong: a descriptor that is not open, a
// manager that hangs up, one that does not speak PMI-2.
func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Open(ctx, Options{FD: 1 << 20})
	assert.ErrorContains(t, err, "PMI_FD=1048576 is not a socket open in this process")

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	go func() {
		f := os.NewFile(uintptr(fds[1]), "manager")
		defer f.Close()
		readLine(f)
		io.WriteString(f, "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0\n")
	}()
	_, err = Open(ctx, Options{FD: fds[0]})
	assert.ErrorContains(t, err, "not PMI version 2")

	fds, err = syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	syscall.Close(fds[1])
	_, err = Open(ctx, Options{FD: fds[0]})
	assert.ErrorContains(t, err, "closed the connection")

	m := newFakeManager(2)
	_, err = Open(ctx, Options{FD: m.task(t, 1), Rank: 0}) // the manager knows it as rank 1
	assert.ErrorContains(t, err, "fullinit: the process manager failed it (rc=1")
}
