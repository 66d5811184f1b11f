// Command gpurun starts a gshmem job: N processes running one program, one
// per PE, on this machine.
//
// Usage:
//
//	gpurun [-n N] [-prefix] [-grace 2s] [-bind=false] PROGRAM [ARGS...]
//	gpurun info
//	gpurun bench [-n 2[,4]] [-inproc] [-ops all|p2p|coll|dev|op,...] [-max-size 64m] [-peers=false] [-bind=false]
//
// PROGRAM is a Go package directory, a .go file or an import path (built
// first), an executable file, or a command in $PATH. Flags after PROGRAM
// are the program's own. gpurun exits with the status of the first PE to
// fail (128+n for signal n), or 0. PE i is bound to the i-th CPU gpurun
// may use when there are no more PEs than CPUs (-bind=false: not bound).
// See package launcher for the details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/bench"
	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/launcher"
)

// benchWorker is the hidden subcommand each PE of `gpurun bench` runs.
const benchWorker = "bench-worker"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "info":
			desc, _ := devices(os.Getenv)
			launcher.Info(stdout, os.Getenv, desc)
			return 0
		case "bench":
			exe, err := os.Executable()
			if err != nil {
				fmt.Fprintln(stderr, "gpurun bench:", err)
				return 1
			}
			return bench.Main(context.Background(), args[1:], stdout, stderr, []string{exe, benchWorker})
		case benchWorker:
			return bench.Worker(context.Background(), args[1:], stdout, stderr)
		}
	}

	fs := flag.NewFlagSet("gpurun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: gpurun [-n N] [-prefix] [-grace 2s] [-bind=false] PROGRAM [ARGS...]
       gpurun info
       gpurun bench [-h for its flags]

PROGRAM is a Go package directory, a .go file or an import path (built
first), an executable file, or a command in $PATH. Flags after PROGRAM
are passed to it.

`)
		fs.PrintDefaults()
	}
	n := fs.Int("n", 0, "number of PEs (default $"+config.EnvNPES+" if set, else the number of CPUs)")
	prefix := fs.Bool("prefix", false, `start every output line with "PE <i>: "`)
	grace := fs.Duration("grace", launcher.DefaultKillGrace, "time between SIGTERM and SIGKILL when the job is torn down")
	bind := fs.Bool("bind", true, "bind PE i to the i-th CPU when there are no more PEs than CPUs, as mpirun --bind-to core does (nothing is bound when oversubscribed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "gpurun: no PROGRAM given")
		fs.Usage()
		return 2
	}
	nSet := false
	fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
	nFrom := fmt.Sprintf("-n %d", *n)
	if !nSet {
		v, err := defaultNPES(os.Getenv(config.EnvNPES))
		if err != nil {
			fmt.Fprintln(stderr, "gpurun:", err)
			fs.Usage()
			return 2
		}
		*n = v
		nFrom = fmt.Sprintf("%s=%d", config.EnvNPES, v)
		if os.Getenv(config.EnvNPES) == "" {
			nFrom = fmt.Sprintf("-n %d (the number of CPUs; no -n given)", v)
		}
	}
	if *n < 1 {
		fmt.Fprintf(stderr, "gpurun: -n %d: want at least 1 PE\n", *n)
		fs.Usage()
		return 2
	}
	if *grace <= 0 {
		fmt.Fprintf(stderr, "gpurun: -grace %v: want a positive duration\n", *grace)
		fs.Usage()
		return 2
	}

	_, gpus := devices(os.Getenv)
	code, err := launcher.Run(context.Background(), launcher.Options{
		GPUs:      gpus,
		N:         *n,
		Program:   fs.Arg(0),
		Args:      fs.Args()[1:],
		Prefix:    *prefix,
		Stdout:    stdout,
		Stderr:    stderr,
		KillGrace: *grace,
		NFrom:     nFrom,
		Bind:      *bind,
	})
	if err != nil {
		fmt.Fprintln(stderr, err) // "launcher: ..."
	}
	return code
}

// devices describes the device side the PEs will find (the GPUs, or why
// the CPU fallback) and counts the GPUs.
func devices(getenv func(string) string) (string, int) {
	cfg, err := gshmem.LoadConfig(getenv)
	if err != nil {
		return err.Error(), 0
	}
	plan, err := device.Choose(cfg.Device)
	if err != nil {
		return err.Error(), 0
	}
	return plan.Describe(), plan.Devices()
}

// defaultNPES is -n when not given: $GSHMEM_NPES (v) if set, else the
// number of CPUs.
func defaultNPES(v string) (int, error) {
	if v == "" {
		return runtime.NumCPU(), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want an integer >= 1 (or give -n)", config.EnvNPES, v)
	}
	return n, nil
}
