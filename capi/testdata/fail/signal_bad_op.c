// want: shmem_long_put_signal: sig_op 7 is neither SHMEM_SIGNAL_SET \(0\) nor SHMEM_SIGNAL_ADD \(1\)
#include "../harness.h"

static void test(void) {
    long *x = shmem_calloc(4, sizeof(long));
    uint64_t *sig = shmem_calloc(1, sizeof(uint64_t));
    long src[4] = {1, 2, 3, 4};
    if (shmem_my_pe() == 0) {
        shmem_long_put_signal(x, src, 4, sig, 1, 7, 1);
    }
    shmem_barrier_all();
}
