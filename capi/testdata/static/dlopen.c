// A program that loads libgshmem at run time (as an interpreter does)
// keeps its data segment private: its globals are not symmetric objects,
// and shmem_init leaves them as they were.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static long g = 77;

int main(void) {
    void *lib = dlopen(getenv("GSHMEM_TEST_LIB"), RTLD_NOW | RTLD_GLOBAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 3;
    }
    void (*init)(void) = (void (*)(void))dlsym(lib, "shmem_init");
    void (*fin)(void) = (void (*)(void))dlsym(lib, "shmem_finalize");
    int (*my)(void) = (int (*)(void))dlsym(lib, "shmem_my_pe");
    int (*npes)(void) = (int (*)(void))dlsym(lib, "shmem_n_pes");
    int (*acc)(const void *, int) = (int (*)(const void *, int))dlsym(lib, "shmem_addr_accessible");
    if (!init || !fin || !my || !npes || !acc) {
        fprintf(stderr, "dlsym: %s\n", dlerror());
        return 3;
    }
    init();
    int me = my(), other = (me + 1) % npes();
    int want = other == me; /* a lone PE's static data is its own */
    if (acc(&g, other) != want || g != 77) {
        fprintf(stderr, "PE %d: shmem_addr_accessible(&g, %d) = %d, want %d; g = %ld\n", me, other, acc(&g, other), want, g);
        return 2;
    }
    fin();
    return 0;
}
