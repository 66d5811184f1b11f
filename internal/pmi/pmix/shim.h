// shim.h -- the C half of package pmix: its own declarations of the few
// PMIx types it uses (no PMIx header or library is needed to build), the
// table of entry points resolved with dlsym at load, and one small static
// function per call. Included once, from raw_cgo.go.
//
// The layouts are those of the PMIx 3 and 4 ABI (libpmix.so.2, pmix_common.h
// of OpenPMIx 4.2). Compiled with GSHM_PMIX_CHECK_LAYOUT defined and the real
// pmix_common.h on the include path, this header checks every size and
// offset it relies on against the real ones (TestLayoutMatchesHeaders does
// that where libpmix-dev is installed).
//
// Every value crosses into Go as an integer or a malloc'ed C string that the
// Go side frees; no PMIx-owned memory outlives the call that got it.

#ifndef GSHM_PMIX_SHIM_H
#define GSHM_PMIX_SHIM_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- declarations (values from OpenPMIx 4.2's pmix_common.h) ----

#define GSHM_PMIX_MAX_NSLEN 255
#define GSHM_PMIX_MAX_KEYLEN 511

typedef int gshm_pmix_status;     // pmix_status_t
typedef uint32_t gshm_pmix_rank;  // pmix_rank_t
typedef uint16_t gshm_pmix_type;  // pmix_data_type_t

typedef struct {
	char nspace[GSHM_PMIX_MAX_NSLEN + 1];
	gshm_pmix_rank rank;
} gshm_pmix_proc; // pmix_proc_t

// gshm_pmix_value is pmix_value_t with only the union members this shim
// reads or writes; pad gives the union its real size (the largest members
// are three words: pmix_envar_t).
typedef struct {
	gshm_pmix_type type;
	union {
		bool flag;
		uint8_t uint8;
		uint16_t uint16;
		uint32_t uint32;
		uint64_t uint64;
		int integer;
		int32_t int32;
		int64_t int64;
		size_t size;
		gshm_pmix_rank rank;
		char *string;
		char pad[3 * sizeof(void *)];
	} data;
} gshm_pmix_value;

typedef struct {
	char key[GSHM_PMIX_MAX_KEYLEN + 1];
	uint32_t flags; // pmix_info_directives_t
	gshm_pmix_value value;
} gshm_pmix_info; // pmix_info_t

enum {
	GSHM_PMIX_SUCCESS = 0,
	GSHM_PMIX_ERR_TIMEOUT = -24,
	GSHM_PMIX_ERR_NOT_FOUND = -46,
	GSHM_PMIX_RANK_WILDCARD = UINT32_MAX - 1,
	GSHM_PMIX_GLOBAL = 3, // pmix_scope_t: share with all procs

	GSHM_PMIX_BOOL = 1,
	GSHM_PMIX_STRING = 3,
	GSHM_PMIX_SIZE = 4,
	GSHM_PMIX_INT = 6,
	GSHM_PMIX_INT32 = 9,
	GSHM_PMIX_INT64 = 10,
	GSHM_PMIX_UINT8 = 12,
	GSHM_PMIX_UINT16 = 13,
	GSHM_PMIX_UINT32 = 14,
	GSHM_PMIX_UINT64 = 15,
	GSHM_PMIX_PROC_RANK = 40,
};

// Status codes of this shim, never returned by PMIx (whose codes are
// negative or zero).
enum {
	GSHM_PMIX_BADTYPE = 1000, // a value of a type the shim does not convert; *type says which
	GSHM_PMIX_NOMEM = 1001,
	GSHM_PMIX_TOOLONG = 1002, // a key or namespace longer than PMIx allows
};

