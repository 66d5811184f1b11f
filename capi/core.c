// Library setup, query, memory management, ordering and the slow paths of
// the hot routines in gs.h.

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "_cgo_export.h"
#include "gs.h"

__thread gs_pe *gs_tls __attribute__((tls_model("initial-exec")));
gs_pe *gs_proc;


void gs_fatal(gs_pe *s, const char *call, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gshmemGoFatal(s ? s->handle : 0, (char *)call, msg);
    abort(); /* not reached: gshmemGoFatal ends the process */
}

gs_pe *gs_ready_slow(const char *call) {
    gs_pe *s = gs_cur();
    if (s == NULL) {
        gs_fatal(NULL, call, "called before shmem_init");
    }
    gs_fatal(s, call, "called after shmem_finalize");
}

gs_pe *gs_ctx_slow(shmem_ctx_t ctx, const char *call, int *pe) {
    if (ctx == SHMEM_CTX_INVALID) {
        gs_fatal(gs_cur(), call, "SHMEM_CTX_INVALID is not a context");
    }
    if (ctx == SHMEM_CTX_DEFAULT) {
        return gs_ctx(ctx, call, pe);
    }
    gs_pe *s = ctx->pe;
    if (s == NULL || s->finalized) {
        gs_ready(call);
        gs_fatal(s, call, "context %p was not made by shmem_ctx_create", (void *)ctx);
    }
    if (ctx->destroyed) {
        gs_fatal(s, call, "context %p was destroyed", (void *)ctx);
    }
    if (ctx->size == 0) {
        if ((unsigned)*pe >= (unsigned)s->npes) {
            gs_fatal(s, call, "PE %d out of range [0, %d)", *pe, s->npes);
        }
        return s;
    }
    if ((unsigned)*pe >= (unsigned)ctx->size) {
        gs_fatal(s, call, "PE %d out of range [0, %d), the members of the context's team", *pe, ctx->size);
    }
    *pe = ctx->start + *pe * ctx->stride;
    return s;
}

uintptr_t gs_sym_slow(gs_pe *s, const char *call, const char *what, const void *p, size_t n) {
    uintptr_t off = (uintptr_t)((const char *)p - s->local);
    if (off < s->size && n <= s->size - off && off >= s->hi) {
        return off; /* the device heap of the CPU fallback: through Go */
    }
    uintptr_t d = (uintptr_t)p - s->dev_base;
    if (s->dev_size != 0 && d < s->dev_size && n <= s->dev_size - d) {
        return s->dev_off + d; /* the device heap on a GPU: through Go */
    }
    if (off - s->lo < s->hi - s->lo) {
        gs_fatal(s, call, "%s %p: %zu bytes run past the end of the symmetric heap [%p, %p)", what, p, n,
                 (void *)(s->local + s->lo), (void *)(s->local + s->hi));
    }
    if (gs_static_sym(s, call, what, p, n)) {
        return off; /* static data: >= s->size */
    }
    gs_fatal(s, call, "%s %p is not a symmetric address: the symmetric heap is [%p, %p)", what, p,
             (void *)(s->local + s->lo), (void *)(s->local + s->hi));
}

void gs_go_rma(gs_pe *s, shmem_ctx_t ctx, const char *call, int kind, int pe, uintptr_t off, void *local,
               size_t n) {
    if (GS_UNLIKELY(off >= s->size)) {
        gs_static_rma(s, ctx, call, kind, pe, off, local, n);
        return;
    }
    if (kind == GS_PUT_NBI || kind == GS_GET_NBI) {
        s->go_nbi = 1;
    }
    gshmemGoRMA(s->handle, ctx == SHMEM_CTX_DEFAULT ? 0 : ctx->handle, (char *)call, kind, pe, off, local, n);
}

void gs_go_strided(gs_pe *s, shmem_ctx_t ctx, const char *call, int put, int pe, uintptr_t off, char *local,
                   ptrdiff_t dst, ptrdiff_t sst, size_t nelems, size_t size) {
    if (GS_UNLIKELY(off >= s->size)) {
        gs_static_strided(s, ctx, call, put, pe, off, local, dst, sst, nelems, size);
        return;
    }
    gshmemGoStrided(s->handle, ctx == SHMEM_CTX_DEFAULT ? 0 : ctx->handle, (char *)call, put, pe, off, local, dst,
                    sst, nelems, size);
}

void gs_go_copy(gs_pe *s, void *dst, const void *src, size_t n) { gshmemGoCopy(s->handle, dst, (void *)src, n); }

void gs_go_notify(gs_pe *s, int pe, uintptr_t off, size_t n) {
    if (off >= s->size) {
        off = n = 0; /* static data: fabric watches heap ranges, so wake every sleeper */
    }
    gshmemGoNotify(s->handle, pe, off, n);
}

