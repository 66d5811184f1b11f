// Teams, contexts and collectives: the C side. Teams and contexts are C
// objects that carry their members (start, stride, size) and a handle of
// the hostshmem.Team or hostshmem.Ctx the binding keeps (coll.go); the
// collectives call into Go, but for the cases Go cannot run: long double
// reductions (Go has no such type), buffers that are global or static
// variables (Go's collectives take heap objects), and the deprecated
// collectives on an active set that is not the whole world (hostshmem's
// teams are made by splits, collective over the parent team, so an active
// set cannot make one by itself). Those run here by gets from the members'
// sources between two synchronisations of the set (gs_pull): the team's
// sync, or a barrier on the user's pSync (gs_psync_barrier).
//
// A destroyed team or context stays allocated, marked destroyed, until the
// PE's state is freed (gs_alloc_obj), so that a later use is a clear error
// rather than a read of freed memory.

#include <stdio.h>
#include <stdlib.h>

#include "_cgo_export.h"
#include "gs_amo.h"
#include "gs_coll.h"

/* A team resolved for the calling PE. */
typedef struct {
    gs_pe *s;
    int pre;        /* 1: world, 2: shared, 0: made by a split */
    uintptr_t th;   /* the Go team, when pre is 0 */
    int start, stride, size, my;
} gs_tinfo;

/* gs_team_info resolves team for call. SHMEM_TEAM_INVALID is an error
 * when invalid_ok is 0; else gs_team_info returns 0 for it (and 1 for a
 * team). */
static int gs_team_info(shmem_team_t team, const char *call, gs_tinfo *ti, int invalid_ok) {
    if (team == SHMEM_TEAM_INVALID) {
        gs_pe *s = gs_ready(call);
        if (invalid_ok) {
            ti->s = s;
            return 0;
        }
        gs_fatal(s, call, "SHMEM_TEAM_INVALID is not a team");
    }
    if (team == SHMEM_TEAM_WORLD || team == SHMEM_TEAM_SHARED) {
        gs_pe *s = gs_ready(call);
        ti->s = s;
        ti->pre = team == SHMEM_TEAM_WORLD ? 1 : 2;
        ti->th = 0;
        if (team == SHMEM_TEAM_WORLD) {
            ti->start = 0, ti->stride = 1, ti->size = s->npes, ti->my = s->me;
        } else {
            ti->start = s->shared_start, ti->stride = s->shared_stride, ti->size = s->shared_size;
            ti->my = (s->me - s->shared_start) / s->shared_stride;
        }
        return 1;
    }
    gs_pe *s = team->pe;
    gs_pe *cur = gs_ready(call);
    if (s != cur) {
        gs_fatal(cur, call, "team %p belongs to PE %d, not to the calling PE", (void *)team, s ? s->me : -1);
    }
    if (team->destroyed) {
        gs_fatal(s, call, "team %p was destroyed", (void *)team);
    }
    ti->s = s;
    ti->pre = 0;
    ti->th = team->handle;
    ti->start = team->start, ti->stride = team->stride, ti->size = team->size, ti->my = team->my;
    return 1;
}

/* ---- teams ---- */

int shmem_team_my_pe(shmem_team_t team) {
    gs_tinfo ti;
    return gs_team_info(team, "shmem_team_my_pe", &ti, 1) ? ti.my : -1;
}

int shmem_team_n_pes(shmem_team_t team) {
    gs_tinfo ti;
    return gs_team_info(team, "shmem_team_n_pes", &ti, 1) ? ti.size : -1;
}

int shmem_team_get_config(shmem_team_t team, long config_mask, shmem_team_config_t *config) {
    gs_tinfo ti;
    if (!gs_team_info(team, "shmem_team_get_config", &ti, 1)) {
        return -1;
    }
    if ((config_mask & SHMEM_TEAM_NUM_CONTEXTS) && config != NULL) {
        config->num_contexts = gshmemGoTeamConfig(ti.s->handle, ti.pre, ti.th);
    }
    return 0;
}

