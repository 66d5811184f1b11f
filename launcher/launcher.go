// Package launcher starts one gshmem job: N processes running the same
// program, one per PE, that find each other through shared-memory segments
// the launcher creates for them as unnamed memory files. cmd/gpurun is a
// thin main over Run.
//
// The life of a job, all inside one call to Run:
//
//  1. Resolve Options.Program: build Go source with `go build` into a
//     temporary directory, or use an executable file or a command in $PATH.
//  2. Pick a job id (32 hex digits from crypto/rand), create the job's N
//     segments as unnamed memory files (shm.NewSegmentFiles), and start N
//     children, each with the environment variables of internal/config
//     describing its place in the job and every segment as an inherited
//     descriptor (GSHMEM_SEGMENT_FDS). Each child leads its own process
//     group and gets SIGKILL when the launcher dies (Linux parent-death
//     signal). The launcher closes its copies of the segments once every
//     child runs.
//  3. Forward the children's stdout and stderr line by line, and SIGINT and
//     SIGTERM received by the launcher to every child's process group.
//  4. When a PE fails (non-zero exit or a signal) or ctx is done, send
//     SIGTERM to the others, SIGKILL after Options.KillGrace, and reap them.
//  5. Remove the build directory, on every path. The segments have no name:
//     their memory goes with the last process that holds them, however the
//     job (and the launcher) ends, so nothing is left in /dev/shm.
package launcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/fabric/shm"
	"github.com/gshmem/gshmem/internal/affinity"
	"github.com/gshmem/gshmem/internal/config"
)

// Version is the version of gpurun and of the launcher's environment
// contract.
const Version = "0.1.0"

const (
	// firstSegmentFD is the descriptor of PE 0's segment in every PE:
	// exec.Cmd.ExtraFiles starts after stdin, stdout and stderr.
	firstSegmentFD = 3
	// reservedFiles are the files the launcher holds besides its PEs' (its
	// standard files, the Go runtime's, the build's).
	reservedFiles = 32
	// DefaultKillGrace is Options.KillGrace when left zero.
	DefaultKillGrace = 2 * time.Second
	// drainTimeout bounds how long Run waits, after the last PE is reaped,
	// for output still held by pipes a PE's own children kept open.
	drainTimeout = 2 * time.Second
)

// Options describes one job. Only N and Program have no default.
type Options struct {
	// N is the number of PEs, one process each; at least 1.
	N int
	// Program is what every PE runs. A directory, a .go file, or an import
	// path that is not a file (such as github.com/you/prog) is built with
	// `go build` into a temporary directory removed when Run returns; an
	// executable file is run as it is; any other name is looked up in $PATH.
	Program string
	// Args are the arguments passed to every PE, after the program name.
	Args []string
	// Prefix starts every forwarded line with "PE <i>: ".
	Prefix bool
	// Stdout and Stderr receive the PEs' stdout and stderr, and Stderr the
	// launcher's own messages; nil means os.Stdout and os.Stderr. Run writes
	// whole lines, one Write at a time under one lock (so the two may be the
	// same writer), from its own goroutines, and stops writing before it
	// returns. A line that does not end in a newline (the last one of a
	// stream, or a piece of a line longer than 64 KiB) gets one.
	Stdout, Stderr io.Writer
	// Env is the base environment of every PE; nil means os.Environ(). Run
	// replaces the GSHMEM_* variables it sets (see Run) and adds GOMAXPROCS
	// unless Env gives it a non-empty value. The go command that builds
	// Program runs with os.Environ(), not Env.
	Env []string
	// KillGrace is how long a PE has between SIGTERM and SIGKILL when the
	// job is torn down; zero means DefaultKillGrace.
	KillGrace time.Duration
	// ShmDir, when not empty, is passed to the PEs as GSHMEM_SHM_DIR (else
	// they get Env's). The PEs of a job started by Run do not use it: their
	// segments are the memory files Run creates, which have no name, so
	// nothing of the job is ever created there.
	ShmDir string
	// GPUs is the number of GPUs visible to the PEs (cmd/gpurun asks the
	// CUDA driver). When it is positive and Env does not set
	// GSHMEM_DEVICE, PE i gets GSHMEM_DEVICE=i mod GPUs.
	GPUs int
	// Bind binds PE i to the i-th CPU the launcher may run on
	// (GSHMEM_BIND=<cpu>: the PE binds every thread of its process at
	// start-up) when N is at most their number, as mpirun --bind-to core
	// binds its ranks; with more PEs than CPUs nothing is bound. gpurun
	// sets it unless given -bind=false. Bound PEs' latencies vary less
	// from run to run: two unbound spinning PEs and their Go threads move
	// between CPUs as the kernel sees fit.
	Bind bool
	// NFrom says how the user gave N, for errors about it (gpurun: "-n 8"
	// or "GSHMEM_NPES=8"); empty means "N=<N>".
	NFrom string
}

