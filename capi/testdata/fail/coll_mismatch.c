// want: shmem_long_sum_reduce: .*differs across PEs: PE 0 called reduce\(sum, 4 int64\), PE 1 called reduce\(sum, 3 int64\)
#include "../harness.h"

static void test(void) {
    long *x = shmem_malloc(8 * sizeof(long));
    /* PE 0 reduces 4 elements, the others 3 */
    shmem_long_sum_reduce(SHMEM_TEAM_WORLD, x + 4, x, shmem_my_pe() == 0 ? 4 : 3);
    shmem_barrier_all();
}
