// Package shm connects the PEs of one node, one process each, through
// shared memory: every PE has one segment, every peer maps it, and puts,
// gets and atomics are direct loads and stores on the shared mapping. Waits
// sleep on a cross-process futex.
//
// A segment is one of two things:
//
//   - For PEs started by a launcher (gpurun; Options.SegmentFD): an unnamed
//     memory file the launcher made for each PE (NewSegmentFiles) and gave
//     every PE as an inherited descriptor. Nothing has a name: no other user
//     can reach, squat or replace a segment, and nothing is left behind
//     however the launcher and the PEs end.
//   - For PEs that start on their own (Options.Dir, GSHMEM_SHM_DIR): the
//     file <dir>/gshmem-<job>-<i>, which PE i creates (O_EXCL|O_NOFOLLOW,
//     mode 0600) and its peers open (O_NOFOLLOW; it must be a regular file
//     of this user). Once every PE has mapped every segment (a counter in
//     PE 0's header), each PE unlinks its own file: from then on the memory
//     lives only as long as some PE maps it. A PE killed before that leaves
//     its file behind. In a directory other users can write (/dev/shm) a
//     user who learns the job id can create a PE's name first: the job then
//     fails to start, with an error that says so (it never uses a file or a
//     link not its own). Give such jobs a directory of their own.
//
// Either way PE i sizes its segment, reserves its pages with fallocate (a
// full tmpfs or memory is an error at start-up, not a SIGBUS later), maps it
// (the region on a fabric.RegionAlign boundary, as every peer maps it),
// pre-faults it and marks its header ready; then it maps every peer's
// segment and waits until every PE has done the same.
package shm

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/internal/mapped"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/futex"
)

// Options describe this process's place in the job.
type Options struct {
	Job         string        // job id (config.ValidJob)
	PE, NPEs    int           // this PE and the job size
	Size        uintptr       // symmetric region bytes per PE
	Dir         string        // tmpfs directory of named segments; config.DefaultShmDir when empty
	Prefault    bool          // populate the mappings at start-up
	BootTimeout time.Duration // how long to wait for peers; 30 s when zero
	LocalSize   int           // PEs sharing this node's cores (spin tuning); NPEs when 0
	// SegmentFD, when positive, is the first of NPEs descriptors this
	// process inherited from its launcher (see NewSegmentFiles), PE i's
	// segment at SegmentFD+i; Dir is then unused. Open closes them all
	// before it returns, whatever the outcome.
	SegmentFD int
	// Node, when not nil, holds the node of every PE of the job (len
	// NPEs; any numbering): this PE maps the segments of the PEs on its
	// own node only, and Region returns nil for the others, which another
	// transport reaches (fabric/hybrid routes to it). Nil: every PE is on
	// this node.
	Node []int
	// Remote, when not nil, is the liveness of the PEs on other nodes:
	// waits and Err look at it after the local PEs, and Describe asks it
	// about them.
	Remote mapped.Liveness
}

// local reports whether PE pe shares this PE's node.
func (o *Options) local(pe int) bool { return o.Node == nil || o.Node[pe] == o.Node[o.PE] }

// Fabric is one PE's view of a shm job.
type Fabric struct {
	*mapped.Mapped
	segs   [][]byte
	pidfds []int
	pids   []int
	node   []int           // Options.Node
	me     int             // Options.PE
	remote mapped.Liveness // Options.Remote

	closeOnce sync.Once
	closeErr  error
}

