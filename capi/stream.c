// The device side from C (shmemx.h): the device heap and the
// stream-ordered operations (*_on_stream), which call into Go's package
// streams (stream.go). Here: the checks that need only C's state (the
// PE, addresses, sizes, teams), then one call into Go per operation.

#include <stdio.h>

#include "_cgo_export.h"
#include "gs.h"

_Static_assert(sizeof(long) == 8 && sizeof(long long) == 8, "long and long long are 64-bit");
_Static_assert(sizeof(int) == 4 && sizeof(float) == 4 && sizeof(double) == 8, "int and float are 32-bit");

/* gs_dev returns the calling PE with its device heap known to C. */
static gs_pe *gs_dev(const char *call) {
    gs_pe *s = gs_ready(call);
    if (GS_UNLIKELY(!s->dev_known)) {
        gshmemGoDeviceInit(s->handle);
    }
    return s;
}

/* gs_ssym returns the symmetric offset of the n bytes at p, which must lie
 * in the device heap or the host heap. */
static uintptr_t gs_ssym(gs_pe *s, const char *call, const char *what, const void *p, size_t n) {
    uintptr_t off = (uintptr_t)((const char *)p - s->local);
    if (off - s->lo < s->hi - s->lo) {
        if (n > s->hi - off) {
            gs_fatal(s, call, "%s %p: %zu bytes run past the end of the host symmetric heap [%p, %p)", what, p, n,
                     (void *)(s->local + s->lo), (void *)(s->local + s->hi));
        }
        return off;
    }
    uintptr_t d = (uintptr_t)p - s->dev_base;
    if (s->dev_size != 0 && d < s->dev_size) {
        if (n > s->dev_size - d) {
            gs_fatal(s, call, "%s %p: %zu bytes run past the end of the device heap [%p, %p)", what, p, n,
                     (void *)s->dev_base, (void *)(s->dev_base + s->dev_size));
        }
        return s->dev_off + d;
    }
    if (s->dev_size == 0) {
        gs_fatal(s, call,
                 "%s %p is not a symmetric address: the host heap is [%p, %p), and this PE has no device heap "
                 "(GSHMEM_DEVICE_SYMMETRIC_SIZE=0)",
                 what, p, (void *)(s->local + s->lo), (void *)(s->local + s->hi));
    }
    gs_fatal(s, call,
             "%s %p is not a symmetric address: on-stream operations take objects of the device heap [%p, %p) "
             "(shmemx_malloc_device) or the host heap [%p, %p) (shmem_malloc)",
             what, p, (void *)s->dev_base, (void *)(s->dev_base + s->dev_size), (void *)(s->local + s->lo),
             (void *)(s->local + s->hi));
}

static void gs_spe(gs_pe *s, const char *call, int pe) {
    if (GS_UNLIKELY((unsigned)pe >= (unsigned)s->npes)) {
        gs_fatal(s, call, "PE %d out of range [0, %d)", pe, s->npes);
    }
}

/* ---- the device heap ---- */

static void *gs_dev_alloc(const char *call, int zero, size_t size) {
    gs_pe *s = gs_dev(call);
    return (void *)gshmemGoMallocDevice(s->handle, (char *)call, zero, size);
}

void *shmemx_malloc_device(size_t size) { return gs_dev_alloc("shmemx_malloc_device", 0, size); }

void *shmemx_calloc_device(size_t count, size_t size) {
    gs_pe *s = gs_dev("shmemx_calloc_device");
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        fprintf(stderr, "gshmem: PE %d: shmemx_calloc_device: %zu elements of %zu bytes overflow size_t\n", s->me,
                count, size);
        return NULL;
    }
    return gs_dev_alloc("shmemx_calloc_device", 1, n);
}

void shmemx_free_device(void *ptr) {
    gs_pe *s = gs_dev("shmemx_free_device");
    uintptr_t off = 0;
    if (ptr != NULL) {
        uintptr_t d = (uintptr_t)ptr - s->dev_base;
        if (s->dev_size == 0 || d >= s->dev_size) {
            gs_fatal(s, "shmemx_free_device", "%p is not an object of the device heap [%p, %p)", ptr,
                     (void *)s->dev_base, (void *)(s->dev_base + s->dev_size));
        }
        off = s->dev_off + d;
    }
    gshmemGoFreeDevice(s->handle, ptr != NULL, off);
}

int shmemx_device_gpu(void) {
    gs_pe *s = gs_ready("shmemx_device_gpu");
    return gshmemGoDeviceGPU(s->handle);
}

/* ---- streams ---- */

shmemx_stream_t shmemx_stream_create(void) {
    gs_pe *s = gs_dev("shmemx_stream_create");
    return (shmemx_stream_t)gshmemGoStreamCreate(s->handle);
}

shmemx_stream_t shmemx_stream_from_cuda(struct CUstream_st *cs) {
    gs_pe *s = gs_dev("shmemx_stream_from_cuda");
    gshmemGoStreamFromCUDA(s->handle, (uintptr_t)cs);
    return cs;
}

