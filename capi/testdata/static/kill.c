// A PE killed after it shared its static data leaves nothing behind
// (static_test.go checks the job's shm directory and /dev/shm).
#include "../harness.h"

#include <signal.h>

static long x[512];

static void test(void) {
    int me = shmem_my_pe(), n = shmem_n_pes();
    shmem_long_p(&x[7], me, (me + 1) % n);
    shmem_barrier_all();
    if (me == n - 1) {
        raise(SIGKILL);
    }
    shmem_barrier_all();
}