// Open creates this PE's segment, maps every peer's and returns when all PEs
// of the job have done the same (or ctx, the boot timeout or a dead peer
// ends the wait, with an error naming the missing PEs).
func Open(ctx context.Context, o Options) (f *Fabric, err error) {
	if o.NPEs < 1 || o.PE < 0 || o.PE >= o.NPEs {
		return nil, fmt.Errorf("shm: PE %d of %d: out of range", o.PE, o.NPEs)
	}
	if !config.ValidJob(o.Job) {
		return nil, fmt.Errorf("shm: job id %q: want 8 to 64 letters, digits or '_'", o.Job)
	}
	if o.Size == 0 || o.Size%8 != 0 || o.Size > 1<<62 {
		return nil, fmt.Errorf("shm: symmetric size %d: want a positive multiple of 8", o.Size)
	}
	if o.SegmentFD < 0 || o.SegmentFD > 0 && o.SegmentFD < 3 {
		return nil, fmt.Errorf("shm: segment descriptors from %d: want 0 (none) or at least 3", o.SegmentFD)
	}
	if o.Dir == "" {
		o.Dir = config.DefaultShmDir
	}
	if o.BootTimeout <= 0 {
		o.BootTimeout = config.DefaultBootTimeout
	}
	if o.Node != nil && len(o.Node) != o.NPEs {
		return nil, fmt.Errorf("shm: node list of %d PEs for a job of %d", len(o.Node), o.NPEs)
	}
	first, nlocal := -1, 0 // the lowest PE on this node, and their number
	for pe := range o.NPEs {
		if o.local(pe) {
			if first < 0 {
				first = pe
			}
			nlocal++
		}
	}
	if o.LocalSize <= 0 {
		o.LocalSize = nlocal
	}
	ctx, cancel := context.WithTimeout(ctx, o.BootTimeout)
	defer cancel()

	fab := &Fabric{segs: make([][]byte, o.NPEs), pidfds: make([]int, o.NPEs), pids: make([]int, o.NPEs), remote: o.Remote, node: o.Node, me: o.PE}
	for i := range fab.pidfds {
		fab.pidfds[i] = -1
	}
	f = fab
	st := &segments{o: o, total: mapped.HeaderSize + int(o.Size)}
	defer func() {
		st.finish()
		if err != nil { // the returns below set f to nil: clean up through fab
			fab.release()
		}
	}()

	seg, err := st.create()
	if err != nil {
		return nil, fmt.Errorf("shm: PE %d: %w", o.PE, err)
	}
	f.segs[o.PE] = seg
	mapped.InitHeader(seg, o.PE, o.NPEs, os.Getpid())
	f.pids[o.PE] = os.Getpid()

	// With more local PEs than CPUs a spinning PE only delays the one it
	// waits for: the crowded policy, but with 64 yields rather than 8, as
	// a yield (sched_yield) hands the CPU to the peer process at a
	// fraction of a futex sleep's cost.
	crowded := o.LocalSize > runtime.NumCPU()
	pol := fabric.DefaultWaitPolicy(crowded)
	if crowded {
		pol.Yields = 64
	}

	for pe := 0; pe < o.NPEs; pe++ {
		if pe == o.PE || !o.local(pe) {
			continue
		}
		s, pid, err := attach(ctx, st, pe, pol)
		if err != nil {
			return nil, err
		}
		f.segs[pe] = s
		f.pids[pe] = pid
		fd, err := pidfdOpen(pid)
		if err != nil {
			return nil, fmt.Errorf("shm: PE %d (pid %d) is gone before start-up finished: %w", pe, pid, err)
		}
		f.pidfds[pe] = fd
	}

	m, err := mapped.New(mapped.Config{
		PE: o.PE, Transport: config.TransportShm, Segments: f.segs,
		Liveness: f, Yield: futex.Yield, Wait: pol,
		AlonePE: true,
	})
	if err != nil {
		return nil, fmt.Errorf("shm: %w", err)
	}
	f.Mapped = m

	// Start-up barrier on the Boot word of the node's first PE; then
	// every peer of the node maps us. Each arrival wakes the sleepers; the
	// policy's ticks bound how late a dead peer or the boot timeout is
	// noticed.
	boot := &m.Header(first).Boot
	atomic.AddUint32(boot, 1)
	futex.Wake(boot, 1<<30)
	for tick := pol.MinTick; ; tick = min(2*tick, pol.MaxTick) {
		v := atomic.LoadUint32(boot)
		if int(v) >= nlocal {
			break
		}
		if e := f.Check(); e != nil {
			return nil, fmt.Errorf("shm: start-up: %w", e)
		}
		if ctx.Err() != nil {
			of := ""
			if o.Node != nil {
				of = " of this node"
			}
			return nil, fmt.Errorf("shm: PE %d: start-up: only %d of %d PEs%s mapped the job's segments within %v: %w", o.PE, v, nlocal, of, o.BootTimeout, ctx.Err())
		}
		futex.Wait(boot, v, tick)
	}
	if err := st.published(); err != nil {
		return nil, fmt.Errorf("shm: %w", err)
	}
	return f, nil
}