int shmem_team_translate_pe(shmem_team_t src_team, int src_pe, shmem_team_t dest_team) {
    gs_tinfo a, b;
    if (!gs_team_info(src_team, "shmem_team_translate_pe", &a, 1) ||
        !gs_team_info(dest_team, "shmem_team_translate_pe", &b, 1)) {
        return -1;
    }
    if (src_pe < 0 || src_pe >= a.size) {
        return -1;
    }
    long w = (long)a.start + (long)src_pe * a.stride;
    long d = w - b.start;
    if (d < 0 || d % b.stride != 0 || d / b.stride >= b.size) {
        return -1;
    }
    return (int)(d / b.stride);
}

void *shmem_team_ptr(shmem_team_t team, const void *dest, int pe) {
    gs_tinfo ti;
    if (!gs_team_info(team, "shmem_team_ptr", &ti, 1) || pe < 0 || pe >= ti.size) {
        return NULL;
    }
    gs_pe *s = ti.s;
    int w = ti.start + pe * ti.stride;
    uintptr_t off = (uintptr_t)((const char *)dest - s->local);
    if (off - s->lo >= s->hi - s->lo || s->base[w] == NULL) {
        return NULL;
    }
    return s->base[w] + off;
}

/* gs_new_team makes the C object of a team Go made (handle h). */
static shmem_team_t gs_new_team(gs_pe *s, struct gshmem_team_info *t) {
    struct gshmem_team *nt = gs_alloc_obj(s, sizeof *nt);
    if (nt == NULL) {
        gs_fatal(s, "shmem_team_split", "out of memory");
    }
    nt->pe = s;
    nt->start = t->start, nt->stride = t->stride, nt->size = t->size, nt->my = t->my;
    nt->handle = t->handle;
    return nt;
}

static int gs_nctx(const shmem_team_config_t *config, long mask) {
    return (config != NULL && (mask & SHMEM_TEAM_NUM_CONTEXTS)) ? config->num_contexts : 0;
}

int shmem_team_split_strided(shmem_team_t parent_team, int start, int stride, int size,
                             const shmem_team_config_t *config, long config_mask, shmem_team_t *new_team) {
    const char *call = "shmem_team_split_strided";
    gs_tinfo ti;
    if (new_team == NULL) {
        gs_fatal(gs_ready(call), call, "new_team is NULL");
    }
    *new_team = SHMEM_TEAM_INVALID;
    if (!gs_team_info(parent_team, call, &ti, 1)) {
        fprintf(stderr, "gshmem: PE %d: %s: the parent team is SHMEM_TEAM_INVALID\n", ti.s->me, call);
        return -1;
    }
    struct gshmem_team_info out[2];
    memset(out, 0, sizeof out);
    int rc = gshmemGoTeamSplit(ti.s->handle, ti.pre, ti.th, (char *)call, 0, start, stride, size,
                               gs_nctx(config, config_mask), 0, out);
    if (rc == 0 && out[0].handle != 0) {
        *new_team = gs_new_team(ti.s, &out[0]);
    }
    return rc;
}

int shmem_team_split_2d(shmem_team_t parent_team, int xrange, const shmem_team_config_t *xaxis_config,
                        long xaxis_mask, shmem_team_t *xaxis_team, const shmem_team_config_t *yaxis_config,
                        long yaxis_mask, shmem_team_t *yaxis_team) {
    const char *call = "shmem_team_split_2d";
    gs_tinfo ti;
    if (xaxis_team == NULL || yaxis_team == NULL) {
        gs_fatal(gs_ready(call), call, "xaxis_team %p, yaxis_team %p: both must point to a team", (void *)xaxis_team,
                 (void *)yaxis_team);
    }
    *xaxis_team = *yaxis_team = SHMEM_TEAM_INVALID;
    if (!gs_team_info(parent_team, call, &ti, 1)) {
        fprintf(stderr, "gshmem: PE %d: %s: the parent team is SHMEM_TEAM_INVALID\n", ti.s->me, call);
        return -1;
    }
    struct gshmem_team_info out[2];
    memset(out, 0, sizeof out);
    int rc = gshmemGoTeamSplit(ti.s->handle, ti.pre, ti.th, (char *)call, 1, xrange, 0, 0,
                               gs_nctx(xaxis_config, xaxis_mask), gs_nctx(yaxis_config, yaxis_mask), out);
    if (rc == 0) {
        *xaxis_team = gs_new_team(ti.s, &out[0]);
        *yaxis_team = gs_new_team(ti.s, &out[1]);
    }
    return rc;
}

