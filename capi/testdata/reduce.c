// Reductions on teams: every operation on some of its types (long double
// and complex included), in place and not, on the world team and on the
// even-numbered PEs' team, against sums computed here.
#include <complex.h>

#include "harness.h"

#define N 7

static void world(int me, int npes) {
    long *ls = shmem_malloc(N * sizeof(long)), *ld = shmem_malloc(N * sizeof(long));
    unsigned *us = shmem_malloc(N * sizeof(unsigned)), *ud = shmem_malloc(N * sizeof(unsigned));
    double *ds = shmem_malloc(N * sizeof(double)), *dd = shmem_malloc(N * sizeof(double));
    long double *qs = shmem_malloc(N * sizeof(long double)), *qd = shmem_malloc(N * sizeof(long double));
    double _Complex *zs = shmem_malloc(N * sizeof(double _Complex)), *zd = shmem_malloc(N * sizeof(double _Complex));
    float _Complex *fs = shmem_malloc(N * sizeof(float _Complex)), *fd = shmem_malloc(N * sizeof(float _Complex));
    for (int i = 0; i < N; i++) {
        ls[i] = me + i;
        us[i] = 1u << ((me + i) % 32);
        ds[i] = me * 0.5 + i;
        qs[i] = (long double)me + i;
        zs[i] = (me + 1) + i * I;
        fs[i] = (float)(me + 1) + (float)i * I;
    }
    shmem_barrier_all();

    long sum = 0;
    CHECK(shmem_long_sum_reduce(SHMEM_TEAM_WORLD, ld, ls, N) == 0, "sum");
    for (int i = 0; i < N; i++) {
        sum = 0;
        for (int p = 0; p < npes; p++) {
            sum += p + i;
        }
        CHECK(ld[i] == sum, "long sum [%d] = %ld, want %ld", i, ld[i], sum);
    }
    shmem_max_reduce(SHMEM_TEAM_WORLD, ld, ls, N);
    for (int i = 0; i < N; i++) {
        CHECK(ld[i] == npes - 1 + i, "long max [%d] = %ld", i, ld[i]);
    }
    shmem_long_min_reduce(SHMEM_TEAM_WORLD, ld, ls, N);
    for (int i = 0; i < N; i++) {
        CHECK(ld[i] == i, "long min [%d] = %ld", i, ld[i]);
    }
    shmem_long_prod_reduce(SHMEM_TEAM_WORLD, ld, ls, N);
    for (int i = 0; i < N; i++) {
        long prod = 1;
        for (int p = 0; p < npes; p++) {
            prod *= p + i;
        }
        CHECK(ld[i] == prod, "long prod [%d] = %ld, want %ld", i, ld[i], prod);
    }
    shmem_uint_or_reduce(SHMEM_TEAM_WORLD, ud, us, N);
    shmem_barrier_all();
    for (int i = 0; i < N; i++) {
        unsigned want = 0;
        for (int p = 0; p < npes; p++) {
            want |= 1u << ((p + i) % 32);
        }
        CHECK(ud[i] == want, "uint or [%d] = %#x, want %#x", i, ud[i], want);
    }
    shmem_and_reduce(SHMEM_TEAM_WORLD, ud, us, N);
    for (int i = 0; i < N; i++) {
        CHECK(ud[i] == (npes == 1 ? us[i] : 0), "uint and [%d] = %#x", i, ud[i]);
    }
    shmem_uint_xor_reduce(SHMEM_TEAM_WORLD, ud, us, N);
    for (int i = 0; i < N; i++) {
        unsigned want = 0;
        for (int p = 0; p < npes; p++) {
            want ^= 1u << ((p + i) % 32);
        }
        CHECK(ud[i] == want, "uint xor [%d] = %#x, want %#x", i, ud[i], want);
    }
    shmem_double_sum_reduce(SHMEM_TEAM_WORLD, dd, ds, N);
    for (int i = 0; i < N; i++) {
        double want = 0;
        for (int p = 0; p < npes; p++) {
            want += p * 0.5 + i;
        }
        CHECK(dd[i] == want, "double sum [%d] = %g, want %g", i, dd[i], want);
    }
    /* long double runs in C */
    shmem_longdouble_sum_reduce(SHMEM_TEAM_WORLD, qd, qs, N);
    shmem_barrier_all();
    for (int i = 0; i < N; i++) {
        long double want = 0;
        for (int p = 0; p < npes; p++) {
            want += (long double)p + i;
        }
        CHECK(qd[i] == want, "long double sum [%d] = %Lg, want %Lg", i, qd[i], want);
    }
    shmem_longdouble_max_reduce(SHMEM_TEAM_WORLD, qd, qs, N);
    for (int i = 0; i < N; i++) {
        CHECK(qd[i] == (long double)(npes - 1 + i), "long double max [%d] = %Lg", i, qd[i]);
    }
    /* long double in place */
    shmem_barrier_all();
    shmem_longdouble_prod_reduce(SHMEM_TEAM_WORLD, qs, qs, N);
    for (int i = 0; i < N; i++) {
        long double want = 1;
        for (int p = 0; p < npes; p++) {
            want *= (long double)p + i;
        }
        CHECK(qs[i] == want, "long double prod in place [%d] = %Lg, want %Lg", i, qs[i], want);
    }
    shmem_complexd_prod_reduce(SHMEM_TEAM_WORLD, zd, zs, N);
    for (int i = 0; i < N; i++) {
        double _Complex want = 1;
        for (int p = 0; p < npes; p++) {
            want *= (p + 1) + i * I;
        }
        CHECK(zd[i] == want, "complexd prod [%d] = %g%+gi, want %g%+gi", i, creal(zd[i]), cimag(zd[i]), creal(want),
              cimag(want));
    }
    shmem_sum_reduce(SHMEM_TEAM_WORLD, fd, fs, N);
    for (int i = 0; i < N; i++) {
        float _Complex want = 0;
        for (int p = 0; p < npes; p++) {
            want += (float)(p + 1) + (float)i * I;
        }
        CHECK(fd[i] == want, "complexf sum [%d]", i);
    }
    /* in place, large enough not to fit the push slots */
    int big = 4096;
    long *lb = shmem_malloc(big * sizeof(long));
    for (int i = 0; i < big; i++) {
        lb[i] = i + me;
    }
    shmem_barrier_all();
    shmem_long_sum_reduce(SHMEM_TEAM_WORLD, lb, lb, big);
    for (int i = 0; i < big; i++) {
        long want = (long)i * npes + (long)npes * (npes - 1) / 2;
        CHECK(lb[i] == want, "large in place sum [%d] = %ld, want %ld", i, lb[i], want);
    }
    shmem_barrier_all();
    shmem_free(lb);
    shmem_free(ls);
    shmem_free(ld);
    shmem_free(us);
    shmem_free(ud);
    shmem_free(ds);
    shmem_free(dd);
    shmem_free(qs);
    shmem_free(qd);
    shmem_free(zs);
    shmem_free(zd);
    shmem_free(fs);
    shmem_free(fd);
}