#ifdef GSHM_PMIX_CHECK_LAYOUT
#include <pmix_common.h>
_Static_assert(sizeof(gshm_pmix_proc) == sizeof(pmix_proc_t), "pmix_proc_t size");
_Static_assert(offsetof(gshm_pmix_proc, rank) == offsetof(pmix_proc_t, rank), "pmix_proc_t.rank");
_Static_assert(sizeof(gshm_pmix_value) == sizeof(pmix_value_t), "pmix_value_t size");
_Static_assert(offsetof(gshm_pmix_value, data) == offsetof(pmix_value_t, data), "pmix_value_t.data");
_Static_assert(sizeof(gshm_pmix_info) == sizeof(pmix_info_t), "pmix_info_t size");
_Static_assert(offsetof(gshm_pmix_info, flags) == offsetof(pmix_info_t, flags), "pmix_info_t.flags");
_Static_assert(offsetof(gshm_pmix_info, value) == offsetof(pmix_info_t, value), "pmix_info_t.value");
_Static_assert(GSHM_PMIX_MAX_NSLEN == PMIX_MAX_NSLEN && GSHM_PMIX_MAX_KEYLEN == PMIX_MAX_KEYLEN, "name lengths");
_Static_assert(GSHM_PMIX_ERR_TIMEOUT == PMIX_ERR_TIMEOUT && GSHM_PMIX_ERR_NOT_FOUND == PMIX_ERR_NOT_FOUND, "status codes");
_Static_assert(GSHM_PMIX_RANK_WILDCARD == PMIX_RANK_WILDCARD && GSHM_PMIX_GLOBAL == PMIX_GLOBAL, "rank, scope");
_Static_assert(GSHM_PMIX_BOOL == PMIX_BOOL && GSHM_PMIX_STRING == PMIX_STRING && GSHM_PMIX_SIZE == PMIX_SIZE &&
	GSHM_PMIX_INT == PMIX_INT && GSHM_PMIX_INT32 == PMIX_INT32 && GSHM_PMIX_INT64 == PMIX_INT64 &&
	GSHM_PMIX_UINT8 == PMIX_UINT8 && GSHM_PMIX_UINT16 == PMIX_UINT16 && GSHM_PMIX_UINT32 == PMIX_UINT32 &&
	GSHM_PMIX_UINT64 == PMIX_UINT64 && GSHM_PMIX_PROC_RANK == PMIX_PROC_RANK, "data types");
#endif

// Attribute keys (pmix_common.h).
#define GSHM_PMIX_COLLECT_DATA "pmix.collect"
#define GSHM_PMIX_TIMEOUT "pmix.timeout"
#define GSHM_PMIX_OPTIONAL "pmix.optional"

// ---- the entry points ----

typedef struct gshm_pmix {
	void *dl;
	gshm_pmix_status (*Init)(gshm_pmix_proc *, gshm_pmix_info *, size_t);
	gshm_pmix_status (*Finalize)(const gshm_pmix_info *, size_t);
	gshm_pmix_status (*Abort)(int, const char *, gshm_pmix_proc *, size_t);
	gshm_pmix_status (*Put)(uint8_t, const char *, gshm_pmix_value *);
	gshm_pmix_status (*Commit)(void);
	gshm_pmix_status (*Fence)(const gshm_pmix_proc *, size_t, const gshm_pmix_info *, size_t);
	gshm_pmix_status (*Get)(const gshm_pmix_proc *, const char *, const gshm_pmix_info *, size_t, gshm_pmix_value **);
	gshm_pmix_status (*ResolvePeers)(const char *, const char *, gshm_pmix_proc **, size_t *);
	gshm_pmix_status (*ResolveNodes)(const char *, char **);
	const char *(*ErrorString)(gshm_pmix_status);
	const char *(*GetVersion)(void);
	void (*ValueDestruct)(gshm_pmix_value *);
} gshm_pmix;

typedef struct {
	const char *name;
	size_t off;
} gshm_pmix_sym;

#define GSHM_PMIX_SYM(field, name) {name, offsetof(gshm_pmix, field)}