void shmem_team_destroy(shmem_team_t team) {
    const char *call = "shmem_team_destroy";
    gs_tinfo ti;
    if (!gs_team_info(team, call, &ti, 1)) {
        return; /* SHMEM_TEAM_INVALID: nothing to do */
    }
    if (ti.pre) {
        gs_fatal(ti.s, call, "%s is predefined: it cannot be destroyed",
                 ti.pre == 1 ? "SHMEM_TEAM_WORLD" : "SHMEM_TEAM_SHARED");
    }
    gshmemGoTeamDestroy(ti.s->handle, ti.th);
    team->destroyed = 1;
}

int shmem_team_sync(shmem_team_t team) {
    gs_tinfo ti;
    gs_team_info(team, "shmem_team_sync", &ti, 0);
    gshmemGoTeamSync(ti.s->handle, ti.pre, ti.th, "shmem_team_sync", 0);
    return 0;
}

/* ---- contexts ---- */

static int gs_is_default(shmem_ctx_t ctx) { return ctx == SHMEM_CTX_DEFAULT; }

static int gs_make_ctx(shmem_team_t team, const char *call, long options, shmem_ctx_t *ctx) {
    gs_tinfo ti;
    if (ctx == NULL) {
        gs_fatal(gs_ready(call), call, "ctx is NULL");
    }
    *ctx = SHMEM_CTX_INVALID;
    if (!gs_team_info(team, call, &ti, 1)) {
        fprintf(stderr, "gshmem: PE %d: %s: the team is SHMEM_TEAM_INVALID\n", ti.s->me, call);
        return -1;
    }
    uintptr_t h = 0;
    if (gshmemGoCtxCreate(ti.s->handle, ti.pre, ti.th, (char *)call, options, &h) != 0) {
        return -1;
    }
    struct gshmem_ctx *c = gs_alloc_obj(ti.s, sizeof *c);
    if (c == NULL) {
        gshmemGoCtxDestroy(ti.s->handle, h);
        fprintf(stderr, "gshmem: PE %d: %s: out of memory\n", ti.s->me, call);
        return -1;
    }
    c->pe = ti.s;
    if (ti.pre != 1) {
        c->start = ti.start, c->stride = ti.stride, c->size = ti.size;
    }
    c->options = options;
    c->handle = h;
    c->team = team;
    *ctx = c;
    return 0;
}

int shmem_ctx_create(long options, shmem_ctx_t *ctx) {
    return gs_make_ctx(SHMEM_TEAM_WORLD, "shmem_ctx_create", options, ctx);
}

int shmem_team_create_ctx(shmem_team_t team, long options, shmem_ctx_t *ctx) {
    return gs_make_ctx(team, "shmem_team_create_ctx", options, ctx);
}

void shmem_ctx_destroy(shmem_ctx_t ctx) {
    const char *call = "shmem_ctx_destroy";
    if (ctx == SHMEM_CTX_INVALID) {
        gs_ready(call);
        return;
    }
    if (gs_is_default(ctx)) {
        gs_fatal(gs_ready(call), call, "SHMEM_CTX_DEFAULT cannot be destroyed");
    }
    int pe = 0;
    gs_pe *s = gs_ctx_slow(ctx, call, &pe); /* checks it is live */
    shmem_ctx_quiet(ctx);
    gshmemGoCtxDestroy(s->handle, ctx->handle);
    ctx->destroyed = 1;
}

int shmem_ctx_get_team(shmem_ctx_t ctx, shmem_team_t *team) {
    const char *call = "shmem_ctx_get_team";
    gs_pe *s = gs_ready(call);
    if (team == NULL) {
        gs_fatal(s, call, "team is NULL");
    }
    if (gs_is_default(ctx)) {
        *team = SHMEM_TEAM_WORLD;
        return 0;
    }
    if (ctx == SHMEM_CTX_INVALID || ctx->pe != s || ctx->destroyed) {
        *team = SHMEM_TEAM_INVALID;
        return -1;
    }
    *team = ctx->team;
    return 0;
}

/* ---- collectives ---- */

size_t gs_count(const char *call, int n) {
    if (n < 0) {
        gs_fatal(gs_ready(call), call, "nreduce %d is negative", n);
    }
    return (size_t)n;
}

/* gs_buf checks the n bytes at p for a collective and returns their
 * offset; no bytes: the start of the host heap, wherever p points. */
