package bench

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// newSessionAttr makes a started command lead a new session.
func newSessionAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// killSession SIGKILLs every live process of session sid, then removes the
// files under /dev/shm that they had mapped (Open MPI's and UCX's
// shared-memory segments, which nobody else would remove) and, if it killed
// anything, Open MPI's session directory for a launcher of pid sid. Nothing
// outside the session is touched; this process is never in it.
func killSession(sid int) {
	if sid <= 1 {
		return
	}
	var shm []string
	killed := false
	for range 10 {
		pids := sessionMembers(sid)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			shm = append(shm, mappedShm(pid)...)
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range shm {
		os.Remove(p)
	}
	if killed {
		removeLauncherDir(sid)
	}
}

// removeLauncherDir removes Open MPI's session directory of a launcher
// with the given pid, which it removes itself unless it is killed.
func removeLauncherDir(pid int) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "ompi.*", "pid."+strconv.Itoa(pid)))
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

// sessionMembers returns the live (not zombie) processes in session sid.
func sessionMembers(sid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session ...; comm may hold anything.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if got, err := strconv.Atoi(f[3]); err == nil && got == sid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mappedShm returns the files under /dev/shm that process pid has mapped
// and that still exist.
func mappedShm(pid int) []string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, " /dev/shm/")
		if i < 0 || strings.HasSuffix(line, " (deleted)") {
			continue
		}
		p := line[i+1:]
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
