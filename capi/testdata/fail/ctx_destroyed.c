// want: shmem_ctx_long_p: context 0x[0-9a-f]+ was destroyed
#include "../harness.h"

static void test(void) {
    long *x = shmem_malloc(sizeof(long));
    shmem_ctx_t c;
    CHECK(shmem_ctx_create(0, &c) == 0, "ctx_create");
    shmem_ctx_destroy(c);
    if (shmem_my_pe() == 0) {
        shmem_ctx_long_p(c, x, 1, 0);
    }
    shmem_barrier_all();
}