static uintptr_t gs_buf(gs_pe *s, const char *call, const char *what, const void *p, size_t n) {
    return n == 0 ? s->lo : gs_sym(s, call, what, p, n);
}

/* gs_room is the number of size-byte elements from the symmetric address
 * p to the end of its heap (collect's destination, whose length depends
 * on the other members). */
static size_t gs_room(gs_pe *s, const char *call, const void *p, size_t size, uintptr_t *off) {
    *off = gs_sym(s, call, "dest", p, 0);
    if (gs_is_static(s, *off)) {
        return (size_t)(s->data + s->data_size - (const char *)p) / size;
    }
    return ((*off < s->hi ? s->hi : s->size) - *off) / size;
}

/* gs_mul is a*b, or a failure naming what overflows. */
static size_t gs_mul(gs_pe *s, const char *call, size_t a, size_t b) {
    size_t n;
    if (__builtin_mul_overflow(a, b, &n)) {
        gs_fatal(s, call, "%zu times %zu overflows size_t", a, b);
    }
    return n;
}

/* gs_strided_bytes is the span of alltoalls' buffer: total elements
 * stride apart. */
static size_t gs_strided_bytes(gs_pe *s, const char *call, size_t total, ptrdiff_t stride, size_t size) {
    if (total == 0) {
        return 0;
    }
    return gs_mul(s, call, gs_mul(s, call, total - 1, (size_t)stride) + 1, size);
}

/* A set of PEs a collective runs on in C: members start + i*stride, i <
 * size, the calling PE being member me. It synchronises on psync or, when
 * psync is NULL, on the team (pre, th). */
typedef struct {
    gs_pe *s;
    const char *call;
    int start, stride, size, me;
    int pre;
    uintptr_t th;
    long *psync;
} gs_set;

static inline int gs_member(gs_set *g, int i) { return g->start + i * g->stride; }

/* gs_psync_barrier waits until every member of g has called it with the
 * same pSync (OpenSHMEM 1.4's shmem_barrier without its quiet) and leaves
 * pSync as it found it (SHMEM_SYNC_VALUE), so the next call may use it at
 * once: the first member counts the others' arrivals in its pSync[0],
 * resets it, then releases each by setting its pSync[1], which each
 * resets. In C, with C's atomics and waits, because pSync is often a
 * global or static variable, which Go's routines do not take. */
static void gs_psync_barrier(gs_set *g) {
    long *ps = g->psync;
    if (g->size <= 1) {
        return;
    }
    if (g->me == 0) {
        gs_wait(g->call, 0, GS_W_ONE, &ps[0], 1, sizeof(long), GS_KIND(long), NULL, SHMEM_CMP_EQ,
                (uint64_t)(g->size - 1), NULL, NULL);
        __atomic_store_n(&ps[0], SHMEM_SYNC_VALUE, __ATOMIC_SEQ_CST);
        for (int i = 1; i < g->size; i++) {
            gs_amo(SHMEM_CTX_DEFAULT, g->call, GS_AMO_SET, "pSync", &ps[1], sizeof(long), 1, 0, gs_member(g, i));
        }
        return;
    }
    gs_amo(SHMEM_CTX_DEFAULT, g->call, GS_AMO_ADD, "pSync", &ps[0], sizeof(long), 1, 0, g->start);
    gs_wait(g->call, 0, GS_W_ONE, &ps[1], 1, sizeof(long), GS_KIND(long), NULL, SHMEM_CMP_NE, 0, NULL, NULL);
    __atomic_store_n(&ps[1], SHMEM_SYNC_VALUE, __ATOMIC_SEQ_CST);
}

static void gs_set_sync(gs_set *g) {
    if (g->psync != NULL) {
        gs_psync_barrier(g);
    } else {
        gshmemGoTeamSync(g->s->handle, g->pre, g->th, (char *)g->call, 0);
    }
}

/* gs_pull_get copies n bytes at the symmetric address src on member i to
 * dst. */
static void gs_pull_get(gs_set *g, void *dst, const void *src, size_t n, int i) {
    if (n == 0) {
        return;
    }
    if (i == g->me) {
        memmove(dst, src, n);
        return;
    }
    gs_get(SHMEM_CTX_DEFAULT, g->call, dst, src, n, 1, gs_member(g, i), 0);
}

static void *gs_scratch(gs_set *g, size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        gs_fatal(g->s, g->call, "out of memory for %zu bytes of scratch", n);
    }
    return p;
}

