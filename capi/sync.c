// The slow paths of gs_amo.h (calls into Go, failures) and the untyped
// functions of the atomics, signals, waits and locks: signal_fetch,
// signal_wait_until, the distributed locks and the deprecated long-only
// names.

#include <stdint.h>

#include "_cgo_export.h"
#include "gs_amo.h"

static uintptr_t gs_ctx_handle(shmem_ctx_t ctx) { return ctx == SHMEM_CTX_DEFAULT ? 0 : ctx->handle; }

uint64_t gs_go_amo(gs_pe *s, shmem_ctx_t ctx, const char *call, int op, int pe, uintptr_t off, size_t size,
                   uint64_t v, uint64_t cond) {
    return gshmemGoAMO(s->handle, gs_ctx_handle(ctx), (char *)call, op, pe, off, size, v, cond);
}

void gs_amo_misaligned(gs_pe *s, const char *call, const char *what, const void *p, size_t size) {
    gs_fatal(s, call, "%s %p is not %zu-byte aligned", what, p, size);
}

void gs_bad_cmp(gs_pe *s, const char *call, int cmp) {
    gs_fatal(s, call, "cmp %d is none of SHMEM_CMP_EQ (%d), _NE, _GT, _LE, _LT, _GE (%d)", cmp, SHMEM_CMP_EQ,
             SHMEM_CMP_GE);
}

void gs_go_put_signal(gs_pe *s, shmem_ctx_t ctx, const char *call, int nbi, int pe, uintptr_t off,
                      const void *source, size_t n, uintptr_t soff, uint64_t signal, int sig_op) {
    if (nbi) {
        s->go_nbi = 1;
    }
    gshmemGoPutSignal(s->handle, gs_ctx_handle(ctx), (char *)call, nbi, pe, off, (void *)source, n, soff, signal,
                      sig_op);
}

int gs_wait_cond(gs_waitargs *a) {
    if (a->fn != NULL) {
        return a->fn(a);
    }
    int done = 0;
    a->result = gs_scan(a->op, (const char *)a->ivars, a->nelems, a->size, a->kind, a->status, a->cmp, a->v,
                        (const char *)a->values, a->indices, &done);
    return done;
}

size_t gs_go_wait_cond(gs_pe *s, const char *call, gs_waitargs *a) {
    gshmemGoWaitCond(s->handle, (char *)call, a);
    return a->result;
}

uint64_t gs_go_wait(gs_pe *s, const char *call, int test, int op, int kind, uintptr_t off, size_t nelems,
                    const int *status, int cmp, uint64_t v, const void *values, size_t *indices) {
    return gshmemGoWait(s->handle, (char *)call, test, op, kind, off, nelems, (int *)status, cmp, v, (void *)values,
                        indices);
}

/* ---- signals ---- */

uint64_t shmem_signal_fetch(const uint64_t *sig_addr) {
    const char *call = "shmem_signal_fetch";
    gs_pe *s = gs_ready(call);
    uintptr_t off = gs_wait_check(s, call, "sig_addr", sig_addr, 1, 8, SHMEM_CMP_EQ);
    if (GS_LIKELY(off < s->hi) || gs_is_static(s, off)) {
        return __atomic_load_n(sig_addr, __ATOMIC_SEQ_CST);
    }
    return gs_go_wait(s, call, 1, GS_W_SIGNAL, GS_U64, off, 1, NULL, SHMEM_CMP_EQ, 0, NULL, NULL);
}

uint64_t shmem_signal_wait_until(uint64_t *sig_addr, int cmp, uint64_t cmp_value) {
    const char *call = "shmem_signal_wait_until";
    gs_pe *s = gs_ready(call);
    uintptr_t off = gs_wait_check(s, call, "sig_addr", sig_addr, 1, 8, cmp);
    if (GS_LIKELY(off < s->hi)) {
        for (uint64_t i = 0; i < s->spin; i++) {
            uint64_t v = __atomic_load_n(sig_addr, __ATOMIC_ACQUIRE);
            if (gs_holds(GS_U64, cmp, v, cmp_value)) {
                return v;
            }
            gs_pause();
        }
    }
    if (gs_is_static(s, off)) {
        gs_wait(call, 0, GS_W_ONE, sig_addr, 1, 8, GS_U64, NULL, cmp, cmp_value, NULL, NULL);
        return __atomic_load_n(sig_addr, __ATOMIC_ACQUIRE);
    }
    return gs_go_wait(s, call, 0, GS_W_SIGNAL, GS_U64, off, 1, NULL, cmp, cmp_value, NULL, NULL);
}

/* ---- distributed locks (hostshmem's MCS lock; Go holds the queue) ---- */

/* Operations of gshmemGoLock. */
enum { GS_LOCK_SET = 0, GS_LOCK_TEST = 1, GS_LOCK_CLEAR = 2 };

