/*
 * gs.h: the C half of libgshmem's state and its hot paths (not installed).
 *
 * A PE's state (gs_pe) is filled by Go at shmem_init (capi.go, newState)
 * from its hostshmem.PE and never changes until shmem_finalize sets
 * finalized: the bases of the peers' regions mapped into this process
 * (NULL where a peer is reached only through the fabric), each peer's
 * sleep word (fabric.Sleepers), this PE's host heap. Puts, gets, p, g and
 * the atomics on a mapped peer run here; anything else calls into Go
 * through the functions cgo exports (_cgo_export.h).
 *
 * The wake protocol is fabric's (fabric/internal/mapped): after a store
 * into a peer's region, order it before a look at the peer's sleep word (a
 * locked instruction), and call Notify only when the word says a waiter
 * may sleep and no wake is pending.
 */
#ifndef GSHMEM_GS_H
#define GSHMEM_GS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shmem.h"
#include "shmemx.h"

#define GS_LIKELY(x) __builtin_expect(!!(x), 1)
#define GS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GS_HIDDEN __attribute__((visibility("hidden")))

/* gs_pause is the processor's spin-wait hint, for the loops of waits. */
static inline __attribute__((always_inline)) void gs_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

typedef struct gs_pe {
    int me, npes;
    char *local;       /* this PE's region: base[me] */
    uintptr_t lo, hi;  /* the host heap: offsets [lo, hi) of the region */
    uintptr_t size;    /* bytes of the region */
    char **base;       /* per PE: its region mapped here, or NULL */
    uint64_t **sleep;  /* per PE: its sleep word, or NULL (always notify) */
    uintptr_t handle;  /* the Go binding: its index in capi.go's bindings, from 1 */
    int all_mapped;    /* every peer's region is mapped here */
    int inproc;        /* one of shmemx_run's PEs (a thread of this process) */
    int shared_start, shared_stride, shared_size; /* SHMEM_TEAM_SHARED */
    uint64_t spin;     /* looks a wait makes in C before it calls into Go */
    volatile int finalized;
    volatile int go_nbi; /* non-blocking operations went through Go: quiet there */
    char pad_[64];
    uint64_t fence_word; /* the target of the locked add that orders stores */
    char pad2_[56];
    /* What each PE's sleepers watch (fabric.Sleepers.Watches), where
     * sleep[pe] is armed: wild[pe] nonzero means every byte; watch[pe] has
     * nwatch slots lo<<32 | (hi+1) of lines of 1<<line_shift bytes. */
    uint32_t **wild;
    uint64_t **watch;
    int nwatch;
    int line_shift;
    /* Symmetric static data (static.go, static.c): the program's .data and
     * .bss, page aligned. An address there has a gs_sym offset >= size. */
    char *data;          /* this PE's; NULL: none known */
    uintptr_t data_size; /* bytes at data */
    char **data_base;    /* per PE: its data mapped here, or NULL */
    char *data_why;      /* not NULL: why static data is not symmetric here */
    /* The device heap as this process addresses it (shmemx_malloc_device's
     * pointers): [dev_base, dev_base+dev_size) holds symmetric offsets
     * [dev_off, dev_off+dev_size): GPU memory, or on the CPU fallback part
     * of the region. Filled by Go at the first device call (dev_known). */
    uintptr_t dev_base, dev_off, dev_size;
    volatile int dev_known;
    /* The teams and contexts made for this PE (gs_alloc_obj): kept, once
     * destroyed, so that a later use is an error and not a use after
     * free, and freed with the state (gs_free_objs). */
    void **objs;
    size_t nobjs, capobjs;
    int objs_lock;
    /* Eight symmetric words of the C interface's own, in the heap
     * (capi.go, scratch): a team's collect run in C exchanges its counts
     * in scratch[0]. */
    long *scratch;
    /* The root's dest during a deprecated broadcast (coll.c), kept. */
    void *keep;
    size_t keep_n;
    /* shmem_barrier_all and shmem_sync_all's entry step, run in C
     * (hostshmem.AllEntry; core.c, gs_enter_all): offsets in the regions,
     * and what the records and slots hold. ok 0: always through Go. */
    struct {
        int ok, me, size, start, stride;
        uintptr_t state, slots, slot_stride, records, record_bytes;
        uint64_t code[2], desc[2]; /* [0] barrier_all, [1] sync_all */
        uint64_t poisoned;
    } all;
} gs_pe;