/* gs_pull runs a collective on the set g by gets. nb is one member's
 * contribution in bytes (nelems elements of size bytes). */
static void gs_pull(gs_set *g, int kind, gs_combine comb, char *dest, const char *source, size_t nelems, size_t size,
                    int root, ptrdiff_t dst, ptrdiff_t sst) {
    size_t nb = nelems * size; /* checked by the caller */
    switch (kind) {
    case GS_BCAST:
        gs_set_sync(g);
        if (g->me != root) {
            gs_pull_get(g, dest, source, nb, root);
        }
        gs_set_sync(g);
        return;
    case GS_FCOLLECT:
        gs_set_sync(g);
        for (int i = 0; i < g->size; i++) {
            gs_pull_get(g, dest + (size_t)i * nb, source, nb, i);
        }
        gs_set_sync(g);
        return;
    case GS_COLLECT: {
        /* Each member's count is in its pSync[2] (on a team: its scratch
         * word) from the first sync to the second. */
        long *count = g->psync != NULL ? &g->psync[2] : g->s->scratch;
        __atomic_store_n(count, (long)nelems, __ATOMIC_SEQ_CST);
        gs_set_sync(g);
        size_t at = 0;
        for (int i = 0; i < g->size; i++) {
            long n = (long)nelems;
            if (i != g->me) {
                gs_g(SHMEM_CTX_DEFAULT, g->call, &n, count, sizeof n, gs_member(g, i));
            }
            size_t bytes = gs_mul(g->s, g->call, (size_t)n, size);
            gs_pull_get(g, dest + at, source, bytes, i);
            at += bytes;
        }
        gs_set_sync(g);
        __atomic_store_n(count, SHMEM_SYNC_VALUE, __ATOMIC_SEQ_CST);
        return;
    }
    case GS_ALLTOALL:
        gs_set_sync(g);
        for (int i = 0; i < g->size; i++) {
            gs_pull_get(g, dest + (size_t)i * nb, source + (size_t)g->me * nb, nb, i);
        }
        gs_set_sync(g);
        return;
    case GS_ALLTOALLS:
        gs_set_sync(g);
        for (int i = 0; nelems > 0 && i < g->size; i++) {
            char *d = dest + (size_t)i * nelems * dst * size;
            const char *src = source + (size_t)g->me * nelems * sst * size;
            if (i == g->me) {
                for (size_t k = 0; k < nelems; k++) {
                    memmove(d + k * dst * size, src + k * sst * size, size);
                }
            } else {
                gs_iget(SHMEM_CTX_DEFAULT, g->call, d, src, dst, sst, nelems, size, gs_member(g, i));
            }
        }
        gs_set_sync(g);
        return;
    case GS_REDUCE: {
        /* Every member combines the sources in member order, so all
         * compute the same bits; dest is written after the second sync,
         * as it may be the source. */
        char *acc = gs_scratch(g, nb), *tmp = gs_scratch(g, nb);
        gs_set_sync(g);
        for (int i = 0; i < g->size; i++) {
            const char *src = source;
            if (i != g->me) {
                gs_pull_get(g, tmp, source, nb, i);
                src = tmp;
            }
            if (i == 0) {
                memcpy(acc, src, nb);
            } else {
                comb(acc, src, nelems);
            }
        }
        gs_set_sync(g);
        memcpy(dest, acc, nb);
        free(acc);
        free(tmp);
        return;
    }
    }
}

/* gs_coll_go runs a collective on a team in Go, or here (gs_pull) for a
 * type only C knows. ti is the team; the buffers are checked here. */
