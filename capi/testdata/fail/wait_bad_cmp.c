// want: shmem_int_wait_until: cmp 9 is none of SHMEM_CMP_EQ
#include "../harness.h"

static void test(void) {
    int *x = shmem_calloc(1, sizeof(int));
    if (shmem_my_pe() == 0) {
        shmem_int_wait_until(x, 9, 0);
    }
    shmem_barrier_all();
}
