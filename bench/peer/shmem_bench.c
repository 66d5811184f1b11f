/*
 * shmem_bench: latency and bandwidth of Open MPI's OpenSHMEM (1.4 API), in the
 * style of OSU's osu_oshm_* benchmarks. Built with `oshcc -O2`, run with
 * `oshrun -np N` (N >= 2). Flags and output: see common.h.
 *
 * Ops (bytes in the RESULT line in brackets):
 *   put      [8]     shmem_putmem of 8 B + shmem_quiet, PE 0 -> PE 1
 *   get      [8]     shmem_getmem of 8 B from PE 1 into PE 0
 *   fadd     [8]     shmem_long_atomic_fetch_add on a long on PE 1
 *   barrier   [0]      shmem_barrier_all, every PE in a tight loop
 *   sync      [0]      shmem_sync_all (a barrier without quiet), likewise
 *   bcast     [4]      shmem_broadcast32 of one 32-bit word from PE 0
 *   reduce    [8]      shmem_long_sum_to_all of one long
 *   putbw     [sizes]  shmem_putmem of <bytes> + shmem_quiet, PE 0 -> PE 1
 *   bcastbw   [sizes]  shmem_broadcast64 (32 if <bytes> is not a multiple
 *                      of 8) of <bytes> from PE 0
 *   allreduce [sizes]  shmem_float_sum_to_all over <bytes>/4 floats
 *   fcollect  [csizes] shmem_fcollect64 (or 32) of <bytes> from every PE,
 *                      npes * <bytes> gathered on every PE
 *   alltoall  [csizes] shmem_alltoall64 (or 32): <bytes> from every PE to
 *                      every PE, npes * <bytes> sent and received by each
 *   histo     [8]      bale's histogram, one op per update: N (-histo T,N)
 *                      shmem_long_atomic_add of 1 to uniformly random
 *                      elements of the global table of npes*T longs
 *                      (element g on PE g/T at offset g%T)
 *   igather   [8]      bale's index gather, one op per request: N
 *                      (-igather T,N) shmem_long_g of uniformly random
 *                      elements of the global table, whose element g holds g
 *   randperm  [8]      bale's random permutation by dart throwing, one op
 *                      per throw: N darts per PE (-randperm T,N), numbered
 *                      me*N+i, each thrown with shmem_long_atomic_compare_
 *                      swap(-1 -> dart) at uniformly random slots of the
 *                      global target of npes*T longs (all -1 before each
 *                      loop) until it lands
 * The collectives on 32/64-bit elements skip sizes not a multiple of 4.
 *
 * put, get, fadd and putbw run on PE 0 alone while the other PEs wait in
 * shmem_barrier_all; ns_per_op is PE 0's loop time over the iterations.
 * barrier's and sync's are the mean over PEs of each PE's loop time per
 * iteration. bcast, reduce, bcastbw, allreduce, fcollect and alltoall are
 * timed call by call with an untimed shmem_barrier_all between calls, as
 * osu_oshm_broadcast, osu_oshm_reduce, osu_oshm_fcollect and
 * osu_oshm_alltoall do; ns_per_op is the mean over PEs of the mean call
 * time. Each collective's result is checked after it is measured.
 *
 * histo and igather run a fixed N updates per PE per loop rather than
 * calibrating (as bale's kernels do): one untimed loop, then reps timed
 * loops, each from a barrier to the shmem_barrier_all after the last update
 * (which completes the adds), random indices drawn before each loop
 * (splitmix64 seeded by the PE number); ns_per_op is the longest PE's loop
 * time over N (the job's span: oversubscribed PEs leave the first barrier
 * up to a time slice apart), the fastest loop reported. igather checks every
 * value after every loop; histo checks that the tables sum (shmem_long_
 * sum_to_all) to npes * N per loop run. randperm draws its slots in the
 * loop (a miss draws again); ns_per_op is per dart, and after every loop
 * each PE checks that each of its darts holds the slot it landed in and
 * that the filled slots over every PE number npes * N (so each dart is
 * there exactly once).
 *
 * pWrk of the float reduction holds max(nreduce/2 + 1,
 * SHMEM_REDUCE_MIN_WRKDATA_SIZE) floats, as OpenSHMEM 1.4 asks; pSync and
 * pWrk are reused across calls, which the barrier between calls allows.
 *
 * Avoided on purpose (Open MPI 4.1.4): 32-bit compare-swap smashes the stack,
 * and fetch_or on the symmetric heap returns wrong values.
 */
