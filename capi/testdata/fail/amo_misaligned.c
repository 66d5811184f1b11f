// want: shmem_long_atomic_add: dest 0x[0-9a-f]+ is not 8-byte aligned
#include "../harness.h"

static void test(void) {
    long *x = shmem_calloc(2, sizeof(long));
    if (shmem_my_pe() == 0) {
        shmem_long_atomic_add((long *)((char *)x + 4), 1, 1);
    }
    shmem_barrier_all();
}