// withDefaults checks o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	if o.N < 1 {
		return o, fmt.Errorf("launcher: N=%d: want at least 1 PE", o.N)
	}
	if o.KillGrace < 0 {
		return o, fmt.Errorf("launcher: KillGrace=%v: want a duration >= 0", o.KillGrace)
	}
	if o.KillGrace == 0 {
		o.KillGrace = DefaultKillGrace
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.NFrom == "" {
		o.NFrom = "N=" + strconv.Itoa(o.N)
	}
	return o, nil
}

// Run runs the job o describes and returns when every PE has been reaped
// and the job's files removed.
//
// PE i runs with GSHMEM_NPES=N, GSHMEM_PE=i, GSHMEM_TRANSPORT=shm,
// GSHMEM_JOB=<job id>, GSHMEM_LOCAL_RANK=i, GSHMEM_LOCAL_SIZE=N,
// GSHMEM_SEGMENT_FDS=3 (descriptors 3 to N+2 are the job's segments, PE j's
// at 3+j), GSHMEM_SHM_DIR=<ShmDir> if ShmDir is set and, unless Env sets
// them, GOMAXPROCS=max(1, runtime.NumCPU()/N) and (with GPUs > 0)
// GSHMEM_DEVICE=i mod GPUs; with Bind, GSHMEM_BIND=<CPU> (see Bind).
//
// The PEs' stdin is /dev/null. Each PE leads its own process group, so a
// terminal's ^C reaches only the launcher, which forwards it; the PEs'
// groups are what Run signals, so a PE's own children are stopped with it.
// Processes a PE leaves behind that keep its stdout or stderr open are
// killed 2s after the last PE exits.
//
// While Run runs, SIGINT and SIGTERM sent to this process are forwarded to
// the PEs instead of taking their default action; a second such signal also
// tears the job down.
//
// When a PE exits non-zero or is killed by a signal, Run writes one line
// naming it to Stderr, sends SIGTERM to the other PEs' process groups,
// SIGKILL after KillGrace, and reaps them. ctx being done tears the job down
// the same way.
//
// code is the exit status of the first PE to fail (128+n for signal n), or 0
// when all exit 0; it is what gpurun exits with. A PE killed by a signal
// the launcher did not send counts as the first to fail, even when PEs
// that saw it die were reaped before it. A PE that calls
// GlobalExit(status) (hostshmem.PE.GlobalExit) ends every PE's process
// with status, so code is status then. err is non-nil when the job
// could not be started (bad Options, Program not found or not built, fork
// failure) or when ctx stopped it; then code is non-zero too. A failing PE
// is reported by code alone. A job this machine cannot hold (more PEs than
// hostshmem.MaxPEs, more memory than there is, more files than the launcher
// may open) is refused before anything is built or started, with an error
// matching gshmem.ErrJobTooLarge that names o.NFrom.
func Run(ctx context.Context, o Options) (code int, err error) {
	o, err = o.withDefaults()
	if err != nil {
		return 1, err
	}
	if err := o.check(); err != nil {
		return 1, err
	}
	prog, removeBuild, err := resolveProgram(ctx, o.Program)
	if err != nil {
		return 1, err
	}
	defer removeBuild()
	if err := ctx.Err(); err != nil {
		return 1, fmt.Errorf("launcher: job not started: %w", err)
	}
	id, err := newJobID()
	if err != nil {
		return 1, err
	}

	j := &job{o: o, id: id, exits: make(chan *proc, o.N)}
	if j.segs, err = shm.NewSegmentFiles(id, o.N); err != nil {
		return 1, fmt.Errorf("launcher: %w", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	defer j.finish() // after a failed start or a panic too: kill, reap, close

	env := j.baseEnv()
	cpus := o.cpus()
	for pe := range o.N {
		penv := env
		if cpus != nil {
			penv = append(slices.Clip(env), config.EnvBind+"="+strconv.Itoa(cpus[pe]))
		}
		if err := j.start(prog, pe, penv); err != nil {
			return 1, fmt.Errorf("launcher: start PE %d of %d (%s): %w", pe, o.N, prog, err)
		}
	}
	j.closeSegments() // every PE holds its own copies
	return j.wait(ctx, sigs)
}

// cpus returns the CPU each PE binds to, or nil when o does not bind
// (Bind unset, more PEs than CPUs, or no CPU affinity on this system).
func (o Options) cpus() []int {
	if !o.Bind {
		return nil
	}
	allowed, err := affinity.Allowed()
	if err != nil {
		return nil
	}
	cpus := make([]int, o.N)
	for pe := range o.N {
		if cpus[pe], err = affinity.Plan(allowed, pe, o.N); err != nil || cpus[pe] < 0 {
			return nil
		}
	}
	return cpus
}

// check fails when the job cannot start on this machine (see
// gshmem.CheckJob), or when the launcher cannot hold its files: a segment
// and the read ends of two output pipes per PE.
func (o Options) check() error {
	// The PEs' configuration, less what Run sets for each.
	getenv := func(k string) string {
		switch k {
		case config.EnvNPES, config.EnvPE, config.EnvTransport, config.EnvJob, config.EnvLocalRank,
			config.EnvLocalSize, config.EnvSegmentFDs, config.EnvShmDir, config.EnvBind:
			return ""
		}
		return lookupEnv(o.Env, k)
	}
	cfg, err := gshmem.LoadConfig(getenv)
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if err := gshmem.CheckJob(o.N, cfg, o.GPUs, o.NFrom); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		if need := uint64(3*o.N + reservedFiles); need > lim.Cur {
			return fmt.Errorf("launcher: %s: the launcher needs %d open files (a segment and two output pipes per PE), but its limit is %d (RLIMIT_NOFILE, ulimit -n): %w",
				o.NFrom, need, lim.Cur, gshmem.ErrJobTooLarge)
		}
	}
	return nil
}

// newJobID returns 32 random hex digits.
func newJobID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("launcher: job id: %w", err)
	}
	id := hex.EncodeToString(b[:])
	if !config.ValidJob(id) {
		panic("launcher: generated invalid job id " + id)
	}
	return id, nil
}

