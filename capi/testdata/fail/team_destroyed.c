// want: shmem_team_sync: team 0x[0-9a-f]+ was destroyed
#include "../harness.h"

static void test(void) {
    shmem_team_t t;
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 1, shmem_n_pes(), NULL, 0, &t) == 0, "split");
    shmem_team_destroy(t);
    shmem_team_sync(t);
}
