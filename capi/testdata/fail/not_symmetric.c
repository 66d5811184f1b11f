// want: shmem_long_put: dest 0x[0-9a-f]+ is not a symmetric address
#include "../harness.h"

static void test(void) {
    long *x = shmem_malloc(sizeof(long));
    long y = 0;
    if (shmem_my_pe() == 0) {
        shmem_long_put(&y, x, 1, 0);
    }
    shmem_barrier_all();
}
