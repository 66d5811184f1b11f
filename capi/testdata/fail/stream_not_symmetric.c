// want: shmemx_putmem_on_stream: source 0x[0-9a-f]+ is not a symmetric address: on-stream operations take objects of the device heap
#include "../harness.h"

static void test(void) {
    long *x = shmemx_malloc_device(sizeof(long));
    long y = 1;
    shmemx_stream_t st = shmemx_stream_create();
    if (shmem_my_pe() == 0) {
        shmemx_putmem_on_stream(x, &y, sizeof(long), 1, st);
    }
    shmemx_stream_synchronize(st);
    shmem_barrier_all();
}
