// want: shmem_long_wait_until_any: ivars 0x[0-9a-f]+ is not a symmetric address
#include "../harness.h"

static void test(void) {
    long local[4] = {0, 0, 0, 1};
    if (shmem_my_pe() == 0) {
        shmem_long_wait_until_any(local, 4, NULL, SHMEM_CMP_EQ, 1);
    }
    shmem_barrier_all();
}
