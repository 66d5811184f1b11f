// Package pmi is a PMI-2 client in pure Go: it speaks the PMI-2 wire
// protocol over the descriptor a process manager hands each task (PMI_FD),
// as Slurm's `srun --mpi=pmi2` does, with no libpmi2. gshmem bootstraps a
// job through it: every task learns its rank and the job's size, and the
// tasks exchange small strings through the process manager's key-value
// space (Put, Fence, Get).
//
// The package is a leaf (it imports only the standard library) and holds
// no process-wide state: a Client is one task's connection. It lives in
// internal because it serves gshmem's bootstrap and `gpurun info`, not
// programs: its API can change with them.
//
// # Life cycle
//
//  1. Open performs the PMI-1 style version handshake and PMI-2's
//     fullinit: Rank and Size are then known.
//  2. Every task Puts its keys, then every task calls Fence: a collective
//     that returns once every task's puts are visible to all.
//  3. Get reads any task's key after the fence that followed its put.
//  4. Finalize ends the task's use of PMI and closes the connection;
//     Abort asks the process manager to end the whole job instead.
//
// Every blocking call takes a context: when it ends before the process
// manager answers, the call returns an error wrapping its cause and the
// Client is broken (the protocol has no way to resynchronize): later calls
// but Abort and Close fail with ErrBroken.
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
	"time"
)

// ErrBroken is what a Client's calls return after an earlier call on it
// was cut short (its context ended, the process manager hung up, or it
// sent something this client cannot parse).
var ErrBroken = errors.New("pmi: connection to the process manager is broken by an earlier error")

// ErrClosed is what a Client's calls return after Finalize, Abort or Close.
var ErrClosed = errors.New("pmi: client is closed")

// Options say where a task's PMI-2 connection is and who it is; under
// Slurm they are the PMI_FD, PMI_JOBID and PMI_RANK variables that srun
// --mpi=pmi2 sets for each task.
type Options struct {
	// FD is the descriptor connected to the process manager (PMI_FD).
	// Open takes it over: it is closed when the Client is, or at once
	// when Open fails.
	FD int
	// JobID and Rank are what the process manager told this task
	// (PMI_JOBID, PMI_RANK); fullinit sends them back.
	JobID string
	Rank  int
}

// Client is one task's PMI-2 connection. Its methods may be called from
// several goroutines: commands go one at a time, in call order.
type Client struct {
	mu struct {
		sync.Mutex
		conn   net.Conn
		broken error // why the connection is unusable; ErrClosed once closed
	}
	rank, size, appnum int
	jobID              string
}

// Open connects to the process manager through o.FD and initializes
// PMI-2 (the version handshake and fullinit), bounded by ctx.
func Open(ctx context.Context, o Options) (*Client, error) {
	if o.FD < 0 {
		return nil, fmt.Errorf("pmi: PMI_FD=%d: want a descriptor", o.FD)
	}
	f := os.NewFile(uintptr(o.FD), "PMI_FD="+strconv.Itoa(o.FD))
	if f == nil {
		return nil, fmt.Errorf("pmi: PMI_FD=%d: not a descriptor", o.FD)
	}
	conn, err := net.FileConn(f) // a duplicate: f itself is closed below
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("pmi: PMI_FD=%d is not a socket open in this process (was it used by an earlier Init, or is this not a task of srun --mpi=pmi2?): %w", o.FD, err)
	}
	c := &Client{}
	c.mu.conn = conn
	if err := c.init(ctx, o); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// init runs the version handshake (PMI-1 syntax, one line each way, as
// the PMI-2 servers expect before the first PMI-2 command) and fullinit.
func (c *Client) init(ctx context.Context, o Options) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var line string
	err := c.withContextLocked(ctx, func(conn net.Conn) error {
		if _, err := io.WriteString(conn, "cmd=init pmi_version=2 pmi_subversion=0\n"); err != nil {
			return err
		}
		var err error
		line, err = readLine(conn)
		return err
	})
	if err != nil {
		return c.failLocked(ctx, "init", err)
	}
	fields := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	if fields["cmd"] != "response_to_init" || fields["rc"] != "0" || fields["pmi_version"] != "2" {
		return fmt.Errorf("pmi: init: the process manager answered %q, not PMI version 2 (run the job with srun --mpi=pmi2)", line)
	}
	resp, err := c.callLocked(ctx, command{"fullinit", []field{
		{"pmijobid", o.JobID}, {"pmirank", strconv.Itoa(o.Rank)}, {"threaded", "FALSE"},
	}}, "fullinit-response")
	if err != nil {
		return err
	}
	var ok [3]bool
	c.rank, ok[0] = intField(&resp, "rank")
	c.size, ok[1] = intField(&resp, "size")
	c.appnum, ok[2] = intField(&resp, "appnum")
	if !ok[0] || !ok[1] || c.size < 1 || c.rank < 0 || c.rank >= c.size {
		return fmt.Errorf("pmi: fullinit: the process manager answered rank %q of size %q", field0(&resp, "rank"), field0(&resp, "size"))
	}
	if !ok[2] {
		c.appnum = -1
	}
	c.jobID = o.JobID
	return nil
}

