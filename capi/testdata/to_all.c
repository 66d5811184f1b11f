// The deprecated active-set collectives (OpenSHMEM 1.4): on the whole world
// (the world team's collectives) and on active sets of their own (run on
// pSync): the top half of the PEs and the even PEs (logPE_stride 1).
#include <complex.h>

#include "harness.h"

#define N 6

static int in_set(int me, int start, int logs, int size) {
    int d = me - start, st = 1 << logs;
    return d >= 0 && d % st == 0 && d / st < size;
}

/* psync: 2 * SHMEM_REDUCE_SYNC_SIZE longs, symmetric */
static void run(long *psync, int start, int logs, int size, int npes, int me) {
    int st = 1 << logs, my = (me - start) / st;
    long *ps = psync, *ps2 = psync + SHMEM_REDUCE_SYNC_SIZE;
    long *src = shmem_malloc(N * npes * sizeof(long)), *dst = shmem_malloc(2 * N * npes * sizeof(long));
    int *isrc = shmem_malloc(N * sizeof(int)), *idst = shmem_malloc(N * sizeof(int)), *iwrk = shmem_malloc(64 * sizeof(int));
    float *fsrc = shmem_malloc(N * sizeof(float)), *fdst = shmem_malloc(N * sizeof(float)), *fwrk = shmem_malloc(64 * sizeof(float));
    long double *qsrc = shmem_malloc(N * sizeof(long double)), *qwrk = shmem_malloc(64 * sizeof(long double));
    double _Complex *zsrc = shmem_malloc(N * sizeof(double _Complex)), *zdst = shmem_malloc(N * sizeof(double _Complex)),
                    *zwrk = shmem_malloc(64 * sizeof(double _Complex));
    long *lwrk = shmem_malloc(64 * sizeof(long));
    shmem_barrier_all();
    if (!in_set(me, start, logs, size)) {
        goto out;
    }
    /* barriers back to back on one pSync */
    for (int i = 0; i < 5; i++) {
        shmem_barrier(start, logs, size, ps);
    }
    shmem_sync(start, logs, size, ps);

    /* broadcast64: the root's dest is not written (1.4) */
    for (int root = 0; root < size; root++) {
        for (int i = 0; i < N; i++) {
            src[i] = me * 100 + i;
            dst[i] = -5;
        }
        shmem_barrier(start, logs, size, ps);
        shmem_broadcast64(dst, src, N, root, start, logs, size, ps2);
        shmem_barrier(start, logs, size, ps);
        int rw = start + root * st;
        for (int i = 0; i < N; i++) {
            long want = my == root ? -5 : rw * 100 + i;
            CHECK(dst[i] == want, "set %d/%d/%d broadcast64 root %d: dst[%d] = %ld, want %ld", start, logs, size,
                  root, i, dst[i], want);
        }
    }
    /* broadcast32 */
    for (int i = 0; i < N; i++) {
        isrc[i] = me + i;
        idst[i] = 0;
    }
    shmem_barrier(start, logs, size, ps);
    shmem_broadcast32(idst, isrc, N, size - 1, start, logs, size, ps2);
    shmem_barrier(start, logs, size, ps);
    for (int i = 0; i < N; i++) {
        int want = my == size - 1 ? 0 : start + (size - 1) * st + i;
        CHECK(idst[i] == want, "broadcast32 idst[%d] = %d, want %d", i, idst[i], want);
    }

    /* fcollect64 */
    for (int i = 0; i < N; i++) {
        src[i] = me * 1000 + i;
    }
    shmem_barrier(start, logs, size, ps);
    shmem_fcollect64(dst, src, N, start, logs, size, ps2);
    shmem_barrier(start, logs, size, ps);
    for (int p = 0; p < size; p++) {
        for (int i = 0; i < N; i++) {
            long want = (start + p * st) * 1000 + i;
            CHECK(dst[p * N + i] == want, "fcollect64 dst[%d] = %ld, want %ld", p * N + i, dst[p * N + i], want);
        }
    }
    /* collect32: member m contributes m+1 ints; twice on one pSync */
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i <= my; i++) {
            ((int *)src)[i] = me * 10 + i + rep;
        }
        shmem_barrier(start, logs, size, ps);
        shmem_collect32(dst, src, my + 1, start, logs, size, ps2);
        shmem_barrier(start, logs, size, ps);
        int k = 0;
        for (int p = 0; p < size; p++) {
            for (int i = 0; i <= p; i++, k++) {
                int want = (start + p * st) * 10 + i + rep;
                CHECK(((int *)dst)[k] == want, "collect32 dst[%d] = %d, want %d", k, ((int *)dst)[k], want);
            }
        }
    }
    /* alltoall64 and alltoalls64 */
    for (int j = 0; j < size; j++) {
        for (int i = 0; i < N; i++) {
            src[j * N + i] = me * 10000 + j * 100 + i;
        }
    }
    shmem_barrier(start, logs, size, ps);
    shmem_alltoall64(dst, src, N, start, logs, size, ps2);
    shmem_barrier(start, logs, size, ps);
    for (int j = 0; j < size; j++) {
        for (int i = 0; i < N; i++) {
            long want = (start + j * st) * 10000 + my * 100 + i;
            CHECK(dst[j * N + i] == want, "alltoall64 dst[%d] = %ld, want %ld", j * N + i, dst[j * N + i], want);
        }
    }
    for (int i = 0; i < 2 * N * size; i++) {
        dst[i] = -1;
    }
    shmem_barrier(start, logs, size, ps);
    shmem_alltoalls64(dst, src, 2, 1, N, start, logs, size, ps2);
    shmem_barrier(start, logs, size, ps);
    for (int j = 0; j < size; j++) {
        for (int i = 0; i < N; i++) {
            long want = (start + j * st) * 10000 + my * 100 + i;
            CHECK(dst[2 * (j * N + i)] == want && dst[2 * (j * N + i) + 1] == -1, "alltoalls64 at %d",
                  2 * (j * N + i));
        }
    }

    /* reductions */
    for (int i = 0; i < N; i++) {
        src[i] = me + i;
        isrc[i] = 1 << ((me + i) % 31);
        fsrc[i] = (float)me + 0.25f * i;
        qsrc[i] = (long double)me + i;
        zsrc[i] = (me + 1) + i * I;
    }
    shmem_barrier(start, logs, size, ps);
    shmem_long_sum_to_all(dst, src, N, start, logs, size, lwrk, ps2);
    shmem_barrier(start, logs, size, ps);
    shmem_int_or_to_all(idst, isrc, N, start, logs, size, iwrk, ps2);
    shmem_barrier(start, logs, size, ps);
    shmem_float_max_to_all(fdst, fsrc, N, start, logs, size, fwrk, ps2);
    shmem_barrier(start, logs, size, ps);
    shmem_complexd_prod_to_all(zdst, zsrc, N, start, logs, size, zwrk, ps2);
    shmem_barrier(start, logs, size, ps);
    shmem_longdouble_sum_to_all(qsrc, qsrc, N, start, logs, size, qwrk, ps2); /* in place */
    shmem_barrier(start, logs, size, ps);
    for (int i = 0; i < N; i++) {
        long lsum = 0;
        int ior = 0;
        long double qsum = 0;
        double _Complex zprod = 1;
        for (int p = 0; p < size; p++) {
            int w = start + p * st;
            lsum += w + i;
            ior |= 1 << ((w + i) % 31);
            qsum += (long double)w + i;
            zprod *= (w + 1) + i * I;
        }
        float fmax = (float)(start + (size - 1) * st) + 0.25f * i;
        CHECK(dst[i] == lsum, "long sum [%d] = %ld, want %ld", i, dst[i], lsum);
        CHECK(idst[i] == ior, "int or [%d] = %#x, want %#x", i, idst[i], ior);
        CHECK(fdst[i] == fmax, "float max [%d] = %g, want %g", i, fdst[i], fmax);
        CHECK(qsrc[i] == qsum, "long double sum in place [%d] = %Lg, want %Lg", i, qsrc[i], qsum);
        CHECK(zdst[i] == zprod, "complexd prod [%d]", i);
    }
    /* in place on a Go type */
    shmem_long_min_to_all(src, src, N, start, logs, size, lwrk, ps2);
    for (int i = 0; i < N; i++) {
        CHECK(src[i] == start + i, "long min in place [%d] = %ld", i, src[i]);
    }