static const gshm_pmix_sym gshm_pmix_syms[] = {
	GSHM_PMIX_SYM(Init, "PMIx_Init"),
	GSHM_PMIX_SYM(Finalize, "PMIx_Finalize"),
	GSHM_PMIX_SYM(Abort, "PMIx_Abort"),
	GSHM_PMIX_SYM(Put, "PMIx_Put"),
	GSHM_PMIX_SYM(Commit, "PMIx_Commit"),
	GSHM_PMIX_SYM(Fence, "PMIx_Fence"),
	GSHM_PMIX_SYM(Get, "PMIx_Get"),
	GSHM_PMIX_SYM(ResolvePeers, "PMIx_Resolve_peers"),
	GSHM_PMIX_SYM(ResolveNodes, "PMIx_Resolve_nodes"),
	GSHM_PMIX_SYM(ErrorString, "PMIx_Error_string"),
	GSHM_PMIX_SYM(GetVersion, "PMIx_Get_version"),
	GSHM_PMIX_SYM(ValueDestruct, "PMIx_Value_destruct"),
};

#define GSHM_PMIX_NSYMS ((int)(sizeof gshm_pmix_syms / sizeof gshm_pmix_syms[0]))

static inline const char *gshm_pmix_sym_name(int i) { return gshm_pmix_syms[i].name; }

enum {
	GSHM_PMIX_LOAD_OK = 0,
	GSHM_PMIX_LOAD_DLOPEN = 1,  // msg holds dlerror()
	GSHM_PMIX_LOAD_MISSING = 2, // msg holds the missing names
	GSHM_PMIX_LOAD_NOMEM = 3,
};

// gshm_pmix_load opens path and resolves every entry point. On success *out
// owns the handle; on failure nothing stays open and msg explains. The
// library is opened RTLD_GLOBAL: PMIx's own plugins (pmix2/lib/pmix/*.so)
// resolve symbols of libpmix.
static int gshm_pmix_load(const char *path, gshm_pmix **out, char *msg, size_t msglen) {
	*out = NULL;
	msg[0] = 0;
	dlerror();
	void *dl = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (dl == NULL) {
		const char *e = dlerror();
		snprintf(msg, msglen, "%s", e ? e : "dlopen failed");
		return GSHM_PMIX_LOAD_DLOPEN;
	}
	gshm_pmix *l = calloc(1, sizeof *l);
	if (l == NULL) {
		dlclose(dl);
		return GSHM_PMIX_LOAD_NOMEM;
	}
	l->dl = dl;
	int missing = 0;
	size_t used = 0;
	for (int i = 0; i < GSHM_PMIX_NSYMS; i++) {
		void *p = dlsym(dl, gshm_pmix_syms[i].name);
		if (p == NULL) {
			missing++;
			int n = snprintf(msg + used, msglen - used, "%s%s", used ? ", " : "", gshm_pmix_syms[i].name);
			if (n > 0 && (size_t)n < msglen - used) used += (size_t)n;
			continue;
		}
		memcpy((char *)l + gshm_pmix_syms[i].off, &p, sizeof p);
	}
	if (missing) {
		dlclose(dl);
		free(l);
		return GSHM_PMIX_LOAD_MISSING;
	}
	*out = l;
	return GSHM_PMIX_LOAD_OK;
}

static inline const char *gshm_pmix_version(gshm_pmix *l) { return l->GetVersion(); }

static inline const char *gshm_pmix_error_string(gshm_pmix *l, int st) {
	if (st == GSHM_PMIX_BADTYPE) return "value of an unexpected type";
	if (st == GSHM_PMIX_NOMEM) return "out of memory";
	if (st == GSHM_PMIX_TOOLONG) return "key or namespace too long";
	return l->ErrorString(st);
}

