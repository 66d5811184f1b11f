/*
 * harness.h: the main of every C test program in capi/testdata.
 *
 * A test defines test(); main runs it on one PE per process (started
 * alone, or by gpurun) or, with GSHMEM_TEST_INPROC=n in the environment,
 * on n PEs that are threads of this process (shmemx_run). CHECK fails the
 * whole job with status 2 and says where and why.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <shmem.h>
#include <shmemx.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "PE %d: %s:%d: CHECK(%s) failed: ", shmem_my_pe(), __FILE__, __LINE__, \
                    #cond);                                                                   \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            shmem_global_exit(2);                                                             \
        }                                                                                     \
    } while (0)

static void test(void);

static void harness_body(void *arg) {
    (void)arg;
    shmem_init();
    test();
    shmem_finalize();
}

int main(void) {
    const char *n = getenv("GSHMEM_TEST_INPROC");
    if (n != NULL) {
        return shmemx_run(atoi(n), harness_body, NULL);
    }
    harness_body(NULL);
    return 0;
}

#endif