out:
    shmem_barrier_all();
    shmem_free(src);
    shmem_free(dst);
    shmem_free(isrc);
    shmem_free(idst);
    shmem_free(iwrk);
    shmem_free(fsrc);
    shmem_free(fdst);
    shmem_free(fwrk);
    shmem_free(qsrc);
    shmem_free(qwrk);
    shmem_free(zsrc);
    shmem_free(zdst);
    shmem_free(zwrk);
    shmem_free(lwrk);
}

/* big_broadcast: a broadcast64 of 64 KiB on the world, past the size
 * that travels with the agreement (the tree path, which sends from the
 * root's dest offset): every other PE gets the data, the root's dest
 * stays as it was. */
static void big_broadcast(long *psync, int npes, int me) {
    enum { M = 8192 };
    long *src = shmem_malloc(M * sizeof(long)), *dst = shmem_malloc(M * sizeof(long));
    for (int i = 0; i < M; i++) {
        src[i] = 1000L * me + i;
        dst[i] = -1;
    }
    int root = npes - 1;
    shmem_barrier_all();
    shmem_broadcast64(dst, src, M, root, 0, 0, npes, psync);
    for (int i = 0; i < M; i++) {
        long want = me == root ? -1 : 1000L * root + i;
        CHECK(dst[i] == want, "broadcast64 of %d longs, root %d: dst[%d] = %ld, want %ld", M, root, i, dst[i], want);
    }
    shmem_barrier_all();
    shmem_free(dst);
    shmem_free(src);
}

static void test(void) {
    int me = shmem_my_pe(), npes = shmem_n_pes();
    long *psync = shmem_malloc(2 * SHMEM_REDUCE_SYNC_SIZE * sizeof(long));
    for (int i = 0; i < 2 * SHMEM_REDUCE_SYNC_SIZE; i++) {
        psync[i] = SHMEM_SYNC_VALUE;
    }
    shmem_barrier_all();
    run(psync, 0, 0, npes, npes, me);                  /* the world */
    run(psync, npes / 2, 0, npes - npes / 2, npes, me); /* the top half */
    run(psync, 0, 1, (npes + 1) / 2, npes, me);         /* the even PEs */
    big_broadcast(psync, npes, me);
    shmem_barrier_all();
    for (int i = 0; i < 2 * SHMEM_REDUCE_SYNC_SIZE; i++) {
        CHECK(psync[i] == SHMEM_SYNC_VALUE, "pSync[%d] = %ld after the calls", i, psync[i]);
    }
    shmem_free(psync);
}