static void gs_coll_run(gs_tinfo *ti, const char *call, int kind, int dt, int op, gs_combine comb, void *dest,
                        const void *source, size_t nelems, size_t size, int root, ptrdiff_t dst, ptrdiff_t sst) {
    gs_pe *s = ti->s;
    size_t nb = gs_bytes(s, call, nelems, size);
    size_t n = (size_t)ti->size;
    size_t dbytes = nb, sbytes = nb;
    switch (kind) {
    case GS_FCOLLECT:
        dbytes = gs_mul(s, call, nb, n);
        break;
    case GS_ALLTOALL:
        dbytes = sbytes = gs_mul(s, call, nb, n);
        break;
    case GS_ALLTOALLS:
        if (dst < 1 || sst < 1) {
            gs_fatal(s, call, "strides dst=%td sst=%td: each must be at least 1", dst, sst);
        }
        dbytes = gs_strided_bytes(s, call, gs_mul(s, call, nelems, n), dst, size);
        sbytes = gs_strided_bytes(s, call, gs_mul(s, call, nelems, n), sst, size);
        break;
    }
    uintptr_t doff, soff;
    size_t dlen = dbytes / size;
    if (kind == GS_COLLECT) {
        dlen = gs_room(s, call, dest, size, &doff);
    } else {
        doff = gs_buf(s, call, "dest", dest, dbytes);
    }
    /* A broadcast reads the source on the root only. */
    if (kind == GS_BCAST && ti->my != root) {
        sbytes = 0;
    }
    soff = gs_buf(s, call, "source", source, sbytes);
    /* Go's collectives take heap objects: a type only C knows, or a
     * buffer that is a global or static variable, runs here, by gets. */
    if (dt == GS_DT_NONE || gs_is_static(s, doff) || gs_is_static(s, soff)) {
        gs_set g = {s, call, ti->start, ti->stride, ti->size, ti->my, ti->pre, ti->th, NULL};
        if (kind == GS_BCAST && (root < 0 || root >= ti->size)) {
            gs_fatal(s, call, "root %d not in a team of %d", root, ti->size);
        }
        gs_pull(&g, kind, comb, dest, source, nelems, size, root, dst, sst);
        if (kind == GS_BCAST && ti->my == root && dest != source) {
            memmove(dest, source, nb); /* a team's broadcast writes the root's dest too */
        }
        return;
    }
    gshmemGoColl(s->handle, ti->pre, ti->th, (char *)call, kind, dt, op, doff, dlen, soff, sbytes / size, nelems,
                 root, dst, sst);
}

int gs_team_coll(shmem_team_t team, const char *call, int kind, int dt, int op, gs_combine comb, void *dest,
                 const void *source, size_t nelems, size_t size, int root, ptrdiff_t dst, ptrdiff_t sst) {
    gs_tinfo ti;
    gs_team_info(team, call, &ti, 0);
    gs_coll_run(&ti, call, kind, dt, op, comb, dest, source, nelems, size, root, dst, sst);
    return 0;
}

/* gs_active checks the active set (PE_start, logPE_stride, PE_size) of
 * call and fills ti with it; it returns 1 when the set is the world. */
static int gs_active(gs_pe *s, const char *call, int start, int logstride, int size, gs_tinfo *ti) {
    if (logstride < 0 || logstride > 30) {
        gs_fatal(s, call, "logPE_stride %d not in [0, 30]", logstride);
    }
    int stride = 1 << logstride;
    if (start < 0 || size < 1 || start >= s->npes || (long)start + (long)(size - 1) * stride >= s->npes) {
        gs_fatal(s, call, "active set PE_start %d, logPE_stride %d, PE_size %d: not within [0, %d)", start, logstride,
                 size, s->npes);
    }
    int d = s->me - start;
    if (d < 0 || d % stride != 0 || d / stride >= size) {
        gs_fatal(s, call, "PE %d is not in the active set PE_start %d, logPE_stride %d, PE_size %d", s->me, start,
                 logstride, size);
    }
    ti->s = s;
    ti->start = start, ti->stride = stride, ti->size = size, ti->my = d / stride;
    ti->pre = 0, ti->th = 0;
    if (start == 0 && size == s->npes && (stride == 1 || size == 1)) {
        ti->pre = 1;
        ti->stride = 1;
        return 1;
    }
    return 0;
}

static long *gs_psync(gs_pe *s, const char *call, long *pSync) {
    if (pSync == NULL) {
        gs_fatal(s, call, "pSync is NULL");
    }
    gs_sym(s, call, "pSync", pSync, 3 * sizeof(long));
    return pSync;
}