#include <shmem.h>
#include <stdint.h>

#include "common.h"

#define DEFAULT_OPS \
    "put,get,fadd,barrier,sync,bcast,reduce,putbw,bcastbw,allreduce,fcollect,alltoall," \
    "histo,igather,randperm"
#define MAX_PES 1024

#define MAX2(a, b) ((a) > (b) ? (a) : (b))
/* Long enough for the pSync of every collective used here. */
#define PSYNC_LEN                                                             \
    MAX2(MAX2(SHMEM_REDUCE_SYNC_SIZE, SHMEM_BCAST_SYNC_SIZE),                 \
         MAX2(SHMEM_COLLECT_SYNC_SIZE, SHMEM_ALLTOALL_SYNC_SIZE))

static struct config cfg;
static int me, npes;

/* Symmetric (static data is symmetric in OpenSHMEM). */
static long psync[2][PSYNC_LEN];
static long pwrk[2][SHMEM_REDUCE_MIN_WRKDATA_SIZE + 1];
static long shared_long;
static double per_pe[MAX_PES];

/*
 * Operands of the small ops live on the symmetric heap (shmem_malloc): in
 * Open MPI 4.1.4 RMA on static data goes through a slow path (about 1 us per
 * 8-byte put on this machine, against tens of ns on the heap).
 */
struct scalars {
    long counter;
    long rsrc, rdst;
    int bsrc, bdst;
    long word_src, word_dst;
    long ksum_src, ksum_dst; /* histo's and randperm's checks */
};
static struct scalars *sc;

/* share returns PE 0's v on every PE. Collective. */
static long share(long v)
{
    if (me == 0) {
        for (int pe = 0; pe < npes; pe++)
            shmem_long_p(&shared_long, v, pe);
        shmem_quiet();
    }
    shmem_barrier_all();
    long r = shared_long;
    shmem_barrier_all();
    return r;
}

/* over_pes returns, on PE 0, the mean of every PE's x, or with take_max
 * the largest. Collective. */
static double over_pes(double x, int take_max)
{
    shmem_double_p(&per_pe[me], x, 0);
    shmem_quiet();
    shmem_barrier_all();
    double sum = 0, hi = 0;
    if (me == 0)
        for (int pe = 0; pe < npes; pe++) {
            sum += per_pe[pe];
            if (pe == 0 || per_pe[pe] > hi)
                hi = per_pe[pe];
        }
    shmem_barrier_all();
    return take_max ? hi : sum / npes;
}

/* mean_over_pes returns, on PE 0, the mean of every PE's x. Collective. */
static double mean_over_pes(double x)
{
    return over_pes(x, 0);
}

/* a2a_byte is the byte PE from sends to PE to in the alltoall check. */
static int a2a_byte(int from, int to)
{
    return (from * 31 + to + 1) & 0xff;
}

/* check_bytes exits the job unless the len bytes at p all equal want. */
static void check_bytes(const char *op, size_t n, const unsigned char *p,
                        size_t len, int want)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (unsigned char)want) {
            fprintf(stderr, "bench: %s of %zu B: byte %zu is %d on PE %d, want %d\n",
                    op, n, i, p[i], me, want & 0xff);
            shmem_global_exit(1);
        }
}

/* splitmix64 is the kernels' random number generator. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform returns a uniformly random integer in [0, n) (Lemire's
 * multiply-shift; the bias is below n / 2^64). */
static long uniform(uint64_t *s, uint64_t n)
{
    return (long)(((unsigned __int128)splitmix64(s) * n) >> 64);
}

/*
 * kernel runs histo (gather == 0) or igather on every PE with a table of t
 * longs per PE and n updates per PE per loop, reports it and checks it (see
 * the top of the file). Collective.
 */
