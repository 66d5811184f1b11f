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
 * Inside fn every shmem_ call acts for the calling thread's PE (a thread
 * that fn starts is no PE's: its shmem_ calls fail as before shmem_init);
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


/* ---- The device side: the device heap and stream-ordered operations ----
 *
 * These are NVSHMEM's host-side stream operations (nvshmemx_*_on_stream)
 * under shmemx_ names, over gshmem's package streams. The same program
 * builds without CUDA and runs with or without a GPU:
 *
 *   - On a GPU, each PE's device heap is GPU memory and a stream is a
 *     CUDA stream: shmemx_stream_t is a CUstream (cudaStream_t is the same
 *     type), so a CUDA program passes its own streams, launches its kernels
 *     on the streams shmemx_stream_create makes, and those kernels run in
 *     order with the on-stream operations.
 *   - On the CPU fallback (no GPU, no libcuda, or GSHMEM_DEVICE=cpu), the
 *     device heap is host memory and a stream is a worker thread that runs
 *     its operations in order: shmemx_stream_t is then an opaque handle of
 *     gshmem's own, never a CUDA stream.
 *
 * Device heap. shmemx_malloc_device(size) allocates on every PE's device
 * heap (GSHMEM_DEVICE_SYMMETRIC_SIZE bytes per PE, 64 MiB by default),
 * collectively, like shmem_malloc: the result is a symmetric address, a
 * device pointer on a GPU (pass it to kernels) and a host pointer on the
 * CPU fallback. Every host routine of shmem.h takes these addresses too
 * (shmem_putmem, shmem_getmem, atomics, waits), so a portable program
 * reads device data back with shmem_getmem(buf, p, n, shmem_my_pe()); only
 * on the CPU fallback may it also load from them directly. Free them with
 * shmemx_free_device, not shmem_free. shmemx_device_gpu() is the CUDA
 * device ordinal the PE's device heap is on (call cudaSetDevice with it
 * before making CUDA streams), or -1 on the CPU fallback.
 *
 * Streams. shmemx_stream_create() makes a stream of the calling PE (on a
 * GPU: a new non-blocking CUstream, which shmemx_stream_destroy destroys).
 * On a GPU any other CUstream of the PE's device (in its primary context,
 * the CUDA runtime's) may be passed where a shmemx_stream_t is wanted,
 * NULL (0) being the legacy default stream: gshmem borrows it the first
 * time (shmemx_stream_from_cuda does so explicitly) and never destroys it;
 * shmemx_stream_destroy on it only lets go, and the program must not
 * destroy it before that. On the CPU fallback NULL names a stream gshmem
 * makes for the PE (shmemx_stream_destroy(NULL) does nothing: shmem_finalize
 * closes it, as it closes every stream left open), and any handle
 * shmemx_stream_create did not return
 * ends the job with an error, as does using a stream after
 * shmemx_stream_destroy (handles are never reused there).
 *
 * Ordering. Operations on one stream run one after another in the order
 * they were called; each call returns at once. On a GPU it returns once
 * the operation is queued on the CUstream, so that a kernel launched on
 * the stream afterwards runs after it; an operation on host-heap objects
 * runs on the host, after the work queued on the CUstream before it has
 * finished, and its call returns once it has run (so on a GPU keep the
 * signals a stream waits on in the device heap). Buffers are read and written while the operation runs, not
 * when it is called: do not touch them until the stream has passed it.
 * A put's data is visible at its target after a later
 * shmemx_quiet_on_stream or barrier on the stream; a later
 * shmemx_putmem_signal_on_stream to the same PE delivers its signal after
 * the data of the stream's earlier puts to it. shmemx_stream_synchronize
 * waits until every operation called on the stream before it (and on a
 * GPU every kernel queued on the CUstream before it) has finished, and
 * completes the stream's puts. Use it (not cudaStreamSynchronize: some
 * operations run on the host) before reading results on the host.
 * Stream barriers and collectives must be called by every member of the
 * team, in the same order; they meet only each other (a stream barrier
 * does not meet shmem_barrier_all), and a team must not be used by host
 * collectives and stream collectives at the same time.
 *
 * Addresses. dest, source and sig_addr are symmetric addresses of the
 * device heap or of the host heap (the same heap on every PE); a put's
 * source too, and a get's dest: this PE's copy of a symmetric object.
 * Anything else ends the job with an error naming the call and the
 * address. PEs are world PE numbers.
 *
 * Failures. A bad argument ends the job at the call, as in shmem.h. A
 * failure while an operation runs (a dead peer, ...) is reported by the
 * next shmemx_stream_synchronize or shmemx_stream_destroy (or
 * shmem_finalize, which closes the streams left open), which end the job
 * with a message naming the operation. The team routines return nonzero
 * for SHMEM_TEAM_INVALID.
 *
 * Collectives. For float, double, int, long, long long, int32_t and
 * int64_t: sum, prod, min and max reductions (dest may be source),
 * broadcast, fcollect (dest holds nelems * team size elements) and
 * alltoall (both hold nelems * team size), on SHMEM_TEAM_WORLD,
 * SHMEM_TEAM_SHARED or a team a split made. On a GPU, collectives on the
 * device heap run as GPU kernels and need both objects there; double has
 * no GPU kernel (the call ends the job saying so) but works on host-heap
 * objects there, and on the CPU fallback everywhere. */

