package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/launcher"
)

// flags are the options `gpurun bench` and its workers share.
type flags struct {
	fs                *flag.FlagSet
	pes               *int
	ops               *string
	maxSize           *string
	target            *time.Duration
	reps              *int
	peers, memmoveCol *bool
}

func newFlags(name string, stderr io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &flags{
		fs:         fs,
		pes:        fs.Int("n", 2, "PEs (processes over shm)"),
		ops:        fs.String("ops", strings.Join(GshmemOps, ","), "comma-separated benchmarks"),
		maxSize:    fs.String("max-size", "64m", "largest putbw message (k, m, g suffixes)"),
		target:     fs.Duration("target", 30*time.Millisecond, "length of one timed loop"),
		reps:       fs.Int("reps", 3, "timed loops per measurement; the fastest counts"),
		peers:      fs.Bool("peers", true, "also measure Open MPI's OpenSHMEM and MPI (skipped when absent)"),
		memmoveCol: fs.Bool("memmove", true, "also measure plain memmove for the bandwidth rows"),
	}
}

func (f *flags) config() (Config, error) {
	max, err := config.ParseSize(*f.maxSize)
	if err != nil {
		return Config{}, fmt.Errorf("-max-size %q: %w", *f.maxSize, err)
	}
	ops := strings.Split(*f.ops, ",")
	for _, op := range ops {
		if !slices.Contains(GshmemOps, op) {
			return Config{}, fmt.Errorf("-ops: unknown benchmark %q (have %s)", op, strings.Join(GshmemOps, ","))
		}
	}
	var sizes []int
	for _, s := range Sizes {
		if int64(s) <= max {
			sizes = append(sizes, s)
		}
	}
	return Config{Ops: ops, Sizes: sizes, Target: *f.target, Reps: *f.reps}, nil
}

// args returns the flags as a worker's command line.
func (f *flags) args() []string {
	var a []string
	f.fs.VisitAll(func(fl *flag.Flag) { a = append(a, "-"+fl.Name+"="+fl.Value.String()) })
	return a
}

// Main is `gpurun bench [flags]`: it runs the gshmem benchmarks on -n PEs
// (processes over shm started with self, a command line that runs this
// binary as a bench worker, see Worker), the same measurements with Open
// MPI where it is installed, and memmove, and writes the comparison table
// to stdout. It returns the process exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, self []string) int {
	f := newFlags("gpurun bench", stderr)
	if err := f.fs.Parse(args); err != nil {
		return 2
	}
	c, err := f.config()
	if err != nil || *f.pes < 2 {
		if err == nil {
			err = fmt.Errorf("-n %d: need at least 2 PEs", *f.pes)
		}
		fmt.Fprintln(stderr, "gpurun bench:", err)
		return 2
	}
	fmt.Fprintf(stderr, "gpurun bench: gshmem on %d PEs (shm)...\n", *f.pes)
	var out bytes.Buffer
	env := append(os.Environ(), fmt.Sprintf("%s=%d", config.EnvSymSize, c.HeapFor()))
	code, err := launcher.Run(ctx, launcher.Options{
		N: *f.pes, Program: self[0], Args: append(slices.Clone(self[1:]), f.args()...),
		Stdout: &out, Stderr: stderr, Env: env,
	})
	if err != nil || code != 0 {
		fmt.Fprintf(stderr, "gpurun bench: gshmem run failed (exit %d): %v\n%s", code, err, out.String())
		return 1
	}
	ours, err := ParseResults(&out, ImplGshmem, *f.pes)
	if err != nil {
		fmt.Fprintln(stderr, "gpurun bench:", err)
		return 1
	}
	var peers []Result
	if *f.peers {
		fmt.Fprintln(stderr, "gpurun bench: Open MPI on the same machine...")
		peers, err = Peers(ctx, PeerConfig{PEs: *f.pes, Ops: c.Ops, Sizes: c.Sizes, Target: c.Target, Reps: c.Reps})
		switch {
		case errors.Is(err, ErrNoPeer):
			fmt.Fprintln(stderr, "gpurun bench: no Open MPI (oshcc/oshrun): peer columns left out")
		case err != nil:
			fmt.Fprintln(stderr, "gpurun bench: peers:", err)
		}
	}
	var mm []Result
	if *f.memmoveCol && slices.Contains(c.Ops, OpPutBW) {
		mm = Memmove(c.Sizes)
	}
	if err := WriteTable(stdout, ours, peers, mm); err != nil {
		fmt.Fprintln(stderr, "gpurun bench:", err)
		return 1
	}
	return 0
}

// Worker is the PE side of Main: run in each process of the job, it
// measures and prints PE 0's results as RESULT lines on stdout.
func Worker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newFlags("gpurun bench-worker", stderr)
	if err := f.fs.Parse(args); err != nil {
		return 2
	}
	c, err := f.config()
	if err != nil {
		fmt.Fprintln(stderr, "bench worker:", err)
		return 2
	}
	err = gshmem.RunWith(ctx, gshmem.Options{}, func(pe *gshmem.PE) error {
		rs, err := Measure(ctx, pe, c)
		for _, r := range rs {
			fmt.Fprintln(stdout, r.Line())
		}
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "bench worker:", err)
		return 1
	}
	return 0
}
