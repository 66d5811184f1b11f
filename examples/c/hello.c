/*
 * hello.c: gshmem's C library in a few lines. Every PE says hello, puts its
 * number into its right neighbour's symmetric heap, and checks what its
 * left neighbour put into its own.
 *
 *   go run ./cmd/gshmemcc -o hello examples/c/hello.c
 *   go run ./cmd/gpurun -n 4 ./hello      # 4 processes, one PE each
 *   ./hello -n 4                          # 4 PEs as threads of this process
 *   srun --mpi=pmi2 -N 1 -n 4 ./hello     # 4 Slurm tasks
 */
#include <shmem.h>
#include <shmemx.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hello(void *arg) {
    (void)arg;
    shmem_init();
    int me = shmem_my_pe(), npes = shmem_n_pes();
    printf("Hello from PE %d of %d (%s)\n", me, npes, shmemx_transport());

    /* Symmetric: the same object on every PE, allocated by all of them. */
    int *from_left = shmem_malloc(sizeof(int));
    shmem_int_p(from_left, me, (me + 1) % npes);
    shmem_barrier_all(); /* every put is complete and visible */
    int want = (me + npes - 1) % npes;
    if (*from_left != want) {
        fprintf(stderr, "PE %d: got %d from the left, want %d\n", me, *from_left, want);
        shmem_global_exit(1);
    }
    shmem_free(from_left);
    shmem_finalize();
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "-n") == 0) {
        /* In-process PEs: shmemx_run calls hello on each, on its own thread. */
        return shmemx_run(atoi(argv[2]), hello, NULL);
    }
    hello(NULL);
    return 0;
}