/* A team's entry state in this PE's region (hostshmem's entryState, whose
 * offsets hostshmem.AllEntry documents and TestEntryStateLayout holds). */
typedef struct gs_entry_state {
    uint32_t busy, broken;
    uint64_t calls, cepoch, pending;
} gs_entry_state;
_Static_assert(offsetof(gs_entry_state, calls) == 8 && offsetof(gs_entry_state, cepoch) == 16 &&
                   offsetof(gs_entry_state, pending) == 24,
               "gs_entry_state differs from hostshmem's entryState");

/* A context shmem_ctx_create or shmem_team_create_ctx made for one PE
 * (SHMEM_CTX_DEFAULT is a constant, no object). A team context names target
 * PEs by their number in the team: member i is world PE start + i*stride. */
struct gshmem_ctx {
    gs_pe *pe;
    int start, stride, size; /* the team's members; size 0: the world */
    long options;
    uintptr_t handle;        /* the Go context (binding.ctxs), 0: the default */
    volatile int destroyed;
    shmem_team_t team;
};

/* A team a split made for one PE (SHMEM_TEAM_WORLD and SHMEM_TEAM_SHARED
 * are constants, no objects: the calling PE's). */
struct gshmem_team {
    gs_pe *pe;
    int start, stride, size, my;
    uintptr_t handle;  /* the Go team (binding.teams) */
    volatile int destroyed;
};

GS_HIDDEN void *gs_alloc_obj(gs_pe *s, size_t size);
GS_HIDDEN void gs_free_objs(gs_pe *s);

/* The calling PE: the thread's (shmemx_run) or the process's. */
extern __thread gs_pe *gs_tls __attribute__((tls_model("initial-exec")));
extern gs_pe *gs_proc;

static inline gs_pe *gs_cur(void) {
    gs_pe *s = gs_tls;
    return GS_LIKELY(s == NULL) ? gs_proc : s;
}

/* Failures: print "gshmem: PE n: call: message" and end the job as
 * shmem_global_exit(1) does. */
GS_HIDDEN void gs_fatal(gs_pe *s, const char *call, const char *fmt, ...)
    __attribute__((noreturn, cold, format(printf, 3, 4)));
GS_HIDDEN gs_pe *gs_ready_slow(const char *call) __attribute__((cold));
GS_HIDDEN gs_pe *gs_ctx_slow(shmem_ctx_t ctx, const char *call, int *pe) __attribute__((cold));
GS_HIDDEN uintptr_t gs_sym_slow(gs_pe *s, const char *call, const char *what, const void *p, size_t n);
GS_HIDDEN void gs_go_rma(gs_pe *s, shmem_ctx_t ctx, const char *call, int kind, int pe, uintptr_t off,
                         void *local, size_t n);
GS_HIDDEN void gs_go_notify(gs_pe *s, int pe, uintptr_t off, size_t n);

/* gs_ready returns the calling PE, initialised and not finalized. */
static inline gs_pe *gs_ready(const char *call) {
    gs_pe *s = gs_cur();
    if (GS_UNLIKELY(s == NULL || s->finalized)) {
        return gs_ready_slow(call);
    }
    return s;
}

/* gs_ctx returns the PE that ctx belongs to and turns *pe, the target as
 * the caller named it, into its world number, checking both. */
static inline gs_pe *gs_ctx(shmem_ctx_t ctx, const char *call, int *pe) {
    if (GS_LIKELY(ctx == SHMEM_CTX_DEFAULT)) {
        gs_pe *s = gs_ready(call);
        if (GS_UNLIKELY((unsigned)*pe >= (unsigned)s->npes)) {
            gs_fatal(s, call, "PE %d out of range [0, %d)", *pe, s->npes);
        }
        return s;
    }
    return gs_ctx_slow(ctx, call, pe);
}

