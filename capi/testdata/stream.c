/* The device heap and the stream-ordered operations (shmemx.h): puts,
 * put-with-signal, signal waits, gets, quiet, barriers and collectives on
 * streams, checked through host-side gets, which reach the device heap
 * wherever it is (GPU memory, or host memory on the CPU fallback). */
#include "harness.h"

#include <stdint.h>

enum { K = 64 };

static long want(int round, int pe, int i) { return round * 1000000L + pe * 1000L + i; }

/* fill sets this PE's copy of the device object p to round's values. */
static void fill(long *p, int round) {
    long v[K];
    for (int i = 0; i < K; i++) {
        v[i] = want(round, shmem_my_pe(), i);
    }
    shmem_putmem(p, v, sizeof v, shmem_my_pe()); /* host-side put into the device heap */
}

/* expect checks this PE's copy of the device object p. */
static void expect(const char *what, const long *p, int round, int pe) {
    long v[K];
    shmem_getmem(v, p, sizeof v, shmem_my_pe());
    for (int i = 0; i < K; i++) {
        CHECK(v[i] == want(round, pe, i), "round %d: %s[%d] = %ld, want %ld", round, what, i, v[i], want(round, pe, i));
    }
}

static void rma(shmemx_stream_t st) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    int right = (me + 1) % n, left = (me + n - 1) % n;
    long *src = shmemx_malloc_device(K * sizeof(long));
    long *dst = shmemx_calloc_device(K, sizeof(long));
    long *back = shmemx_calloc_device(K, sizeof(long));
    uint64_t *sig = shmemx_calloc_device(1, sizeof(uint64_t));
    CHECK(src && dst && back && sig, "shmemx_malloc_device returned NULL");

    /* A put, a stream barrier, a synchronize. */
    fill(src, 0);
    shmemx_putmem_on_stream(dst, src, K * sizeof(long), right, st);
    shmemx_barrier_all_on_stream(st);
    shmemx_stream_synchronize(st);
    expect("dst after put", dst, 0, left);
    shmem_barrier_all();

    /* Rounds of put-with-signal, signal wait, quiet, get. */
    for (int round = 1; round <= 3; round++) {
        fill(src, round);
        shmemx_putmem_signal_on_stream(dst, src, K * sizeof(long), sig, (uint64_t)round, SHMEM_SIGNAL_SET, right, st);
        shmemx_signal_wait_until_on_stream(sig, SHMEM_CMP_GE, (uint64_t)round, st);
        shmemx_quiet_on_stream(st);
        shmemx_getmem_on_stream(back, dst, K * sizeof(long), right, st);
        shmemx_stream_synchronize(st);
        expect("dst", dst, round, left);
        expect("back", back, round, me);
        uint64_t s = 0;
        shmem_getmem(&s, sig, sizeof s, me);
        CHECK(s == (uint64_t)round, "round %d: signal %llu", round, (unsigned long long)s);
        shmem_barrier_all();
    }

    /* A signal alone (no data) adds. */
    shmemx_putmem_signal_on_stream(dst, src, 0, sig, 10, SHMEM_SIGNAL_ADD, right, st);
    shmemx_signal_wait_until_on_stream(sig, SHMEM_CMP_EQ, 13, st);
    shmemx_stream_synchronize(st);
    shmem_barrier_all();

    /* Host-side RMA on a peer's device heap. */
    shmem_long_p(&dst[5], -7, right);
    shmem_barrier_all();
    CHECK(shmem_long_g(&dst[5], me) == -7, "shmem_long_p into the device heap");

    /* On the CPU fallback the device heap is host memory. */
    if (shmemx_device_gpu() < 0) {
        CHECK(src[3] == want(3, me, 3), "direct load %ld", src[3]);
    }

    /* Host-heap objects and the default stream (NULL) work too. */
    long *h = shmem_calloc(K, sizeof(long));
    shmemx_putmem_on_stream(h, src, K * sizeof(long), right, NULL);
    shmemx_barrier_all_on_stream(NULL);
    shmemx_stream_synchronize(NULL);
    for (int i = 0; i < K; i++) {
        CHECK(h[i] == want(3, left, i), "host heap h[%d] = %ld", i, h[i]);
    }
    shmem_barrier_all();
    shmem_free(h);

    shmemx_free_device(sig);
    shmemx_free_device(back);
    shmemx_free_device(dst);
    shmemx_free_device(src);
}

