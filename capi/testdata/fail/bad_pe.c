// want: shmem_long_p: PE 7 out of range \[0, \d\)
#include "../harness.h"

static void test(void) {
    long *x = shmem_malloc(sizeof(long));
    if (shmem_my_pe() == 0) {
        shmem_long_p(x, 1, 7);
    }
    shmem_barrier_all();
}
