// Package pmix is a PMIx client for gshmem's bootstrap under
// `srun --mpi=pmix`: every task learns its rank, the job's size and which
// ranks share its node, and the tasks exchange small strings through the
// process manager's key-value space (Put, Fence, Get).
//
// It calls the PMIx client library (libpmix.so.2, OpenPMIx 3 or later),
// which it loads at run time with dlopen, resolving and checking every
// entry point it uses at load, the way device/cuda loads the CUDA driver:
// building needs neither the library nor its headers, and a binary built
// without cgo, or run where libpmix is not installed, still runs
// everywhere else (Open fails with an error matching ErrNoLibrary, an
// errdefs.ErrUnavailable). cgo is confined to raw_cgo.go and its C shim,
// shim.h.
//
// # Process-wide state
//
// PMIx itself is process-global: one client per process, initialized by
// PMIx_Init and counted (each Open adds one, each Finalize takes one
// away), whose namespace and rank are the process's. A Client is a handle
// on that one client, not a connection of its own. The only state of this
// package is the table of loaded libraries (the dlopen handle and its
// resolved entry points, filled once per library name and never unloaded:
// PMIx starts threads of its own that run its code until the process
// exits).
//
// # Life cycle
//
//  1. Open loads the library and initializes PMIx (PMIx_Init): Rank and
//     Size are then known, and so are Nodes and LocalRank.
//  2. Every task Puts its keys, then every task calls Fence: a collective
//     (PMIx_Commit, then PMIx_Fence with PMIX_COLLECT_DATA) that returns
//     once every task's puts are in every task's local store.
//  3. Get reads any task's key after the fence that followed its put.
//  4. Finalize ends the task's use of PMIx (PMIx_Finalize); Abort asks the
//     process manager to end the whole job instead (PMIx_Abort); Close
//     just stops using the Client.
//
// # Contexts and threads
//
// PMIx calls block in C. Every blocking method takes a context and runs
// its PMIx call on a goroutine of its own: when the context ends first,
// the method returns an error wrapping the context's error at once, and
// the Client is broken (later calls but Abort and Close fail with an
// error matching ErrBroken). The PMIx call itself cannot be cancelled: its
// goroutine, and the OS thread cgo runs it on, stay until PMIx returns.
// To bound that, calls that accept one pass PMIx a timeout (PMIX_TIMEOUT,
// in whole seconds, rounded up) from the context's deadline.
package pmix

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gshmem/gshmem/errdefs"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNoLibrary: the PMIx client library could not be loaded (not
	// installed, not found, too old, missing an entry point, or a binary
	// built without cgo). It is an errdefs.ErrUnavailable.
	ErrNoLibrary = errdefs.Refine(errdefs.ErrUnavailable, "pmix: no usable PMIx client library")
	// ErrBroken is what a Client's calls return after an earlier call on
	// it was cut short by its context: PMIx may still be running it.
	ErrBroken = errors.New("pmix: client is broken by an earlier call cut short")
	// ErrClosed is what a Client's calls return after Finalize, Abort or
	// Close. It is an errdefs.ErrClosed.
	ErrClosed = errdefs.Refine(errdefs.ErrClosed, "pmix: client is closed")
)

// EnvNamespace is the variable a PMIx server (srun --mpi=pmix) sets for
// each of its clients: the job's namespace.
const EnvNamespace = "PMIX_NAMESPACE"

// Libraries returns the names Open tries, in order, when Options.Library
// is empty: the soname, the development link, and Debian's private
// directory of PMIx 2 and later (where Slurm's mpi/pmix plugin finds it),
// for x86_64 and then whatever multiarch directories hold one (a library
// of another architecture fails to load, and the next is tried).
func Libraries() []string {
	names := []string{"libpmix.so.2", "libpmix.so",
		"/usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so.2", "/usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so"}
	more, _ := filepath.Glob("/usr/lib/*-linux-gnu*/pmix2/lib/libpmix.so*")
	for _, m := range more {
		if !slices.Contains(names, m) {
			names = append(names, m)
		}
	}
	return names
}

// minMajor is the oldest PMIx this package's struct layouts (shim.h) fit.
const minMajor = 3

// abortWait bounds Abort, which takes no context: the process manager
// normally ends the job (this task included) well within it.
const abortWait = 10 * time.Second