static void kernel(int gather, long t, long n)
{
    const char *op = gather ? "igather" : "histo";
    long *table = shmem_calloc((size_t)t, sizeof(long));
    long *idx = malloc((size_t)n * sizeof(long));
    long *got = gather ? malloc((size_t)n * sizeof(long)) : NULL;
    if (!table || !idx || (gather && !got)) {
        fprintf(stderr, "bench: %s: allocating %ld + 2 * %ld longs failed on PE %d "
                "(raise SHMEM_SYMMETRIC_HEAP_SIZE)\n", op, t, n, me);
        shmem_global_exit(1);
    }
    if (gather)
        for (long o = 0; o < t; o++)
            table[o] = me * t + o;
    uint64_t rng = (uint64_t)me;
    uint64_t global = (uint64_t)npes * (uint64_t)t;
    double best = -1;
    for (long r = -1; r < cfg.reps; r++) { /* r == -1: the warm-up */
        for (long i = 0; i < n; i++)
            idx[i] = uniform(&rng, global);
        if (gather)
            memset(got, 0xff, (size_t)n * sizeof(long)); /* -1: not read */
        shmem_barrier_all();
        double t0 = now_ns();
        if (gather)
            for (long i = 0; i < n; i++)
                got[i] = shmem_long_g(&table[idx[i] % t], (int)(idx[i] / t));
        else
            for (long i = 0; i < n; i++)
                shmem_long_atomic_add(&table[idx[i] % t], 1, (int)(idx[i] / t));
        shmem_barrier_all();
        double per = over_pes((now_ns() - t0) / (double)n, 1);
        if (r >= 0 && (best < 0 || per < best))
            best = per;
        if (gather)
            for (long i = 0; i < n; i++)
                if (got[i] != idx[i]) {
                    fprintf(stderr, "bench: igather: request %ld for index %ld got %ld on PE %d\n",
                            i, idx[i], got[i], me);
                    shmem_global_exit(1);
                }
    }
    if (me == 0)
        report(op, 8, n, best);
    if (!gather) {
        sc->ksum_src = 0;
        for (long o = 0; o < t; o++)
            sc->ksum_src += table[o];
        shmem_barrier_all(); /* every PE is done with psync[0] and pwrk[0] */
        shmem_long_sum_to_all(&sc->ksum_dst, &sc->ksum_src, 1, 0, 0, npes, pwrk[0], psync[0]);
        long want = (long)npes * n * (cfg.reps + 1);
        if (sc->ksum_dst != want) {
            fprintf(stderr, "bench: histo: the tables sum to %ld on PE %d, want %ld\n",
                    sc->ksum_dst, me, want);
            shmem_global_exit(1);
        }
    }
    shmem_barrier_all();
    free(got);
    free(idx);
    shmem_free(table);
}

/* global_sum returns the sum of every PE's v. Collective. */
static long global_sum(long v)
{
    sc->ksum_src = v;
    shmem_barrier_all(); /* every PE is done with psync[0] and pwrk[0] */
    shmem_long_sum_to_all(&sc->ksum_dst, &sc->ksum_src, 1, 0, 0, npes, pwrk[0], psync[0]);
    return sc->ksum_dst;
}

/*
 * randperm runs bale's random permutation by dart throwing on every PE: a
 * target of t longs per PE, n darts per PE per loop, reports it and checks
 * it (see the top of the file). Collective.
 */
