// want: shmem_(barrier|sync)_all: .*differs across PEs: PE 0 called barrier_all, PE 1 called sync_all
#include "../harness.h"

/* shmem_barrier_all and shmem_sync_all enter in C (core.c, gs_enter_all),
 * not through Go's agreement: a barrier on one PE against a sync on the
 * other must still be the mismatch every PE reports, not a pass or a
 * hang. */
static void test(void) {
    shmem_barrier_all();
    if (shmem_my_pe() == 0) {
        shmem_barrier_all();
    } else {
        shmem_sync_all();
    }
    shmem_barrier_all();
}
