// Static data: globals and static arrays, initialised (.data) and zero
// (.bss), are symmetric objects where PEs are processes. p, g, put, get,
// their non-blocking forms, iput, iget, shmem_ptr and
// shmem_addr_accessible on them, every PE to its right neighbour. The
// values the program started with survive shmem_init's remapping.
// shmemx_run's PEs share one copy of the globals: there the test only
// checks that static data is not accessible, and passes.
#include "harness.h"

#include <stdint.h>

long g_init = 12345;                      /* .data */
static int s_arr[100] = {1, 2, 3};        /* .data, mostly zeros */
static long s_bss[1000];                  /* .bss */
double g_bss[16];                         /* .bss */
static char s_big[4 << 20];               /* .bss, several pages */
static const char *s_msg = "static hello"; /* .data: a pointer into .rodata */
static long s_counter;                    /* .bss */

static void test(void) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    int right = (me + 1) % n, left = (me + n - 1) % n;

    const char *t = shmemx_transport();
    if (strstr(t, "ofi") != NULL) {
        /* Across nodes static data is symmetric only within a node: the
         * neighbours here may be on the other one. */
        if (me == 0) {
            printf("static: skipped across nodes (static data is symmetric within a node)\n");
        }
        return;
    }
    if (strcmp(t, "inproc") == 0 && getenv("GSHMEM_TEST_INPROC") != NULL) {
        CHECK(!shmem_addr_accessible(&g_init, me), "static data accessible between shmemx_run's PEs");
        CHECK(shmem_ptr(&g_init, me) == NULL, "shmem_ptr of static data between shmemx_run's PEs");
        if (me == 0) {
            printf("static: skipped on shmemx_run's PEs (they share one copy of the globals)\n");
        }
        return;
    }

    // What the program started with survived shmem_init.
    CHECK(g_init == 12345, "g_init = %ld after shmem_init", g_init);
    CHECK(s_arr[0] == 1 && s_arr[1] == 2 && s_arr[2] == 3 && s_arr[3] == 0, "s_arr = %d %d %d %d", s_arr[0],
          s_arr[1], s_arr[2], s_arr[3]);
    for (int k = 0; k < 1000; k++) {
        CHECK(s_bss[k] == 0, "s_bss[%d] = %ld", k, s_bss[k]);
    }
    for (size_t k = 0; k < sizeof s_big; k += 4096) {
        CHECK(s_big[k] == 0, "s_big[%zu] = %d", k, s_big[k]);
    }
    CHECK(strcmp(s_msg, "static hello") == 0, "s_msg = %s", s_msg);
    CHECK(shmem_addr_accessible(&g_init, right) && shmem_addr_accessible(&s_big[sizeof s_big - 1], right),
          "static data is not accessible on PE %d", right);
    shmem_barrier_all();

    // p and g.
    shmem_long_p(&g_init, me * 10 + 1, right);
    shmem_double_p(&g_bss[3], me + 0.25, right);
    shmem_barrier_all();
    CHECK(g_init == left * 10 + 1, "g_init = %ld, want %ld", g_init, (long)(left * 10 + 1));
    CHECK(g_bss[3] == left + 0.25, "g_bss[3] = %f", g_bss[3]);
    CHECK(shmem_long_g(&g_init, right) == me * 10 + 1, "long g");
    CHECK(shmem_double_g(&g_bss[3], right) == me + 0.25, "double g");
    shmem_barrier_all();

    // put and get, blocking and not.
    int src[100];
    for (int k = 0; k < 100; k++) {
        src[k] = me * 1000 + k;
    }
    shmem_int_put(s_arr, src, 100, right);
    shmem_putmem(&s_big[sizeof s_big - 8], "tail!!!", 8, right);
    shmem_barrier_all();
    for (int k = 0; k < 100; k++) {
        CHECK(s_arr[k] == left * 1000 + k, "s_arr[%d] = %d", k, s_arr[k]);
    }
    CHECK(strcmp(&s_big[sizeof s_big - 8], "tail!!!") == 0, "s_big's tail: %s", &s_big[sizeof s_big - 8]);
    int got[100];
    shmem_int_get(got, s_arr, 100, right);
    for (int k = 0; k < 100; k++) {
        CHECK(got[k] == me * 1000 + k, "get[%d] = %d", k, got[k]);
    }
    long nb[4] = {7, 8, 9, 10}, nbg[4];
    shmem_long_put_nbi(&s_bss[500], nb, 4, right);
    shmem_quiet();
    shmem_barrier_all();
    shmem_long_get_nbi(nbg, &s_bss[500], 4, left);
    shmem_quiet();
    CHECK(nbg[0] == 7 && nbg[3] == 10, "get_nbi: %ld %ld", nbg[0], nbg[3]);
    shmem_barrier_all();

    // iput and iget: every other element of a source into every third.
    long ls[20];
    for (int k = 0; k < 20; k++) {
        ls[k] = me * 100 + k;
    }
    shmem_long_iput(s_bss, ls, 3, 2, 10, right);
    shmem_barrier_all();
    for (int k = 0; k < 10; k++) {
        CHECK(s_bss[3 * k] == left * 100 + 2 * k, "iput s_bss[%d] = %ld", 3 * k, s_bss[3 * k]);
    }
    long ig[10];
    shmem_long_iget(ig, s_bss, 1, 3, 10, right);
    for (int k = 0; k < 10; k++) {
        CHECK(ig[k] == me * 100 + 2 * k, "iget[%d] = %ld", k, ig[k]);
    }
    shmem_barrier_all();

    // shmem_ptr reaches a peer's copy with loads and stores.
    long *rp = shmem_ptr(&g_init, right);
    CHECK(rp != NULL, "shmem_ptr(&g_init, %d) is NULL", right);
    CHECK(*rp == me * 10 + 1, "*shmem_ptr = %ld", *rp);
    CHECK(shmem_ptr(&g_init, me) == (void *)&g_init, "shmem_ptr to self is not the address");
    shmem_barrier_all();

    // A barrier completes the stores into static data before it.
    shmem_long_p(&s_counter, 1, right);
    shmem_barrier_all();
    CHECK(s_counter == 1, "s_counter = %ld", s_counter);
    shmem_barrier_all();
}
