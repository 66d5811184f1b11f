package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/gshmem/gshmem/internal/config"
)

// memfd_create(2) and file-sealing constants (the same on every Linux
// architecture; the system call number is not: see memfd_*.go).
const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	fAddSeals       = 1033
	fGetSeals       = 1034
	sealSeal        = 0x1
	sealShrink      = 0x2
	sealGrow        = 0x4
)

// NewSegmentFiles creates the segments of a job of npes PEs as unnamed,
// empty memory files (memfd_create): PE i sizes file i, its own, and every
// PE maps every one. A launcher gives all of them, in order, to every PE it
// starts (exec.Cmd.ExtraFiles puts the first at descriptor 3), tells the PEs
// where the first is (GSHMEM_SEGMENT_FDS, Options.SegmentFD), and closes its
// own copies once the PEs run. No other process can open a file that has
// no name, so no other user can reach, squat or replace a segment, and the
// memory goes when the last process that holds it ends: nothing is left
// behind however the launcher and the PEs end. The files are close-on-exec
// for every other program this process starts; on error none is left open.
func NewSegmentFiles(job string, npes int) ([]*os.File, error) {
	if !config.ValidJob(job) {
		return nil, fmt.Errorf("shm: job id %q: want 8 to 64 letters, digits or '_'", job)
	}
	if npes < 1 {
		return nil, fmt.Errorf("shm: %d PEs: need at least 1", npes)
	}
	files := make([]*os.File, 0, npes)
	for pe := range npes {
		name := config.SegmentName(job, pe)
		fd, err := memfdCreate(name, mfdCloexec|mfdAllowSealing)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("shm: create the memory file of PE %d of %d: %w", pe, npes, err)
		}
		files = append(files, os.NewFile(uintptr(fd), "memfd:"+name))
	}
	return files, nil
}

func memfdCreate(name string, flags int) (int, error) {
	if sysMemfdCreate < 0 {
		return -1, fmt.Errorf("memfd_create on this architecture: %w", errors.ErrUnsupported)
	}
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, errno := syscall.Syscall(uintptr(sysMemfdCreate), uintptr(unsafe.Pointer(p)), uintptr(flags), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func fcntl(fd, cmd, arg int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// segments is where one PE finds its job's segments: files it and its
// peers create in a directory (Options.Dir), or memory files inherited
// from the launcher (Options.SegmentFD).
type segments struct {
	o       Options
	total   int    // bytes of one segment
	created string // the path of this PE's file while Open may remove it
}

func (s *segments) inherited() bool { return s.o.SegmentFD > 0 }

// where names PE pe's segment in messages.
func (s *segments) where(pe int) string {
	if s.inherited() {
		return fmt.Sprintf("descriptor %d (%s=%d)", s.o.SegmentFD+pe, config.EnvSegmentFDs, s.o.SegmentFD)
	}
	return filepath.Join(s.o.Dir, config.SegmentName(s.o.Job, pe))
}

// checkInherited makes sure descriptor fd is the memory file the launcher
// made for PE pe of this job, not whatever else has that number.
func (s *segments) checkInherited(fd, pe int) error {
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return fmt.Errorf("%s, PE %d's segment, is not open (start PEs with gpurun): %w", s.where(pe), pe, err)
	}
	if want := "/memfd:" + config.SegmentName(s.o.Job, pe) + " (deleted)"; link != want {
		return fmt.Errorf("%s is %q, not PE %d's segment %q", s.where(pe), link, pe, want)
	}
	return nil
}

// create makes this PE's segment, reserves its memory, seals its size
// (memory files) and maps it.
func (s *segments) create() ([]byte, error) {
	pe := s.o.PE
	if s.inherited() {
		fd := s.o.SegmentFD + pe
		if err := s.checkInherited(fd, pe); err != nil {
			return nil, err
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return nil, fmt.Errorf("stat %s: %w", s.where(pe), err)
		}
		if st.Size != 0 {
			return nil, fmt.Errorf("%s already holds %d bytes: was PE %d started twice?", s.where(pe), st.Size, pe)
		}
		if err := syscall.Ftruncate(fd, int64(s.total)); err != nil {
			return nil, fmt.Errorf("size %s to %d bytes: %w", s.where(pe), s.total, err)
		}
		if err := s.reserve(fd); err != nil {
			return nil, err
		}
		// Sealed, the size can never change: no peer can shrink it under
		// the others' mappings (a SIGBUS).
		if _, err := fcntl(fd, fAddSeals, sealShrink|sealGrow|sealSeal); err != nil {
			return nil, fmt.Errorf("seal %s: %w", s.where(pe), err)
		}
		return mmap(fd, s.total, s.o.Prefault, s.where(pe))
	}
	path := s.where(pe)
	// O_EXCL and O_NOFOLLOW: never a file or a link someone else put there.
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("create %s: it already exists (job id reused, or planted by someone who can write %s): %w", path, s.dirVar(), err)
		}
		return nil, s.dirError("create "+path, err)
	}
	defer syscall.Close(fd)
	s.created = path
	if err := s.reserve(fd); err != nil {
		return nil, err
	}
	return mmap(fd, s.total, s.o.Prefault, path)
}