/* A lock that is a global or static variable: hostshmem's lock takes a
 * heap object, so these are a ticket lock here, on PE 0's copy of the
 * word (its high half the next ticket, its low half the ticket served):
 * FIFO like hostshmem's, and every PE of a node reaches PE 0's static
 * data (static data is symmetric only among the PEs of a node). */
static int gs_ticket_served(gs_waitargs *a) {
    uint64_t w = __atomic_load_n((uint64_t *)a->arg, __ATOMIC_ACQUIRE);
    return (uint32_t)w == (uint32_t)a->v;
}

static int gs_static_lock(gs_pe *s, const char *call, int op, long *lock) {
    uintptr_t off;
    uint64_t *w = (uint64_t *)gs_target(s, call, "lock", lock, sizeof(long), 0, &off);
    if (w == NULL) {
        gs_fatal(s, call, "lock %p: PE 0's copy is not reachable from PE %d", (void *)lock, s->me);
    }
    switch (op) {
    case GS_LOCK_SET: {
        uint64_t t = __atomic_fetch_add(w, (uint64_t)1 << 32, __ATOMIC_SEQ_CST) >> 32;
        gs_waitargs a = {.v = t, .fn = gs_ticket_served, .arg = w};
        for (uint64_t i = 0; i < s->spin; i++) {
            if (gs_ticket_served(&a)) {
                return 0;
            }
            gs_pause();
        }
        /* The unlock wakes PE 0, not the waiters: Go polls at its ticks. */
        gs_go_wait_cond(s, call, &a);
        return 0;
    }
    case GS_LOCK_TEST: {
        uint64_t cur = __atomic_load_n(w, __ATOMIC_ACQUIRE);
        if ((uint32_t)(cur >> 32) != (uint32_t)cur) {
            return 1; /* held, or others queued */
        }
        return __atomic_compare_exchange_n(w, &cur, cur + ((uint64_t)1 << 32), 0, __ATOMIC_SEQ_CST,
                                           __ATOMIC_SEQ_CST)
                   ? 0
                   : 1;
    }
    default: {
        uint64_t cur = __atomic_load_n(w, __ATOMIC_ACQUIRE);
        for (;;) {
            if ((uint32_t)(cur >> 32) == (uint32_t)cur) {
                gs_fatal(s, call, "lock %p is not held", (void *)lock);
            }
            /* The low half wraps within itself: the high half stays. */
            uint64_t next = (cur & ~(uint64_t)0xffffffff) | (uint32_t)(cur + 1);
            if (__atomic_compare_exchange_n(w, &cur, next, 0, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
                break;
            }
        }
        gs_notify(s, 0, off, sizeof(long));
        return 0;
    }
    }
}

static int gs_lock(const char *call, int op, long *lock) {
    gs_pe *s = gs_ready(call);
    uintptr_t off = gs_sym(s, call, "lock", lock, sizeof(long));
    if (((uintptr_t)lock & (sizeof(long) - 1)) != 0) {
        gs_amo_misaligned(s, call, "lock", lock, sizeof(long));
    }
    if (gs_is_static(s, off)) {
        if (op == GS_LOCK_CLEAR) {
            shmem_quiet();
        }
        return gs_static_lock(s, call, op, lock);
    }
    if (op == GS_LOCK_CLEAR) {
        /* The critical section's stores (C's and Go's) are done before
         * the lock moves on: Go's ClearLock quiets the PE's own. */
        shmem_quiet();
    }
    return gshmemGoLock(s->handle, (char *)call, op, off);
}

void shmem_set_lock(long *lock) { gs_lock("shmem_set_lock", GS_LOCK_SET, lock); }
int shmem_test_lock(long *lock) { return gs_lock("shmem_test_lock", GS_LOCK_TEST, lock); }
void shmem_clear_lock(long *lock) { gs_lock("shmem_clear_lock", GS_LOCK_CLEAR, lock); }

/* ---- deprecated long-only names (C11 programs get generic macros of
 * the same names from shmem.h: the parentheses keep them out) ---- */

void(shmem_wait)(long *ivar, long cmp_value) {
    gs_wait("shmem_wait", 0, GS_W_ONE, ivar, 1, sizeof(long), GS_KIND(long), NULL, SHMEM_CMP_NE,
            gs_bits(&cmp_value, sizeof(long)), NULL, NULL);
}

void(shmem_wait_until)(long *ivar, int cmp, long cmp_value) {
    gs_wait("shmem_wait_until", 0, GS_W_ONE, ivar, 1, sizeof(long), GS_KIND(long), NULL, cmp,
            gs_bits(&cmp_value, sizeof(long)), NULL, NULL);
}

long(shmem_swap)(long *dest, long value, int pe) {
    long r;
    gs_from_bits(&r,
                 gs_amo(SHMEM_CTX_DEFAULT, "shmem_swap", GS_AMO_SWAP, "dest", dest, sizeof(long),
                        gs_bits(&value, sizeof(long)), 0, pe),
                 sizeof(long));
    return r;
}
