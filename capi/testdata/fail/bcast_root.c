// want: shmem_long_broadcast: .*root 5 not in a team of 2
#include "../harness.h"

static void test(void) {
    long *x = shmem_malloc(4 * sizeof(long));
    shmem_long_broadcast(SHMEM_TEAM_WORLD, x + 2, x, 2, 5);
    shmem_barrier_all();
}