static void evens(int me, int npes) {
    shmem_team_t t;
    int size = (npes + 1) / 2;
    int *s = shmem_malloc(N * sizeof(int)), *d = shmem_malloc(N * sizeof(int));
    long double *qs = shmem_malloc(N * sizeof(long double)), *qd = shmem_malloc(N * sizeof(long double));
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 2, size, NULL, 0, &t) == 0, "split");
    if (t != SHMEM_TEAM_INVALID) {
        for (int i = 0; i < N; i++) {
            s[i] = me * 3 + i;
            qs[i] = me * 3 + i;
        }
        shmem_team_sync(t);
        shmem_int_sum_reduce(t, d, s, N);
        shmem_longdouble_min_reduce(t, qd, qs, N);
        for (int i = 0; i < N; i++) {
            int want = 0;
            for (int p = 0; p < npes; p += 2) {
                want += p * 3 + i;
            }
            CHECK(d[i] == want, "evens int sum [%d] = %d, want %d", i, d[i], want);
            CHECK(qd[i] == i, "evens long double min [%d] = %Lg", i, qd[i]);
        }
        shmem_team_destroy(t);
    } else {
        CHECK(me % 2 == 1, "PE %d got no team", me);
    }
    shmem_barrier_all();
    shmem_free(s);
    shmem_free(d);
    shmem_free(qs);
    shmem_free(qd);
}

static void test(void) {
    int me = shmem_my_pe(), npes = shmem_n_pes();
    world(me, npes);
    evens(me, npes);
}
