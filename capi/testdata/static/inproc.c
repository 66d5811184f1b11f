// An RMA on a global variable between shmemx_run's PEs, which share one
// copy of it, must fail naming the address and saying what to do; where
// PEs are processes it works (static_test.go runs both).
#include "../harness.h"

static long x = 5;

static void test(void) {
    if (shmem_my_pe() == 0) {
        shmem_long_p(&x, 1, shmem_n_pes() - 1);
    }
    shmem_barrier_all();
    CHECK(shmem_my_pe() != shmem_n_pes() - 1 || x == 1, "x = %ld", x);
}