void shmemx_stream_destroy(shmemx_stream_t stream) {
    gs_pe *s = gs_ready("shmemx_stream_destroy");
    if (stream == NULL) {
        return;
    }
    gshmemGoStreamDestroy(s->handle, (uintptr_t)stream);
}

void shmemx_stream_synchronize(shmemx_stream_t stream) {
    gs_pe *s = gs_dev("shmemx_stream_synchronize");
    gshmemGoStreamSync(s->handle, (uintptr_t)stream);
}

/* Kinds of gshmemGoStreamRMA (stream.go). */
enum { GS_SPUT = 0, GS_SGET = 1, GS_SPUT_SIGNAL = 2 };

static void gs_srma(const char *call, int kind, void *dest, const void *source, size_t n, uint64_t *sig,
                    uint64_t signal, int sig_op, int pe, shmemx_stream_t stream) {
    gs_pe *s = gs_dev(call);
    gs_spe(s, call, pe);
    uintptr_t doff = 0, soff = 0, sigoff = 0;
    if (n != 0) {
        doff = gs_ssym(s, call, "dest", dest, n);
        soff = gs_ssym(s, call, "source", source, n);
    }
    if (kind == GS_SPUT_SIGNAL) {
        if (sig_op != SHMEM_SIGNAL_SET && sig_op != SHMEM_SIGNAL_ADD) {
            gs_fatal(s, call, "sig_op %d is neither SHMEM_SIGNAL_SET nor SHMEM_SIGNAL_ADD", sig_op);
        }
        sigoff = gs_ssym(s, call, "sig_addr", sig, sizeof *sig);
    }
    gshmemGoStreamRMA(s->handle, (char *)call, kind, (uintptr_t)stream, pe, doff, soff, n, sigoff, signal, sig_op);
}

void shmemx_putmem_on_stream(void *dest, const void *source, size_t nelems, int pe, shmemx_stream_t stream) {
    gs_srma("shmemx_putmem_on_stream", GS_SPUT, dest, source, nelems, NULL, 0, 0, pe, stream);
}

void shmemx_getmem_on_stream(void *dest, const void *source, size_t nelems, int pe, shmemx_stream_t stream) {
    gs_srma("shmemx_getmem_on_stream", GS_SGET, dest, source, nelems, NULL, 0, 0, pe, stream);
}

void shmemx_putmem_signal_on_stream(void *dest, const void *source, size_t nelems, uint64_t *sig_addr,
                                    uint64_t signal, int sig_op, int pe, shmemx_stream_t stream) {
    gs_srma("shmemx_putmem_signal_on_stream", GS_SPUT_SIGNAL, dest, source, nelems, sig_addr, signal, sig_op, pe,
            stream);
}

void shmemx_signal_wait_until_on_stream(uint64_t *sig_addr, int cmp, uint64_t cmp_value, shmemx_stream_t stream) {
    static const char call[] = "shmemx_signal_wait_until_on_stream";
    gs_pe *s = gs_dev(call);
    uintptr_t off = gs_ssym(s, call, "sig_addr", sig_addr, sizeof *sig_addr);
    gshmemGoStreamWait(s->handle, (char *)call, (uintptr_t)stream, off, cmp, cmp_value);
}

void shmemx_quiet_on_stream(shmemx_stream_t stream) {
    static const char call[] = "shmemx_quiet_on_stream";
    gs_pe *s = gs_dev(call);
    gshmemGoStreamQuiet(s->handle, (char *)call, (uintptr_t)stream);
}

/* Teams as gshmemGoStream* take them (stream.go: teamCreated, teamWorld,
 * teamShared). gs_steam returns 0 and sets the kind, the Go handle and
 * the size; -1 for SHMEM_TEAM_INVALID, which the team routines report
 * with a nonzero result. */
static int gs_steam(gs_pe *s, const char *call, shmem_team_t team, int *kind, uintptr_t *h, int *size) {
    if (team == SHMEM_TEAM_INVALID) {
        fprintf(stderr, "gshmem: PE %d: %s: SHMEM_TEAM_INVALID is not a team\n", s->me, call);
        return -1;
    }
    *h = 0;
    if (team == SHMEM_TEAM_WORLD) {
        *kind = 1, *size = s->npes;
        return 0;
    }
    if (team == SHMEM_TEAM_SHARED) {
        *kind = 2, *size = s->shared_size;
        return 0;
    }
    /* A team a split made: its Go team is binding.teams[handle]. */
    if (team->pe != s) {
        gs_fatal(s, call, "team %p is not a team of this PE", (void *)team);
    }
    if (team->destroyed) {
        gs_fatal(s, call, "team %p was destroyed", (void *)team);
    }
    *kind = 0, *h = team->handle, *size = team->size;
    return 0;
}

void shmemx_barrier_all_on_stream(shmemx_stream_t stream) {
    static const char call[] = "shmemx_barrier_all_on_stream";
    gs_pe *s = gs_dev(call);
    gshmemGoStreamBarrier(s->handle, (char *)call, (uintptr_t)stream, 1, 0);
}

