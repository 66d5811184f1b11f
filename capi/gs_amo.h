/*
 * gs_amo.h: the hot paths of the atomics, signals and point-to-point waits
 * and tests (not installed); the typed functions of zamo.c call them.
 *
 * Atomics on a mapped peer are __atomic builtins on the peer's word, the
 * same locked instructions as Go's sync/atomic (fabric.AMO32, AMO64), so
 * C and Go atomics on one word agree. Every atomic that writes is a locked
 * read-modify-write (a set is an exchange, as in fabric), which orders it
 * before the look at the peer's sleep word that gs_notify_rmw makes.
 * Floats travel as their bit patterns: fetch, set and swap only.
 *
 * A wait looks at its variables in C s->spin times, then calls into Go,
 * which sleeps in the fabric (hostshmem.WaitUntil...) until a put or an
 * atomic wakes it, or a peer dies (the job ends with a message then).
 * Anything that C cannot reach (an unmapped peer, the device heap) goes
 * through Go as well.
 */
#ifndef GSHMEM_GS_AMO_H
#define GSHMEM_GS_AMO_H

#include "gs.h"

/* The size, kind and operation of the typed functions are constants that
 * fold the switches below away: inline these always. */
#define GS_ALWAYS static inline __attribute__((always_inline))

/* Atomic operations (gshmemGoAMO). */
enum {
    GS_AMO_FETCH = 0,
    GS_AMO_SET = 1,
    GS_AMO_SWAP = 2,
    GS_AMO_CSWAP = 3,
    GS_AMO_ADD = 4,
    GS_AMO_AND = 5,
    GS_AMO_OR = 6,
    GS_AMO_XOR = 7,
};

/* Kinds of waited-on integers: bit 0 unsigned, bits 1-2 log2(size) - 1. */
enum { GS_I16 = 0, GS_U16 = 1, GS_I32 = 2, GS_U32 = 3, GS_I64 = 4, GS_U64 = 5 };
#define GS_KIND(T) ((sizeof(T) == 2 ? 0 : sizeof(T) == 4 ? 2 : 4) + ((T)-1 > (T)0))

/* Multi-variable waits and tests (gshmemGoWait). */
enum {
    GS_W_ONE = 0,  /* wait_until / test: one variable */
    GS_W_ALL = 1,
    GS_W_ANY = 2,
    GS_W_SOME = 3,
    GS_W_SIGNAL = 4, /* signal_wait_until: returns the value */
};

GS_HIDDEN uint64_t gs_go_amo(gs_pe *s, shmem_ctx_t ctx, const char *call, int op, int pe, uintptr_t off, size_t size,
                             uint64_t v, uint64_t cond);
GS_HIDDEN void gs_amo_misaligned(gs_pe *s, const char *call, const char *what, const void *p, size_t size)
    __attribute__((noreturn, cold));
GS_HIDDEN void gs_go_put_signal(gs_pe *s, shmem_ctx_t ctx, const char *call, int nbi, int pe, uintptr_t off,
                                const void *source, size_t n, uintptr_t soff, uint64_t signal, int sig_op);
GS_HIDDEN uint64_t gs_go_wait(gs_pe *s, const char *call, int test, int op, int kind, uintptr_t off, size_t nelems,
                              const int *status, int cmp, uint64_t v, const void *values, size_t *indices);
GS_HIDDEN void gs_bad_cmp(gs_pe *s, const char *call, int cmp) __attribute__((noreturn, cold));

