// Teams: the predefined ones, SHMEM_TEAM_INVALID's answers, strided and 2D
// splits, translation, configuration, team_ptr, sync and destroy.
#include "harness.h"

static void test(void) {
    int me = shmem_my_pe(), npes = shmem_n_pes();
    CHECK(shmem_team_my_pe(SHMEM_TEAM_WORLD) == me, "world my_pe");
    CHECK(shmem_team_n_pes(SHMEM_TEAM_WORLD) == npes, "world n_pes");
    /* one node: the shared team is the world; across nodes ("shm+ofi")
     * some of it, this PE included */
    int sn = shmem_team_n_pes(SHMEM_TEAM_SHARED), sme = shmem_team_my_pe(SHMEM_TEAM_SHARED);
    if (strstr(shmemx_transport(), "ofi") == NULL) {
        CHECK(sn == npes, "shared n_pes %d", sn);
        CHECK(sme == me, "shared my_pe");
    } else {
        CHECK(sn >= 1 && sn <= npes && sme >= 0 && sme < sn, "shared: my_pe %d of %d", sme, sn);
        CHECK(shmem_team_translate_pe(SHMEM_TEAM_SHARED, sme, SHMEM_TEAM_WORLD) == me, "shared translates to me");
    }
    CHECK(shmem_team_my_pe(SHMEM_TEAM_INVALID) == -1, "invalid my_pe");
    CHECK(shmem_team_n_pes(SHMEM_TEAM_INVALID) == -1, "invalid n_pes");
    CHECK(shmem_team_translate_pe(SHMEM_TEAM_INVALID, 0, SHMEM_TEAM_WORLD) == -1, "invalid translate");
    CHECK(shmem_team_translate_pe(SHMEM_TEAM_WORLD, npes, SHMEM_TEAM_WORLD) == -1, "translate out of range");
    shmem_team_config_t cfg = {.num_contexts = 99};
    CHECK(shmem_team_get_config(SHMEM_TEAM_INVALID, SHMEM_TEAM_NUM_CONTEXTS, &cfg) != 0, "invalid config");
    CHECK(shmem_team_get_config(SHMEM_TEAM_WORLD, SHMEM_TEAM_NUM_CONTEXTS, &cfg) == 0 && cfg.num_contexts == 0,
          "world config %d", cfg.num_contexts);
    shmem_team_destroy(SHMEM_TEAM_INVALID); /* no-op */
    CHECK(shmem_team_sync(SHMEM_TEAM_WORLD) == 0, "world sync");
    CHECK(shmem_team_sync(SHMEM_TEAM_SHARED) == 0, "shared sync");

    long *x = shmem_malloc(sizeof(long));
    *x = me;
    shmem_barrier_all();
    /* Every PE is reachable by load and store on one node; across nodes
     * ("shm+ofi") those of the other node give NULL. */
    int across = strstr(shmemx_transport(), "ofi") != NULL;
    for (int p = 0; p < npes; p++) {
        long *q = shmem_team_ptr(SHMEM_TEAM_WORLD, x, p);
        CHECK((q == NULL && across && p != me) || (q != NULL && *q == p), "team_ptr world %d", p);
    }
    CHECK(shmem_team_ptr(SHMEM_TEAM_WORLD, x, npes) == NULL, "team_ptr out of range");
    CHECK(shmem_team_ptr(SHMEM_TEAM_INVALID, x, 0) == NULL, "team_ptr invalid team");

    /* The top half, reversed: members npes-1, npes-2, ... cannot be (stride
     * must be positive in 1.5? it may be negative or zero) -- use stride 1. */
    int hstart = npes / 2, hsize = npes - npes / 2;
    shmem_team_t half;
    cfg.num_contexts = 3;
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, hstart, 1, hsize, &cfg, SHMEM_TEAM_NUM_CONTEXTS, &half) == 0,
          "split half");
    if (me >= hstart) {
        CHECK(half != SHMEM_TEAM_INVALID, "no half team");
        CHECK(shmem_team_my_pe(half) == me - hstart && shmem_team_n_pes(half) == hsize, "half me/n");
        shmem_team_config_t got = {0};
        CHECK(shmem_team_get_config(half, SHMEM_TEAM_NUM_CONTEXTS, &got) == 0 && got.num_contexts == 3,
              "half config %d", got.num_contexts);
        CHECK(shmem_team_translate_pe(half, 0, SHMEM_TEAM_WORLD) == hstart, "translate to world");
        CHECK(shmem_team_translate_pe(SHMEM_TEAM_WORLD, me, half) == me - hstart, "translate from world");
        long *q = shmem_team_ptr(half, x, hsize - 1);
        CHECK(q != NULL && *q == npes - 1, "team_ptr half");
        /* a split of a split: its first member alone */
        shmem_team_t one;
        CHECK(shmem_team_split_strided(half, 0, 1, 1, NULL, 0, &one) == 0, "split of half");
        CHECK((one != SHMEM_TEAM_INVALID) == (me == hstart), "split of half membership");
        if (one != SHMEM_TEAM_INVALID) {
            CHECK(shmem_team_n_pes(one) == 1 && shmem_team_translate_pe(one, 0, SHMEM_TEAM_WORLD) == hstart,
                  "one");
            shmem_team_destroy(one);
        }
        CHECK(shmem_team_sync(half) == 0, "half sync");
        shmem_team_destroy(half);
    } else {
        CHECK(half == SHMEM_TEAM_INVALID, "PE %d is not in the half team", me);
        CHECK(shmem_team_translate_pe(SHMEM_TEAM_WORLD, me, SHMEM_TEAM_INVALID) == -1, "translate to invalid");
    }

    /* An invalid split: every PE gets nonzero and SHMEM_TEAM_INVALID. */
    shmem_team_t bad = SHMEM_TEAM_WORLD;
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 1, npes + 1, NULL, 0, &bad) != 0, "split of npes+1");
    CHECK(bad == SHMEM_TEAM_INVALID, "failed split's team");

    /* 2D: two columns */
    shmem_team_t xt, yt;
    CHECK(shmem_team_split_2d(SHMEM_TEAM_WORLD, 2, NULL, 0, &xt, NULL, 0, &yt) == 0, "split_2d");
    CHECK(xt != SHMEM_TEAM_INVALID && yt != SHMEM_TEAM_INVALID, "2d teams");
    int xs = npes < 2 ? npes : (me / 2 == (npes - 1) / 2 && npes % 2 ? 1 : 2);
    CHECK(shmem_team_n_pes(xt) == xs && shmem_team_my_pe(xt) == me % 2, "x team %d of %d", shmem_team_my_pe(xt),
          shmem_team_n_pes(xt));
    int ys = (npes - me % 2 + 1) / 2;
    CHECK(shmem_team_n_pes(yt) == ys && shmem_team_my_pe(yt) == me / 2, "y team %d of %d", shmem_team_my_pe(yt),
          shmem_team_n_pes(yt));
    CHECK(shmem_team_translate_pe(yt, shmem_team_my_pe(yt), xt) == me % 2, "y to x");
    int *v = shmem_malloc(sizeof(int) * 4), *w = shmem_malloc(sizeof(int) * 4);
    *v = me;
    shmem_team_sync(yt);
    shmem_int_sum_reduce(yt, w, v, 1);
    int want = 0;
    for (int p = me % 2; p < npes; p += 2) {
        want += p;
    }
    CHECK(*w == want, "column sum %d, want %d", *w, want);
    shmem_team_destroy(xt);
    shmem_team_destroy(yt);
    shmem_barrier_all();
    shmem_free(v);
    shmem_free(w);
    shmem_free(x);
}
