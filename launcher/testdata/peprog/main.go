// Command peprog is the PE program of the launcher tests. Its flags pick
// what it does, in this order: join the job as a gshmem PE (through a
// barrier, then finalize), record its pid and wait for its peers', print its
// environment and the segments it inherited, print lines, then exit, kill
// itself or sleep. With -global-exit-pe it records its pid and runs a
// gshmem.Run job instead, in which that PE calls GlobalExit.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/internal/config"
)

func main() {
	pidDir := flag.String("pid-dir", "", "write <dir>/<pe>.pid, then wait (5s at most) for every PE's")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	join := flag.Bool("gshmem", false, "join the job as a gshmem PE, pass a barrier and finalize")
	printEnv := flag.Bool("print-env", false, "print one line describing the environment")
	lines := flag.Int("lines", 0, "print this many numbered lines, each in two writes")
	stderrLine := flag.Bool("stderr-line", false, "print one line to stderr")
	tail := flag.String("tail", "", "print this without a newline at the end")
	exitPE := flag.Int("exit-pe", -1, "this PE exits with -exit-code")
	exitCode := flag.Int("exit-code", 0, "exit status of -exit-pe")
	killPE := flag.Int("kill-self-pe", -1, "this PE sends itself SIGKILL")
	sleep := flag.Duration("sleep", 0, "then sleep this long")
	exitAllPE := flag.Int("global-exit-pe", -1, "run a gshmem job in which this PE calls GlobalExit(-global-exit-status) after a barrier; the others wait for their context to end")
	exitAll := flag.Int("global-exit-status", 0, "the status of -global-exit-pe's GlobalExit")
	flag.Parse()

	pe, _ := strconv.Atoi(os.Getenv(config.EnvPE))
	npes, _ := strconv.Atoi(os.Getenv(config.EnvNPES))
	if *exitAllPE >= 0 {
		if *pidDir != "" {
			writePid(*pidDir, pe)
		}
		err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error {
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
			if pe.MyPE() == *exitAllPE {
				pe.GlobalExit(*exitAll)
			}
			<-ctx.Done()
			return context.Cause(ctx)
		})
		// Not reached: the job ends with the status, in every process.
		fail(fmt.Errorf("Run returned after a GlobalExit: %v", err))
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	if *join {
		if err := joinJob(); err != nil {
			fail(err)
		}
	}
	if *pidDir != "" {
		writePid(*pidDir, pe)
		waitPeers(*pidDir, npes)
	}
	if *printEnv {
		var b strings.Builder
		for _, k := range []string{config.EnvPE, config.EnvNPES, config.EnvTransport, config.EnvJob,
			config.EnvLocalRank, config.EnvLocalSize, config.EnvShmDir, config.EnvSegmentFDs, config.EnvDevice, config.EnvBind, "GOMAXPROCS", "PEPROG_MARK"} {
			fmt.Fprintf(&b, "%s=%s ", k, os.Getenv(k))
		}
		// What descriptors GSHMEM_SEGMENT_FDS on are, one per PE.
		first, _ := strconv.Atoi(os.Getenv(config.EnvSegmentFDs))
		var segs []string
		for i := range npes {
			link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", first+i))
			if err != nil {
				link = "none"
			}
			segs = append(segs, strings.TrimSuffix(link, " (deleted)"))
		}
		fmt.Fprintf(&b, "segments=%s cpus=%s ", strings.Join(segs, ","), threadCPUs())
		fmt.Printf("%sruntime.GOMAXPROCS=%d\n", b.String(), runtime.GOMAXPROCS(0))
	}
	payload := strings.Repeat("x", 150)
	for i := range *lines {
		line := fmt.Sprintf("line %d of PE %d %s\n", i, pe, payload)
		// Two writes, so that a launcher forwarding reads rather than lines
		// splits lines.
		os.Stdout.WriteString(line[:len(line)/2])
		os.Stdout.WriteString(line[len(line)/2:])
	}
	if *stderrLine {
		fmt.Fprintf(os.Stderr, "to stderr from PE %d\n", pe)
	}
	if *tail != "" {
		fmt.Print(*tail)
	}
	if pe == *exitPE {
		os.Exit(*exitCode)
	}
	if pe == *killPE {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	}
	time.Sleep(*sleep)
}

// threadCPUs returns the distinct CPU lists the threads of this process
// may run on (their Cpus_allowed_list), sorted and joined by ";".
func threadCPUs() string {
	paths, _ := filepath.Glob("/proc/self/task/*/status")
	seen := map[string]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				seen[strings.TrimSpace(v)] = true
			}
		}
	}
	lists := slices.Sorted(maps.Keys(seen))
	if len(lists) == 0 {
		return "unknown"
	}
	return strings.Join(lists, ";")
}

func joinJob() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pe, err := gshmem.Init(ctx)
	if err != nil {
		return err
	}
	if err := pe.BarrierAll(ctx); err != nil {
		pe.Abort()
		return err
	}
	return gshmem.Finalize(ctx, pe)
}

func writePid(dir string, pe int) {
	tmp := filepath.Join(dir, fmt.Sprintf("%d.tmp", pe))
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("%d.pid", pe))); err != nil {
		fail(err)
	}
}

func waitPeers(dir string, npes int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
		if len(m) >= npes {
			return
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "peprog:", err)
	os.Exit(99)
}