// readLine reads one '\n'-terminated line a byte at a time, so that it
// never consumes what follows it.
func readLine(r io.Reader) (string, error) {
	var b []byte
	var one [1]byte
	for len(b) < 4096 {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return "", err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
	return "", fmt.Errorf("%w: a line longer than 4096 bytes", errMalformed)
}

// Rank is this task's rank in the job (0 to Size-1).
func (c *Client) Rank() int { return c.rank }

// Size is the number of tasks in the job.
func (c *Client) Size() int { return c.size }

// AppNum is this task's application number in an MPMD job, or -1 when the
// process manager does not say.
func (c *Client) AppNum() int { return c.appnum }

// JobID asks the process manager for the job's id (job-getid).
func (c *Client) JobID(ctx context.Context) (string, error) {
	resp, err := c.call(ctx, command{"job-getid", nil}, "job-getid-response")
	if err != nil {
		return "", err
	}
	id, ok := resp.get("jobid")
	if !ok {
		return "", fmt.Errorf("pmi: job-getid: the answer has no jobid")
	}
	return id, nil
}

// Put stores value under key in the job's key-value space (kvs-put). The
// other tasks see it after the next Fence. Keys are job-wide: tasks that
// publish the same thing use keys that name their rank. A key is at most
// MaxKey bytes, a value at most MaxValue bytes without ';' (the protocol
// escapes it as ";;", which Slurm's plugin does not undo: it truncates the
// value there).
func (c *Client) Put(ctx context.Context, key, value string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("pmi: kvs-put: %w", err)
	}
	if err := checkValue(value); err != nil {
		return fmt.Errorf("pmi: kvs-put %s: %w", key, err)
	}
	_, err := c.call(ctx, command{"kvs-put", []field{{"key", key}, {"value", value}}}, "kvs-put-response")
	return err
}

// Fence is the job-wide collective that makes every task's earlier puts
// visible to every task (kvs-fence). It returns when every task has
// called it: a task that never does keeps the others waiting until ctx
// ends.
func (c *Client) Fence(ctx context.Context) error {
	_, err := c.call(ctx, command{"kvs-fence", nil}, "kvs-fence-response")
	return err
}

// Get returns the value that task rank put under key before the last
// fence, and whether there was one (kvs-get). rank is a hint to the
// process manager (-1: any task); keys are job-wide.
func (c *Client) Get(ctx context.Context, rank int, key string) (string, bool, error) {
	if err := checkKey(key); err != nil {
		return "", false, fmt.Errorf("pmi: kvs-get: %w", err)
	}
	fs := []field{{"jobid", c.jobID}, {"srcid", strconv.Itoa(rank)}, {"key", key}}
	if c.jobID == "" {
		fs = fs[1:]
	}
	resp, err := c.call(ctx, command{"kvs-get", fs}, "kvs-get-response")
	if err != nil {
		return "", false, err
	}
	return found(&resp)
}

// JobAttr returns the job attribute key (info-getjobattr) and whether the
// process manager has it: PMI_process_mapping (see ParseProcessMapping),
// for one.
func (c *Client) JobAttr(ctx context.Context, key string) (string, bool, error) {
	if err := checkKey(key); err != nil {
		return "", false, fmt.Errorf("pmi: info-getjobattr: %w", err)
	}
	resp, err := c.call(ctx, command{"info-getjobattr", []field{{"key", key}}}, "info-getjobattr-response")
	if err != nil {
		return "", false, err
	}
	return found(&resp)
}

// NodeAttr returns the node attribute key (info-getnodeattr), shared by
// the tasks of this node, and whether it is set. With wait, the process
// manager answers once some task of the node has set it.
func (c *Client) NodeAttr(ctx context.Context, key string, wait bool) (string, bool, error) {
	if err := checkKey(key); err != nil {
		return "", false, fmt.Errorf("pmi: info-getnodeattr: %w", err)
	}
	resp, err := c.call(ctx, command{"info-getnodeattr", []field{{"key", key}, {"wait", boolValue(wait)}}}, "info-getnodeattr-response")
	if err != nil {
		return "", false, err
	}
	return found(&resp)
}

// PutNodeAttr sets the node attribute key for the tasks of this node
// (info-putnodeattr).
func (c *Client) PutNodeAttr(ctx context.Context, key, value string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("pmi: info-putnodeattr: %w", err)
	}
	if err := checkValue(value); err != nil {
		return fmt.Errorf("pmi: info-putnodeattr %s: %w", key, err)
	}
	_, err := c.call(ctx, command{"info-putnodeattr", []field{{"key", key}, {"value", value}}}, "info-putnodeattr-response")
	return err
}