/* gs_bits is the bit pattern of the size-byte value at p, zero-extended. */
GS_ALWAYS uint64_t gs_bits(const void *p, size_t size) {
    switch (size) {
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

/* gs_from_bits stores the low size bytes' worth of b at p. */
GS_ALWAYS void gs_from_bits(void *p, uint64_t b, size_t size) {
    switch (size) {
    case 2: {
        uint16_t v = (uint16_t)b;
        memcpy(p, &v, 2);
        break;
    }
    case 4: {
        uint32_t v = (uint32_t)b;
        memcpy(p, &v, 4);
        break;
    }
    default:
        memcpy(p, &b, 8);
    }
}

/* gs_notify_rmw is gs_notify after a locked read-modify-write, which
 * orders the store before the look at the sleep word already. */
GS_ALWAYS void gs_notify_rmw(gs_pe *s, int pe, uintptr_t off, size_t n) { gs_notify_ordered(s, pe, off, n); }

#define GS_AMO_CASES(T, p, op, v, cond, old)                                                        \
    switch (op) {                                                                                   \
    case GS_AMO_FETCH:                                                                              \
        old = __atomic_load_n(p, __ATOMIC_SEQ_CST);                                                 \
        break;                                                                                      \
    case GS_AMO_SET:                                                                                \
    case GS_AMO_SWAP:                                                                               \
        old = __atomic_exchange_n(p, (T)(v), __ATOMIC_SEQ_CST);                                     \
        break;                                                                                      \
    case GS_AMO_CSWAP: {                                                                            \
        T e = (T)(cond);                                                                            \
        __atomic_compare_exchange_n(p, &e, (T)(v), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);          \
        old = e;                                                                                    \
        break;                                                                                      \
    }                                                                                               \
    case GS_AMO_ADD:                                                                                \
        old = __atomic_fetch_add(p, (T)(v), __ATOMIC_SEQ_CST);                                      \
        break;                                                                                      \
    case GS_AMO_AND:                                                                                \
        old = __atomic_fetch_and(p, (T)(v), __ATOMIC_SEQ_CST);                                      \
        break;                                                                                      \
    case GS_AMO_OR:                                                                                 \
        old = __atomic_fetch_or(p, (T)(v), __ATOMIC_SEQ_CST);                                       \
        break;                                                                                      \
    default:                                                                                        \
        old = __atomic_fetch_xor(p, (T)(v), __ATOMIC_SEQ_CST);                                      \
        break;                                                                                      \
    }

/* gs_amo applies op to the size-byte (4 or 8) word at the symmetric
 * address p on PE pe (named by ctx) and returns the bits it held. what
 * names p in errors. */
GS_ALWAYS uint64_t gs_amo(shmem_ctx_t ctx, const char *call, int op, const char *what, const void *p, size_t size,
                              uint64_t v, uint64_t cond, int pe) {
    int w = pe;
    gs_pe *s = gs_ctx(ctx, call, &w);
    if (GS_UNLIKELY(((uintptr_t)p & (size - 1)) != 0)) {
        gs_amo_misaligned(s, call, what, p, size);
    }
    uintptr_t off;
    char *t = gs_target(s, call, what, p, size, w, &off); /* the heap, or static data */
    if (GS_LIKELY(t != NULL)) {
        uint64_t old;
        if (size == 4) {
            uint32_t *q = (uint32_t *)t;
            uint32_t o;
            GS_AMO_CASES(uint32_t, q, op, v, cond, o);
            old = o;
        } else {
            uint64_t *q = (uint64_t *)t;
            GS_AMO_CASES(uint64_t, q, op, v, cond, old);
        }
        if (op != GS_AMO_FETCH && (op != GS_AMO_CSWAP || old == (size == 4 ? (uint32_t)cond : cond))) {
            gs_notify_rmw(s, w, off, size);
        }
        return old;
    }
    return gs_go_amo(s, ctx, call, op, pe, off, size, v, cond);
}

/* gs_amo_nbi is gs_amo that stores the bits fetched at fetch. */
GS_ALWAYS void gs_amo_nbi(shmem_ctx_t ctx, const char *call, int op, const char *what, void *fetch,
                              const void *p, size_t size, uint64_t v, uint64_t cond, int pe) {
    if (GS_UNLIKELY(fetch == NULL)) {
        gs_fatal(gs_cur(), call, "fetch is a null pointer");
    }
    gs_from_bits(fetch, gs_amo(ctx, call, op, what, p, size, v, cond, pe), size);
}

/* gs_put_signal puts nelems elements of size bytes from source to dest on
 * PE pe, then updates the 8-byte signal word sig_addr there: set or add
 * signal. A PE that sees the signal sees the data. */
GS_ALWAYS void gs_put_signal(shmem_ctx_t ctx, const char *call, void *dest, const void *source, size_t nelems,
                                 size_t size, uint64_t *sig_addr, uint64_t signal, int sig_op, int pe, int nbi) {
    int w = pe;
    gs_pe *s = gs_ctx(ctx, call, &w);
    if (GS_UNLIKELY(sig_op != SHMEM_SIGNAL_SET && sig_op != SHMEM_SIGNAL_ADD)) {
        gs_fatal(s, call, "sig_op %d is neither SHMEM_SIGNAL_SET (%d) nor SHMEM_SIGNAL_ADD (%d)", sig_op,
                 SHMEM_SIGNAL_SET, SHMEM_SIGNAL_ADD);
    }
    if (GS_UNLIKELY(((uintptr_t)sig_addr & 7) != 0)) {
        gs_amo_misaligned(s, call, "sig_addr", sig_addr, 8);
    }
    uintptr_t soff;
    char *st = gs_target(s, call, "sig_addr", sig_addr, 8, w, &soff);
    size_t n = gs_bytes(s, call, nelems, size);
    uintptr_t off = soff;
    char *dt = st;
    if (n != 0) {
        dt = gs_target(s, call, "dest", dest, n, w, &off);
        if (GS_UNLIKELY((uintptr_t)sig_addr < (uintptr_t)dest + n && (uintptr_t)dest < (uintptr_t)sig_addr + 8)) {
            gs_fatal(s, call, "sig_addr %p lies inside dest [%p, %p)", (void *)sig_addr, dest, (char *)dest + n);
        }
    }
    if (GS_LIKELY(dt != NULL && st != NULL)) {
        memcpy(dt, source, n);
        uint64_t *q = (uint64_t *)st;
        if (sig_op == SHMEM_SIGNAL_SET) {
            /* A release store and the fence on a line of our own, not an
             * exchange on the line the waiter polls (see gs_enter_all). */
            __atomic_store_n(q, signal, __ATOMIC_RELEASE);
            __atomic_fetch_add(&s->fence_word, 1, __ATOMIC_SEQ_CST);
        } else {
            __atomic_fetch_add(q, signal, __ATOMIC_SEQ_CST);
        }
        if (n != 0) {
            gs_notify_rmw(s, w, off, n);
        }
        gs_notify_rmw(s, w, soff, 8);
        return;
    }
    gs_go_put_signal(s, ctx, call, nbi, pe, off, source, n, soff, signal, sig_op);
}

/* ---- waits and tests ---- */

/* gs_load is an acquiring load of the size-byte variable at p. */
GS_ALWAYS uint64_t gs_load(const void *p, size_t size) {
    switch (size) {
    case 2:
        return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
    case 4:
        return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
    default:
        return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
    }
}

/* gs_holds says whether (a cmp b) holds for two values of kind, as bits. */
GS_ALWAYS int gs_holds(int kind, int cmp, uint64_t a, uint64_t b) {
    if (kind & 1) {
        switch (cmp) {
        case SHMEM_CMP_EQ:
            return a == b;
        case SHMEM_CMP_NE:
            return a != b;
        case SHMEM_CMP_GT:
            return a > b;
        case SHMEM_CMP_LE:
            return a <= b;
        case SHMEM_CMP_LT:
            return a < b;
        default:
            return a >= b;
        }
    }
    int64_t x, y;
    switch (kind >> 1) {
    case 0:
        x = (int16_t)a, y = (int16_t)b;
        break;
    case 1:
        x = (int32_t)a, y = (int32_t)b;
        break;
    default:
        x = (int64_t)a, y = (int64_t)b;
    }
    switch (cmp) {
    case SHMEM_CMP_EQ:
        return x == y;
    case SHMEM_CMP_NE:
        return x != y;
    case SHMEM_CMP_GT:
        return x > y;
    case SHMEM_CMP_LE:
        return x <= y;
    case SHMEM_CMP_LT:
        return x < y;
    default:
        return x >= y;
    }
}

/* gs_scan looks once at the variables of a multi-variable wait or test.
 * It returns what the call returns and sets *done when the wait is over:
 * ALL: 1 once every included variable holds; ANY: the index of the first
 * that holds, SIZE_MAX for an empty set; SOME: how many hold, their
 * indices in indices. An empty set (nelems 0, or status excludes every
 * variable) ends every wait at once. */
GS_ALWAYS size_t gs_scan(int op, const char *ivars, size_t nelems, size_t size, int kind, const int *status,
                             int cmp, uint64_t v, const char *values, size_t *indices, int *done) {
    size_t count = 0, active = 0;
    for (size_t i = 0; i < nelems; i++) {
        if (status != NULL && status[i] != 0) {
            continue;
        }
        active++;
        uint64_t want = values != NULL ? gs_bits(values + i * size, size) : v;
        int ok = gs_holds(kind, cmp, gs_load(ivars + i * size, size), want);
        if (op == GS_W_ALL) {
            if (!ok) {
                *done = 0;
                return 0;
            }
        } else if (ok) {
            if (op == GS_W_ANY) {
                *done = 1;
                return i;
            }
            indices[count++] = i;
        }
    }
    switch (op) {
    case GS_W_ALL:
        *done = 1;
        return 1;
    case GS_W_ANY:
        *done = active == 0;
        return SIZE_MAX;
    default:
        *done = active == 0 || count > 0;
        return count;
    }
}

/* gs_wait_check checks the arguments of a wait or test on the calling PE
 * and returns the variables' offset in its region. */
GS_ALWAYS uintptr_t gs_wait_check(gs_pe *s, const char *call, const char *what, const void *ivars,
                                      size_t nelems, size_t size, int cmp) {
    if (GS_UNLIKELY((unsigned)cmp > SHMEM_CMP_GE)) {
        gs_bad_cmp(s, call, cmp);
    }
    uintptr_t off = gs_sym(s, call, what, ivars, gs_bytes(s, call, nelems, size));
    if (GS_UNLIKELY(((uintptr_t)ivars & (size - 1)) != 0)) {
        gs_amo_misaligned(s, call, what, ivars, size);
    }
    return off;
}

/* gs_waitargs is a wait on static data, which sleeps in Go and looks in
 * C (gs_wait_cond): every argument of gs_scan, and what it returned; or,
 * with fn set, any condition fn evaluates (a lock's). */
typedef struct gs_waitargs {
    int op, kind, cmp;
    const void *ivars;
    size_t nelems, size;
    const int *status;
    uint64_t v;
    const void *values;
    size_t *indices;
    size_t result;
    int (*fn)(struct gs_waitargs *a);
    void *arg;
} gs_waitargs;

/* gs_wait_cond looks once: nonzero when the wait is over (a->result set). */
GS_HIDDEN int gs_wait_cond(gs_waitargs *a);
/* gs_go_wait_cond sleeps in Go until gs_wait_cond(a) holds (or the job
 * ends: a dead peer, naming it) and returns a->result. */
GS_HIDDEN size_t gs_go_wait_cond(gs_pe *s, const char *call, gs_waitargs *a);

/* gs_wait waits (test 0) or tests (test 1) for nelems variables of size
 * bytes and kind at ivars on the calling PE: op says for what (GS_W_...;
 * ONE is ALL of one variable), status excludes variables (may be NULL),
 * values (may be NULL) gives each its own value to compare with. It
 * returns what the call returns (see gs_scan; ONE and ALL: 1 when the
 * condition holds). */
GS_ALWAYS size_t gs_wait(const char *call, int test, int op, const void *ivars, size_t nelems, size_t size,
                             int kind, const int *status, int cmp, uint64_t v, const void *values,
                             size_t *indices) {
    gs_pe *s = gs_ready(call);
    const char *what = op == GS_W_ONE ? "ivar" : "ivars";
    if (GS_UNLIKELY((unsigned)cmp > SHMEM_CMP_GE)) {
        gs_bad_cmp(s, call, cmp);
    }
    if (nelems == 0) {
        return op == GS_W_ANY ? SIZE_MAX : op == GS_W_SOME ? 0 : 1;
    }
    if (GS_UNLIKELY(op == GS_W_SOME && indices == NULL)) {
        gs_fatal(s, call, "indices is a null pointer");
    }
    uintptr_t off = gs_wait_check(s, call, what, ivars, nelems, size, cmp);
    int wop = op == GS_W_ONE ? GS_W_ALL : op;
    if (GS_LIKELY(off < s->hi) || gs_is_static(s, off)) {
        int done = 0;
        uint64_t looks = test ? 1 : s->spin;
        for (uint64_t i = 0;; i++) {
            size_t r = gs_scan(wop, (const char *)ivars, nelems, size, kind, status, cmp, v, (const char *)values,
                               indices, &done);
            if (done || test) {
                return r;
            }
            if (i + 1 >= looks) {
                break;
            }
            gs_pause();
        }
        if (gs_is_static(s, off)) {
            /* Go's waits take heap offsets: this one sleeps in the fabric
             * until any store reaches this PE, and looks again in C. */
            gs_waitargs a = {wop, kind, cmp, ivars, nelems, size, status, v, values, indices, 0};
            return gs_go_wait_cond(s, call, &a);
        }
    }
    return (size_t)gs_go_wait(s, call, test, wop, kind, off, nelems, status, cmp, v, values, indices);
}

/* gs_wait_vector is gs_wait for the vector forms, whose cmp_values must
 * not be null. */
GS_ALWAYS size_t gs_wait_vector(const char *call, int test, int op, const void *ivars, size_t nelems,
                                    size_t size, int kind, const int *status, int cmp, const void *values,
                                    size_t *indices) {
    if (GS_UNLIKELY(values == NULL && nelems != 0)) {
        gs_fatal(gs_ready(call), call, "cmp_values is a null pointer");
    }
    return gs_wait(call, test, op, ivars, nelems, size, kind, status, cmp, 0, values, indices);
}

#endif /* GSHMEM_GS_AMO_H */
