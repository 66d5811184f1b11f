// Locks: a lock protects a counter on PE 0 that every PE increments
// with a plain get and put (not atomic), ROUNDS times; the total is exact.
// test_lock takes a free lock and fails on a held one.
#include "harness.h"

#define ROUNDS 200

static void test(void) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    long *lock = shmem_calloc(1, sizeof(long));
    long *lock2 = shmem_calloc(1, sizeof(long));
    long *counter = shmem_calloc(1, sizeof(long));
    int *flag = shmem_calloc(1, sizeof(int));
    CHECK(lock && lock2 && counter && flag, "allocation failed");
    shmem_barrier_all();

    for (int k = 0; k < ROUNDS; k++) {
        if (k % 2 == 0) {
            shmem_set_lock(lock);
        } else {
            while (shmem_test_lock(lock) != 0) {
            }
        }
        long v = shmem_long_g(counter, 0);
        shmem_long_p(counter, v + 1, 0);
        shmem_clear_lock(lock);
    }
    shmem_barrier_all();
    if (me == 0) {
        CHECK(*counter == (long)ROUNDS * n, "counter %ld, want %ld", *counter, (long)ROUNDS * n);
    }
    shmem_barrier_all();

    // PE 0 holds lock2 while the others try it.
    if (me == 0) {
        CHECK(shmem_test_lock(lock2) == 0, "test_lock of a free lock failed");
    }
    shmem_barrier_all();
    if (me != 0) {
        CHECK(shmem_test_lock(lock2) == 1, "test_lock of a held lock succeeded");
    }
    shmem_barrier_all();
    if (me == 0) {
        shmem_clear_lock(lock2);
    }
    shmem_barrier_all();
    shmem_set_lock(lock2);
    shmem_int_atomic_inc(flag, 0);
    shmem_clear_lock(lock2);
    shmem_barrier_all();
    if (me == 0) {
        CHECK(*flag == n, "flag %d", *flag);
    }
    shmem_barrier_all();
}
