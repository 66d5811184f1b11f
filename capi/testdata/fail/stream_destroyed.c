// want: shmemx_putmem_on_stream: stream 0x[0-9a-f]+ was destroyed \(shmemx_stream_destroy\)
#include "../harness.h"

static void test(void) {
    long *x = shmemx_malloc_device(sizeof(long));
    shmemx_stream_t st = shmemx_stream_create();
    shmemx_stream_synchronize(st);
    shmemx_stream_destroy(st);
    if (shmem_my_pe() == 0) {
        shmemx_putmem_on_stream(x, x, sizeof(long), 1, st);
    }
    shmem_barrier_all();
}