/* gs_sym returns the offset in s's region of the n bytes at p, which must
 * lie in a symmetric heap: the host heap ([lo, hi), where C reaches mapped
 * peers itself) or, on the CPU fallback, the device heap past it (an
 * offset >= hi: the access goes through Go), or, where the PEs are
 * processes, in the program's static data (an offset >= size; see
 * gs_target). what names the argument in errors. */
static inline uintptr_t gs_sym(gs_pe *s, const char *call, const char *what, const void *p, size_t n) {
    uintptr_t off = (uintptr_t)((const char *)p - s->local);
    if (GS_LIKELY(off - s->lo < s->hi - s->lo && n <= s->hi - off)) {
        return off;
    }
    return gs_sym_slow(s, call, what, p, n);
}

/* gs_bytes is nelems*size, or a failure when it overflows. */
static inline size_t gs_bytes(gs_pe *s, const char *call, size_t nelems, size_t size) {
    size_t n;
    if (GS_UNLIKELY(__builtin_mul_overflow(nelems, size, &n))) {
        gs_fatal(s, call, "%zu elements of %zu bytes overflow size_t", nelems, size);
    }
    return n;
}

/* gs_watched reports whether a sleeper of pe watches a line of [off,
 * off+n) (n > 0), for a store that found pe's sleep word armed. */
static inline int gs_watched(gs_pe *s, int pe, uintptr_t off, size_t n) {
    if (s->watch[pe] == NULL || __atomic_load_n(s->wild[pe], __ATOMIC_RELAXED) != 0) {
        return 1;
    }
    uint64_t lo = off >> s->line_shift, hi = (off + n - 1) >> s->line_shift;
    for (int i = 0; i < s->nwatch; i++) {
        uint64_t w = __atomic_load_n(&s->watch[pe][i], __ATOMIC_RELAXED);
        if (w != 0 && (w >> 32) <= hi && lo <= (uint64_t)(uint32_t)w - 1) {
            return 1;
        }
    }
    return 0;
}

/* gs_notify follows a store into PE pe's bytes [off, off+n) (see above):
 * it costs a locked add and a load while nobody sleeps, a line of loads
 * while sleepers watch other bytes, and a call into Go (which wakes them)
 * only when one watches these. */
static inline void gs_notify_ordered(gs_pe *s, int pe, uintptr_t off, size_t n);

static inline void gs_notify(gs_pe *s, int pe, uintptr_t off, size_t n) {
    __atomic_fetch_add(&s->fence_word, 1, __ATOMIC_SEQ_CST);
    gs_notify_ordered(s, pe, off, n);
}

/* gs_notify_ordered is gs_notify for a store already ordered before the
 * look at the sleep word: a locked read-modify-write (an atomic) or a
 * fence. */
static inline void gs_notify_ordered(gs_pe *s, int pe, uintptr_t off, size_t n) {
    uint64_t *w = s->sleep[pe];
    if (GS_LIKELY(w != NULL)) {
        uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
        if (GS_LIKELY((uint32_t)v == 0 || (v >> 32) != 0)) {
            return;
        }
        if (n != 0 && !gs_watched(s, pe, off, n)) {
            return;
        }
    }
    gs_go_notify(s, pe, off, n);
}

/* Static data (static.c). */
GS_HIDDEN int gs_static_sym(gs_pe *s, const char *call, const char *what, const void *p, size_t n);
GS_HIDDEN char *gs_static_target(gs_pe *s, const char *call, const char *what, const void *p, int pe);
GS_HIDDEN void *gs_static_ptr(gs_pe *s, const void *p, int pe);
GS_HIDDEN void gs_static_rma(gs_pe *s, shmem_ctx_t ctx, const char *call, int kind, int pe, uintptr_t off,
                             void *local, size_t n);
GS_HIDDEN void gs_static_strided(gs_pe *s, shmem_ctx_t ctx, const char *call, int put, int pe, uintptr_t off,
                                 char *local, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, size_t size);