// job is the state of one Run. It is owned by Run's goroutine except where
// a field says otherwise.
type job struct {
	o     Options // defaults applied
	id    string
	out   output
	procs []*proc
	// exits receives each started proc once, from the goroutine that waited
	// for it; buffered for all N so that goroutine never blocks.
	exits   chan *proc
	running int // procs started whose exit has not been received from exits
	// readers counts the goroutines copying the PEs' output; pipes are
	// their read ends, each closed by its reader.
	readers sync.WaitGroup
	pipes   []*os.File
	// segs are the job's segments, given to every PE as descriptors 3 on;
	// nil once closed.
	segs []*os.File
}

// closeSegments closes the launcher's copies of the segments.
func (j *job) closeSegments() {
	for _, f := range j.segs {
		f.Close()
	}
	j.segs = nil
}

// proc is one started PE.
type proc struct {
	pe     int
	cmd    *exec.Cmd // ProcessState is set before proc is sent on exits
	reaped bool      // received from exits
}

// baseEnv returns o.Env without the variables Run sets per PE, plus the ones
// common to every PE.
func (j *job) baseEnv() []string {
	set := []string{config.EnvNPES, config.EnvPE, config.EnvTransport, config.EnvJob,
		config.EnvLocalRank, config.EnvLocalSize, config.EnvSegmentFDs, config.EnvBind}
	if j.o.ShmDir != "" {
		set = append(set, config.EnvShmDir)
	}
	procs := lookupEnv(j.o.Env, "GOMAXPROCS")
	if procs == "" {
		procs = strconv.Itoa(max(1, runtime.NumCPU()/j.o.N))
		set = append(set, "GOMAXPROCS")
	}
	env := slices.DeleteFunc(slices.Clone(j.o.Env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(set, k)
	})
	env = append(env,
		config.EnvNPES+"="+strconv.Itoa(j.o.N),
		config.EnvTransport+"="+config.TransportShm,
		config.EnvJob+"="+j.id,
		config.EnvLocalSize+"="+strconv.Itoa(j.o.N),
		config.EnvSegmentFDs+"="+strconv.Itoa(firstSegmentFD),
		"GOMAXPROCS="+procs,
	)
	if j.o.ShmDir != "" {
		env = append(env, config.EnvShmDir+"="+j.o.ShmDir)
	}
	return env
}

