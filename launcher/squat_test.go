package launcher_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/launcher"
)

// squatEnv makes the test binary a squatter watching the directory it names.
const squatEnv = "GSHMEM_TEST_SQUAT_DIR"

// nobody is the uid and gid the squatter runs as.
const nobody = 65534

// squat watches dir (inotify) and, for every name that looks like a gshmem
// segment, plants the names of the job's other PEs first: files of its own
// and symbolic links (to the real segment of the job's PE 0, and to a path
// that does not exist). It says "ready" once it watches, then runs until
// killed.
func squat(dir string) int {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		fmt.Fprintln(os.Stderr, "squatter:", err)
		return 1
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		fmt.Fprintln(os.Stderr, "squatter:", err)
		return 1
	}
	plant := func(name string) {
		rest, ok := strings.CutPrefix(name, config.SegmentPrefix)
		i := strings.LastIndexByte(rest, '-')
		if !ok || i < 0 || !config.ValidJob(rest[:i]) {
			return
		}
		job := rest[:i]
		for pe := range 16 {
			path := filepath.Join(dir, config.SegmentName(job, pe))
			switch pe % 3 {
			case 0:
				if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666); err == nil {
					f.Truncate(2 * 4096)
					f.Close()
				}
			case 1:
				os.Symlink(config.SegmentName(job, 0), path)
			case 2:
				os.Symlink(filepath.Join(dir, "nowhere"), path)
			}
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		plant(e.Name())
	}
	fmt.Println("ready")
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(fd, buf)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			fmt.Fprintln(os.Stderr, "squatter:", err)
			return 1
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			plant(strings.TrimRight(string(name), "\x00"))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// startSquatter runs a squatter on dir as uid nobody, from a copy of this
// test binary that nobody may execute, and returns once it watches.
func startSquatter(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	bin, err := os.MkdirTemp("", "gshmem-squatter-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(bin) })
	require.NoError(t, os.Chmod(bin, 0o755))
	exe := filepath.Join(bin, "squatter")
	src, err := os.Open(self)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(exe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())

	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), squatEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the squatter did not start")
	require.Equal(t, "ready\n", line)
	return cmd
}

// TestSquatterCannotStopJobs: another user who watches the shared-memory
// directory and creates the names of a job's segments (files and symbolic
// links) before its PEs do must not keep any job from starting, and the
// jobs leave nothing behind.
func TestSquatterCannotStopJobs(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: the squatter runs as another user (uid 65534)")
	}
	// A fresh directory like /dev/shm: world-writable, sticky.
	dir, err := os.MkdirTemp("/dev/shm", fmt.Sprintf("gshmem-test-%d-squat-", os.Getpid()))
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777|os.ModeSticky))
	squatter := startSquatter(t, dir)

	// The squatter is at work: a name it sees gets its neighbours planted.
	// (The bait's files stay: the squatter re-plants what it sees go.)
	const bait = "baitbait"
	require.NoError(t, os.WriteFile(filepath.Join(dir, config.SegmentName(bait, 0)), nil, 0o600))
	require.Eventually(t, func() bool {
		var st syscall.Stat_t
		return syscall.Lstat(filepath.Join(dir, config.SegmentName(bait, 15)), &st) == nil && st.Uid == nobody
	}, 10*time.Second, time.Millisecond, "the squatter planted nothing")

	env := append(envWithout("GOMAXPROCS", config.EnvShmDir, config.EnvDevice),
		config.EnvSymSize+"=1m", config.EnvDevSymSize+"=1m", config.EnvDevice+"=cpu", config.EnvBootTimeout+"=5s")
	const jobs = 20
	failed := 0
	for i := range jobs {
		var out strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		code, err := launcher.Run(ctx, launcher.Options{
			N: 2 + i%2, Program: peprog, Args: []string{"-gshmem"}, ShmDir: dir, Env: env,
			Stdout: &out, Stderr: &out, KillGrace: time.Second,
		})
		cancel()
		if err != nil || code != 0 {
			failed++
			t.Logf("job %d: exit %d, %v\n%s", i, code, err, out.String())
		}
	}
	assert.Zero(t, failed, "%d of %d jobs failed to start", failed, jobs)
	assert.NoError(t, syscall.Kill(squatter.Process.Pid, 0), "the squatter died during the test")

	var left []string
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), config.SegmentPrefix+bait+"-") {
			left = append(left, e.Name())
		}
	}
	assert.Empty(t, left, "the jobs left files in the shared directory")
}