void *gs_alloc_obj(gs_pe *s, size_t size) {
    void *p = calloc(1, size);
    if (p == NULL) {
        return NULL;
    }
    while (__atomic_exchange_n(&s->objs_lock, 1, __ATOMIC_ACQUIRE)) {
        gs_pause();
    }
    if (s->nobjs == s->capobjs) {
        size_t cap = s->capobjs ? 2 * s->capobjs : 16;
        void **objs = realloc(s->objs, cap * sizeof *objs);
        if (objs == NULL) {
            __atomic_store_n(&s->objs_lock, 0, __ATOMIC_RELEASE);
            free(p);
            return NULL;
        }
        s->objs = objs;
        s->capobjs = cap;
    }
    s->objs[s->nobjs++] = p;
    __atomic_store_n(&s->objs_lock, 0, __ATOMIC_RELEASE);
    return p;
}

void gs_free_objs(gs_pe *s) {
    for (size_t i = 0; i < s->nobjs; i++) {
        free(s->objs[i]);
    }
    free(s->objs);
    s->objs = NULL, s->nobjs = s->capobjs = 0;
    free(s->keep);
    s->keep = NULL, s->keep_n = 0;
}

/* gs_call runs shmemx_run's function on the thread of one of its PEs. */
GS_HIDDEN void gs_call(void (*fn)(void *), void *arg, gs_pe *s) {
    gs_tls = s;
    fn(arg);
    gs_tls = NULL;
}

/* ---- setup and query ---- */

int shmem_init_thread(int requested, int *provided) {
    gs_pe *s = gs_cur();
    if (s != NULL && s->inproc) {
        /* A PE of shmemx_run, initialised already: meet the others. */
        if (provided) {
            *provided = SHMEM_THREAD_MULTIPLE;
        }
        gshmemGoBarrierAll(s->handle, "shmem_init");
        return 0;
    }
    if (s != NULL) {
        gs_fatal(s, "shmem_init", s->finalized ? "called after shmem_finalize" : "called twice");
    }
    if (requested < SHMEM_THREAD_SINGLE || requested > SHMEM_THREAD_MULTIPLE) {
        gs_fatal(NULL, "shmem_init_thread", "thread level %d is none of SHMEM_THREAD_SINGLE..SHMEM_THREAD_MULTIPLE",
                 requested);
    }
    gs_proc = gshmemGoInit();
    if (provided) {
        *provided = SHMEM_THREAD_MULTIPLE;
    }
    return 0;
}

void shmem_init(void) { shmem_init_thread(SHMEM_THREAD_MULTIPLE, NULL); }

void shmem_finalize(void) {
    gs_pe *s = gs_ready("shmem_finalize");
    shmem_quiet();
    gshmemGoFinalize(s->handle);
}

int shmem_query_thread(int *provided) {
    gs_ready("shmem_query_thread");
    if (provided) {
        *provided = SHMEM_THREAD_MULTIPLE;
    }
    return 0;
}

void shmem_global_exit(int status) {
    gs_pe *s = gs_cur();
    gshmemGoGlobalExit(s ? s->handle : 0, status);
    exit(status); /* not reached */
}

int shmem_my_pe(void) { return gs_ready("shmem_my_pe")->me; }
int shmem_n_pes(void) { return gs_ready("shmem_n_pes")->npes; }

int shmem_pe_accessible(int pe) {
    gs_pe *s = gs_ready("shmem_pe_accessible");
    return (unsigned)pe < (unsigned)s->npes;
}

int shmem_addr_accessible(const void *addr, int pe) {
    gs_pe *s = gs_ready("shmem_addr_accessible");
    uintptr_t off = (uintptr_t)((const char *)addr - s->local);
    if ((unsigned)pe < (unsigned)s->npes && off >= s->size) {
        return gs_static_ptr(s, addr, pe) != NULL;
    }
    return (unsigned)pe < (unsigned)s->npes && off - s->lo < s->size - s->lo;
}

void *shmem_ptr(const void *dest, int pe) {
    gs_pe *s = gs_ready("shmem_ptr");
    uintptr_t off = (uintptr_t)((const char *)dest - s->local);
    if ((unsigned)pe < (unsigned)s->npes && off >= s->size) {
        return gs_static_ptr(s, dest, pe);
    }
    if ((unsigned)pe >= (unsigned)s->npes || off - s->lo >= s->hi - s->lo || s->base[pe] == NULL) {
        return NULL;
    }
    return s->base[pe] + off;
}

void shmem_info_get_version(int *major, int *minor) {
    if (major) {
        *major = SHMEM_MAJOR_VERSION;
    }
    if (minor) {
        *minor = SHMEM_MINOR_VERSION;
    }
}

