// Atomics: every PE hammers words on PE 0 (and its neighbours) with the
// typed, context, non-blocking, C11 generic and deprecated forms, and the
// results are exact: sums, a compare-swap election, swap chains, bit masks,
// float bit patterns.
#include <stdint.h>

#include "harness.h"

#define ROUNDS 2000

static void test(void) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    int right = (me + 1) % n;
    long *lsum = shmem_calloc(1, sizeof(long));
    int *isum = shmem_calloc(1, sizeof(int));
    uint32_t *u32 = shmem_calloc(1, sizeof(uint32_t));
    unsigned long long *ull = shmem_calloc(1, sizeof(unsigned long long));
    size_t *sz = shmem_calloc(1, sizeof(size_t));
    ptrdiff_t *pd = shmem_calloc(1, sizeof(ptrdiff_t));
    int *winner = shmem_malloc(sizeof(int));
    long *chain = shmem_malloc(sizeof(long));
    uint64_t *bits = shmem_calloc(1, sizeof(uint64_t));
    unsigned int *ubits = shmem_calloc(1, sizeof(unsigned int));
    double *dbl = shmem_calloc(1, sizeof(double));
    float *flt = shmem_calloc(1, sizeof(float));
    long *tickets = shmem_calloc(1, sizeof(long));
    CHECK(lsum && isum && u32 && ull && sz && pd && winner && chain && bits && ubits && dbl && flt && tickets,
          "allocation failed");
    *winner = -1;
    *chain = -1;
    shmem_barrier_all();

    // Sums into PE 0: every form of add, exact totals.
    for (int k = 0; k < ROUNDS; k++) {
        shmem_long_atomic_fetch_add(lsum, me + 1, 0);
        shmem_int_atomic_inc(isum, 0);
        shmem_uint32_atomic_add(u32, 3, 0);
        shmem_ctx_ulonglong_atomic_fetch_inc(SHMEM_CTX_DEFAULT, ull, 0);
        shmem_size_atomic_add(sz, 2, 0);
        shmem_ptrdiff_atomic_add(pd, -1, 0);
    }
    long fa = shmem_long_atomic_fetch_add(lsum, 0, 0);
    CHECK(fa >= ROUNDS * (me + 1), "fetch_add saw %ld after my own %d adds", fa, ROUNDS);

    // A compare-swap election on PE 0: exactly one PE sees -1.
    int was = shmem_int_atomic_compare_swap(winner, -1, me, 0);
    if (was == -1) {
        shmem_long_atomic_inc(tickets, 0);
    } else {
        CHECK(was >= 0 && was < n, "compare_swap returned %d", was);
    }
    // A swap chain on PE 0: the values returned and the last one left are
    // -1 and every PE's number, each once.
    long prev = shmem_long_atomic_swap(chain, me, 0);
    // Bit masks: every PE sets its bit (or), then flips bit 32+me twice.
    uint64_t before = shmem_uint64_atomic_fetch_or(bits, (uint64_t)1 << me, 0);
    CHECK(!(before & ((uint64_t)1 << me)), "my bit was set already: %#llx", (unsigned long long)before);
    shmem_uint64_atomic_xor(bits, (uint64_t)1 << (32 + me), 0);
    shmem_ctx_uint64_atomic_fetch_xor(SHMEM_CTX_DEFAULT, bits, (uint64_t)1 << (32 + me), 0);
    shmem_uint_atomic_or(ubits, 0xffu, 0);
    shmem_barrier_all();

    {
        long *all = shmem_calloc(n, sizeof(long));
        shmem_long_p(&all[me], prev, 0);
        shmem_barrier_all();
        if (me == 0) {
            long want = -1, got = *chain;
            for (int p = 0; p < n; p++) {
                want += p;
                got += all[p];
            }
            CHECK(got == want, "swap chain: returned values and the last sum to %ld, want %ld", got, want);
        }
        shmem_barrier_all();
        shmem_free(all);
    }

    if (me == 0) {
        long want = 0;
        for (int p = 0; p < n; p++) {
            want += (long)ROUNDS * (p + 1);
        }
        CHECK(*lsum == want, "long fetch_add total %ld, want %ld", *lsum, want);
        CHECK(*isum == ROUNDS * n, "int inc total %d, want %d", *isum, ROUNDS * n);
        CHECK(*u32 == 3u * ROUNDS * n, "uint32 add total %u", *u32);
        CHECK(*ull == (unsigned long long)ROUNDS * n, "ulonglong fetch_inc total %llu", *ull);
        CHECK(*sz == (size_t)2 * ROUNDS * n, "size add total %zu", *sz);
        CHECK(*pd == -(ptrdiff_t)ROUNDS * n, "ptrdiff add total %td", *pd);
        CHECK(*winner >= 0 && *winner < n, "winner %d", *winner);
        CHECK(*tickets == 1, "%ld PEs won the election", *tickets);
        CHECK(*bits == ((n == 64 ? 0 : ((uint64_t)1 << n)) - 1), "or mask %#llx", (unsigned long long)*bits);
        CHECK(*ubits == 0xffu, "uint or %#x", *ubits);
    }
    shmem_barrier_all();

    // And: every PE clears its bit again; fetch reads every PE's word.
    shmem_uint64_atomic_and(bits, ~((uint64_t)1 << me), 0);
    shmem_barrier_all();
    CHECK(shmem_uint64_atomic_fetch(bits, 0) == 0, "and left %#llx", (unsigned long long)shmem_uint64_atomic_fetch(bits, 0));
    CHECK(shmem_int_atomic_fetch(isum, 0) == ROUNDS * n, "int fetch %d", shmem_int_atomic_fetch(isum, 0));

    // Floats travel as bit patterns: set, fetch, swap on the right neighbour.
    shmem_double_atomic_set(dbl, me + 0.25, right);
    shmem_float_atomic_set(flt, (float)me - 0.5f, right);
    shmem_barrier_all();
    int left = (me + n - 1) % n;
    CHECK(*dbl == left + 0.25, "double set: %f, want %f", *dbl, left + 0.25);
    CHECK(shmem_double_atomic_fetch(dbl, right) == me + 0.25, "double fetch");
    CHECK(shmem_ctx_float_atomic_fetch(SHMEM_CTX_DEFAULT, flt, me) == (float)left - 0.5f, "float fetch");
    shmem_barrier_all();
    double old = shmem_double_atomic_swap(dbl, -1.5, right);
    CHECK(old == me + 0.25, "double swap returned %f", old);
    shmem_barrier_all();
    CHECK(*dbl == -1.5, "double swap left %f", *dbl);
    shmem_barrier_all();

    // Non-blocking fetching forms: tickets from PE 0's counter, distinct
    // and increasing per PE, valid after quiet.
    if (me == 0) {
        *tickets = 0;
    }
    shmem_barrier_all();
    long mine[16];
    for (int k = 0; k < 16; k++) {
        shmem_long_atomic_fetch_inc_nbi(&mine[k], tickets, 0);
    }
    shmem_quiet();
    for (int k = 1; k < 16; k++) {
        CHECK(mine[k] > mine[k - 1], "tickets %ld then %ld", mine[k - 1], mine[k]);
    }
    long f1 = 0, f2 = 0, f3 = 0;
    int c1 = 0;
    double d1 = 0;
    shmem_long_atomic_fetch_add_nbi(&f1, tickets, 0, 0);
    shmem_ctx_long_atomic_fetch_nbi(SHMEM_CTX_DEFAULT, &f2, tickets, 0);
    shmem_barrier_all();
    CHECK(f1 >= 16 && f2 >= 16, "fetch_add_nbi %ld, fetch_nbi %ld", f1, f2);
    if (me == 0) {
        CHECK(*tickets == 16L * n, "tickets %ld, want %ld", *tickets, 16L * n);
        *isum = 5;
    }
    shmem_barrier_all();
    shmem_int_atomic_compare_swap_nbi(&c1, isum, 5, 5, 0);
    shmem_double_atomic_swap_nbi(&d1, dbl, -1.5, me);
    shmem_uint64_atomic_fetch_or_nbi((uint64_t *)&f3, bits, 0, 0);
    shmem_quiet();
    CHECK(c1 == 5 && d1 == -1.5 && f3 == 0, "nbi: cswap %d, swap %f, or %ld", c1, d1, f3);
    shmem_barrier_all();

    // C11 generics, with and without a context.
    long gl = 0;
    shmem_atomic_add(lsum, 1L, right);
    shmem_atomic_inc(SHMEM_CTX_DEFAULT, lsum, right);
    gl = shmem_atomic_fetch_add(lsum, 0L, right);
    (void)gl;
    unsigned int ub = shmem_atomic_fetch_and(ubits, 0x0fu, 0);
    (void)ub;
    shmem_atomic_set(dbl, 2.0, me);
    CHECK(shmem_atomic_fetch(dbl, me) == 2.0, "generic fetch of a double");
    CHECK(shmem_atomic_swap(SHMEM_CTX_DEFAULT, dbl, 3.0, me) == 2.0, "generic ctx swap");
    int gc = shmem_atomic_compare_swap(isum, 5, 5, 0);
    CHECK(gc == 5, "generic compare_swap %d", gc);
    long gf = 0;
    shmem_atomic_fetch_inc_nbi(&gf, tickets, 0);
    shmem_quiet();
    shmem_barrier_all();
    if (me == 0) {
        CHECK(*tickets == 17L * n, "generic fetch_inc_nbi: tickets %ld", *tickets);
        CHECK(*ubits == 0x0fu, "generic fetch_and left %#x", *ubits);
    }
    shmem_barrier_all();

    // Deprecated names.
    if (me == 0) {
        *lsum = 0;
        *isum = 0;
    }
    shmem_barrier_all();
    shmem_long_fadd(lsum, 2, 0);
    shmem_long_add(lsum, 3, 0);
    shmem_long_inc(lsum, 0);
    shmem_long_finc(lsum, 0);
    shmem_int_add(isum, 1, 0);
    shmem_fadd(isum, 1, 0);
    shmem_inc(lsum, 0);
    shmem_barrier_all();
    if (me == 0) {
        CHECK(*lsum == 8L * n, "deprecated adds: %ld", *lsum);
        CHECK(*isum == 2 * n, "deprecated int adds: %d", *isum);
    }
    shmem_barrier_all();
    if (me == 0) {
        shmem_long_set(lsum, 10, 0);
        CHECK(shmem_long_fetch(lsum, 0) == 10, "deprecated set/fetch");
        CHECK(shmem_long_cswap(lsum, 10, 11, 0) == 10, "deprecated cswap");
        CHECK(shmem_long_swap(lsum, 12, 0) == 11, "deprecated swap");
        CHECK(shmem_swap(lsum, 13L, 0) == 12, "deprecated generic swap");
        CHECK(shmem_double_swap(dbl, 4.0, 0) == 3.0, "deprecated double swap");
        CHECK(shmem_fetch(lsum, 0) == 13, "deprecated generic fetch");
    }
    shmem_barrier_all();
}