/* gs_target returns where the n bytes at the symmetric address p lie on
 * world PE pe, for a routine that accesses them in C (atomics, signals,
 * waits), or NULL where the access must go through Go (a peer not mapped
 * here, the device heap) at offset *off of the region. It sets *off to
 * gs_sym's offset in every case and fails as gs_sym does.
 *
 * Static data (a global or static variable of the program; *off >= s->size,
 * see gs_is_static) is mapped for every PE of this node, so gs_target
 * returns a pointer to it, or fails naming the PE when that PE's copy is
 * not reachable (another node) or static data is not symmetric here
 * (shmemx_run's PEs share one copy). Go's routines take heap offsets only:
 * never pass them a static one. After a store through the pointer call
 * gs_notify(s, pe, *off, n) as for the heap: a static offset wakes every
 * sleeper of pe (fabric's Notify with n == 0), since fabric's watches are
 * heap ranges; so a wait on a static variable, once it sleeps in Go, must
 * watch every Notify (n == 0) and read the variable at its address. */
static inline char *gs_target(gs_pe *s, const char *call, const char *what, const void *p, size_t n, int pe,
                              uintptr_t *off) {
    uintptr_t o = gs_sym(s, call, what, p, n);
    *off = o;
    char *b = s->base[pe];
    if (GS_LIKELY(o < s->hi)) {
        return b != NULL ? b + o : NULL;
    }
    if (o < s->size) {
        return NULL; /* the device heap */
    }
    return gs_static_target(s, call, what, p, pe);
}

/* gs_is_static says whether off, from gs_sym or gs_target, is that of
 * static data. */
static inline int gs_is_static(const gs_pe *s, uintptr_t off) { return off >= s->size; }

/* gs_copy copies the data of a put or a get: glibc's memcpy below 1 MiB,
 * Go's Copier from there (internal/memcopy, what hostshmem's puts use),
 * whose cached pieces and large copies keep twice to three times glibc's
 * bandwidth into a peer's mapping at 8 MiB and up on the machines
 * measured (BENCHMARKS.md, the C interface); the call into Go costs
 * nothing there. */
#define GS_BIG_COPY ((size_t)1 << 20)
GS_HIDDEN void gs_go_copy(gs_pe *s, void *dst, const void *src, size_t n);
static inline void gs_copy(gs_pe *s, void *dst, const void *src, size_t n) {
    if (GS_UNLIKELY(n >= GS_BIG_COPY)) {
        gs_go_copy(s, dst, src, n);
        return;
    }
    memcpy(dst, src, n);
}

/* Kinds of gs_go_rma. */
enum { GS_PUT = 0, GS_GET = 1, GS_PUT_NBI = 2, GS_GET_NBI = 3 };

static inline void gs_put(shmem_ctx_t ctx, const char *call, void *dest, const void *source, size_t nelems,
                          size_t size, int pe, int nbi) {
    int w = pe;
    gs_pe *s = gs_ctx(ctx, call, &w);
    size_t n = gs_bytes(s, call, nelems, size);
    if (GS_UNLIKELY(n == 0)) {
        return;
    }
    uintptr_t off = gs_sym(s, call, "dest", dest, n);
    char *b = s->base[w];
    if (GS_LIKELY(b != NULL && off < s->hi)) {
        gs_copy(s, b + off, source, n);
        gs_notify(s, w, off, n);
        return;
    }
    gs_go_rma(s, ctx, call, nbi ? GS_PUT_NBI : GS_PUT, pe, off, (void *)source, n);
}

static inline void gs_get(shmem_ctx_t ctx, const char *call, void *dest, const void *source, size_t nelems,
                          size_t size, int pe, int nbi) {
    int w = pe;
    gs_pe *s = gs_ctx(ctx, call, &w);
    size_t n = gs_bytes(s, call, nelems, size);
    if (GS_UNLIKELY(n == 0)) {
        return;
    }
    uintptr_t off = gs_sym(s, call, "source", source, n);
    char *b = s->base[w];
    if (GS_LIKELY(b != NULL && off < s->hi)) {
        gs_copy(s, dest, b + off, n);
        return;
    }
    gs_go_rma(s, ctx, call, nbi ? GS_GET_NBI : GS_GET, pe, off, dest, n);
}

