/*
 * common.h: argument parsing, the clock and the output format shared by the
 * peer benchmark programs (shmem_bench.c, mpi_bench.c). Header-only: each
 * program is one translation unit.
 *
 * Every program takes the same flags, all optional:
 *   -o ops     comma-separated ops to run (default: all the program knows)
 *   -s sizes   comma-separated message sizes in bytes for the sized ops
 *              (putbw, bcastbw, allreduce; default 8,4096,1048576)
 *   -c sizes   comma-separated block sizes in bytes (per PE) for fcollect
 *              and alltoall (default 8,1024,65536,1048576)
 *   -t ns      target time of one timed loop, in nanoseconds (default 30 ms)
 *   -n iters   fewest timed iterations of one measurement (default 5)
 *   -m iters   most timed iterations of one measurement (default 10000000)
 *   -r reps    timed loops per measurement, the fastest reported (default 1)
 *   -histo T,N   the histo kernel: T longs per PE, N updates per PE per
 *                timed loop (default 1000,100000; shmem_bench only)
 *   -igather T,N the igather kernel, likewise (default 100000,100000)
 *   -randperm T,N the randperm kernel: T slots per PE, N darts per PE
 *                (default 200000,100000)
 *
 * and prints, on rank/PE 0, one line per measurement:
 *   RESULT <op> <bytes> <iters> <ns_per_op>
 * Anything else on stdout starts with '#'. Errors go to stderr with a
 * non-zero exit status.
 */
#ifndef GSHMEM_BENCH_COMMON_H
#define GSHMEM_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SIZES 64

struct config {
    char ops[512];
    size_t sizes[MAX_SIZES];
    int nsizes;
    size_t max_size;  /* largest of sizes */
    size_t csizes[MAX_SIZES];
    int ncsizes;
    size_t max_csize; /* largest of csizes */
    double target_ns;
    long min_iters;
    long max_iters;
    long reps;
    long histo_t, histo_n;     /* -histo */
    long igather_t, igather_n; /* -igather */
    long randperm_t, randperm_n; /* -randperm */
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "bench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static long parse_long(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0)
        die("want a positive integer", s);
    return v;
}

/* parse_sizes parses the comma-separated list v into out (at most
 * MAX_SIZES) and returns how many there are. */
static int parse_sizes(size_t *out, const char *v)
{
    char buf[1024], *save = NULL;
    int n = 0;
    if (strlen(v) >= sizeof buf)
        die("size list too long", v);
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == MAX_SIZES)
            die("too many sizes", v);
        out[n++] = (size_t)parse_long(tok);
    }
    return n;
}

/* parse_pair parses "a,b" (two positive integers) into a and b. */
static void parse_pair(long *a, long *b, const char *v)
{
    size_t two[MAX_SIZES];
    if (parse_sizes(two, v) != 2 || two[0] > (size_t)1 << 30 || two[1] > (size_t)1 << 30)
        die("want two positive integers up to 2^30, comma-separated", v);
    *a = (long)two[0];
    *b = (long)two[1];
}

static void parse_args(struct config *c, int argc, char **argv,
                       const char *default_ops)
{
    static const size_t default_sizes[] = {8, 4096, 1 << 20};
    static const size_t default_csizes[] = {8, 1024, 65536, 1 << 20};
    memset(c, 0, sizeof *c);
    snprintf(c->ops, sizeof c->ops, "%s", default_ops);
    c->target_ns = 30e6;
    c->min_iters = 5;
    c->max_iters = 10000000;
    c->reps = 1;
    c->histo_t = 1000;
    c->histo_n = 100000;
    c->igather_t = 100000;
    c->igather_n = 100000;
    c->randperm_t = 200000;
    c->randperm_n = 100000;
    for (size_t i = 0; i < sizeof default_sizes / sizeof default_sizes[0]; i++)
        c->sizes[c->nsizes++] = default_sizes[i];
    for (size_t i = 0; i < sizeof default_csizes / sizeof default_csizes[0]; i++)
        c->csizes[c->ncsizes++] = default_csizes[i];

    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (i + 1 >= argc)
            die("flag needs a value", f);
        const char *v = argv[++i];
        if (strcmp(f, "-o") == 0) {
            if (strlen(v) >= sizeof c->ops)
                die("op list too long", v);
            snprintf(c->ops, sizeof c->ops, "%s", v);
        } else if (strcmp(f, "-s") == 0) {
            c->nsizes = parse_sizes(c->sizes, v);
        } else if (strcmp(f, "-c") == 0) {
            c->ncsizes = parse_sizes(c->csizes, v);
        } else if (strcmp(f, "-t") == 0) {
            c->target_ns = (double)parse_long(v);
        } else if (strcmp(f, "-n") == 0) {
            c->min_iters = parse_long(v);
        } else if (strcmp(f, "-m") == 0) {
            c->max_iters = parse_long(v);
        } else if (strcmp(f, "-r") == 0) {
            c->reps = parse_long(v);
        } else if (strcmp(f, "-histo") == 0) {
            parse_pair(&c->histo_t, &c->histo_n, v);
        } else if (strcmp(f, "-igather") == 0) {
            parse_pair(&c->igather_t, &c->igather_n, v);
        } else if (strcmp(f, "-randperm") == 0) {
            parse_pair(&c->randperm_t, &c->randperm_n, v);
        } else {
            die("unknown flag", f);
        }
    }
    if (c->min_iters > c->max_iters)
        c->max_iters = c->min_iters;
    for (int i = 0; i < c->nsizes; i++)
        if (c->sizes[i] > c->max_size)
            c->max_size = c->sizes[i];
    for (int i = 0; i < c->ncsizes; i++)
        if (c->csizes[i] > c->max_csize)
            c->max_csize = c->csizes[i];
}

/* words reports whether n bytes are a whole number of 32-bit words: the
 * collectives on 32- or 64-bit elements run only at such sizes (rank 0
 * says so on stdout for the others). */
static int words(const char *op, size_t n, int rank)
{
    if (n % 4 == 0)
        return 1;
    if (rank == 0)
        printf("# %s: skipping %zu B, not a multiple of 4\n", op, n);
    return 0;
}

/* want reports whether op is in the comma-separated list c->ops. */
static int want(const struct config *c, const char *op)
{
    size_t n = strlen(op);
    for (const char *p = c->ops; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, op, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/*
 * iters_for turns a calibration round (n iterations took dt ns) into the
 * iteration count of the timed loop: enough to fill the target time, within
 * [min_iters, max_iters].
 */
static long iters_for(const struct config *c, double dt, long n)
{
    double per = dt / (double)n;
    double want = per > 0 ? c->target_ns / per : (double)c->max_iters;
    long it = want > (double)c->max_iters ? c->max_iters : (long)want;
    if (it < c->min_iters)
        it = c->min_iters;
    return it;
}

/*
 * calibrated reports whether a calibration round is long enough to size the
 * timed loop from: it ran at least twice (so the first, cold round is never
 * the one used) and took an eighth of the target, or hit the iteration cap.
 */
static int calibrated(const struct config *c, double dt, long n)
{
    return n >= 2 && (dt >= c->target_ns / 8 || n >= c->max_iters);
}

static void report(const char *op, size_t bytes, long iters, double ns_per_op)
{
    printf("RESULT %s %zu %ld %.3f\n", op, bytes, iters, ns_per_op);
    fflush(stdout);
}

#endif
