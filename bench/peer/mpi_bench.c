/*
 * mpi_bench: collective latency and bandwidth of Open MPI, in the style of
 * OSU's osu_barrier, osu_bcast and osu_allreduce. Built with `mpicc -O2`, run
 * with `mpirun -np N` (N >= 2). Flags and output: see common.h.
 *
 * Ops (bytes in the RESULT line in brackets):
 *   barrier    [0]     MPI_Barrier, every rank in a tight loop
 *   bcast      [4]     MPI_Bcast of 4 bytes from rank 0
 *   allreduce  [sizes] MPI_Allreduce, MPI_SUM over <bytes>/4 floats
 *
 * barrier's ns_per_op is the mean over ranks of each rank's loop time per
 * iteration. bcast and allreduce are timed call by call with an untimed
 * MPI_Barrier between calls, as the OSU benchmarks do; ns_per_op is the mean
 * over ranks of the mean call time. Bus bandwidth (nccl-tests convention) is
 * derived by the Go side: bytes/time * 2(N-1)/N for allreduce.
 */
#include <mpi.h>

#include "common.h"

#define DEFAULT_OPS "barrier,bcast,allreduce"

static struct config cfg;
static int me, nranks;

/* share returns rank 0's v on every rank. Collective. */
static long share(long v)
{
    MPI_Bcast(&v, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    return v;
}

/* mean_over_ranks returns, on rank 0, the mean of every rank's x. */
static double mean_over_ranks(double x)
{
    double sum = 0;
    MPI_Reduce(&x, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    return sum / nranks;
}

/*
 * MEASURE calibrates and times BODY on every rank, then reports it.
 * Collective. BODY runs with the iteration index in `it`. When PERCALL, BODY
 * adds its own timed part to `acc_ns` and that sum is the measured time;
 * otherwise the whole loop is. Calibration doubles the round length until
 * rank 0's round took an eighth of the target (these rounds are the warm-up),
 * then rank 0 picks the timed iteration count and shares it. The timed loop
 * runs cfg.reps times and the fastest is reported (on rank 0, which alone
 * holds the means over ranks).
 */
#define MEASURE(OP, BYTES, PERCALL, BODY)                                     \
    do {                                                                      \
        long n_ = 1, iters_;                                                  \
        double acc_ns;                                                        \
        for (;;) {                                                            \
            acc_ns = 0;                                                       \
            MPI_Barrier(MPI_COMM_WORLD);                                      \
            double t0_ = now_ns();                                            \
            for (long it = 0; it < n_; it++) {                                \
                BODY;                                                         \
            }                                                                 \
            double dt_ = now_ns() - t0_;                                      \
            iters_ = share(calibrated(&cfg, dt_, n_)                          \
                               ? iters_for(&cfg, dt_, n_) : 0);               \
            if (iters_ > 0)                                                   \
                break;                                                        \
            n_ *= 2;                                                          \
        }                                                                     \
        double best_ = -1;                                                    \
        for (long r_ = 0; r_ < cfg.reps; r_++) {                              \
            acc_ns = 0;                                                       \
            MPI_Barrier(MPI_COMM_WORLD);                                      \
            double t0_ = now_ns();                                            \
            for (long it = 0; it < iters_; it++) {                            \
                BODY;                                                         \
            }                                                                 \
            double dt_ = now_ns() - t0_;                                      \
            double per_ = mean_over_ranks(((PERCALL) ? acc_ns : dt_) /        \
                                          (double)iters_);                    \
            if (best_ < 0 || per_ < best_)                                    \
                best_ = per_;                                                 \
        }                                                                     \
        if (me == 0)                                                          \
            report(OP, BYTES, iters_, best_);                                 \
        MPI_Barrier(MPI_COMM_WORLD);                                          \
    } while (0)

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    parse_args(&cfg, argc, argv, DEFAULT_OPS);
    if (nranks < 2) {
        if (me == 0)
            fprintf(stderr, "bench: mpi_bench needs 2 or more ranks\n");
        MPI_Finalize();
        return 2;
    }
    size_t max = cfg.max_size < 8 ? 8 : cfg.max_size;
    float *src = malloc(max), *dst = malloc(max);
    if (!src || !dst) {
        fprintf(stderr, "bench: malloc(%zu) failed on rank %d\n", max, me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (size_t i = 0; i < max / sizeof(float); i++)
        src[i] = 1.0f; /* faults the pages in before timing */
    memset(dst, 0, max);
    int word = me == 0 ? 42 : 0;
    if (me == 0)
        printf("# mpi_bench nranks=%d\n", nranks);

    if (want(&cfg, "barrier"))
        MEASURE("barrier", 0, 0, { MPI_Barrier(MPI_COMM_WORLD); });
    if (want(&cfg, "bcast"))
        MEASURE("bcast", 4, 1, {
            double t_ = now_ns();
            MPI_Bcast(&word, 4, MPI_BYTE, 0, MPI_COMM_WORLD);
            acc_ns += now_ns() - t_;
            MPI_Barrier(MPI_COMM_WORLD);
        });
    if (want(&cfg, "allreduce"))
        for (int s = 0; s < cfg.nsizes; s++) {
            size_t n = cfg.sizes[s];
            int count = (int)(n / sizeof(float));
            if (count < 1 || n % sizeof(float) != 0 || n > (size_t)1 << 31) {
                if (me == 0)
                    fprintf(stderr, "bench: allreduce size %zu is not a "
                            "positive multiple of 4 below 2 GiB\n", n);
                MPI_Abort(MPI_COMM_WORLD, 2);
            }
            MEASURE("allreduce", n, 1, {
                double t_ = now_ns();
                MPI_Allreduce(src, dst, count, MPI_FLOAT, MPI_SUM,
                              MPI_COMM_WORLD);
                acc_ns += now_ns() - t_;
                MPI_Barrier(MPI_COMM_WORLD);
            });
            if (dst[0] != (float)nranks || dst[count - 1] != (float)nranks) {
                fprintf(stderr, "bench: allreduce of %zu B gave %g on rank %d,"
                        " want %d\n", n, dst[0], me, nranks);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        }

    if (want(&cfg, "bcast") && word != 42) {
        fprintf(stderr, "bench: broadcast gave %d on rank %d, want 42\n",
                word, me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    free(dst);
    free(src);
    MPI_Finalize();
    return 0;
}