static inline void gs_p(shmem_ctx_t ctx, const char *call, void *dest, const void *value, size_t size, int pe) {
    int w = pe;
    gs_pe *s = gs_ctx(ctx, call, &w);
    uintptr_t off = gs_sym(s, call, "dest", dest, size);
    char *b = s->base[w];
    if (GS_LIKELY(b != NULL && off < s->hi)) {
        memcpy(b + off, value, size);
        gs_notify(s, w, off, size);
        return;
    }
    gs_go_rma(s, ctx, call, GS_PUT, pe, off, (void *)value, size);
}

static inline void gs_g(shmem_ctx_t ctx, const char *call, void *out, const void *source, size_t size, int pe) {
    int w = pe;
    gs_pe *s = gs_ctx(ctx, call, &w);
    uintptr_t off = gs_sym(s, call, "source", source, size);
    char *b = s->base[w];
    if (GS_LIKELY(b != NULL && off < s->hi)) {
        memcpy(out, b + off, size);
        return;
    }
    gs_go_rma(s, ctx, call, GS_GET, pe, off, out, size);
}

/* gs_span checks a strided access: nelems elements of size bytes, stride
 * elements apart, from the symmetric address p; it returns the offset of
 * the first and sets *span to the bytes from the first to past the last. */
static inline uintptr_t gs_span(gs_pe *s, const char *call, const char *what, const void *p, ptrdiff_t stride,
                                size_t nelems, size_t size, size_t *span) {
    size_t n;
    if (GS_UNLIKELY(__builtin_mul_overflow(nelems - 1, (size_t)stride, &n) ||
                    __builtin_mul_overflow(n, size, &n) || __builtin_add_overflow(n, size, &n))) {
        gs_fatal(s, call, "%zu elements %td apart overflow size_t", nelems, stride);
    }
    *span = n;
    return gs_sym(s, call, what, p, n);
}

static inline void gs_strides(gs_pe *s, const char *call, ptrdiff_t dst, ptrdiff_t sst) {
    if (GS_UNLIKELY(dst < 1 || sst < 1)) {
        gs_fatal(s, call, "strides dst=%td sst=%td: each must be at least 1", dst, sst);
    }
}

GS_HIDDEN void gs_go_strided(gs_pe *s, shmem_ctx_t ctx, const char *call, int put, int pe, uintptr_t off,
                             char *local, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, size_t size);

/* gs_strided is iput (put 1: dest is the symmetric side) and iget (put 0:
 * source is): element i*sst of source goes to element i*dst of dest. */
static inline void gs_strided(shmem_ctx_t ctx, const char *call, int put, void *dest, const void *source,
                              ptrdiff_t dst, ptrdiff_t sst, size_t nelems, size_t size, int pe) {
    int w = pe;
    gs_pe *s = gs_ctx(ctx, call, &w);
    if (GS_UNLIKELY(nelems == 0)) {
        return;
    }
    gs_strides(s, call, dst, sst);
    size_t span;
    uintptr_t off = put ? gs_span(s, call, "dest", dest, dst, nelems, size, &span)
                        : gs_span(s, call, "source", source, sst, nelems, size, &span);
    char *b = s->base[w];
    if (GS_UNLIKELY(b == NULL || off >= s->hi)) {
        gs_go_strided(s, ctx, call, put, pe, off, put ? (char *)source : (char *)dest, dst, sst, nelems, size);
        return;
    }
    char *d = put ? b + off : (char *)dest;
    const char *src = put ? (const char *)source : b + off;
    for (size_t i = 0; i < nelems; i++) {
        memcpy(d + i * dst * size, src + i * sst * size, size);
    }
    if (put) {
        gs_notify(s, w, off, span);
    }
}

static inline void gs_iput(shmem_ctx_t ctx, const char *call, void *dest, const void *source, ptrdiff_t dst,
                           ptrdiff_t sst, size_t nelems, size_t size, int pe) {
    gs_strided(ctx, call, 1, dest, source, dst, sst, nelems, size, pe);
}

static inline void gs_iget(shmem_ctx_t ctx, const char *call, void *dest, const void *source, ptrdiff_t dst,
                           ptrdiff_t sst, size_t nelems, size_t size, int pe) {
    gs_strided(ctx, call, 0, dest, source, dst, sst, nelems, size, pe);
}

#endif /* GSHMEM_GS_H */