void shmem_info_get_name(char *name) {
    if (name) {
        strncpy(name, SHMEM_VENDOR_STRING, SHMEM_MAX_NAME_LEN - 1);
        name[SHMEM_MAX_NAME_LEN - 1] = 0;
    }
}

/* ---- memory management ---- */

static void *gs_alloc(const char *call, int kind, size_t size, size_t align, long hints, void *old) {
    gs_pe *s = gs_ready(call);
    uintptr_t oldoff = 0;
    if (old != NULL) {
        oldoff = (uintptr_t)((char *)old - s->local);
        if (oldoff - s->lo >= s->hi - s->lo) {
            gs_fatal(s, call, "%p is not an object of the symmetric heap [%p, %p)", old, (void *)(s->local + s->lo),
                     (void *)(s->local + s->hi));
        }
    }
    int64_t off = gshmemGoAlloc(s->handle, (char *)call, kind, size, align, hints, oldoff);
    return off < 0 ? NULL : s->local + off;
}

void *shmem_malloc(size_t size) { return gs_alloc("shmem_malloc", 0, size, 0, 0, NULL); }
void *shmem_malloc_with_hints(size_t size, long hints) {
    return gs_alloc("shmem_malloc_with_hints", 0, size, 0, hints, NULL);
}
void *shmem_calloc(size_t count, size_t size) {
    gs_pe *s = gs_ready("shmem_calloc");
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        fprintf(stderr, "gshmem: PE %d: shmem_calloc: %zu elements of %zu bytes overflow size_t\n", s->me, count, size);
        return NULL;
    }
    return gs_alloc("shmem_calloc", 1, n, 0, 0, NULL);
}
void *shmem_align(size_t alignment, size_t size) { return gs_alloc("shmem_align", 2, size, alignment, 0, NULL); }
void *shmem_realloc(void *ptr, size_t size) {
    if (ptr == NULL) {
        return shmem_malloc(size);
    }
    return gs_alloc("shmem_realloc", 3, size, 0, 0, ptr);
}
void shmem_free(void *ptr) {
    gs_pe *s = gs_ready("shmem_free");
    uintptr_t off = 0;
    if (ptr != NULL) {
        off = (uintptr_t)((char *)ptr - s->local);
        if (off - s->lo >= s->hi - s->lo) {
            gs_fatal(s, "shmem_free", "%p is not an object of the symmetric heap [%p, %p)", ptr,
                     (void *)(s->local + s->lo), (void *)(s->local + s->hi));
        }
    }
    gshmemGoFree(s->handle, ptr != NULL, off);
}

/* ---- ordering and completion ---- */

void shmem_ctx_quiet(shmem_ctx_t ctx) {
    int pe = 0;
    gs_pe *s = ctx == SHMEM_CTX_DEFAULT ? gs_ready("shmem_ctx_quiet") : gs_ctx_slow(ctx, "shmem_ctx_quiet", &pe);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (GS_UNLIKELY(!s->all_mapped || s->go_nbi)) {
        s->go_nbi = 0;
        gshmemGoQuiet(s->handle, ctx == SHMEM_CTX_DEFAULT ? 0 : ctx->handle);
    }
}
void shmem_quiet(void) { shmem_ctx_quiet(SHMEM_CTX_DEFAULT); }
/* Stores to a mapped peer are ordered already (x86-TSO; a release fence
 * elsewhere); fabric puts are ordered by Go's fence. */
void shmem_ctx_fence(shmem_ctx_t ctx) {
    int pe = 0;
    gs_pe *s = ctx == SHMEM_CTX_DEFAULT ? gs_ready("shmem_ctx_fence") : gs_ctx_slow(ctx, "shmem_ctx_fence", &pe);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (GS_UNLIKELY(!s->all_mapped || s->go_nbi)) {
        s->go_nbi = 0;
        gshmemGoQuiet(s->handle, ctx == SHMEM_CTX_DEFAULT ? 0 : ctx->handle);
    }
}
void shmem_fence(void) { shmem_ctx_fence(SHMEM_CTX_DEFAULT); }

/* gs_enter_all runs barrier_all's (sync 0) or sync_all's (sync 1) entry
 * step in C, as hostshmem.AllEntry describes it: a call into Go costs as
 * much as the whole barrier. It returns 0, having changed nothing, where
 * Go must run the call; a wait that lasts, and any doubt about the
 * verdict, are finished by Go (gshmemGoFinishEntry). */
