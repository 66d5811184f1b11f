// Put with signal: each PE streams ROUNDS messages to its right neighbour
// with put_signal (SHMEM_SIGNAL_SET of the round number), waiting for an
// acknowledgement (SHMEM_SIGNAL_ADD) before the next; the consumer waits
// with signal_wait_until and must see the whole message when it sees the
// signal. Then the sized, mem, non-blocking, context and generic forms.
#include <stdint.h>

#include "harness.h"

#define ROUNDS 200
#define LEN 64

static void test(void) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    int right = (me + 1) % n, left = (me + n - 1) % n;
    long *buf = shmem_calloc(LEN, sizeof(long));
    uint64_t *sig = shmem_calloc(1, sizeof(uint64_t));
    uint64_t *ack = shmem_calloc(1, sizeof(uint64_t));
    char *mem = shmem_calloc(LEN, 1);
    uint64_t *sig2 = shmem_calloc(1, sizeof(uint64_t));
    CHECK(buf && sig && ack && mem && sig2, "allocation failed");
    shmem_barrier_all();

    long src[LEN];
    for (uint64_t r = 1; r <= ROUNDS; r++) {
        for (int k = 0; k < LEN; k++) {
            src[k] = (long)(me * 1000000 + r * 100 + k);
        }
        // The consumer has taken round r-1 (it acknowledged it).
        shmem_signal_wait_until(ack, SHMEM_CMP_GE, r - 1);
        if (r % 2) {
            shmem_long_put_signal(buf, src, LEN, sig, r, SHMEM_SIGNAL_SET, right);
        } else {
            shmem_long_put_signal_nbi(buf, src, LEN, sig, r, SHMEM_SIGNAL_SET, right);
            shmem_quiet();
        }
        // Consume round r from the left.
        uint64_t got = shmem_signal_wait_until(sig, SHMEM_CMP_GE, r);
        CHECK(got == r, "signal %llu, want %llu", (unsigned long long)got, (unsigned long long)r);
        for (int k = 0; k < LEN; k++) {
            long want = (long)(left * 1000000 + r * 100 + k);
            CHECK(buf[k] == want, "round %llu: buf[%d] = %ld, want %ld", (unsigned long long)r, k, buf[k], want);
        }
        shmem_uint64_atomic_add(ack, 1, left);
    }
    shmem_barrier_all();
    CHECK(shmem_signal_fetch(sig) == ROUNDS, "signal_fetch %llu", (unsigned long long)shmem_signal_fetch(sig));
    CHECK(*ack == ROUNDS, "acks %llu", (unsigned long long)*ack);
    shmem_barrier_all();

    // SHMEM_SIGNAL_ADD from every PE into PE 0, with sized, mem and
    // context forms: PE 0 waits for the sum.
    uint32_t w32[2] = {(uint32_t)me, 7};
    shmem_put32_signal(&((uint32_t *)mem)[2 * me % (LEN / 4)], w32, 1, sig2, 1, SHMEM_SIGNAL_ADD, 0);
    shmem_putmem_signal_nbi(mem + 32 + me % 8, "x", 1, sig2, 10, SHMEM_SIGNAL_ADD, 0);
    shmem_ctx_put64_signal(SHMEM_CTX_DEFAULT, buf + 8 + me % 8, &src[0], 1, sig2, 100, SHMEM_SIGNAL_ADD, 0);
    shmem_ctx_putmem_signal_nbi(SHMEM_CTX_DEFAULT, mem + 48 + me % 8, "y", 1, sig2, 1000, SHMEM_SIGNAL_ADD, 0);
    shmem_put128_signal(buf + 16 + 2 * (me % 4), src, 1, sig2, 10000, SHMEM_SIGNAL_ADD, 0);
    shmem_quiet();
    if (me == 0) {
        uint64_t want = 11111u * (uint64_t)n;
        uint64_t got = shmem_signal_wait_until(sig2, SHMEM_CMP_EQ, want);
        CHECK(got == want, "signal sum %llu", (unsigned long long)got);
        CHECK(mem[32] == 'x' && mem[48] == 'y', "mem signal data");
    }
    shmem_barrier_all();

    // C11 generics; a zero-length put still signals.
    *sig = 0;
    shmem_barrier_all();
    shmem_put_signal(buf, src, 0, sig, 5, SHMEM_SIGNAL_SET, right);
    CHECK(shmem_signal_wait_until(sig, SHMEM_CMP_EQ, 5) == 5, "zero-length put_signal");
    shmem_barrier_all();
    shmem_put_signal_nbi(SHMEM_CTX_DEFAULT, buf, src, 2, sig, 6, SHMEM_SIGNAL_SET, right);
    shmem_quiet();
    CHECK(shmem_signal_wait_until(sig, SHMEM_CMP_GT, 5) == 6, "generic ctx put_signal_nbi");
    CHECK(buf[1] == src[1] - (me - left) * 1000000, "generic put_signal data %ld", buf[1]);
    shmem_barrier_all();
}
