/*
 * shmemx.h: gshmem's extensions to the OpenSHMEM C interface.
 */
#ifndef SHMEMX_H
#define SHMEMX_H

#include <shmem.h>

#ifdef __cplusplus
extern "C" {
#endif

/* shmemx_run runs fn(arg) on npes PEs that are threads of this process
 * (gshmem's in-process transport), and returns when every one has
 * returned: 0 when all finished, 1 when one failed (its error is printed).
 * Inside fn every shmem_ call acts for the calling thread's PE;
 * shmem_init and shmem_finalize there only synchronise (shmemx_run
 * initialises and finalizes the PEs). Global and static variables are not
 * symmetric between these PEs (they share one copy): use the symmetric
 * heap. The environment (GSHMEM_SYMMETRIC_SIZE, ...) is read as
 * shmem_init reads it. */
int shmemx_run(int npes, void (*fn)(void *arg), void *arg);

/* shmemx_transport names how this PE reaches its peers: "inproc"
 * (shmemx_run's threads, or a process alone), "shm" (processes of one
 * node) or "shm+ofi" (several nodes: shared memory within a node,
 * libfabric across). The string belongs to the calling thread until its
 * next call. */
const char *shmemx_transport(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SHMEMX_H */
