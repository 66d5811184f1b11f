/*
 * gs_coll.h: teams, contexts and collectives of libgshmem (not installed).
 *
 * The typed collectives (capi/zcoll.c, generated) call gs_team_coll (the
 * OpenSHMEM 1.5 forms on a team) or gs_as_coll (the deprecated forms on an
 * active set with a pSync array), both in coll.c. A collective whose
 * element type Go has (every integer, float and complex type) runs on
 * hostshmem's team collectives; long double reductions and the active sets
 * that are not the whole world run here, by gets from the members'
 * sources between two synchronisations of the set (gs_pull in coll.c).
 */
#ifndef GSHMEM_GS_COLL_H
#define GSHMEM_GS_COLL_H

#include "gs.h"

/* Kinds of collective. */
enum { GS_BCAST = 0, GS_COLLECT = 1, GS_FCOLLECT = 2, GS_ALLTOALL = 3, GS_ALLTOALLS = 4, GS_REDUCE = 5 };

/* Element types Go's collectives know (capi/coll.go); GS_DT_NONE: only C
 * knows the type (long double): its reductions run here. A data movement
 * names the unsigned type of its element's size. */
enum {
    GS_DT_NONE = 0,
    GS_DT_I8,
    GS_DT_I16,
    GS_DT_I32,
    GS_DT_I64,
    GS_DT_U8,
    GS_DT_U16,
    GS_DT_U32,
    GS_DT_U64,
    GS_DT_F32,
    GS_DT_F64,
    GS_DT_C64,
    GS_DT_C128
};

/* Reduction operations, numbered as hostshmem.ReduceOp. */
enum { GS_OP_SUM = 0, GS_OP_PROD, GS_OP_MIN, GS_OP_MAX, GS_OP_AND, GS_OP_OR, GS_OP_XOR };

static inline int gs_dt_uint(size_t size) {
    switch (size) {
    case 1:
        return GS_DT_U8;
    case 2:
        return GS_DT_U16;
    case 4:
        return GS_DT_U32;
    case 8:
        return GS_DT_U64;
    case 16:
        return GS_DT_C128;
    }
    return GS_DT_NONE;
}

static inline int gs_dt_sint(size_t size) {
    switch (size) {
    case 1:
        return GS_DT_I8;
    case 2:
        return GS_DT_I16;
    case 4:
        return GS_DT_I32;
    case 8:
        return GS_DT_I64;
    }
    return GS_DT_NONE;
}

/* GS_DT_INT is the element type of the integer type T. */
#define GS_DT_INT(T) ((T)-1 < (T)0 ? gs_dt_sint(sizeof(T)) : gs_dt_uint(sizeof(T)))

/* A team a split made, as Go returns it to C. */
struct gshmem_team_info {
    int start, stride, size, my;
    uintptr_t handle; /* 0: this PE is not a member */
};

/* A combine function of a reduction: a[i] = a[i] op b[i], i < n. */
typedef void (*gs_combine)(void *a, const void *b, size_t n);

GS_HIDDEN int gs_team_coll(shmem_team_t team, const char *call, int kind, int dt, int op, gs_combine comb,
                           void *dest, const void *source, size_t nelems, size_t size, int root, ptrdiff_t dst,
                           ptrdiff_t sst);
GS_HIDDEN void gs_as_coll(const char *call, int kind, int dt, int op, gs_combine comb, void *dest,
                          const void *source, size_t nelems, size_t size, int root, ptrdiff_t dst, ptrdiff_t sst,
                          int PE_start, int logPE_stride, int PE_size, long *pSync);
/* gs_count is a deprecated call's int count, which must not be negative. */
GS_HIDDEN size_t gs_count(const char *call, int n);

#endif /* GSHMEM_GS_COLL_H */