// mmap maps n bytes of fd, the region on a fabric.RegionAlign boundary.
func mmap(fd, n int, prefault bool, where string) ([]byte, error) {
	b, err := mapped.MapSegment(fd, n, prefault)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", where, err)
	}
	return b, nil
}

// attach waits for peer pe's segment to exist and be ready, checks that it
// matches this job, and maps it. Each look is system calls (open, fstat,
// mmap): it looks at the pace of pol's PollBackoff.
func attach(ctx context.Context, st *segments, pe int, pol fabric.WaitPolicy) ([]byte, int, error) {
	b := pol.PollBackoff()
	for {
		seg, pid, ready, err := tryAttach(st, pe)
		if err != nil || ready {
			return seg, pid, err
		}
		if err := b.Pause(ctx); err != nil {
			return nil, 0, fmt.Errorf("shm: PE %d: PE %d did not create its segment %s within %v: %w", st.o.PE, pe, st.where(pe), st.o.BootTimeout, err)
		}
	}
}

func tryAttach(st *segments, pe int) (seg []byte, pid int, ready bool, err error) {
	o, where := st.o, st.where(pe)
	fd, err := st.open(pe)
	if err != nil || fd < 0 {
		if err != nil {
			err = fmt.Errorf("shm: %w", err)
		}
		return nil, 0, false, err
	}
	defer st.done(fd)
	var s syscall.Stat_t
	if err := syscall.Fstat(fd, &s); err != nil {
		return nil, 0, false, fmt.Errorf("shm: stat %s: %w", where, err)
	}
	if s.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, 0, false, fmt.Errorf("shm: %s is not a regular file (mode %#o)", where, s.Mode)
	}
	if s.Uid != uint32(os.Getuid()) {
		return nil, 0, false, fmt.Errorf("shm: %s belongs to uid %d, not to us (uid %d)", where, s.Uid, os.Getuid())
	}
	if s.Size < mapped.HeaderSize {
		return nil, 0, false, nil // still being sized
	}
	hdr, err := syscall.Mmap(fd, 0, mapped.HeaderSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, 0, false, fmt.Errorf("shm: map header of %s: %w", where, err)
	}
	h := mapped.HeaderOf(hdr)
	state := atomic.LoadUint32(&h.State)
	magic, npes, size, hpid := h.Magic, int(h.NPEs), uintptr(h.Size), int(h.Pid)
	syscall.Munmap(hdr)
	if state == mapped.StateCreating {
		return nil, 0, false, nil
	}
	if magic != mapped.Magic {
		return nil, 0, false, fmt.Errorf("shm: %s is not a gshmem segment (magic %#x)", where, magic)
	}
	if npes != o.NPEs {
		return nil, 0, false, fmt.Errorf("shm: PE %d was started with %d PEs, PE %d with %d", pe, npes, o.PE, o.NPEs)
	}
	if size != o.Size {
		return nil, 0, false, fmt.Errorf("shm: symmetric size differs: PE %d has %d bytes, PE %d has %d (set %s alike on every PE)", pe, size, o.PE, o.Size, config.EnvSymSize)
	}
	if s.Size != int64(st.total) {
		return nil, 0, false, fmt.Errorf("shm: %s is %d bytes, want %d", where, s.Size, st.total)
	}
	if err := st.sealed(fd, pe); err != nil {
		return nil, 0, false, fmt.Errorf("shm: %w", err)
	}
	seg, err = mmap(fd, st.total, o.Prefault, where)
	if err != nil {
		return nil, 0, false, fmt.Errorf("shm: %w", err)
	}
	return seg, hpid, true, nil
}

