// Collectives on teams: typed and mem broadcast, collect, fcollect,
// alltoall(s) on the world team and on a split team, through the typed
// names and the C11 generic ones.
#include "harness.h"

#define N 5

static void world(int me, int npes) {
    long *src = shmem_malloc(N * npes * sizeof(long));
    long *dst = shmem_malloc(N * npes * 2 * sizeof(long));
    int *isrc = shmem_malloc(N * npes * sizeof(int));
    int *idst = shmem_malloc(N * npes * sizeof(int));
    CHECK(src && dst && isrc && idst, "malloc");

    /* broadcast: every PE's dest, the root's included (1.5), gets the root's source */
    for (int root = 0; root < npes; root++) {
        for (int i = 0; i < N; i++) {
            src[i] = me * 100 + i;
            dst[i] = -1;
        }
        shmem_barrier_all();
        CHECK(shmem_long_broadcast(SHMEM_TEAM_WORLD, dst, src, N, root) == 0, "broadcast");
        for (int i = 0; i < N; i++) {
            CHECK(dst[i] == root * 100 + i, "broadcast root %d: dst[%d] = %ld", root, i, dst[i]);
        }
    }
    /* generic broadcast of ints, and broadcastmem */
    for (int i = 0; i < N; i++) {
        isrc[i] = me + 7 * i;
        idst[i] = 0;
    }
    shmem_barrier_all();
    shmem_broadcast(SHMEM_TEAM_WORLD, idst, isrc, N, npes - 1);
    for (int i = 0; i < N; i++) {
        CHECK(idst[i] == npes - 1 + 7 * i, "generic broadcast: idst[%d] = %d", i, idst[i]);
    }
    char *csrc = (char *)src, *cdst = (char *)dst;
    memset(csrc, 'a' + me, 13);
    memset(cdst, 0, 13);
    shmem_barrier_all();
    shmem_broadcastmem(SHMEM_TEAM_WORLD, cdst, csrc, 13, 0);
    for (int i = 0; i < 13; i++) {
        CHECK(cdst[i] == 'a', "broadcastmem: byte %d is %d", i, cdst[i]);
    }

    /* fcollect */
    for (int i = 0; i < N; i++) {
        src[i] = me * 1000 + i;
    }
    shmem_barrier_all();
    CHECK(shmem_long_fcollect(SHMEM_TEAM_WORLD, dst, src, N) == 0, "fcollect");
    for (int p = 0; p < npes; p++) {
        for (int i = 0; i < N; i++) {
            CHECK(dst[p * N + i] == p * 1000 + i, "fcollect: dst[%d] = %ld", p * N + i, dst[p * N + i]);
        }
    }
    shmem_barrier_all();
    shmem_fcollect(SHMEM_TEAM_WORLD, idst, isrc, 1);
    for (int p = 0; p < npes; p++) {
        CHECK(idst[p] == p, "generic fcollect: idst[%d] = %d", p, idst[p]);
    }

    /* collect: PE p contributes p+1 elements */
    for (int i = 0; i <= me; i++) {
        src[i] = me * 10 + i;
    }
    shmem_barrier_all();
    CHECK(shmem_long_collect(SHMEM_TEAM_WORLD, dst, src, me + 1) == 0, "collect");
    int k = 0;
    for (int p = 0; p < npes; p++) {
        for (int i = 0; i <= p; i++, k++) {
            CHECK(dst[k] == p * 10 + i, "collect: dst[%d] = %ld, want %d", k, dst[k], p * 10 + i);
        }
    }
    shmem_barrier_all();
    memset(cdst, 0, 64);
    memset(csrc, 'A' + me, 2);
    shmem_barrier_all();
    shmem_collectmem(SHMEM_TEAM_WORLD, cdst, csrc, 2);
    for (int p = 0; p < npes; p++) {
        CHECK(cdst[2 * p] == 'A' + p && cdst[2 * p + 1] == 'A' + p, "collectmem at %d", p);
    }

    /* alltoall: block j of my source goes to PE j's block me */
    shmem_barrier_all();
    for (int j = 0; j < npes; j++) {
        for (int i = 0; i < N; i++) {
            src[j * N + i] = me * 10000 + j * 100 + i;
        }
    }
    shmem_barrier_all();
    CHECK(shmem_alltoall(SHMEM_TEAM_WORLD, dst, src, N) == 0, "alltoall");
    for (int j = 0; j < npes; j++) {
        for (int i = 0; i < N; i++) {
            long want = j * 10000 + me * 100 + i;
            CHECK(dst[j * N + i] == want, "alltoall: dst[%d] = %ld, want %ld", j * N + i, dst[j * N + i], want);
        }
    }
    /* alltoalls: source stride 1, dest stride 2 */
    shmem_barrier_all();
    for (int i = 0; i < 2 * N * npes; i++) {
        dst[i] = -1;
    }
    shmem_barrier_all();
    shmem_long_alltoalls(SHMEM_TEAM_WORLD, dst, src, 2, 1, N);
    for (int j = 0; j < npes; j++) {
        for (int i = 0; i < N; i++) {
            long want = j * 10000 + me * 100 + i;
            CHECK(dst[2 * (j * N + i)] == want, "alltoalls: dst[%d] = %ld, want %ld", 2 * (j * N + i),
                  dst[2 * (j * N + i)], want);
            CHECK(dst[2 * (j * N + i) + 1] == -1, "alltoalls wrote a gap");
        }
    }
    shmem_barrier_all();
    shmem_free(src);
    shmem_free(dst);
    shmem_free(isrc);
    shmem_free(idst);
}

/* The odd-numbered PEs' team (or PE 0 alone on one PE). */
static void odd(int me, int npes) {
    shmem_team_t t;
    int start = npes > 1 ? 1 : 0, size = npes > 1 ? npes / 2 : 1;
    double *src = shmem_malloc(4 * npes * sizeof(double));
    double *dst = shmem_malloc(4 * npes * sizeof(double));
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, start, 2, size, NULL, 0, &t) == 0, "split");
    if (t == SHMEM_TEAM_INVALID) {
        CHECK(me % 2 == 0 || npes == 1, "PE %d got no team", me);
    } else {
        int tme = shmem_team_my_pe(t), tn = shmem_team_n_pes(t);
        CHECK(tn == size && tme == (me - start) / 2, "team me %d of %d", tme, tn);
        for (int i = 0; i < 4; i++) {
            src[i] = tme + i * 0.5;
        }
        shmem_team_sync(t);
        shmem_double_broadcast(t, dst, src, 4, tn - 1);
        for (int i = 0; i < 4; i++) {
            CHECK(dst[i] == tn - 1 + i * 0.5, "team broadcast dst[%d] = %g", i, dst[i]);
        }
        shmem_team_sync(t);
        shmem_double_fcollect(t, dst, src, 4);
        for (int p = 0; p < tn; p++) {
            for (int i = 0; i < 4; i++) {
                CHECK(dst[p * 4 + i] == p + i * 0.5, "team fcollect dst[%d] = %g", p * 4 + i, dst[p * 4 + i]);
            }
        }
        shmem_team_sync(t);
        shmem_team_destroy(t);
    }
    shmem_barrier_all();
    shmem_free(src);
    shmem_free(dst);
}

static void test(void) {
    int me = shmem_my_pe(), npes = shmem_n_pes();
    world(me, npes);
    odd(me, npes);
}
