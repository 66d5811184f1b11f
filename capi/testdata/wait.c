// Point-to-point waits and tests: a wait woken by a peer's p after the
// waiter has gone to sleep (the producer spins a few ms first, longer
// than the waiter's spin in C); wait_until_all/any/some with status
// masks; the vector forms; the tests; empty sets; 16-bit variables;
// deprecated and generic names.
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <time.h>

#include "harness.h"

/* delay spins ms milliseconds: long enough for a waiter to sleep. */
static void delay(int ms) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ms * 1000000L);
}

static void test(void) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    int right = (me + 1) % n, left = (me + n - 1) % n;
    long *ring = shmem_calloc(1, sizeof(long));
    int *all = shmem_calloc(n + 1, sizeof(int));
    int *any = shmem_calloc(n + 1, sizeof(int));
    int *some = shmem_calloc(n, sizeof(int));
    long *vec = shmem_calloc(n, sizeof(long));
    short *sh = shmem_calloc(4, sizeof(short));
    unsigned short *ush = shmem_calloc(4, sizeof(unsigned short));
    size_t *sz = shmem_calloc(1, sizeof(size_t));
    uint64_t *u64 = shmem_calloc(1, sizeof(uint64_t));
    CHECK(ring && all && any && some && vec && sh && ush && sz && u64, "allocation failed");
    shmem_barrier_all();

    // A ring of wakes, three times round: each PE waits for its left
    // neighbour's p, which comes after a delay; values go up.
    for (long r = 1; r <= 3; r++) {
        if (me == 0) {
            delay(5);
            shmem_long_p(ring, r, right);
        }
        shmem_long_wait_until(ring, SHMEM_CMP_GE, r);
        CHECK(*ring == r, "ring round %ld: %ld", r, *ring);
        CHECK(shmem_long_test(ring, SHMEM_CMP_EQ, r), "test after the wait");
        CHECK(!shmem_long_test(ring, SHMEM_CMP_GT, r), "test GT");
        if (me != 0) {
            delay(2);
            shmem_long_p(ring, r, right);
        }
    }
    shmem_barrier_all();

    // wait_until_all on PE 0: every PE sets its slot after a delay; the
    // last slot is never set and status excludes it.
    int status[65] = {0};
    CHECK(n < 64, "too many PEs for this test");
    status[n] = 1;
    delay(me + 1);
    shmem_int_p(&all[me], 1, 0);
    if (me == 0) {
        shmem_int_wait_until_all(all, n + 1, status, SHMEM_CMP_EQ, 1);
        for (int p = 0; p < n; p++) {
            CHECK(all[p] == 1, "all[%d] = %d", p, all[p]);
        }
        CHECK(shmem_int_test_all(all, n + 1, status, SHMEM_CMP_EQ, 1) == 1, "test_all with status");
        CHECK(shmem_int_test_all(all, n + 1, NULL, SHMEM_CMP_EQ, 1) == 0, "test_all without status");
        CHECK(shmem_int_test_all(all, 0, NULL, SHMEM_CMP_EQ, 7) == 1, "test_all of none");
    }
    shmem_barrier_all();

    // wait_until_any: only the last PE sets its slot, late.
    if (me == n - 1) {
        delay(5);
        shmem_int_p(&any[me], 3, 0);
    }
    if (me == 0) {
        size_t i = shmem_int_wait_until_any(any, n + 1, NULL, SHMEM_CMP_NE, 0);
        CHECK(i == (size_t)(n - 1), "wait_until_any returned %zu, want %d", i, n - 1);
        CHECK(shmem_int_test_any(any, n + 1, NULL, SHMEM_CMP_EQ, 3) == (size_t)(n - 1), "test_any");
        int ex[65] = {0};
        ex[n - 1] = 1;
        CHECK(shmem_int_test_any(any, n + 1, ex, SHMEM_CMP_EQ, 3) == SIZE_MAX, "test_any excluding it");
        for (int p = 0; p <= n; p++) {
            ex[p] = 1;
        }
        CHECK(shmem_int_wait_until_any(any, n + 1, ex, SHMEM_CMP_EQ, 3) == SIZE_MAX, "any of an empty set");
        CHECK(shmem_int_wait_until_any(any, 0, NULL, SHMEM_CMP_EQ, 3) == SIZE_MAX, "any of none");
        shmem_int_wait_until_all(any, n + 1, ex, SHMEM_CMP_EQ, 99); /* empty: returns */
        size_t idx[65];
        CHECK(shmem_int_wait_until_some(any, n + 1, idx, ex, SHMEM_CMP_EQ, 99) == 0, "some of an empty set");
    }
    shmem_barrier_all();

    // wait_until_some: PE 0 collects every PE's slot, excluding those seen.
    delay(2 * (n - me));
    shmem_int_atomic_set(&some[me], me + 1, 0);
    if (me == 0) {
        int seen[64] = {0}, count = 0;
        size_t idx[64];
        while (count < n) {
            size_t k = shmem_int_wait_until_some(some, n, idx, seen, SHMEM_CMP_GE, 1);
            CHECK(k >= 1 && k <= (size_t)(n - count), "wait_until_some returned %zu", k);
            for (size_t j = 0; j < k; j++) {
                CHECK(idx[j] < (size_t)n && !seen[idx[j]], "index %zu twice or out of range", idx[j]);
                CHECK(some[idx[j]] == (int)idx[j] + 1, "some[%zu] = %d", idx[j], some[idx[j]]);
                seen[idx[j]] = 1;
                count++;
            }
        }
        size_t idx2[64];
        CHECK(shmem_int_test_some(some, n, idx2, NULL, SHMEM_CMP_GE, 1) == (size_t)n, "test_some");
        CHECK(shmem_int_test_some(some, n, idx2, seen, SHMEM_CMP_GE, 1) == 0, "test_some all excluded");
    }
    shmem_barrier_all();

    // Vector forms: PE p puts p*10 into vec[p] on PE 0.
    delay(1);
    shmem_long_p(&vec[me], me * 10L, 0);
    if (me == 0) {
        long want[64], off[64];
        for (int p = 0; p < n; p++) {
            want[p] = p * 10L;
            off[p] = p * 10L + 1;
        }
        shmem_long_wait_until_all_vector(vec, n, NULL, SHMEM_CMP_EQ, want);
        CHECK(shmem_long_test_all_vector(vec, n, NULL, SHMEM_CMP_EQ, want) == 1, "test_all_vector");
        CHECK(shmem_long_test_any_vector(vec, n, NULL, SHMEM_CMP_EQ, off) == SIZE_MAX, "test_any_vector none");
        CHECK(shmem_long_wait_until_any_vector(vec, n, NULL, SHMEM_CMP_LT, off) == 0, "wait_until_any_vector");
        size_t idx[64];
        CHECK(shmem_long_wait_until_some_vector(vec, n, idx, NULL, SHMEM_CMP_LE, want) == (size_t)n, "some_vector");
        CHECK(shmem_long_test_some_vector(vec, n, idx, NULL, SHMEM_CMP_GT, want) == 0, "test_some_vector");
    }
    shmem_barrier_all();

    // 16-bit variables (deprecated types): two neighbours in one word.
    delay(3);
    shmem_short_p(&sh[1], (short)-5, right);
    shmem_ushort_p(&ush[2], (unsigned short)60000, right);
    shmem_short_wait_until(&sh[1], SHMEM_CMP_LT, 0);
    shmem_ushort_wait_until(&ush[2], SHMEM_CMP_GT, 50000);
    CHECK(sh[1] == -5 && sh[0] == 0 && ush[2] == 60000 && ush[3] == 0, "16-bit: %d %d %u %u", sh[1], sh[0], ush[2],
          ush[3]);
    shmem_barrier_all();

    // Signed and unsigned comparisons differ; size_t, uint64_t; deprecated
    // and generic names.
    if (me == 0) {
        *u64 = UINT64_MAX;
        CHECK(shmem_uint64_test(u64, SHMEM_CMP_GT, 1), "uint64 max > 1");
        CHECK(shmem_int64_test((int64_t *)u64, SHMEM_CMP_LT, 0), "int64 -1 < 0");
        CHECK(shmem_test(u64, SHMEM_CMP_GE, (uint64_t)1), "generic test (unsigned long)");
    }
    shmem_barrier_all();
    delay(2);
    shmem_size_p(sz, (size_t)me + 100, right);
    shmem_size_wait_until(sz, SHMEM_CMP_EQ, (size_t)left + 100);
    shmem_barrier_all();
    delay(2);
    shmem_long_p(ring, 42, right);
    shmem_wait(ring, 3);                  /* deprecated: until != 3 */
    shmem_barrier_all();
    shmem_long_p(ring, 43, right);
    shmem_long_wait(ring, 42);
    shmem_barrier_all();
    shmem_long_p(ring, 44, right);
    shmem_wait_until(ring, SHMEM_CMP_EQ, 44L); /* generic */
    CHECK(*ring == 44, "generic wait_until: %ld", *ring);
    shmem_barrier_all();
    if (me == 0) {
        size_t i = shmem_wait_until_any(all, (size_t)n, NULL, SHMEM_CMP_EQ, 1);
        CHECK(i < (size_t)n, "generic wait_until_any %zu", i);
    }
    shmem_barrier_all();
}