static void randperm(long t, long n)
{
    if (t < n) {
        fprintf(stderr, "bench: randperm: %ld slots per PE for %ld darts per PE: every dart needs a slot\n", t, n);
        shmem_global_exit(1);
    }
    long *target = shmem_malloc((size_t)t * sizeof(long));
    long *slot = malloc((size_t)n * sizeof(long));
    if (!target || !slot) {
        fprintf(stderr, "bench: randperm: allocating %ld + %ld longs failed on PE %d "
                "(raise SHMEM_SYMMETRIC_HEAP_SIZE)\n", t, n, me);
        shmem_global_exit(1);
    }
    uint64_t rng = (uint64_t)me;
    uint64_t global = (uint64_t)npes * (uint64_t)t;
    double best = -1;
    for (long r = -1; r < cfg.reps; r++) { /* r == -1: the warm-up */
        for (long o = 0; o < t; o++)
            target[o] = -1;
        shmem_barrier_all();
        double t0 = now_ns();
        for (long i = 0; i < n; i++) {
            long dart = me * n + i, g;
            do
                g = uniform(&rng, global);
            while (shmem_long_atomic_compare_swap(&target[g % t], -1, dart, (int)(g / t)) != -1);
            slot[i] = g;
        }
        shmem_barrier_all();
        double per = over_pes((now_ns() - t0) / (double)n, 1);
        if (r >= 0 && (best < 0 || per < best))
            best = per;
        for (long i = 0; i < n; i++) {
            long v = shmem_long_g(&target[slot[i] % t], (int)(slot[i] / t));
            if (v != me * n + i) {
                fprintf(stderr, "bench: randperm: dart %ld landed in slot %ld, which holds %ld (PE %d)\n",
                        me * n + i, slot[i], v, me);
                shmem_global_exit(1);
            }
        }
        long filled = 0;
        for (long o = 0; o < t; o++)
            filled += target[o] != -1;
        long all = global_sum(filled);
        if (all != (long)npes * n) {
            fprintf(stderr, "bench: randperm: %ld slots filled on PE %d, want %ld\n", all, me, (long)npes * n);
            shmem_global_exit(1);
        }
        shmem_barrier_all(); /* the next loop's reset comes after every check */
    }
    if (me == 0)
        report("randperm", 8, n, best);
    shmem_barrier_all();
    free(slot);
    shmem_free(target);
}

/*
 * MEASURE calibrates and times BODY, then reports it. Collective: every PE
 * calls it. BODY runs with the iteration index in `it`; it runs on every PE
 * when COLL, else on PE 0 only. When PERCALL, BODY adds its own timed part
 * to `acc_ns` and that sum is the measured time; otherwise the whole loop is.
 * Calibration doubles the round length until PE 0's round took an eighth of
 * the target (these rounds are the warm-up), then PE 0 picks the timed
 * iteration count and shares it. The timed loop runs cfg.reps times and
 * the fastest is reported (on PE 0, which alone holds the means over PEs).
 */
#define MEASURE(OP, BYTES, COLL, PERCALL, BODY)                               \
    do {                                                                      \
        long n_ = 1, iters_;                                                  \
        double acc_ns;                                                        \
        for (;;) {                                                            \
            acc_ns = 0;                                                       \
            shmem_barrier_all();                                              \
            double t0_ = now_ns();                                            \
            if ((COLL) || me == 0)                                            \
                for (long it = 0; it < n_; it++) {                            \
                    BODY;                                                     \
                }                                                             \
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
            shmem_barrier_all();                                              \
            double t0_ = now_ns();                                            \
            if ((COLL) || me == 0)                                            \
                for (long it = 0; it < iters_; it++) {                        \
                    BODY;                                                     \
                }                                                             \
            double dt_ = now_ns() - t0_;                                      \
            double per_ = ((PERCALL) ? acc_ns : dt_) / (double)iters_;        \
            if (COLL)                                                         \
                per_ = mean_over_pes(per_);                                   \
            if (best_ < 0 || per_ < best_)                                    \
                best_ = per_;                                                 \
        }                                                                     \
        if (me == 0)                                                          \
            report(OP, BYTES, iters_, best_);                                 \
        shmem_barrier_all();                                                  \
    } while (0)