// Check implements mapped.Liveness: one poll(2) over the peers' pidfds,
// plus a look at their headers for a PE that announced its failure. A peer
// that exited after a clean finalize is not dead, unless every peer has
// gone: then nobody is left to satisfy a wait.
func (f *Fabric) Check() *fabric.PeerError {
	if e := f.CheckLocal(); e != nil {
		return e
	}
	if f.remote == nil {
		return nil
	}
	return f.remote.Check()
}

// CheckLocal is Check for the PEs of this node only (Options.Remote is
// not asked).
func (f *Fabric) CheckLocal() *fabric.PeerError {
	if f.Mapped != nil {
		if pe := f.FailedPeer(); pe >= 0 {
			return f.Describe(pe)
		}
	}
	type pollfd struct {
		fd      int32
		events  int16
		revents int16
	}
	var buf [64]pollfd
	fds := buf[:0]
	for _, fd := range f.pidfds {
		if fd >= 0 {
			fds = append(fds, pollfd{fd: int32(fd), events: 1}) // POLLIN: the process exited
		}
	}
	if len(fds) == 0 {
		return nil
	}
	// ppoll with a zero timeout: poll(2) itself does not exist on arm64.
	var zero syscall.Timespec
	n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	if errno != 0 || n == 0 {
		return nil
	}
	var finalized *fabric.PeerError
	gone := 0
	for _, p := range fds {
		if p.revents == 0 {
			continue
		}
		gone++
		pe := f.peOf(int(p.fd))
		if e := f.Describe(pe); e != nil && f.Mapped != nil && atomic.LoadUint32(&f.Header(pe).State) == mapped.StateFinalized {
			finalized = e
			continue
		} else if e != nil {
			return e
		}
	}
	if finalized != nil && gone == len(fds) && f.remote == nil {
		finalized.How += "; no peer is left"
		return finalized
	}
	return nil
}

func (f *Fabric) peOf(fd int) int {
	for pe, x := range f.pidfds {
		if x == fd {
			return pe
		}
	}
	return -1
}

// Describe implements mapped.Liveness.
func (f *Fabric) Describe(pe int) *fabric.PeerError {
	if pe < 0 || pe >= len(f.pids) {
		return nil
	}
	if f.segs[pe] == nil && f.remote != nil && f.node != nil && f.node[pe] != f.node[f.me] {
		return f.remote.Describe(pe)
	}
	how := "died"
	if f.Mapped != nil {
		switch atomic.LoadUint32(&f.Header(pe).State) {
		case mapped.StateFinalized:
			how = "exited after finalize"
		case mapped.StateFailed:
			how = "failed"
		case mapped.StateExited:
			how = fmt.Sprintf("called GlobalExit(%d)", int32(atomic.LoadUint32(&f.Header(pe).Exit)))
		}
	}
	return &fabric.PeerError{PE: pe, Pid: f.pids[pe], How: how}
}

// SegmentSize is the bytes of one PE's segment for a symmetric region of
// region bytes: the control header that precedes the region, then the
// region (what a PE of a job costs in shared memory).
func SegmentSize(region uintptr) uintptr { return mapped.HeaderSize + region }

// Close records how this PE leaves, then unmaps every segment.
func (f *Fabric) Close(how fabric.Leave) error {
	f.closeOnce.Do(func() {
		if f.Mapped != nil {
			f.Mapped.Close(how)
		}
		f.closeErr = f.release()
	})
	return f.closeErr
}

func (f *Fabric) release() error {
	var first error
	for i, s := range f.segs {
		if s != nil {
			if err := mapped.UnmapSegment(s); err != nil && first == nil {
				first = fmt.Errorf("shm: unmap PE %d: %w", i, err)
			}
			f.segs[i] = nil
		}
	}
	for i, fd := range f.pidfds {
		if fd >= 0 {
			syscall.Close(fd)
			f.pidfds[i] = -1
		}
	}
	return first
}

const sysPidfdOpen = 434 // same number on every Linux architecture

func pidfdOpen(pid int) (int, error) {
	if pid <= 0 {
		return -1, fmt.Errorf("invalid pid %d", pid)
	}
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	syscall.CloseOnExec(int(fd))
	return int(fd), nil
}