// Options say which library to load and which job this task expects to be
// part of.
type Options struct {
	// Namespace is PMIX_NAMESPACE as the process manager set it: Open
	// fails at once when it is empty (this is no PMIx task) and checks
	// that PMIx_Init returns it.
	Namespace string
	// Library is the file name or path to dlopen; empty: each of
	// Libraries() in turn.
	Library string
}

// Error is a PMIx call that failed: which call, on what, and PMIx's
// status. An Error whose Status is PMIX_ERR_TIMEOUT matches (errors.Is)
// context.DeadlineExceeded: PMIx gave up at the deadline the call passed
// it from its context.
type Error struct {
	Op     string // the call and its arguments: `PMIx_Get("k") of rank 3`
	Status int    // pmix_status_t, or one of shim.h's own codes (>= 1000)
	Text   string // PMIx_Error_string(Status)
}

func (e *Error) Error() string {
	return fmt.Sprintf("pmix: %s: %s (status %d)", e.Op, e.Text, e.Status)
}

// Unwrap returns context.DeadlineExceeded for a timeout, else nil.
func (e *Error) Unwrap() error {
	if status(e.Status) == statusTimeout {
		return context.DeadlineExceeded
	}
	return nil
}

// library is one loaded libpmix.
type library struct {
	l       lib
	path    string
	version string
}

// libraries holds every libpmix loaded in this process, by the name it was
// loaded under (package state: see the package doc). A failed load is not
// kept, so that a later Open tries again.
var libraries struct {
	sync.Mutex
	byName map[string]*library
}

// load returns the library for name (the first of Libraries() that loads
// when name is empty), loading it on first use.
func load(name string) (*library, error) {
	if !haveCgo {
		return nil, fmt.Errorf("%w: the binary was built without cgo (CGO_ENABLED=0), so libpmix cannot be loaded", ErrNoLibrary)
	}
	libraries.Lock()
	defer libraries.Unlock()
	names := []string{name}
	if name == "" {
		names = Libraries()
	}
	var fails []string
	for _, n := range names {
		if lb := libraries.byName[n]; lb != nil {
			return lb, nil
		}
		lb, err := loadLocked(n)
		if err != nil {
			fails = append(fails, err.Error())
			continue
		}
		if libraries.byName == nil {
			libraries.byName = map[string]*library{}
		}
		libraries.byName[n] = lb
		return lb, nil
	}
	return nil, fmt.Errorf("%w: %s (install the PMIx client library, Debian's libpmix2, or run srun --mpi=pmi2)", ErrNoLibrary, strings.Join(fails, "; "))
}

// loadLocked opens one library and checks its version.
func loadLocked(name string) (*library, error) {
	l, st, msg := openLib(name)
	switch st {
	case loadOK:
	case loadDlopen:
		return nil, fmt.Errorf("dlopen %s: %s", name, msg)
	case loadMissing:
		return nil, fmt.Errorf("%s lacks %s (needs all of %s)", name, msg, strings.Join(symbolNames(), ", "))
	default:
		return nil, fmt.Errorf("loading %s failed (status %d)", name, st)
	}
	v := l.version()
	if major, ok := majorVersion(v); !ok || major < minMajor {
		// The handle stays open: unloading a library whose constructors
		// ran is not safe in general, and this one is small.
		return nil, fmt.Errorf("%s is PMIx %q, want %d or later", name, v, minMajor)
	}
	return &library{l: l, path: name, version: v}, nil
}

// Probe loads the library Open would load for library ("": the default
// names) without initializing PMIx, and says which it is: "libpmix.so.2
// (OpenPMIx 4.2.2 ...)". Its error is Open's: it matches ErrNoLibrary.
func Probe(library string) (string, error) {
	lb, err := load(library)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (%s)", lb.path, lb.version), nil
}

// majorVersion reads the major version from PMIx_Get_version's text, such
// as "OpenPMIx 4.2.2rc2 (PMIx Standard: 4.2, ...)".
func majorVersion(v string) (int, bool) {
	for _, f := range strings.Fields(v) {
		head, _, _ := strings.Cut(f, ".")
		if n, err := strconv.Atoi(head); err == nil && strings.Contains(f, ".") {
			return n, true
		}
	}
	return 0, false
}