int main(int argc, char **argv)
{
    shmem_init();
    me = shmem_my_pe();
    npes = shmem_n_pes();
    parse_args(&cfg, argc, argv, DEFAULT_OPS);
    if (npes < 2 || npes > MAX_PES) {
        if (me == 0)
            fprintf(stderr, "bench: shmem_bench needs 2..%d PEs, got %d\n",
                    MAX_PES, npes);
        shmem_finalize();
        return 2;
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < PSYNC_LEN; j++)
            psync[i][j] = SHMEM_SYNC_VALUE;

    /* src and dst hold the largest sized message and npes blocks of the
     * largest fcollect/alltoall block. */
    size_t max = cfg.max_size < 8 ? 8 : cfg.max_size;
    if ((size_t)npes * cfg.max_csize > max)
        max = (size_t)npes * cfg.max_csize;
    size_t nwrk = cfg.max_size / sizeof(float) / 2 + 1;
    if (nwrk < SHMEM_REDUCE_MIN_WRKDATA_SIZE)
        nwrk = SHMEM_REDUCE_MIN_WRKDATA_SIZE;
    if (!want(&cfg, "allreduce"))
        nwrk = 1;
    unsigned char *src = shmem_malloc(max), *dst = shmem_malloc(max);
    float *fwrk = shmem_malloc(nwrk * sizeof(float));
    sc = shmem_malloc(sizeof *sc);
    if (!src || !dst || !fwrk || !sc) {
        fprintf(stderr, "bench: shmem_malloc(%zu) failed on PE %d "
                "(raise SHMEM_SYMMETRIC_HEAP_SIZE)\n", max, me);
        shmem_global_exit(1);
    }
    memset(src, me + 1, max); /* fault the pages in before timing */
    memset(dst, 0, max);
    memset(sc, 0, sizeof *sc);
    long local = 0;
    sc->rsrc = me + 1;
    sc->bsrc = 42;
    shmem_barrier_all();
    if (me == 0)
        printf("# shmem_bench npes=%d spec=%d.%d\n", npes,
               SHMEM_MAJOR_VERSION, SHMEM_MINOR_VERSION);

    if (want(&cfg, "put"))
        MEASURE("put", 8, 0, 0, {
            shmem_putmem(&sc->word_dst, &sc->word_src, 8, 1);
            shmem_quiet();
        });
    if (want(&cfg, "get"))
        MEASURE("get", 8, 0, 0, { shmem_getmem(&local, &sc->word_src, 8, 1); });
    if (want(&cfg, "p"))
        MEASURE("p", 8, 0, 0, {
            shmem_long_p(&sc->word_dst, 42, 1);
            shmem_quiet();
        });
    if (want(&cfg, "g"))
        MEASURE("g", 8, 0, 0, { local += shmem_long_g(&sc->word_src, 1); });
    if (want(&cfg, "fadd"))
        MEASURE("fadd", 8, 0, 0,
                { local += shmem_long_atomic_fetch_add(&sc->counter, 1, 1); });
    if (want(&cfg, "barrier"))
        MEASURE("barrier", 0, 1, 0, { shmem_barrier_all(); });
    if (want(&cfg, "sync"))
        MEASURE("sync", 0, 1, 0, { shmem_sync_all(); });
    if (want(&cfg, "bcast"))
        MEASURE("bcast", 4, 1, 1, {
            double t_ = now_ns();
            shmem_broadcast32(&sc->bdst, &sc->bsrc, 1, 0, 0, 0, npes, psync[it & 1]);
            acc_ns += now_ns() - t_;
            shmem_barrier_all();
        });
    if (want(&cfg, "reduce"))
        MEASURE("reduce", 8, 1, 1, {
            double t_ = now_ns();
            shmem_long_sum_to_all(&sc->rdst, &sc->rsrc, 1, 0, 0, npes, pwrk[it & 1],
                                  psync[it & 1]);
            acc_ns += now_ns() - t_;
            shmem_barrier_all();
        });
    if (want(&cfg, "putbw"))
        for (int s = 0; s < cfg.nsizes; s++) {
            size_t n = cfg.sizes[s];
            MEASURE("putbw", n, 0, 0, {
                shmem_putmem(dst, src, n, 1);
                shmem_quiet();
            });
        }
    if (want(&cfg, "bcastbw"))
        for (int s = 0; s < cfg.nsizes; s++) {
            size_t n = cfg.sizes[s];
            if (!words("bcastbw", n, me))
                continue;
            memset(src, me + 1, n);
            memset(dst, 0, n);
            MEASURE("bcastbw", n, 1, 1, {
                double t_ = now_ns();
                if (n % 8 == 0)
                    shmem_broadcast64(dst, src, n / 8, 0, 0, 0, npes, psync[it & 1]);
                else
                    shmem_broadcast32(dst, src, n / 4, 0, 0, 0, npes, psync[it & 1]);
                acc_ns += now_ns() - t_;
                shmem_barrier_all();
            });
            if (me != 0) /* 1.4: the root's dest is not written */
                check_bytes("bcastbw", n, dst, n, 1);
        }
    if (want(&cfg, "allreduce"))
        for (int s = 0; s < cfg.nsizes; s++) {
            size_t n = cfg.sizes[s];
            if (!words("allreduce", n, me))
                continue;
            if (n / sizeof(float) > (size_t)1 << 30)
                die("allreduce size too large", NULL);
            int count = (int)(n / sizeof(float));
            float *fs = (float *)src, *fd = (float *)dst;
            for (int i = 0; i < count; i++)
                fs[i] = (float)(me + 1);
            memset(dst, 0, n);
            MEASURE("allreduce", n, 1, 1, {
                double t_ = now_ns();
                shmem_float_sum_to_all(fd, fs, count, 0, 0, npes, fwrk, psync[it & 1]);
                acc_ns += now_ns() - t_;
                shmem_barrier_all();
            });
            float sum = (float)npes * (npes + 1) / 2;
            for (int i = 0; i < count; i++)
                if (fd[i] != sum) {
                    fprintf(stderr, "bench: allreduce of %zu B: element %d is %g on PE %d, want %g\n",
                            n, i, fd[i], me, sum);
                    shmem_global_exit(1);
                }
        }
    if (want(&cfg, "fcollect"))
        for (int s = 0; s < cfg.ncsizes; s++) {
            size_t n = cfg.csizes[s];
            if (!words("fcollect", n, me))
                continue;
            memset(src, me + 1, n);
            memset(dst, 0, n * npes);
            MEASURE("fcollect", n, 1, 1, {
                double t_ = now_ns();
                if (n % 8 == 0)
                    shmem_fcollect64(dst, src, n / 8, 0, 0, npes, psync[it & 1]);
                else
                    shmem_fcollect32(dst, src, n / 4, 0, 0, npes, psync[it & 1]);
                acc_ns += now_ns() - t_;
                shmem_barrier_all();
            });
            for (int pe = 0; pe < npes; pe++)
                check_bytes("fcollect", n, dst + (size_t)pe * n, n, pe + 1);
        }
    if (want(&cfg, "alltoall"))
        for (int s = 0; s < cfg.ncsizes; s++) {
            size_t n = cfg.csizes[s];
            if (!words("alltoall", n, me))
                continue;
            for (int pe = 0; pe < npes; pe++)
                memset(src + (size_t)pe * n, a2a_byte(me, pe), n);
            memset(dst, 0, n * npes);
            MEASURE("alltoall", n, 1, 1, {
                double t_ = now_ns();
                if (n % 8 == 0)
                    shmem_alltoall64(dst, src, n / 8, 0, 0, npes, psync[it & 1]);
                else
                    shmem_alltoall32(dst, src, n / 4, 0, 0, npes, psync[it & 1]);
                acc_ns += now_ns() - t_;
                shmem_barrier_all();
            });
            for (int pe = 0; pe < npes; pe++)
                check_bytes("alltoall", n, dst + (size_t)pe * n, n, a2a_byte(pe, me));
        }
    if (want(&cfg, "histo"))
        kernel(0, cfg.histo_t, cfg.histo_n);
    if (want(&cfg, "igather"))
        kernel(1, cfg.igather_t, cfg.igather_n);
    if (want(&cfg, "randperm"))
        randperm(cfg.randperm_t, cfg.randperm_n);

    /* Checks that the work was real. */
    shmem_barrier_all();
    if (me == 1 && want(&cfg, "fadd") && sc->counter <= 0) {
        fprintf(stderr, "bench: fetch-add counter on PE 1 is %ld\n", sc->counter);
        shmem_global_exit(1);
    }
    if (me != 0 && want(&cfg, "bcast") && sc->bdst != 42) {
        fprintf(stderr, "bench: broadcast gave %d on PE %d, want 42\n", sc->bdst, me);
        shmem_global_exit(1);
    }
    if (want(&cfg, "reduce") && sc->rdst != (long)npes * (npes + 1) / 2) {
        fprintf(stderr, "bench: sum reduction gave %ld on PE %d, want %ld\n",
                sc->rdst, me, (long)npes * (npes + 1) / 2);
        shmem_global_exit(1);
    }
    if (local == -1)
        printf("#\n"); /* keeps `local` observable */
    shmem_free(sc);
    shmem_free(fwrk);
    shmem_free(dst);
    shmem_free(src);
    shmem_finalize();
    return 0;
}