int shmemx_barrier_on_stream(shmem_team_t team, shmemx_stream_t stream) {
    static const char call[] = "shmemx_barrier_on_stream";
    gs_pe *s = gs_dev(call);
    int kind, size;
    uintptr_t h;
    if (gs_steam(s, call, team, &kind, &h, &size) != 0) {
        return -1;
    }
    gshmemGoStreamBarrier(s->handle, (char *)call, (uintptr_t)stream, kind, h);
    return 0;
}

/* Collectives and element types of gshmemGoStreamColl (stream.go). */
enum { GS_SREDUCE = 0, GS_SBROADCAST = 1, GS_SFCOLLECT = 2, GS_SALLTOALL = 3 };
enum { GS_SF32 = 0, GS_SF64 = 1, GS_SI32 = 2, GS_SI64 = 3 };
enum { GS_SSUM = 0, GS_SPROD = 1, GS_SMIN = 2, GS_SMAX = 3 };

static int gs_scoll(const char *call, int kind, int dt, size_t elem, int op, shmem_team_t team, void *dest,
                    const void *source, size_t nelems, int root, shmemx_stream_t stream) {
    gs_pe *s = gs_dev(call);
    int tkind, size;
    uintptr_t h;
    if (gs_steam(s, call, team, &tkind, &h, &size) != 0) {
        return -1;
    }
    size_t dn = nelems, sn = nelems;
    if (kind == GS_SFCOLLECT || kind == GS_SALLTOALL) {
        dn = gs_bytes(s, call, nelems, (size_t)size);
    }
    if (kind == GS_SALLTOALL) {
        sn = dn;
    }
    size_t db = gs_bytes(s, call, dn, elem), sb = gs_bytes(s, call, sn, elem);
    uintptr_t doff = 0, soff = 0;
    if (db != 0) {
        doff = gs_ssym(s, call, "dest", dest, db);
    }
    if (sb != 0) {
        soff = gs_ssym(s, call, "source", source, sb);
    }
    if (db == 0 || sb == 0) {
        /* Nothing moves, but every member still meets the others. */
        doff = soff = s->lo; /* empty objects at the start of the host heap */
        nelems = 0;
    }
    gshmemGoStreamColl(s->handle, (char *)call, (uintptr_t)stream, kind, dt, op, tkind, h, doff, soff, nelems, root);
    return 0;
}

#define GS_SREDUCE_OP(NAME, T, DT, OP, OPC)                                                                     \
    int shmemx_##NAME##_##OP##_reduce_on_stream(shmem_team_t team, T *dest, const T *source, size_t nreduce,  \
                                                shmemx_stream_t stream) {                                      \
        return gs_scoll("shmemx_" #NAME "_" #OP "_reduce_on_stream", GS_SREDUCE, DT, sizeof(T), OPC, team,   \
                        dest, source, nreduce, 0, stream);                                                    \
    }

#define GS_STYPE(NAME, T, DT)                                                                                  \
    GS_SREDUCE_OP(NAME, T, DT, sum, GS_SSUM)                                                                    \
    GS_SREDUCE_OP(NAME, T, DT, prod, GS_SPROD)                                                                  \
    GS_SREDUCE_OP(NAME, T, DT, min, GS_SMIN)                                                                    \
    GS_SREDUCE_OP(NAME, T, DT, max, GS_SMAX)                                                                    \
    int shmemx_##NAME##_broadcast_on_stream(shmem_team_t team, T *dest, const T *source, size_t nelems,       \
                                            int PE_root, shmemx_stream_t stream) {                             \
        return gs_scoll("shmemx_" #NAME "_broadcast_on_stream", GS_SBROADCAST, DT, sizeof(T), 0, team, dest,  \
                        source, nelems, PE_root, stream);                                                     \
    }                                                                                                          \
    int shmemx_##NAME##_fcollect_on_stream(shmem_team_t team, T *dest, const T *source, size_t nelems,        \
                                           shmemx_stream_t stream) {                                           \
        return gs_scoll("shmemx_" #NAME "_fcollect_on_stream", GS_SFCOLLECT, DT, sizeof(T), 0, team, dest,    \
                        source, nelems, 0, stream);                                                           \
    }                                                                                                          \
    int shmemx_##NAME##_alltoall_on_stream(shmem_team_t team, T *dest, const T *source, size_t nelems,        \
                                           shmemx_stream_t stream) {                                           \
        return gs_scoll("shmemx_" #NAME "_alltoall_on_stream", GS_SALLTOALL, DT, sizeof(T), 0, team, dest,    \
                        source, nelems, 0, stream);                                                           \
    }

GS_STYPE(float, float, GS_SF32)
GS_STYPE(double, double, GS_SF64)
GS_STYPE(int, int, GS_SI32)
GS_STYPE(long, long, GS_SI64)
GS_STYPE(longlong, long long, GS_SI64)
GS_STYPE(int32, int32_t, GS_SI32)
GS_STYPE(int64, int64_t, GS_SI64)