void gs_as_coll(const char *call, int kind, int dt, int op, gs_combine comb, void *dest, const void *source,
                size_t nelems, size_t size, int root, ptrdiff_t dst, ptrdiff_t sst, int PE_start, int logPE_stride,
                int PE_size, long *pSync) {
    gs_pe *s = gs_ready(call);
    gs_tinfo ti;
    int world = gs_active(s, call, PE_start, logPE_stride, PE_size, &ti);
    if (kind == GS_BCAST && (root < 0 || root >= PE_size)) {
        gs_fatal(s, call, "PE_root %d not in an active set of %d", root, PE_size);
    }
    if (world) {
        /* The world team's collectives; but OpenSHMEM 1.4's broadcast does
         * not write the root's dest, which the team broadcast does: the
         * root keeps a copy and puts it back. (The root cannot name
         * another dest: the broadcast sends to the root's dest offset on
         * every member.) The copy goes to a buffer the PE keeps, so that a
         * large broadcast does not fault in fresh pages every call. */
        size_t nb = gs_bytes(s, call, nelems, size);
        void *saved = NULL;
        if (kind == GS_BCAST && ti.my == root && dest != source && nb > 0) {
            gs_sym(s, call, "dest", dest, nb);
            if (s->keep_n < nb) {
                void *k = realloc(s->keep, nb);
                if (k == NULL) {
                    gs_fatal(s, call, "out of memory for %zu bytes", nb);
                }
                s->keep = k;
                s->keep_n = nb;
            }
            saved = s->keep;
            memcpy(saved, dest, nb);
        }
        gs_coll_run(&ti, call, kind, dt, op, comb, dest, source, nelems, size, root, dst, sst);
        if (saved != NULL) {
            memcpy(dest, saved, nb);
        }
        return;
    }
    /* An active set of its own: the buffers are checked as on a team, the
     * collective runs here on pSync. */
    gs_set g = {s, call, ti.start, ti.stride, ti.size, ti.my, 0, 0, gs_psync(s, call, pSync)};
    size_t nb = gs_bytes(s, call, nelems, size);
    size_t n = (size_t)ti.size;
    switch (kind) {
    case GS_BCAST:
        gs_buf(s, call, "dest", dest, nb);
        gs_buf(s, call, "source", source, nb);
        break;
    case GS_COLLECT:
        gs_buf(s, call, "source", source, nb);
        gs_sym(s, call, "dest", dest, 0);
        break;
    case GS_FCOLLECT:
        gs_buf(s, call, "source", source, nb);
        gs_buf(s, call, "dest", dest, gs_mul(s, call, nb, n));
        break;
    case GS_ALLTOALL:
        gs_buf(s, call, "source", source, gs_mul(s, call, nb, n));
        gs_buf(s, call, "dest", dest, gs_mul(s, call, nb, n));
        break;
    case GS_ALLTOALLS:
        if (dst < 1 || sst < 1) {
            gs_fatal(s, call, "strides dst=%td sst=%td: each must be at least 1", dst, sst);
        }
        gs_buf(s, call, "dest", dest, gs_strided_bytes(s, call, gs_mul(s, call, nelems, n), dst, size));
        gs_buf(s, call, "source", source, gs_strided_bytes(s, call, gs_mul(s, call, nelems, n), sst, size));
        break;
    case GS_REDUCE:
        gs_buf(s, call, "dest", dest, nb);
        gs_buf(s, call, "source", source, nb);
        break;
    }
    gs_pull(&g, kind, comb, dest, source, nelems, size, root, dst, sst);
}

void shmem_barrier(int PE_start, int logPE_stride, int PE_size, long *pSync) {
    const char *call = "shmem_barrier";
    gs_pe *s = gs_ready(call);
    gs_tinfo ti;
    if (gs_active(s, call, PE_start, logPE_stride, PE_size, &ti)) {
        shmem_quiet();
        gshmemGoTeamSync(s->handle, 1, 0, (char *)call, 1);
        return;
    }
    shmem_quiet();
    gs_set g = {s, call, ti.start, ti.stride, ti.size, ti.my, 0, 0, gs_psync(s, call, pSync)};
    gs_set_sync(&g);
}

void shmem_sync(int PE_start, int logPE_stride, int PE_size, long *pSync) {
    const char *call = "shmem_sync";
    gs_pe *s = gs_ready(call);
    gs_tinfo ti;
    if (gs_active(s, call, PE_start, logPE_stride, PE_size, &ti)) {
        gshmemGoTeamSync(s->handle, 1, 0, (char *)call, 0);
        return;
    }
    gs_set g = {s, call, ti.start, ti.stride, ti.size, ti.my, 0, 0, gs_psync(s, call, pSync)};
    gs_set_sync(&g);
}
