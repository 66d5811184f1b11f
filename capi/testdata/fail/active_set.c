// want: shmem_broadcast64: PE 0 is not in the active set PE_start 1, logPE_stride 0, PE_size 1
#include "../harness.h"

static void test(void) {
    long *x = shmem_malloc(4 * sizeof(long));
    long *ps = shmem_calloc(SHMEM_BCAST_SYNC_SIZE, sizeof(long));
    if (shmem_my_pe() == 0) {
        shmem_broadcast64(x + 2, x, 2, 0, 1, 0, 1, ps);
    }
    shmem_barrier_all();
}