// Client is this process's PMIx client (see the package doc: PMIx is one
// per process). Its methods may be called from several goroutines.
type Client struct {
	lib        *library
	namespace  string
	rank, size int

	mu struct {
		sync.Mutex
		err error // why calls fail now: wraps ErrBroken or ErrClosed; nil while usable
	}
}

// Open loads the PMIx library and initializes PMIx (PMIx_Init), then reads
// the job's size, bounded by ctx.
func Open(ctx context.Context, o Options) (*Client, error) {
	if o.Namespace == "" {
		return nil, fmt.Errorf("pmix: %s is not set: this process is not a PMIx task (start it with srun --mpi=pmix)", EnvNamespace)
	}
	lb, err := load(o.Library)
	if err != nil {
		return nil, err
	}
	c := &Client{lib: lb}
	var ns string
	var rank uint32
	err = c.do(ctx, "PMIx_Init", func() status {
		var st status
		ns, rank, st = lb.l.init()
		return st
	})
	if err != nil {
		return nil, fmt.Errorf("%w (%s=%s, library %s, %s)", err, EnvNamespace, o.Namespace, lb.path, lb.version)
	}
	c.namespace, c.rank = ns, int(rank)
	if ns != o.Namespace {
		c.Finalize(ctx)
		return nil, fmt.Errorf("pmix: PMIx_Init joined namespace %q, but %s=%q", ns, EnvNamespace, o.Namespace)
	}
	size, err := c.getNumber(ctx, wildcard, "pmix.job.size", "PMIX_JOB_SIZE")
	if err == nil && (size < 1 || size > math.MaxInt32 || uint64(c.rank) >= size) {
		err = fmt.Errorf("pmix: PMIX_JOB_SIZE of namespace %s is %d, and this task is rank %d", ns, size, c.rank)
	}
	if err != nil {
		c.Finalize(ctx) // undoes PMIx_Init, unless ctx has ended
		return nil, err
	}
	c.size = int(size)
	return c, nil
}

// wildcard is PMIX_RANK_WILDCARD: the job rather than one of its ranks.
const wildcard = math.MaxUint32 - 1

// Rank is this task's rank in the job (0 to Size-1).
func (c *Client) Rank() int { return c.rank }

// Size is the number of tasks in the job (PMIX_JOB_SIZE).
func (c *Client) Size() int { return c.size }

// Namespace is the job's PMIx namespace.
func (c *Client) Namespace() string { return c.namespace }

// Library is the library Open loaded and its version, for messages:
// "libpmix.so.2 (OpenPMIx 4.2.2 ...)", as Probe says before Open.
func (c *Client) Library() string { return fmt.Sprintf("%s (%s)", c.lib.path, c.lib.version) }

// LocalRank is this task's rank among the job's tasks on its node
// (PMIX_LOCAL_RANK).
func (c *Client) LocalRank(ctx context.Context) (int, error) {
	n, err := c.getNumber(ctx, uint32(c.rank), "pmix.lrank", "PMIX_LOCAL_RANK")
	return int(n), err
}

// LocalPeers returns the ranks of the job's tasks on this node, sorted
// (PMIX_LOCAL_PEERS).
func (c *Client) LocalPeers(ctx context.Context) ([]int, error) {
	v, err := c.get(ctx, wildcard, "pmix.lpeers", "PMIX_LOCAL_PEERS", false)
	if err != nil {
		return nil, err
	}
	if v.typ != typeString {
		return nil, fmt.Errorf("pmix: PMIX_LOCAL_PEERS of namespace %s has PMIx type %d, want a string", c.namespace, v.typ)
	}
	var peers []int
	for _, f := range strings.Split(v.str, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r < 0 || r >= c.size {
			return nil, fmt.Errorf("pmix: PMIX_LOCAL_PEERS of namespace %s is %q: %q is no rank of a job of %d", c.namespace, v.str, f, c.size)
		}
		peers = append(peers, r)
	}
	slices.Sort(peers)
	return peers, nil
}