// reserve allocates the pages of this PE's segment now, so that a full
// tmpfs is an error at start-up rather than a SIGBUS later. A memory file
// has no size limit but memory (and its memory cgroup's): without a cgroup
// limit, too little memory there means reclaim and the OOM killer rather
// than an error, which is why the launcher checks the memory up front.
func (s *segments) reserve(fd int) error {
	err := syscall.Fallocate(fd, 0, 0, int64(s.total))
	switch {
	case err == nil:
		return nil
	case s.inherited() && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.ENOMEM)):
		return fmt.Errorf("reserve %d bytes of memory for %s: the machine cannot hold the job (lower %s or the number of PEs): %w", s.total, s.where(s.o.PE), config.EnvSymSize, err)
	case s.inherited():
		return fmt.Errorf("reserve %d bytes for %s: %w", s.total, s.where(s.o.PE), err)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("reserve %d bytes in %s: the tmpfs is full (lower %s, or free space there): %w", s.total, s.dirVar(), config.EnvSymSize, err)
	}
	return fmt.Errorf("reserve %d bytes for %s in %s: %w", s.total, s.where(s.o.PE), s.dirVar(), err)
}

// dirVar names the directory of named segments as the variable that sets
// it, for errors about it.
func (s *segments) dirVar() string { return fmt.Sprintf("%s=%q", config.EnvShmDir, s.o.Dir) }

// dirError describes err, which op got in the directory.
func (s *segments) dirError(op string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%s: %s does not exist: %w", op, s.dirVar(), err)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s: %s is not a directory: %w", op, s.dirVar(), err)
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%s: %s: cannot create files there: %w", op, s.dirVar(), err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%s: %s is full: %w", op, s.dirVar(), err)
	}
	return fmt.Errorf("%s (%s): %w", op, s.dirVar(), err)
}

// open returns a descriptor of PE pe's segment, or -1 when it does not
// exist yet. Give it back with done.
func (s *segments) open(pe int) (int, error) {
	if s.inherited() {
		fd := s.o.SegmentFD + pe
		return fd, s.checkInherited(fd, pe)
	}
	path := s.where(pe)
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	switch {
	case err == nil:
		return fd, nil
	case errors.Is(err, syscall.ENOENT):
		return -1, nil
	case errors.Is(err, syscall.ELOOP):
		return -1, fmt.Errorf("PE %d's segment %s is a symbolic link, not a segment (planted by someone who can write %s?): %w", pe, path, s.dirVar(), err)
	}
	return -1, fmt.Errorf("open PE %d's segment %s (%s): %w", pe, path, s.dirVar(), err)
}

// done gives back a descriptor from open.
func (s *segments) done(fd int) {
	if !s.inherited() {
		syscall.Close(fd)
	}
}

// sealed checks that PE pe's memory file, ready, can no longer change size.
func (s *segments) sealed(fd, pe int) error {
	if !s.inherited() {
		return nil
	}
	seals, err := fcntl(fd, fGetSeals, 0)
	if err != nil {
		return fmt.Errorf("seals of %s: %w", s.where(pe), err)
	}
	if seals&(sealShrink|sealGrow) != sealShrink|sealGrow {
		return fmt.Errorf("%s is ready but its size is not sealed (seals %#x)", s.where(pe), seals)
	}
	return nil
}

// published is called once every PE has mapped every segment: this PE's
// file, if it has one, is unlinked (the mappings keep the memory).
func (s *segments) published() error {
	if s.created == "" {
		return nil
	}
	if err := syscall.Unlink(s.created); err != nil {
		return fmt.Errorf("unlink %s (%s): %w", s.created, s.dirVar(), err)
	}
	s.created = ""
	return nil
}

// finish releases what the segments hold when Open returns: this PE's file
// if Open failed before publishing it (never someone else's file), and
// every inherited descriptor (the mappings keep the memory; closed, they do
// not reach programs this process starts).
func (s *segments) finish() {
	if s.created != "" {
		os.Remove(s.created)
		s.created = ""
	}
	if s.inherited() {
		for pe := range s.o.NPEs {
			// Only what is ours: a wrong SegmentFD must not close
			// descriptors of the program's own.
			if fd := s.o.SegmentFD + pe; s.checkInherited(fd, pe) == nil {
				syscall.Close(fd)
			}
		}
	}
}