// Finalize tells the process manager this task is done with PMI
// (finalize) and closes the connection, whatever the answer.
func (c *Client) Finalize(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.broken != nil {
		c.closeLocked()
		return c.mu.broken
	}
	_, err := c.callLocked(ctx, command{"finalize", nil}, "finalize-response")
	c.closeLocked()
	return err
}

// Abort asks the process manager to end the whole job (abort with
// isworld): under Slurm the step's tasks are killed and srun reports msg.
// It does not wait for an answer (there is none) and closes the
// connection; it works on a broken Client, as long as the connection is
// open, and returns an error only when the request could not be sent.
func (c *Client) Abort(msg string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.conn == nil {
		return ErrClosed
	}
	b, err := encode(command{"abort", []field{{"isworld", "TRUE"}, {"msg", msg}}})
	if err == nil {
		c.mu.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err = c.mu.conn.Write(b)
	}
	c.closeLocked()
	if err != nil {
		return fmt.Errorf("pmi: abort: %w", err)
	}
	return nil
}

// Close closes the connection without telling the process manager.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
	return nil
}

func (c *Client) closeLocked() {
	if c.mu.conn != nil {
		c.mu.conn.Close()
		c.mu.conn = nil
	}
	c.mu.broken = ErrClosed
}

// call sends cmd and returns the answer, which must be want with rc=0.
func (c *Client) call(ctx context.Context, cmd command, want string) (command, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.callLocked(ctx, cmd, want)
}

func (c *Client) callLocked(ctx context.Context, cmd command, want string) (command, error) {
	if c.mu.broken != nil {
		return command{}, fmt.Errorf("pmi: %s: %w", cmd.name, c.mu.broken)
	}
	b, err := encode(cmd)
	if err != nil {
		return command{}, err
	}
	var resp command
	err = c.withContextLocked(ctx, func(conn net.Conn) error {
		if _, err := conn.Write(b); err != nil {
			return err
		}
		var n [lenSize]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return err
		}
		size, err := parseLen(n[:])
		if err != nil {
			return err
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(conn, body); err != nil {
			return err
		}
		resp, err = decode(body)
		return err
	})
	if err != nil {
		return command{}, c.failLocked(ctx, cmd.name, err)
	}
	if resp.name != want {
		c.mu.broken = fmt.Errorf("%w (%s got %s)", ErrBroken, cmd.name, resp.name)
		return command{}, fmt.Errorf("pmi: %s: the process manager answered %s, not %s", cmd.name, resp.name, want)
	}
	if rc, ok := resp.get("rc"); ok && rc != "0" {
		msg, _ := resp.get("errmsg")
		if msg == "" {
			msg = "no message"
		}
		return command{}, fmt.Errorf("pmi: %s: the process manager failed it (rc=%s: %s)", cmd.name, rc, msg)
	}
	return resp, nil
}

// withContextLocked runs io on the connection, cutting it short when ctx
// ends (through the connection's deadline).
func (c *Client) withContextLocked(ctx context.Context, io func(net.Conn) error) error {
	conn := c.mu.conn
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()
	return io(conn)
}

// failLocked breaks the connection after err cut command name short and
// says why.
func (c *Client) failLocked(ctx context.Context, name string, err error) error {
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("pmi: %s: no answer from the process manager before the context ended: %w", name, context.Cause(ctx))
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("pmi: %s: no answer from the process manager before the deadline: %w", name, context.DeadlineExceeded)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		err = fmt.Errorf("pmi: %s: the process manager closed the connection: %w", name, err)
	default:
		err = fmt.Errorf("pmi: %s: %w", name, err)
	}
	c.mu.broken = fmt.Errorf("%w (%v)", ErrBroken, err)
	return err
}

func checkKey(key string) error {
	if key == "" || len(key) > MaxKey || strings.ContainsAny(key, ";=") {
		return fmt.Errorf("key %q: want 1 to %d bytes without ';' or '='", key, MaxKey)
	}
	return nil
}

func checkValue(v string) error {
	if len(v) > MaxValue || strings.ContainsAny(v, ";\n") {
		return fmt.Errorf("value of %d bytes: want at most %d bytes without ';' or a newline (encode it, e.g. in base64)", len(v), MaxValue)
	}
	return nil
}

func intField(c *command, key string) (int, bool) {
	v, ok := c.get(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return n, err == nil
}

func field0(c *command, key string) string { v, _ := c.get(key); return v }

// found reads a get's answer: found=TRUE and its value, or not found.
func found(c *command) (string, bool, error) {
	f, _ := c.get("found")
	if !strings.EqualFold(f, "TRUE") {
		return "", false, nil
	}
	v, _ := c.get("value")
	return v, true, nil
}

func boolValue(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}