// Nodes returns the node of every rank, as an index into names, the nodes
// the job runs on (PMIx_Resolve_nodes and PMIx_Resolve_peers: the process
// manager's node names, which tell emulated nodes on one host apart where
// host names would not). It needs no Fence. Every rank must be on exactly
// one node.
func (c *Client) Nodes(ctx context.Context) (nodes []int, names []string, err error) {
	var list string
	err = c.do(ctx, fmt.Sprintf("PMIx_Resolve_nodes of namespace %s", c.namespace), func() status {
		var st status
		list, st = c.lib.l.resolveNodes(c.namespace)
		return st
	})
	if err != nil {
		return nil, nil, err
	}
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("pmix: PMIx_Resolve_nodes of namespace %s named no node (%q)", c.namespace, list)
	}
	nodes = make([]int, c.size)
	for r := range nodes {
		nodes[r] = -1
	}
	for i, name := range names {
		var ranks []uint32
		err := c.do(ctx, fmt.Sprintf("PMIx_Resolve_peers of node %s in namespace %s", name, c.namespace), func() status {
			var st status
			ranks, st = c.lib.l.resolvePeers(name, c.namespace)
			return st
		})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range ranks {
			switch {
			case int64(r) >= int64(c.size):
				return nil, nil, fmt.Errorf("pmix: PMIx_Resolve_peers puts rank %d on node %s, but namespace %s has %d ranks", r, name, c.namespace, c.size)
			case nodes[r] >= 0:
				return nil, nil, fmt.Errorf("pmix: PMIx_Resolve_peers puts rank %d on nodes %s and %s", r, names[nodes[r]], name)
			}
			nodes[r] = i
		}
	}
	var lost []string
	for r, n := range nodes {
		if n < 0 {
			lost = append(lost, strconv.Itoa(r))
		}
	}
	if lost != nil {
		return nil, nil, fmt.Errorf("pmix: PMIx_Resolve_peers of nodes %s puts ranks %s of namespace %s on none of them", strings.Join(names, ","), strings.Join(lost, ","), c.namespace)
	}
	return nodes, names, nil
}

// Put stores value under key in the job's key-value space (PMIx_Put,
// PMIX_GLOBAL). The other tasks see it after the next Fence. Keys are
// job-wide per rank: Get names the rank that put it.
func (c *Client) Put(ctx context.Context, key, value string) error {
	return c.do(ctx, fmt.Sprintf("PMIx_Put(%q) of rank %d", key, c.rank), func() status {
		return c.lib.l.put(key, value)
	})
}

// Fence commits this task's puts and waits until every task of the job
// has fenced (PMIx_Commit, PMIx_Fence of the whole namespace with
// PMIX_COLLECT_DATA): every put before it is then in every task's local
// store.
func (c *Client) Fence(ctx context.Context) error {
	return c.do(ctx, fmt.Sprintf("PMIx_Fence of namespace %s", c.namespace), func() status {
		return c.lib.l.fence(c.namespace, timeoutOf(ctx))
	})
}

// Get returns the value rank put under key before the last Fence, and
// whether it put one. It looks only in the local store (PMIX_OPTIONAL),
// which a Fence filled.
func (c *Client) Get(ctx context.Context, rank int, key string) (string, bool, error) {
	if rank < 0 || rank >= c.size {
		return "", false, fmt.Errorf("pmix: get %q of rank %d: out of range for %d ranks", key, rank, c.size)
	}
	v, err := c.get(ctx, uint32(rank), key, "", true)
	var pe *Error
	if errors.As(err, &pe) && status(pe.Status) == statusNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if v.typ != typeString {
		return "", false, fmt.Errorf("pmix: key %q of rank %d has PMIx type %d, want a string", key, rank, v.typ)
	}
	return v.str, true, nil
}

// Abort asks the process manager to end the whole job (PMIx_Abort with
// status 1 and msg), waiting for its answer at most a few seconds. The
// Client is closed afterwards.
func (c *Client) Abort(msg string) error {
	c.mu.Lock()
	if err := c.mu.err; errors.Is(err, ErrClosed) {
		c.mu.Unlock()
		return fmt.Errorf("pmix: PMIx_Abort of namespace %s: %w", c.namespace, err)
	}
	c.mu.err = fmt.Errorf("%w: the task aborted the job", ErrClosed)
	c.mu.Unlock()
	done := make(chan status, 1)
	go func() { done <- c.lib.l.abort(1, msg) }() // stays until PMIx answers
	select {
	case st := <-done:
		return c.statusErr(fmt.Sprintf("PMIx_Abort of namespace %s", c.namespace), st)
	case <-time.After(abortWait):
		return fmt.Errorf("pmix: PMIx_Abort of namespace %s: no answer within %v", c.namespace, abortWait)
	}
}

