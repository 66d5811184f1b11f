// RMA: typed, sized and mem puts and gets, p and g, iput and iget, their
// non-blocking forms, on the default context, every PE to its right
// neighbour, including PE counts of 1 (a PE to itself).
#include "harness.h"

#define N 64

static void test(void) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    int right = (me + 1) % n, left = (me + n - 1) % n;
    long *l = shmem_calloc(N, sizeof(long));
    int *i32 = shmem_calloc(N, sizeof(int));
    double *d = shmem_calloc(N, sizeof(double));
    char *mem = shmem_calloc(N, 1);
    CHECK(l && i32 && d && mem, "calloc returned NULL");
    for (int k = 0; k < N; k++) {
        CHECK(l[k] == 0 && i32[k] == 0, "calloc did not zero element %d", k);
    }
    long src[N];
    for (int k = 0; k < N; k++) {
        src[k] = me * 1000 + k;
    }
    shmem_barrier_all();

    shmem_long_put(l, src, N, right);
    shmem_int_p(&i32[0], me + 7, right);
    shmem_double_p(&d[0], me + 0.5, right);
    shmem_putmem(mem, "hello", 6, right);
    shmem_barrier_all();
    for (int k = 0; k < N; k++) {
        CHECK(l[k] == left * 1000 + k, "l[%d] = %ld, want %ld", k, l[k], (long)(left * 1000 + k));
    }
    CHECK(i32[0] == left + 7, "int p: %d", i32[0]);
    CHECK(d[0] == left + 0.5, "double p: %f", d[0]);
    CHECK(strcmp(mem, "hello") == 0, "putmem: %s", mem);

    // Gets read the right neighbour's copies, written by its left: me.
    long got[N];
    shmem_long_get(got, l, N, right);
    for (int k = 0; k < N; k++) {
        CHECK(got[k] == me * 1000 + k, "get[%d] = %ld", k, got[k]);
    }
    CHECK(shmem_int_g(&i32[0], right) == me + 7, "int g");
    CHECK(shmem_long_g(&l[3], right) == me * 1000 + 3, "long g");
    shmem_barrier_all();

    // Sized and non-blocking forms.
    uint64_t s64[4] = {1, 2, 3, 4};
    shmem_put64(l, s64, 4, right);
    shmem_put32_nbi(i32 + 8, s64, 2, right); /* two 32-bit halves of each of s64[0] */
    shmem_quiet();
    shmem_barrier_all();
    CHECK(l[0] == 1 && l[3] == 4, "put64: %ld %ld", l[0], l[3]);
    long nb[4];
    shmem_long_get_nbi(nb, l, 4, right);
    shmem_quiet();
    CHECK(nb[0] == 1 && nb[3] == 4, "get_nbi: %ld %ld", nb[0], nb[3]);
    shmem_barrier_all();

    // Strided: every other element of src into every third of l.
    shmem_long_iput(l, src, 3, 2, 10, right);
    shmem_barrier_all();
    for (int k = 0; k < 10; k++) {
        CHECK(l[3 * k] == left * 1000 + 2 * k, "iput l[%d] = %ld", 3 * k, l[3 * k]);
    }
    long ig[10];
    shmem_long_iget(ig, l, 1, 3, 10, left == me ? me : left);
    for (int k = 0; k < 10; k++) {
        long want = ((left + n - 1) % n) * 1000 + 2 * k;
        CHECK(ig[k] == want, "iget[%d] = %ld, want %ld", k, ig[k], want);
    }
    shmem_barrier_all();

    // C11 generics and shmem_ptr.
    long one = 42;
    shmem_put(l + 1, &one, 1, right);
    shmem_p(i32 + 1, 5, right);
    shmem_barrier_all();
    CHECK(l[1] == 42 && i32[1] == 5, "generic put/p: %ld %d", l[1], i32[1]);
    CHECK(shmem_g(l + 1, right) == 42, "generic g");
    // shmem_ptr: every peer is mapped on one node; across nodes (the
    // "shm+ofi" transport), or where the tests unmap them
    // (GSHMEM_CAPI_UNMAP), only some are, and the others give NULL.
    long *pr = shmem_ptr(l, right);
    CHECK(pr != NULL || strstr(shmemx_transport(), "ofi") != NULL || getenv("GSHMEM_CAPI_UNMAP") != NULL,
          "shmem_ptr is NULL on %s", shmemx_transport());
    CHECK(pr == NULL || pr[1] == 42, "shmem_ptr");
    CHECK(shmem_addr_accessible(l, right) && !shmem_addr_accessible(&one, right), "addr_accessible");
    CHECK(shmem_pe_accessible(right) && !shmem_pe_accessible(n), "pe_accessible");
    shmem_barrier_all();
    shmem_free(mem);
    shmem_free(d);
    shmem_free(i32);
    shmem_free(l);
}