#include <stddef.h>
#include <stdint.h>

/* CUDA's stream type: CUstream and cudaStream_t are pointers to it. */
struct CUstream_st;
typedef struct CUstream_st *shmemx_stream_t;

void *shmemx_malloc_device(size_t size);
void *shmemx_calloc_device(size_t count, size_t size);
void shmemx_free_device(void *ptr);
int shmemx_device_gpu(void);

shmemx_stream_t shmemx_stream_create(void);
/* shmemx_stream_from_cuda borrows cs, a CUstream of the PE's GPU, and
 * returns it (GPU only: on the CPU fallback it ends the job). Passing cs
 * to an on-stream routine does the same. */
shmemx_stream_t shmemx_stream_from_cuda(struct CUstream_st *cs);
void shmemx_stream_destroy(shmemx_stream_t stream);
void shmemx_stream_synchronize(shmemx_stream_t stream);

void shmemx_putmem_on_stream(void *dest, const void *source, size_t nelems, int pe, shmemx_stream_t stream);
void shmemx_getmem_on_stream(void *dest, const void *source, size_t nelems, int pe, shmemx_stream_t stream);
/* sig_op: SHMEM_SIGNAL_SET or SHMEM_SIGNAL_ADD. */
void shmemx_putmem_signal_on_stream(void *dest, const void *source, size_t nelems, uint64_t *sig_addr,
                                    uint64_t signal, int sig_op, int pe, shmemx_stream_t stream);
/* Later operations on the stream wait until (*sig_addr cmp cmp_value)
 * holds on this PE; cmp is one of SHMEM_CMP_*. */
void shmemx_signal_wait_until_on_stream(uint64_t *sig_addr, int cmp, uint64_t cmp_value, shmemx_stream_t stream);
void shmemx_quiet_on_stream(shmemx_stream_t stream);
void shmemx_barrier_all_on_stream(shmemx_stream_t stream);
int shmemx_barrier_on_stream(shmem_team_t team, shmemx_stream_t stream);

