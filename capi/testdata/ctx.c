// Contexts: created on the world and on a team (whose PE numbers are the
// team's), used for puts, gets and quiet, their team, and destroyed.
#include "harness.h"

static void test(void) {
    int me = shmem_my_pe(), npes = shmem_n_pes();
    long *x = shmem_malloc(npes * sizeof(long));
    for (int i = 0; i < npes; i++) {
        x[i] = -1;
    }
    shmem_barrier_all();

    shmem_ctx_t c;
    CHECK(shmem_ctx_create(SHMEM_CTX_PRIVATE, &c) == 0 && c != SHMEM_CTX_INVALID, "ctx_create");
    shmem_team_t t;
    CHECK(shmem_ctx_get_team(c, &t) == 0 && t == SHMEM_TEAM_WORLD, "ctx team");
    CHECK(shmem_ctx_get_team(SHMEM_CTX_DEFAULT, &t) == 0 && t == SHMEM_TEAM_WORLD, "default ctx team");
    CHECK(shmem_ctx_get_team(SHMEM_CTX_INVALID, &t) != 0 && t == SHMEM_TEAM_INVALID, "invalid ctx team");
    int next = (me + 1) % npes;
    shmem_ctx_long_p(c, &x[me], me * 10, next);
    shmem_ctx_quiet(c);
    shmem_barrier_all();
    int prev = (me + npes - 1) % npes;
    CHECK(x[prev] == prev * 10, "ctx put: x[%d] = %ld", prev, x[prev]);
    CHECK(shmem_ctx_long_g(c, &x[me], next) == me * 10, "ctx get");
    shmem_ctx_destroy(c);
    shmem_ctx_destroy(SHMEM_CTX_INVALID); /* no-op */

    /* bad options: nonzero and SHMEM_CTX_INVALID */
    CHECK(shmem_ctx_create(1L << 20, &c) != 0 && c == SHMEM_CTX_INVALID, "bad options");

    /* A context on the odd PEs' team names its members 0, 1, ... */
    shmem_team_t odd;
    int osize = npes / 2;
    if (osize > 0) {
        CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 1, 2, osize, NULL, 0, &odd) == 0, "split");
        if (me % 2 == 1) {
            CHECK(shmem_team_create_ctx(odd, SHMEM_CTX_SERIALIZED, &c) == 0, "team ctx");
            CHECK(shmem_ctx_get_team(c, &t) == 0 && t == odd, "team ctx's team");
            int tme = shmem_team_my_pe(odd);
            int tnext = (tme + 1) % osize;
            shmem_ctx_long_p(c, &x[0], 1000 + me, tnext); /* world PE 1 + 2*tnext */
            shmem_ctx_quiet(c);
            shmem_team_sync(odd);
            int tprev = (tme + osize - 1) % osize;
            CHECK(x[0] == 1000 + 1 + 2 * tprev, "team ctx put: x[0] = %ld, want %d", x[0], 1000 + 1 + 2 * tprev);
            long v[2] = {0, 0};
            shmem_ctx_long_get(c, v, &x[0], 1, tnext);
            CHECK(v[0] == 1000 + me, "team ctx get %ld", v[0]);
            shmem_ctx_destroy(c);
            shmem_team_destroy(odd);
        } else {
            CHECK(odd == SHMEM_TEAM_INVALID, "even PE in the odd team");
            CHECK(shmem_team_create_ctx(odd, 0, &c) != 0 && c == SHMEM_CTX_INVALID, "ctx on no team");
        }
    }
    /* A context on the shared team */
    CHECK(shmem_team_create_ctx(SHMEM_TEAM_SHARED, 0, &c) == 0, "shared ctx");
    shmem_ctx_long_p(c, &x[1 % npes], 7, shmem_team_my_pe(SHMEM_TEAM_SHARED)); /* this PE, by its number there */
    CHECK(x[1 % npes] == 7, "shared ctx put");
    shmem_ctx_destroy(c);
    shmem_barrier_all();
    shmem_free(x);
}
