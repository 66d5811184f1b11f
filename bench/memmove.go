package bench

import (
	"time"
)

// Memmove measures plain Go copy between two distinct buffers of this
// process, at each of sizes (bytes, as in [Sizes]), and returns one result
// per size: Impl and Op "memmove", PEs 1. It is the ceiling for a put over
// shared memory on this machine. Both buffers are written before timing, so
// no page fault is measured. Each size gets a warm-up, then the fastest of
// three timed loops of about 10 ms, as in the package's method. Sizes that
// are not positive are skipped. Memmove allocates two buffers of the
// largest size and takes about 35 ms per size.
func Memmove(sizes []int) []Result {
	return memmove(sizes, 10*time.Millisecond, 3)
}

func memmove(sizes []int, target time.Duration, reps int) []Result {
	maxSize := 0
	for _, n := range sizes {
		maxSize = max(maxSize, n)
	}
	if maxSize == 0 {
		return nil
	}
	src, dst := prefaulted(maxSize), prefaulted(maxSize)
	var out []Result
	for _, n := range sizes {
		if n <= 0 {
			continue
		}
		s, d := src[:n], dst[:n]
		loop := func(iters int) time.Duration {
			start := time.Now()
			for range iters {
				copy(d, s)
			}
			return time.Since(start)
		}
		// Warm up with rounds of doubling length until one takes an
		// eighth of the target, then size the timed loop from it.
		iters := 1
		for {
			dt := loop(iters)
			if iters >= 2 && (dt >= target/8 || iters >= 1<<30) {
				iters = int(float64(iters) * float64(target) / float64(max(dt, 1)))
				break
			}
			iters *= 2
		}
		iters = min(max(iters, 5), 1<<30)
		best := time.Duration(-1)
		for range max(reps, 1) {
			if dt := loop(iters); best < 0 || dt < best {
				best = dt
			}
		}
		out = append(out, Result{Impl: ImplMemmove, Op: OpMemmove, PEs: 1, Bytes: n,
			Iters: iters, NsPerOp: float64(best.Nanoseconds()) / float64(iters)})
	}
	return out
}

// prefaulted returns n bytes with every page already written to.
func prefaulted(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		b[i] = 1
	}
	return b
}