static void coll(shmemx_stream_t st) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    enum { N = 8 };
    int *xi = shmemx_malloc_device(N * sizeof(int));
    int *yi = shmemx_malloc_device(N * sizeof(int));
    double *xd = shmemx_malloc_device(N * sizeof(double));
    double *yd = shmemx_malloc_device(N * sizeof(double));
    float *xf = shmemx_malloc_device(N * sizeof(float));
    long *xl = shmemx_malloc_device(N * sizeof(long));
    long *gl = shmemx_malloc_device(N * 4 * sizeof(long));
    int *ai = shmemx_malloc_device(4 * sizeof(int));
    int *bi = shmemx_malloc_device(4 * sizeof(int));
    int vi[N], ti[4];
    double vd[N];
    float vf[N];
    long vl[N];
    for (int i = 0; i < N; i++) {
        vi[i] = me + i;
        vd[i] = me * 0.5 + i;
        vf[i] = (float)(me + 1);
        vl[i] = me == 0 ? 100 + i : -1;
    }
    for (int j = 0; j < n; j++) {
        ti[j] = me * 10 + j; /* block j goes to PE j */
    }
    shmem_putmem(xi, vi, sizeof vi, me);
    shmem_putmem(xd, vd, sizeof vd, me);
    shmem_putmem(xf, vf, sizeof vf, me);
    shmem_putmem(xl, vl, sizeof vl, me);
    shmem_putmem(ai, ti, n * sizeof(int), me);

    CHECK(shmemx_int_sum_reduce_on_stream(SHMEM_TEAM_WORLD, yi, xi, N, st) == 0, "int sum");
    CHECK(shmemx_double_max_reduce_on_stream(SHMEM_TEAM_WORLD, yd, xd, N, st) == 0, "double max");
    CHECK(shmemx_float_prod_reduce_on_stream(SHMEM_TEAM_WORLD, xf, xf, N, st) == 0, "float prod in place");
    CHECK(shmemx_long_broadcast_on_stream(SHMEM_TEAM_WORLD, xl, xl, N, 0, st) == 0, "long broadcast");
    CHECK(shmemx_long_fcollect_on_stream(SHMEM_TEAM_WORLD, gl, xl, N, st) == 0, "long fcollect");
    CHECK(shmemx_int_alltoall_on_stream(SHMEM_TEAM_WORLD, bi, ai, 1, st) == 0, "int alltoall");
    CHECK(shmemx_barrier_on_stream(SHMEM_TEAM_WORLD, st) == 0, "barrier");
    CHECK(shmemx_int_sum_reduce_on_stream(SHMEM_TEAM_INVALID, yi, xi, N, st) != 0, "SHMEM_TEAM_INVALID");
    shmemx_stream_synchronize(st);

    int ri[N];
    double rd[N];
    float rf[N];
    long rl[N * 4];
    shmem_getmem(ri, yi, sizeof ri, me);
    shmem_getmem(rd, yd, sizeof rd, me);
    shmem_getmem(rf, xf, sizeof rf, me);
    shmem_getmem(rl, gl, n * N * sizeof(long), me);
    shmem_getmem(ti, bi, n * sizeof(int), me);
    float prod = 1;
    for (int p = 0; p < n; p++) {
        prod *= (float)(p + 1);
    }
    for (int i = 0; i < N; i++) {
        int s = n * i + n * (n - 1) / 2;
        CHECK(ri[i] == s, "int sum [%d] = %d, want %d", i, ri[i], s);
        CHECK(rd[i] == (n - 1) * 0.5 + i, "double max [%d] = %g", i, rd[i]);
        CHECK(rf[i] == prod, "float prod [%d] = %g, want %g", i, rf[i], prod);
    }
    for (int p = 0; p < n; p++) {
        for (int i = 0; i < N; i++) {
            CHECK(rl[p * N + i] == 100 + i, "fcollect of the broadcast [%d][%d] = %ld", p, i, rl[p * N + i]);
        }
        CHECK(ti[p] == p * 10 + me, "alltoall [%d] = %d", p, ti[p]);
    }
    shmem_barrier_all();
    shmemx_free_device(bi);
    shmemx_free_device(ai);
    shmemx_free_device(gl);
    shmemx_free_device(xl);
    shmemx_free_device(xf);
    shmemx_free_device(yd);
    shmemx_free_device(xd);
    shmemx_free_device(yi);
    shmemx_free_device(xi);
}

static void test(void) {
    shmemx_stream_t st = shmemx_stream_create();
    CHECK(st != NULL, "shmemx_stream_create");
    rma(st);
    coll(st);
    /* A second stream, left for shmem_finalize to close. */
    shmemx_stream_t other = shmemx_stream_create();
    CHECK(other != st, "two streams, one handle");
    shmemx_barrier_all_on_stream(other);
    shmemx_stream_destroy(st);
}