// start starts PE pe, a goroutine waiting for it, and two copying its output.
func (j *job) start(prog string, pe int, env []string) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	cmd := exec.Command(prog, j.o.Args...)
	cmd.Env = append(slices.Clip(env),
		config.EnvPE+"="+strconv.Itoa(pe),
		config.EnvLocalRank+"="+strconv.Itoa(pe),
	)
	if j.o.GPUs > 0 && lookupEnv(env, config.EnvDevice) == "" {
		cmd.Env = append(cmd.Env, config.EnvDevice+"="+strconv.Itoa(pe%j.o.GPUs))
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.ExtraFiles = j.segs // descriptors firstSegmentFD on
	// Pdeathsig fires when the thread that forked exits; the launcher never
	// locks a thread, so in practice that is when the process exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return err
	}
	p := &proc{pe: pe, cmd: cmd}
	j.procs = append(j.procs, p)
	j.running++
	go func() {
		_ = cmd.Wait() // the outcome is read from cmd.ProcessState
		j.exits <- p
	}()
	j.copyOutput(pe, outR, j.o.Stdout)
	j.copyOutput(pe, errR, j.o.Stderr)
	return nil
}

// copyOutput starts a goroutine copying r's lines to w until EOF.
func (j *job) copyOutput(pe int, r *os.File, w io.Writer) {
	var prefix string
	if j.o.Prefix {
		prefix = "PE " + strconv.Itoa(pe) + ": "
	}
	j.pipes = append(j.pipes, r)
	j.readers.Add(1)
	go func() {
		defer j.readers.Done()
		defer r.Close()
		j.out.copyLines(w, r, prefix)
	}()
}

// wait runs the job until every PE is reaped; see Run for code and err.
func (j *job) wait(ctx context.Context, sigs <-chan os.Signal) (code int, err error) {
	var (
		stopping bool
		grace    *time.Timer
		graceC   <-chan time.Time
		signals  int
		sent     = map[syscall.Signal]bool{} // signals this launcher sent its PEs
		byCause  bool                        // code is a PE's death by a signal it was not sent
	)
	send := func(sig syscall.Signal) {
		sent[sig] = true
		j.signal(sig)
	}
	stop := func() {
		if stopping {
			return
		}
		stopping = true
		send(syscall.SIGTERM)
		grace = time.NewTimer(j.o.KillGrace)
		graceC = grace.C
	}
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	done := ctx.Done()
	for j.running > 0 {
		select {
		case p := <-j.exits:
			j.reap(p)
			c, how := exitStatus(p.cmd.ProcessState)
			if c == 0 {
				continue
			}
			// A PE killed by a signal no one here sent is the job's
			// cause, even when the survivors that saw it die were
			// reaped first (they exit at once; its zombie may wait).
			cause := !byCause && killedBy(p.cmd.ProcessState, sent)
			if !stopping || cause {
				j.out.printf(j.o.Stderr, "gpurun: PE %d (pid %d) %s\n", p.pe, p.cmd.Process.Pid, how)
			}
			if code == 0 || cause {
				code, byCause = c, cause
			}
			stop()
		case <-done:
			done = nil
			err = fmt.Errorf("launcher: job %s stopped: %w", j.id, ctx.Err())
			stop()
		case s := <-sigs:
			send(s.(syscall.Signal))
			if signals++; signals > 1 {
				stop()
			}
		case <-graceC:
			graceC = nil
			send(syscall.SIGKILL)
		}
	}
	if err != nil && code == 0 {
		code = 1
	}
	return code, err
}