// gshm_pmix_init initializes PMIx and returns this process's namespace (in
// nspace, GSHM_PMIX_MAX_NSLEN+1 bytes) and rank.
static int gshm_pmix_init(gshm_pmix *l, char *nspace, uint32_t *rank) {
	gshm_pmix_proc me;
	memset(&me, 0, sizeof me);
	int st = l->Init(&me, NULL, 0);
	if (st != GSHM_PMIX_SUCCESS) return st;
	memcpy(nspace, me.nspace, sizeof me.nspace);
	nspace[GSHM_PMIX_MAX_NSLEN] = 0;
	*rank = me.rank;
	return st;
}

static int gshm_pmix_proc_of(gshm_pmix_proc *p, const char *nspace, uint32_t rank) {
	memset(p, 0, sizeof *p);
	if (strlen(nspace) > GSHM_PMIX_MAX_NSLEN) return GSHM_PMIX_TOOLONG;
	strcpy(p->nspace, nspace);
	p->rank = rank;
	return GSHM_PMIX_SUCCESS;
}

static void gshm_pmix_info_bool(gshm_pmix_info *i, const char *key) {
	memset(i, 0, sizeof *i);
	strcpy(i->key, key);
	i->value.type = GSHM_PMIX_BOOL;
	i->value.data.flag = true;
}

static void gshm_pmix_info_int(gshm_pmix_info *i, const char *key, int v) {
	memset(i, 0, sizeof *i);
	strcpy(i->key, key);
	i->value.type = GSHM_PMIX_INT;
	i->value.data.integer = v;
}

// gshm_pmix_get reads key of proc (nspace, rank). A number comes back in
// *num, a string in *str (malloc'ed: the caller frees it); *type is the
// value's PMIx type. optional: look only in the local store (after a fence
// that collected the data, every put value is there; a missing key is
// then PMIX_ERR_NOT_FOUND at once instead of a request to the server).
// timeout > 0: PMIx gives up after that many seconds.
static int gshm_pmix_get(gshm_pmix *l, const char *nspace, uint32_t rank, const char *key, int optional, int timeout,
                         int *type, uint64_t *num, char **str) {
	*type = 0;
	*num = 0;
	*str = NULL;
	gshm_pmix_proc p;
	int st = gshm_pmix_proc_of(&p, nspace, rank);
	if (st != GSHM_PMIX_SUCCESS) return st;
	if (strlen(key) > GSHM_PMIX_MAX_KEYLEN) return GSHM_PMIX_TOOLONG;
	char k[GSHM_PMIX_MAX_KEYLEN + 1] = {0};
	strcpy(k, key);
	gshm_pmix_info info[2];
	size_t n = 0;
	if (optional) gshm_pmix_info_bool(&info[n++], GSHM_PMIX_OPTIONAL);
	if (timeout > 0) gshm_pmix_info_int(&info[n++], GSHM_PMIX_TIMEOUT, timeout);
	gshm_pmix_value *v = NULL;
	st = l->Get(&p, k, n ? info : NULL, n, &v);
	if (st != GSHM_PMIX_SUCCESS) return st;
	if (v == NULL) return GSHM_PMIX_ERR_NOT_FOUND;
	*type = v->type;
	switch (v->type) {
	case GSHM_PMIX_STRING:
		*str = strdup(v->data.string ? v->data.string : "");
		if (*str == NULL) st = GSHM_PMIX_NOMEM;
		break;
	case GSHM_PMIX_BOOL: *num = v->data.flag; break;
	case GSHM_PMIX_UINT8: *num = v->data.uint8; break;
	case GSHM_PMIX_UINT16: *num = v->data.uint16; break;
	case GSHM_PMIX_UINT32: *num = v->data.uint32; break;
	case GSHM_PMIX_PROC_RANK: *num = v->data.rank; break;
	case GSHM_PMIX_UINT64: *num = v->data.uint64; break;
	case GSHM_PMIX_SIZE: *num = v->data.size; break;
	case GSHM_PMIX_INT: *num = (uint64_t)(int64_t)v->data.integer; break;
	case GSHM_PMIX_INT32: *num = (uint64_t)(int64_t)v->data.int32; break;
	case GSHM_PMIX_INT64: *num = (uint64_t)v->data.int64; break;
	default: st = GSHM_PMIX_BADTYPE;
	}
	l->ValueDestruct(v);
	free(v);
	return st;
}