// Finalize ends this task's use of PMIx (PMIx_Finalize). The Client is
// closed afterwards, whether or not it succeeds.
func (c *Client) Finalize(ctx context.Context) error {
	err := c.do(ctx, fmt.Sprintf("PMIx_Finalize of rank %d in namespace %s", c.rank, c.namespace), c.lib.l.finalize)
	c.close("finalized")
	return err
}

// Close stops using the Client without a PMIx call: PMIx stays
// initialized until the process exits, when the process manager sees its
// connection close. Later calls fail with ErrClosed. Close is idempotent
// and never fails.
func (c *Client) Close() error {
	c.close("closed")
	return nil
}

func (c *Client) close(why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !errors.Is(c.mu.err, ErrClosed) {
		c.mu.err = fmt.Errorf("%w (%s)", ErrClosed, why)
	}
}

func (c *Client) breakWith(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.err == nil {
		c.mu.err = fmt.Errorf("%w: %w", ErrBroken, cause)
	}
}

// do runs call on a goroutine of its own and waits for it or for ctx (see
// the package doc): a call cut short breaks the Client, and its goroutine
// stays until PMIx returns.
func (c *Client) do(ctx context.Context, op string, call func() status) error {
	c.mu.Lock()
	err := c.mu.err
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("pmix: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pmix: %s: %w", op, err)
	}
	done := make(chan status, 1)
	go func() { done <- call() }()
	select {
	case st := <-done:
		err := c.statusErr(op, st)
		if errors.Is(err, context.DeadlineExceeded) {
			// PMIx gave up at the deadline it was passed, a moment before
			// ctx ended: as cut short as if ctx had ended first (a fence
			// may have been left half done).
			c.breakWith(err)
		}
		return err
	case <-ctx.Done():
		err := fmt.Errorf("pmix: %s: cut short, PMIx still runs it: %w", op, context.Cause(ctx))
		c.breakWith(err)
		return err
	}
}

func (c *Client) statusErr(op string, st status) error {
	if st == statusOK {
		return nil
	}
	return &Error{Op: op, Status: int(st), Text: c.lib.l.errorString(st)}
}

// value is what get read.
type value struct {
	typ int
	num uint64
	str string
}

// get reads key of rank; name is the key's PMIx name, for errors (""
// for keys of Put).
func (c *Client) get(ctx context.Context, rank uint32, key, name string, optional bool) (value, error) {
	who := fmt.Sprintf("rank %d", rank)
	if rank == wildcard {
		who = "namespace " + c.namespace
	}
	if name == "" {
		name = strconv.Quote(key)
	} else {
		name = fmt.Sprintf("%s (%q)", name, key)
	}
	var v value
	err := c.do(ctx, fmt.Sprintf("PMIx_Get %s of %s", name, who), func() status {
		var st status
		v.typ, v.num, v.str, st = c.lib.l.get(c.namespace, rank, key, optional, timeoutOf(ctx))
		return st
	})
	var pe *Error
	if errors.As(err, &pe) && status(pe.Status) == statusBadType {
		err = fmt.Errorf("%w: PMIx type %d", err, v.typ)
	}
	return v, err
}

// getNumber reads a numeric key of rank.
func (c *Client) getNumber(ctx context.Context, rank uint32, key, name string) (uint64, error) {
	v, err := c.get(ctx, rank, key, name, false)
	if err != nil {
		return 0, err
	}
	if v.typ == typeString {
		return 0, fmt.Errorf("pmix: %s of rank %d is the string %q, want a number", name, rank, v.str)
	}
	return v.num, nil
}

// timeoutOf is the PMIX_TIMEOUT for a call bounded by ctx: its deadline in
// whole seconds, rounded up (at least 1), or 0 (none) without one.
func timeoutOf(ctx context.Context) int {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	s := math.Ceil(time.Until(d).Seconds())
	return int(min(max(s, 1), math.MaxInt32))
}