func (j *job) reap(p *proc) {
	p.reaped = true
	j.running--
}

// signal sends sig to the process group of every PE not yet reaped (an
// unreaped PE's pid cannot have been reused), or to the PE itself when it
// left its group.
func (j *job) signal(sig syscall.Signal) {
	for _, p := range j.procs {
		if p.reaped {
			continue
		}
		if err := syscall.Kill(-p.cmd.Process.Pid, sig); errors.Is(err, syscall.ESRCH) {
			_ = p.cmd.Process.Signal(sig)
		}
	}
}

// finish kills and reaps the PEs still running (only after a failed start
// or a panic), waits for their output, and closes the launcher's copies of
// the segments if a failed start left them open.
// Output pipes still open drainTimeout after the last PE was reaped are held
// by processes the PEs left behind in their process groups; finish kills
// those (a reaped PE's group id cannot be reused while the group has a
// member, and reuse of a freed one within drainTimeout would take a wrap of
// the pid space).
func (j *job) finish() {
	if j.running > 0 {
		j.signal(syscall.SIGKILL)
		for j.running > 0 {
			j.reap(<-j.exits)
		}
	}
	drained := make(chan struct{})
	go func() {
		j.readers.Wait()
		close(drained)
	}()
	t := time.NewTimer(drainTimeout)
	select {
	case <-drained:
	case <-t.C:
		// Processes left behind in the PEs' groups hold the pipes open: kill
		// them, forward what they wrote, then stop reading.
		for _, p := range j.procs {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
		t.Reset(100 * time.Millisecond)
		select {
		case <-drained:
		case <-t.C:
			for _, f := range j.pipes {
				_ = f.SetReadDeadline(time.Now())
			}
			<-drained
		}
	}
	t.Stop()
	j.closeSegments()
}

// killedBy reports whether a PE died of a signal not in sent.
func killedBy(ps *os.ProcessState, sent map[syscall.Signal]bool) bool {
	if ps == nil {
		return false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && !sent[ws.Signal()]
}

// exitStatus returns the exit code a PE's end maps to (128+n for signal n)
// and its description.
func exitStatus(ps *os.ProcessState) (int, string) {
	if ps == nil {
		return 1, "could not be waited for"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		how := "killed by signal " + signalName(ws.Signal())
		if ws.CoreDump() {
			how += " (core dumped)"
		}
		return 128 + int(ws.Signal()), how
	}
	return ps.ExitCode(), "exited with status " + strconv.Itoa(ps.ExitCode())
}

// signalName returns sig's SIGXXX name, or "signal <n>".
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGTRAP:
		return "SIGTRAP"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGALRM:
		return "SIGALRM"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGXCPU:
		return "SIGXCPU"
	case syscall.SIGXFSZ:
		return "SIGXFSZ"
	case syscall.SIGSYS:
		return "SIGSYS"
	}
	return "signal " + strconv.Itoa(int(sig))
}

// lookupEnv returns the value of the last key=value entry of env, or "".
func lookupEnv(env []string, key string) string {
	for _, kv := range slices.Backward(env) {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