// gshm_pmix_put puts a string value under key, visible to every proc of the
// job (PMIX_GLOBAL) once committed and fenced.
static int gshm_pmix_put(gshm_pmix *l, const char *key, char *val) {
	if (strlen(key) > GSHM_PMIX_MAX_KEYLEN) return GSHM_PMIX_TOOLONG;
	char k[GSHM_PMIX_MAX_KEYLEN + 1] = {0};
	strcpy(k, key);
	gshm_pmix_value v;
	memset(&v, 0, sizeof v);
	v.type = GSHM_PMIX_STRING;
	v.data.string = val; // PMIx_Put copies it
	return l->Put(GSHM_PMIX_GLOBAL, k, &v);
}

// gshm_pmix_fence commits this proc's puts and fences every proc of nspace,
// collecting the data so that later gets are local.
static int gshm_pmix_fence(gshm_pmix *l, const char *nspace, int timeout) {
	int st = l->Commit();
	if (st != GSHM_PMIX_SUCCESS) return st;
	gshm_pmix_proc p;
	st = gshm_pmix_proc_of(&p, nspace, GSHM_PMIX_RANK_WILDCARD);
	if (st != GSHM_PMIX_SUCCESS) return st;
	gshm_pmix_info info[2];
	size_t n = 0;
	gshm_pmix_info_bool(&info[n++], GSHM_PMIX_COLLECT_DATA);
	if (timeout > 0) gshm_pmix_info_int(&info[n++], GSHM_PMIX_TIMEOUT, timeout);
	return l->Fence(&p, 1, info, n);
}

// gshm_pmix_resolve_nodes returns the comma-separated names of the nodes
// nspace's procs run on (malloc'ed: the caller frees it).
static int gshm_pmix_resolve_nodes(gshm_pmix *l, const char *nspace, char **out) {
	*out = NULL;
	char ns[GSHM_PMIX_MAX_NSLEN + 1] = {0};
	if (strlen(nspace) > GSHM_PMIX_MAX_NSLEN) return GSHM_PMIX_TOOLONG;
	strcpy(ns, nspace);
	return l->ResolveNodes(ns, out);
}

// gshm_pmix_resolve_peers returns the ranks of nspace's procs on node in
// *ranks (malloc'ed: the caller frees it), *n of them.
static int gshm_pmix_resolve_peers(gshm_pmix *l, const char *node, const char *nspace, uint32_t **ranks, size_t *n) {
	*ranks = NULL;
	*n = 0;
	char ns[GSHM_PMIX_MAX_NSLEN + 1] = {0};
	if (strlen(nspace) > GSHM_PMIX_MAX_NSLEN) return GSHM_PMIX_TOOLONG;
	strcpy(ns, nspace);
	gshm_pmix_proc *procs = NULL;
	size_t np = 0;
	int st = l->ResolvePeers(node, ns, &procs, &np);
	if (st != GSHM_PMIX_SUCCESS) return st;
	uint32_t *r = malloc((np ? np : 1) * sizeof *r);
	if (r == NULL) {
		free(procs);
		return GSHM_PMIX_NOMEM;
	}
	for (size_t i = 0; i < np; i++) r[i] = procs[i].rank;
	free(procs); // PMIX_PROC_FREE: the array holds no pointers
	*ranks = r;
	*n = np;
	return st;
}

static inline int gshm_pmix_abort(gshm_pmix *l, int status, const char *msg) {
	return l->Abort(status, msg, NULL, 0);
}

static inline int gshm_pmix_finalize(gshm_pmix *l) { return l->Finalize(NULL, 0); }

#endif
