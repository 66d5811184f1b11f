// want: shmem_putmem: dest 0x[0-9a-f]+: 1099511627776 bytes run past the end of the symmetric heap
#include "../harness.h"

static char src[64];

static void test(void) {
    char *x = shmem_malloc(64);
    if (shmem_my_pe() == 0) {
        shmem_putmem(x, src, (size_t)1 << 40, 0); /* checked before a byte moves */
    }
    shmem_barrier_all();
}
