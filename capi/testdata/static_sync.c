// Global and static variables in everything but plain RMA (static.c has
// that): atomics, put-with-signal, waits that sleep (the producer holds
// back first, so the waiter goes past its spin into Go, which must wake on
// a store into static data), tests, a static lock, team collectives with
// static buffers and the deprecated active-set ones with a static pSync.
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "harness.h"

static long counter;
static int flag;
static int flags[4];
static long ticket;
static uint64_t sig;
static long box[8];
static long lock;
static long unguarded;
static long src[16], dst[64];
static long pSync[SHMEM_REDUCE_SYNC_SIZE];
static long pWrk[SHMEM_REDUCE_MIN_WRKDATA_SIZE];

static void hold_back(void) {
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
}

static void test(void) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    if (getenv("GSHMEM_TEST_INPROC") != NULL || strstr(shmemx_transport(), "ofi") != NULL) {
        printf("static_sync: shmemx_run's PEs share their globals, and across nodes static data is symmetric only "
               "within a node: nothing to test\n");
        return;
    }
    for (int i = 0; i < SHMEM_REDUCE_SYNC_SIZE; i++) {
        pSync[i] = SHMEM_SYNC_VALUE;
    }
    shmem_barrier_all();

    // Atomics on PE 0's copy.
    shmem_long_atomic_inc(&counter, 0);
    long mine = shmem_long_atomic_fetch_add(&ticket, 1, 0);
    CHECK(mine >= 0 && mine < n, "ticket %ld", mine);
    shmem_barrier_all();
    CHECK(shmem_long_atomic_fetch(&counter, 0) == n, "counter %ld, want %d", shmem_long_atomic_fetch(&counter, 0), n);
    long old = shmem_long_atomic_compare_swap(&box[0], 0, me + 1, 0);
    CHECK(old >= 0 && old <= n, "cswap returned %ld", old);
    if (old == 0) {
        shmem_long_atomic_inc(&box[1], 0); /* count the winners */
    }
    shmem_barrier_all();
    if (me == 0) {
        CHECK(box[0] >= 1 && box[0] <= n && box[1] == 1, "cswap: winner %ld, %ld winners", box[0], box[1]);
    }
    shmem_barrier_all();

    // A wait that sleeps: PE 0 wakes every other PE's flag late.
    if (me == 0) {
        hold_back();
        for (int i = 1; i < n; i++) {
            shmem_int_atomic_set(&flag, 7, i);
        }
    } else {
        shmem_int_wait_until(&flag, SHMEM_CMP_EQ, 7);
    }
    // wait_until_any on an array, and test.
    if (me == 0 && n > 1) {
        hold_back();
        shmem_int_p(&flags[2], 1, n - 1);
    }
    if (me == n - 1 && n > 1) {
        size_t i = shmem_int_wait_until_any(flags, 4, NULL, SHMEM_CMP_EQ, 1);
        CHECK(i == 2, "wait_until_any returned %zu", i);
        CHECK(shmem_int_test(&flags[2], SHMEM_CMP_EQ, 1), "test");
    }
    shmem_barrier_all();

    // Put with signal into static data, to the right.
    int right = (me + 1) % n, left = (me + n - 1) % n;
    long data[8];
    for (int i = 0; i < 8; i++) {
        data[i] = me * 100 + i;
    }
    shmem_long_put_signal(box, data, 8, &sig, 1, SHMEM_SIGNAL_ADD, right);
    uint64_t got = shmem_signal_wait_until(&sig, SHMEM_CMP_GE, 1);
    CHECK(got == 1, "signal %llu", (unsigned long long)got);
    for (int i = 0; i < 8; i++) {
        CHECK(box[i] == left * 100 + i, "box[%d] = %ld", i, box[i]);
    }
    CHECK(shmem_signal_fetch(&sig) == 1, "signal_fetch");
    shmem_barrier_all();

    // A static lock around a plain read-modify-write on PE 0.
    for (int k = 0; k < 20; k++) {
        shmem_set_lock(&lock);
        long v = shmem_long_g(&unguarded, 0);
        shmem_long_p(&unguarded, v + 1, 0);
        shmem_quiet();
        shmem_clear_lock(&lock);
    }
    shmem_barrier_all();
    CHECK(shmem_long_g(&unguarded, 0) == 20L * n, "locked count %ld, want %ld", shmem_long_g(&unguarded, 0), 20L * n);
    if (me == 0) {
        CHECK(shmem_test_lock(&lock) == 0, "test_lock of a free lock");
        CHECK(n == 1 || shmem_test_lock(&lock) == 1, "test_lock of a held lock");
        shmem_clear_lock(&lock);
    }
    shmem_barrier_all();

    // Team collectives with static buffers.
    for (int i = 0; i < 16; i++) {
        src[i] = me + i;
    }
    shmem_long_sum_reduce(SHMEM_TEAM_WORLD, dst, src, 16);
    for (int i = 0; i < 16; i++) {
        long want = (long)n * (n - 1) / 2 + (long)n * i;
        CHECK(dst[i] == want, "sum_reduce dst[%d] = %ld, want %ld", i, dst[i], want);
    }
    shmem_long_broadcast(SHMEM_TEAM_WORLD, dst, src, 4, n - 1);
    for (int i = 0; i < 4; i++) {
        CHECK(dst[i] == n - 1 + i, "broadcast dst[%d] = %ld", i, dst[i]);
    }
    shmem_long_fcollect(SHMEM_TEAM_WORLD, dst, src, 2);
    for (int p = 0; p < n; p++) {
        CHECK(dst[2 * p] == p && dst[2 * p + 1] == p + 1, "fcollect from PE %d: %ld %ld", p, dst[2 * p], dst[2 * p + 1]);
    }
    shmem_long_collect(SHMEM_TEAM_WORLD, dst, src, (size_t)me + 1); /* PE p gives p+1 elements */
    for (int p = 0, at = 0; p < n; at += p + 1, p++) {
        for (int i = 0; i <= p; i++) {
            CHECK(dst[at + i] == p + i, "collect from PE %d [%d]: %ld", p, i, dst[at + i]);
        }
    }
    shmem_barrier_all();

    // Deprecated active-set reductions: the world, and the even PEs.
    shmem_long_sum_to_all(dst, src, 1, 0, 0, n, pWrk, pSync);
    CHECK(dst[0] == (long)n * (n - 1) / 2, "sum_to_all %ld", dst[0]);
    shmem_barrier_all();
    int evens = (n + 1) / 2;
    if (me % 2 == 0) {
        shmem_long_max_to_all(dst, src, 1, 0, 1, evens, pWrk, pSync);
        CHECK(dst[0] == 2 * (evens - 1), "max_to_all on the even PEs %ld", dst[0]);
    }
    shmem_barrier_all();
}
