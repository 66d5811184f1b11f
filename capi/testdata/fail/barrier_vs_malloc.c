// want: shmem_(barrier_all|malloc): .*differs across PEs: PE 0 called barrier_all, PE 1 called malloc\(64 bytes\)
#include "../harness.h"

/* A barrier entered in C (core.c, gs_enter_all) meets an allocation,
 * which Go enters, on the same team and words: the mismatch is found. */
static void test(void) {
    if (shmem_my_pe() == 0) {
        shmem_barrier_all();
    } else {
        (void)shmem_malloc(64);
    }
    shmem_barrier_all();
}
