/*
 * mpi_bench: collective latency and bandwidth of Open MPI, in the style of
 * OSU's osu_barrier, osu_bcast and osu_allreduce. Built with `mpicc -O2`, run
 * with `mpirun -np N` (N >= 2). Flags and output: see common.h.
 *
 * Ops (bytes in the RESULT line in brackets):
 *   barrier    [0]      MPI_Barrier, every rank in a tight loop
 *   bcast      [4]      MPI_Bcast of 4 bytes from rank 0
 *   reduce     [8]      MPI_Allreduce, MPI_SUM of one long
 *   bcastbw    [sizes]  MPI_Bcast of <bytes> from rank 0
 *   allreduce  [sizes]  MPI_Allreduce, MPI_SUM over <bytes>/4 floats
 *   fcollect   [csizes] MPI_Allgather of <bytes> from every rank
 *   alltoall   [csizes] MPI_Alltoall of <bytes> from every rank to every rank
 * The sized ops skip sizes that are not a multiple of 4, as shmem_bench's
 * (which need 32-bit elements) do, so that both report the same rows.
 *
 * barrier's ns_per_op is the mean over ranks of each rank's loop time per
 * iteration. The others are timed call by call with an untimed MPI_Barrier
 * between calls, as the OSU benchmarks do; ns_per_op is the mean over ranks
 * of the mean call time. Each result is checked after it is measured. Bus
 * bandwidth (nccl-tests convention) is derived by the Go side: bytes/time *
 * 2(N-1)/N for allreduce.
 */
#include <mpi.h>

#include "common.h"

#define DEFAULT_OPS "barrier,bcast,reduce,bcastbw,allreduce,fcollect,alltoall"

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

/* a2a_byte is the byte rank from sends to rank to in the alltoall check. */
static int a2a_byte(int from, int to)
{
    return (from * 31 + to + 1) & 0xff;
}

/* check_bytes aborts the job unless the len bytes at p all equal want. */
static void check_bytes(const char *op, size_t n, const unsigned char *p,
                        size_t len, int want)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (unsigned char)want) {
            fprintf(stderr, "bench: %s of %zu B: byte %zu is %d on rank %d, want %d\n",
                    op, n, i, p[i], me, want & 0xff);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
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
    /* src and dst hold the largest sized message and nranks blocks of the
     * largest fcollect/alltoall block. */
    size_t max = cfg.max_size < 8 ? 8 : cfg.max_size;
    if ((size_t)nranks * cfg.max_csize > max)
        max = (size_t)nranks * cfg.max_csize;
    unsigned char *src = malloc(max), *dst = malloc(max);
    if (!src || !dst) {
        fprintf(stderr, "bench: malloc(%zu) failed on rank %d\n", max, me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(src, 1, max); /* faults the pages in before timing */
    memset(dst, 0, max);
    long lsrc = me + 1, ldst = 0;
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
    if (want(&cfg, "reduce"))
        MEASURE("reduce", 8, 1, {
            double t_ = now_ns();
            MPI_Allreduce(&lsrc, &ldst, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
            acc_ns += now_ns() - t_;
            MPI_Barrier(MPI_COMM_WORLD);
        });
    if (want(&cfg, "bcastbw"))
        for (int s = 0; s < cfg.nsizes; s++) {
            size_t n = cfg.sizes[s];
            if (!words("bcastbw", n, me))
                continue;
            if (n > (size_t)1 << 30)
                die("bcastbw size too large", NULL);
            memset(dst, me == 0 ? 1 : 0, n); /* the root's is the source */
            MEASURE("bcastbw", n, 1, {
                double t_ = now_ns();
                MPI_Bcast(dst, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
                acc_ns += now_ns() - t_;
                MPI_Barrier(MPI_COMM_WORLD);
            });
            check_bytes("bcastbw", n, dst, n, 1);
        }
    if (want(&cfg, "allreduce"))
        for (int s = 0; s < cfg.nsizes; s++) {
            size_t n = cfg.sizes[s];
            if (!words("allreduce", n, me))
                continue;
            if (n > (size_t)1 << 31)
                die("allreduce size too large", NULL);
            int count = (int)(n / sizeof(float));
            float *fs = (float *)src, *fd = (float *)dst;
            for (int i = 0; i < count; i++)
                fs[i] = (float)(me + 1);
            memset(dst, 0, n);
            MEASURE("allreduce", n, 1, {
                double t_ = now_ns();
                MPI_Allreduce(fs, fd, count, MPI_FLOAT, MPI_SUM,
                              MPI_COMM_WORLD);
                acc_ns += now_ns() - t_;
                MPI_Barrier(MPI_COMM_WORLD);
            });
            float sum = (float)nranks * (nranks + 1) / 2;
            for (int i = 0; i < count; i++)
                if (fd[i] != sum) {
                    fprintf(stderr, "bench: allreduce of %zu B: element %d is %g on rank %d, want %g\n",
                            n, i, fd[i], me, sum);
                    MPI_Abort(MPI_COMM_WORLD, 1);
                }
        }
    if (want(&cfg, "fcollect"))
        for (int s = 0; s < cfg.ncsizes; s++) {
            size_t n = cfg.csizes[s];
            if (!words("fcollect", n, me))
                continue;
            if (n > (size_t)1 << 30)
                die("fcollect size too large", NULL);
            memset(src, me + 1, n);
            memset(dst, 0, n * nranks);
            MEASURE("fcollect", n, 1, {
                double t_ = now_ns();
                MPI_Allgather(src, (int)n, MPI_BYTE, dst, (int)n, MPI_BYTE,
                              MPI_COMM_WORLD);
                acc_ns += now_ns() - t_;
                MPI_Barrier(MPI_COMM_WORLD);
            });
            for (int r = 0; r < nranks; r++)
                check_bytes("fcollect", n, dst + (size_t)r * n, n, r + 1);
        }
    if (want(&cfg, "alltoall"))
        for (int s = 0; s < cfg.ncsizes; s++) {
            size_t n = cfg.csizes[s];
            if (!words("alltoall", n, me))
                continue;
            if (n > (size_t)1 << 30)
                die("alltoall size too large", NULL);
            for (int r = 0; r < nranks; r++)
                memset(src + (size_t)r * n, a2a_byte(me, r), n);
            memset(dst, 0, n * nranks);
            MEASURE("alltoall", n, 1, {
                double t_ = now_ns();
                MPI_Alltoall(src, (int)n, MPI_BYTE, dst, (int)n, MPI_BYTE,
                             MPI_COMM_WORLD);
                acc_ns += now_ns() - t_;
                MPI_Barrier(MPI_COMM_WORLD);
            });
            for (int r = 0; r < nranks; r++)
                check_bytes("alltoall", n, dst + (size_t)r * n, n, a2a_byte(r, me));
        }

    if (want(&cfg, "reduce") && ldst != (long)nranks * (nranks + 1) / 2) {
        fprintf(stderr, "bench: sum allreduce gave %ld on rank %d, want %ld\n",
                ldst, me, (long)nranks * (nranks + 1) / 2);
        MPI_Abort(MPI_COMM_WORLD, 1);
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