/* float */
int shmemx_float_sum_reduce_on_stream(shmem_team_t team, float *dest, const float *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_float_prod_reduce_on_stream(shmem_team_t team, float *dest, const float *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_float_min_reduce_on_stream(shmem_team_t team, float *dest, const float *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_float_max_reduce_on_stream(shmem_team_t team, float *dest, const float *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_float_broadcast_on_stream(shmem_team_t team, float *dest, const float *source, size_t nelems,
        int PE_root, shmemx_stream_t stream);
int shmemx_float_fcollect_on_stream(shmem_team_t team, float *dest, const float *source, size_t nelems,
        shmemx_stream_t stream);
int shmemx_float_alltoall_on_stream(shmem_team_t team, float *dest, const float *source, size_t nelems,
        shmemx_stream_t stream);
/* double */
int shmemx_double_sum_reduce_on_stream(shmem_team_t team, double *dest, const double *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_double_prod_reduce_on_stream(shmem_team_t team, double *dest, const double *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_double_min_reduce_on_stream(shmem_team_t team, double *dest, const double *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_double_max_reduce_on_stream(shmem_team_t team, double *dest, const double *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_double_broadcast_on_stream(shmem_team_t team, double *dest, const double *source, size_t nelems,
        int PE_root, shmemx_stream_t stream);
int shmemx_double_fcollect_on_stream(shmem_team_t team, double *dest, const double *source, size_t nelems,
        shmemx_stream_t stream);
int shmemx_double_alltoall_on_stream(shmem_team_t team, double *dest, const double *source, size_t nelems,
        shmemx_stream_t stream);
/* int */
int shmemx_int_sum_reduce_on_stream(shmem_team_t team, int *dest, const int *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int_prod_reduce_on_stream(shmem_team_t team, int *dest, const int *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int_min_reduce_on_stream(shmem_team_t team, int *dest, const int *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int_max_reduce_on_stream(shmem_team_t team, int *dest, const int *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int_broadcast_on_stream(shmem_team_t team, int *dest, const int *source, size_t nelems,
        int PE_root, shmemx_stream_t stream);
int shmemx_int_fcollect_on_stream(shmem_team_t team, int *dest, const int *source, size_t nelems,
        shmemx_stream_t stream);
int shmemx_int_alltoall_on_stream(shmem_team_t team, int *dest, const int *source, size_t nelems,
        shmemx_stream_t stream);
/* long */
int shmemx_long_sum_reduce_on_stream(shmem_team_t team, long *dest, const long *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_long_prod_reduce_on_stream(shmem_team_t team, long *dest, const long *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_long_min_reduce_on_stream(shmem_team_t team, long *dest, const long *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_long_max_reduce_on_stream(shmem_team_t team, long *dest, const long *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_long_broadcast_on_stream(shmem_team_t team, long *dest, const long *source, size_t nelems,
        int PE_root, shmemx_stream_t stream);
int shmemx_long_fcollect_on_stream(shmem_team_t team, long *dest, const long *source, size_t nelems,
        shmemx_stream_t stream);
int shmemx_long_alltoall_on_stream(shmem_team_t team, long *dest, const long *source, size_t nelems,
        shmemx_stream_t stream);
/* long long */
int shmemx_longlong_sum_reduce_on_stream(shmem_team_t team, long long *dest, const long long *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_longlong_prod_reduce_on_stream(shmem_team_t team, long long *dest, const long long *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_longlong_min_reduce_on_stream(shmem_team_t team, long long *dest, const long long *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_longlong_max_reduce_on_stream(shmem_team_t team, long long *dest, const long long *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_longlong_broadcast_on_stream(shmem_team_t team, long long *dest, const long long *source, size_t nelems,
        int PE_root, shmemx_stream_t stream);
int shmemx_longlong_fcollect_on_stream(shmem_team_t team, long long *dest, const long long *source, size_t nelems,
        shmemx_stream_t stream);
int shmemx_longlong_alltoall_on_stream(shmem_team_t team, long long *dest, const long long *source, size_t nelems,
        shmemx_stream_t stream);
/* int32_t */
int shmemx_int32_sum_reduce_on_stream(shmem_team_t team, int32_t *dest, const int32_t *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int32_prod_reduce_on_stream(shmem_team_t team, int32_t *dest, const int32_t *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int32_min_reduce_on_stream(shmem_team_t team, int32_t *dest, const int32_t *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int32_max_reduce_on_stream(shmem_team_t team, int32_t *dest, const int32_t *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int32_broadcast_on_stream(shmem_team_t team, int32_t *dest, const int32_t *source, size_t nelems,
        int PE_root, shmemx_stream_t stream);
int shmemx_int32_fcollect_on_stream(shmem_team_t team, int32_t *dest, const int32_t *source, size_t nelems,
        shmemx_stream_t stream);
int shmemx_int32_alltoall_on_stream(shmem_team_t team, int32_t *dest, const int32_t *source, size_t nelems,
        shmemx_stream_t stream);
/* int64_t */
int shmemx_int64_sum_reduce_on_stream(shmem_team_t team, int64_t *dest, const int64_t *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int64_prod_reduce_on_stream(shmem_team_t team, int64_t *dest, const int64_t *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int64_min_reduce_on_stream(shmem_team_t team, int64_t *dest, const int64_t *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int64_max_reduce_on_stream(shmem_team_t team, int64_t *dest, const int64_t *source, size_t nreduce,
        shmemx_stream_t stream);
int shmemx_int64_broadcast_on_stream(shmem_team_t team, int64_t *dest, const int64_t *source, size_t nelems,
        int PE_root, shmemx_stream_t stream);
int shmemx_int64_fcollect_on_stream(shmem_team_t team, int64_t *dest, const int64_t *source, size_t nelems,
        shmemx_stream_t stream);
int shmemx_int64_alltoall_on_stream(shmem_team_t team, int64_t *dest, const int64_t *source, size_t nelems,
        shmemx_stream_t stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SHMEMX_H */