static int gs_enter_all(gs_pe *s, int sync) {
    if (!s->all.ok || GS_UNLIKELY(!s->all_mapped || s->go_nbi)) {
        return 0;
    }
    gs_entry_state *st = (gs_entry_state *)(s->local + s->all.state);
    uint32_t free_ = 0;
    if (!__atomic_compare_exchange_n(&st->busy, &free_, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        return 0;
    }
    if (st->broken || st->pending) {
        __atomic_store_n(&st->busy, 0, __ATOMIC_RELEASE);
        return 0;
    }
    uint64_t seq = ++st->calls, code = s->all.code[sync], d = s->all.desc[sync];
    uint64_t *rec = (uint64_t *)(s->local + s->all.records + (seq % 2) * s->all.record_bytes);
    rec[0] = seq;
    rec[1] = code;
    for (int k = 2; k < 7; k++) {
        rec[k] = 0;
    }
    __atomic_store_n(&rec[7], 0, __ATOMIC_RELEASE);
    uint64_t e = ++st->cepoch;
    int par = (int)(e % 2), me = s->all.me, n = s->all.size;
    uintptr_t mine = s->all.slots + ((uintptr_t)par * n + me) * s->all.slot_stride;
    for (int i = 0; i < n; i++) {
        if (i == me) {
            continue;
        }
        int w = s->all.start + i * s->all.stride;
        uint64_t *slot = (uint64_t *)(s->base[w] + mine);
        slot[1] = d;
        /* The release store orders the record and the descriptor before
         * the epoch, and gs_notify's fence (a locked instruction on a line
         * of our own) the epoch before the look at w's sleep word. Not a
         * locked store on w's line: that holds this core until w, polling
         * the line, gives it up (hostshmem's push does the same). */
        __atomic_store_n(&slot[0], e, __ATOMIC_RELEASE);
        gs_notify(s, w, mine, 8);
    }
    uintptr_t row = s->all.slots + (uintptr_t)par * n * s->all.slot_stride;
    int i = 0;
    for (uint64_t look = 0; i < n; i++) {
        if (i == me) {
            continue;
        }
        uint64_t *slot = (uint64_t *)(s->local + row + (uintptr_t)i * s->all.slot_stride);
        while (__atomic_load_n(&slot[0], __ATOMIC_ACQUIRE) < e && ++look < s->spin) {
            gs_pause();
        }
        if (look >= s->spin || __atomic_load_n(&slot[0], __ATOMIC_RELAXED) == s->all.poisoned || slot[1] != d) {
            break;
        }
    }
    if (i < n) {
        /* Go waits (sleeping, bounded by the job's context), checks the
         * poison and reaches the verdict, and releases the team. */
        gshmemGoFinishEntry(s->handle, sync, seq, e);
        return 1;
    }
    __atomic_store_n(&st->busy, 0, __ATOMIC_RELEASE);
    return 1;
}

void shmem_barrier_all(void) {
    gs_pe *s = gs_ready("shmem_barrier_all");
    if (!gs_enter_all(s, 0)) {
        gshmemGoBarrierAll(s->handle, "shmem_barrier_all");
    }
}
void shmem_sync_all(void) {
    gs_pe *s = gs_ready("shmem_sync_all");
    if (!gs_enter_all(s, 1)) {
        gshmemGoSyncAll(s->handle);
    }
}

const char *shmemx_transport(void) {
    static __thread char name[32];
    gs_pe *s = gs_ready("shmemx_transport");
    gshmemGoTransport(s->handle, name, sizeof name);
    return name;
}

int shmemx_run(int npes, void (*fn)(void *arg), void *arg) {
    if (gs_cur() != NULL) {
        gs_fatal(gs_cur(), "shmemx_run", "called on a PE: shmemx_run starts PEs, it does not run on one");
    }
    if (fn == NULL || npes < 1) {
        gs_fatal(NULL, "shmemx_run", "npes %d, fn %p: want at least 1 PE and a function", npes, (void *)fn);
    }
    return gshmemGoRun(npes, (void *)fn, arg);
}

/* ---- deprecated names ---- */

void start_pes(int npes) {
    (void)npes;
    if (gs_cur() == NULL) {
        shmem_init();
    }
}
int _my_pe(void) { return shmem_my_pe(); }
int _num_pes(void) { return shmem_n_pes(); }
void *shmalloc(size_t size) { return shmem_malloc(size); }
void shfree(void *ptr) { shmem_free(ptr); }
void *shrealloc(void *ptr, size_t size) { return shmem_realloc(ptr, size); }
void *shmemalign(size_t alignment, size_t size) { return shmem_align(alignment, size); }
/* Cache management of Cray SHMEM: no-ops on coherent memory. */
void shmem_clear_cache_inv(void) {}
void shmem_set_cache_inv(void) {}
void shmem_clear_cache_line_inv(void *dest) { (void)dest; }
void shmem_set_cache_line_inv(void *dest) { (void)dest; }
void shmem_udcflush(void) {}
void shmem_udcflush_line(void *dest) { (void)dest; }
