/*
 * shim.h: the C side of fabric/ofi (built only with -tags ofi and cgo).
 *
 * libfabric's data calls (fi_writemsg, fi_read, fi_fetch_atomic, fi_cq_read,
 * ...) are static inline functions in its headers, which cgo cannot call;
 * this file wraps them, together with the completion handling that must not
 * cross into Go once per completion. Everything here works on one gshm_ofi,
 * the C half of one *ofi.Endpoint; there is no global state.
 *
 * Completions. Every operation that libfabric completes carries a context
 * starting with struct gshm_ctx, whose kind says what it is:
 *   - an async op (Put, PutData, Send): its completion frees it and its
 *     bounce buffer and decrements o->pending (what Quiet waits for); an
 *     error is kept in o->first_err for Quiet to report;
 *   - a sync op (Get, AMO): its completion stores the outcome in the op and
 *     sets op->state to DONE with a CAS; a waiter that gave up (timeout,
 *     Close) set it to ABANDONED first, and then the completion frees it;
 *   - a posted receive buffer: its completion becomes an event for Go.
 * Remote CQ data of a fi_writedata (no context) becomes an event too.
 * Events go into a ring that the Go progress goroutine drains; whoever reads
 * the CQ does it under o->pollmu, so the ring holds events in CQ order, and
 * a reader other than the progress goroutine wakes it through o->kick_fd.
 */
#ifndef GSHMEM_OFI_SHIM_H
#define GSHMEM_OFI_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* ppoll */
#endif

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

enum {
	GSHM_CTX_ASYNC = 1, /* Put, PutData, Send */
	GSHM_CTX_SYNC = 2,  /* Get, AMO */
	GSHM_CTX_RECV = 3,  /* a posted receive buffer */
};

enum { GSHM_PENDING = 0, GSHM_DONE = 1, GSHM_ABANDONED = 2 };

enum { GSHM_EV_MSG = 1, GSHM_EV_DATA = 2 };

/* Op kinds, for error reports. */
enum { GSHM_OP_PUT = 1, GSHM_OP_PUTDATA, GSHM_OP_SEND, GSHM_OP_GET, GSHM_OP_AMO };

/* Our own error codes, beside libfabric's (positive FI_E* / errno). */
#define GSHM_ETIMEDOUT (-1000001)
#define GSHM_ECLOSED (-1000002)
#define GSHM_EAGAIN (-1000003)
#define GSHM_EGONE (-1000004)
#define GSHM_MAXPEERS (1 << 16) /* ofi.MaxPeers */

#define GSHM_NRECV 64
#define GSHM_EVCAP 1024
#define GSHM_MSGSIZE 4096
#define GSHM_BCACHE 32

struct gshm_ctx {
	struct fi_context2 fctx; /* first: libfabric's scratch space */
	int kind;
};

typedef struct gshm_op {
	struct gshm_ctx c;
	int op;             /* GSHM_OP_* */
	_Atomic int state;  /* GSHM_PENDING, _DONE, _ABANDONED (sync ops) */
	int err;            /* positive FI_E* or errno, from a CQ error entry */
	int prov_err;
	uint64_t peer;      /* the Go peer index, for error reports */
	void *buf;          /* bounce buffer (gshm_buf_get) or NULL */
	size_t bufcap;
	uint64_t operand, cmp, result;
} gshm_op;

typedef struct gshm_rx {
	struct gshm_ctx c;
	int idx;
	char *buf;
} gshm_rx;

typedef struct gshm_event {
	int kind;      /* GSHM_EV_MSG, GSHM_EV_DATA */
	int rx;        /* GSHM_EV_MSG: the receive slot to repost */
	size_t len;    /* GSHM_EV_MSG: message length */
	uint64_t data; /* the remote CQ data */
} gshm_event;

typedef struct gshm_err {
	int set, op, err, prov_err;
	uint64_t peer;
} gshm_err;

typedef struct gshm_ofi {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_ep *ep;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_mr *mr;
	int wait_fd; /* the CQ's wait fd, -1 when it has none */
	int kick_fd; /* eventfd that wakes the progress thread */
	_Atomic long pending;
	_Atomic int closing;
	_Atomic int waiters; /* callers between gshm_enter and gshm_leave, driving the CQ */
	_Atomic int64_t last_wait; /* gshm_now() when a caller last began to drive the CQ */
	_Atomic int aside;         /* the progress thread stands aside (gshm_idle), on the kick fd only */
	pthread_mutex_t pollmu; /* guards the CQ reads, the ring and first_err */
	gshm_err first_err;
	/* The events read from the CQ for the progress thread: a ring of
	 * evcap (a power of two) that grows when full, so that a caller's
	 * poll never leaves the CQ unread (a full ring and an unread CQ
	 * would stall the provider's sends, and a handler's send waits on
	 * them: the progress thread, which drains the ring, would wait on
	 * itself). */
	gshm_event *ev;
	unsigned evcap;
	unsigned evhead, evtail; /* ring: [evhead, evtail) */
	gshm_rx rx[GSHM_NRECV];
	/* Bounce buffers of finished ops, kept for the next (a fresh malloc of
	 * a large buffer is an mmap and a page fault per page). Guarded by
	 * pollmu. */
	struct {
		void *p;
		size_t cap;
	} bcache[GSHM_BCACHE];
	char name[256];
	size_t namelen;
	char prov[128];
	/* gone[peer]: the user said peer left the job (gshm_set_gone): posts
	 * to it and waits on it stop at once instead of retrying until their
	 * deadline (a connection to a process that is gone makes tcp;ofi_rxm
	 * say -FI_EAGAIN until then). */
	_Atomic unsigned char gone[GSHM_MAXPEERS];
} gshm_ofi;

static void gshm_set_gone(gshm_ofi *o, uint64_t peer) { atomic_store(&o->gone[peer % GSHM_MAXPEERS], 1); }

static int gshm_is_gone(gshm_ofi *o, uint64_t peer)
{
	return atomic_load_explicit(&o->gone[peer % GSHM_MAXPEERS], memory_order_relaxed);
}

static int64_t gshm_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void gshm_close_all(gshm_ofi *o)
{
	if (o->ep) fi_close(&o->ep->fid);
	if (o->mr) fi_close(&o->mr->fid);
	if (o->av) fi_close(&o->av->fid);
	if (o->cq) fi_close(&o->cq->fid);
	if (o->domain) fi_close(&o->domain->fid);
	if (o->fabric) fi_close(&o->fabric->fid);
	if (o->info) fi_freeinfo(o->info);
	if (o->kick_fd >= 0) close(o->kick_fd);
	for (int i = 0; i < GSHM_NRECV; i++) free(o->rx[i].buf);
	for (int i = 0; i < GSHM_BCACHE; i++) free(o->bcache[i].p);
	pthread_mutex_destroy(&o->pollmu);
	free(o->ev);
	free(o);
}

/* gshm_open opens fabric, domain, an RDM endpoint, an AV (FI_AV_TABLE) and
 * a CQ (with a wait fd where the provider offers one), binds and enables
 * them. prov is a provider name ("tcp;ofi_rxm") or "" for the first the
 * host offers. On failure it returns a negative FI_E* and a message. */
static int gshm_open(const char *prov, gshm_ofi **out, char *msg, size_t msglen)
{
	*out = NULL;
	gshm_ofi *o = calloc(1, sizeof *o);
	if (!o) { snprintf(msg, msglen, "calloc"); return -FI_ENOMEM; }
	o->wait_fd = -1;
	o->kick_fd = -1;
	o->evcap = GSHM_EVCAP;
	o->ev = calloc(GSHM_EVCAP, sizeof *o->ev);
	if (!o->ev) { free(o); snprintf(msg, msglen, "calloc"); return -FI_ENOMEM; }
	pthread_mutex_init(&o->pollmu, NULL);
	struct fi_info *h = fi_allocinfo();
	if (!h) { free(o->ev); free(o); snprintf(msg, msglen, "fi_allocinfo"); return -FI_ENOMEM; }
	h->caps = FI_MSG | FI_RMA | FI_ATOMIC;
	h->mode = FI_CONTEXT | FI_CONTEXT2;
	h->ep_attr->type = FI_EP_RDM;
	h->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	h->domain_attr->threading = FI_THREAD_SAFE;
	h->tx_attr->msg_order = FI_ORDER_SAS;
	h->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
	if (prov && *prov) h->fabric_attr->prov_name = strdup(prov);
	int r = fi_getinfo(FI_VERSION(1, 17), NULL, NULL, 0, h, &o->info);
	fi_freeinfo(h);
	if (r) {
		snprintf(msg, msglen, "fi_getinfo(provider %s): %s", (prov && *prov) ? prov : "any", fi_strerror(-r));
		o->info = NULL;
		gshm_close_all(o);
		return r;
	}
	struct fi_info *fi = o->info;
	snprintf(o->prov, sizeof o->prov, "%s", fi->fabric_attr->prov_name);
#define CHECK(call, what) \
	if ((r = (call)) != 0) { snprintf(msg, msglen, "%s: %s", what, fi_strerror(-r)); gshm_close_all(o); return r; }
	CHECK(fi_fabric(fi->fabric_attr, &o->fabric, NULL), "fi_fabric");
	CHECK(fi_domain(o->fabric, fi, &o->domain, NULL), "fi_domain");
	struct fi_cq_attr ca = {.format = FI_CQ_FORMAT_DATA, .wait_obj = FI_WAIT_FD, .size = 8192};
	if (fi_cq_open(o->domain, &ca, &o->cq, NULL) != 0) {
		ca.wait_obj = FI_WAIT_NONE;
		CHECK(fi_cq_open(o->domain, &ca, &o->cq, NULL), "fi_cq_open");
	} else if (fi_control(&o->cq->fid, FI_GETWAIT, &o->wait_fd) != 0) {
		o->wait_fd = -1;
	}
	struct fi_av_attr aa = {.type = FI_AV_TABLE};
	CHECK(fi_av_open(o->domain, &aa, &o->av, NULL), "fi_av_open");
	CHECK(fi_endpoint(o->domain, fi, &o->ep, NULL), "fi_endpoint");
	CHECK(fi_ep_bind(o->ep, &o->av->fid, 0), "fi_ep_bind(av)");
	CHECK(fi_ep_bind(o->ep, &o->cq->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind(cq)");
	CHECK(fi_enable(o->ep), "fi_enable");
	o->namelen = sizeof o->name;
	CHECK(fi_getname(&o->ep->fid, o->name, &o->namelen), "fi_getname");
	o->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->kick_fd < 0) { snprintf(msg, msglen, "eventfd: %s", strerror(errno)); gshm_close_all(o); return -FI_EOTHER; }
	for (int i = 0; i < GSHM_NRECV; i++) {
		o->rx[i].c.kind = GSHM_CTX_RECV;
		o->rx[i].idx = i;
		o->rx[i].buf = malloc(GSHM_MSGSIZE);
		if (!o->rx[i].buf) { snprintf(msg, msglen, "malloc"); gshm_close_all(o); return -FI_ENOMEM; }
		CHECK(fi_recv(o->ep, o->rx[i].buf, GSHM_MSGSIZE, NULL, FI_ADDR_UNSPEC, &o->rx[i].c), "fi_recv");
	}
#undef CHECK
	*out = o;
	return 0;
}

static const char *gshm_prov(gshm_ofi *o) { return o->prov; }
static const char *gshm_name(gshm_ofi *o) { return o->name; }
static size_t gshm_namelen(gshm_ofi *o) { return o->namelen; }
static uint64_t gshm_mr_mode(gshm_ofi *o) { return o->info->domain_attr->mr_mode; }
static size_t gshm_cq_data_size(gshm_ofi *o) { return o->info->domain_attr->cq_data_size; }
static size_t gshm_inject_size(gshm_ofi *o) { return o->info->tx_attr->inject_size; }

/* gshm_register registers [base, base+len) for remote read, write and
 * atomics, binds it to the endpoint where the provider asks for that. */
static int gshm_register(gshm_ofi *o, void *base, size_t len, uint64_t *key)
{
	int r = fi_mr_reg(o->domain, base, len, FI_REMOTE_READ | FI_REMOTE_WRITE, 0, 1, 0, &o->mr, NULL);
	if (r) return r;
	if (o->info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		if ((r = fi_mr_bind(o->mr, &o->ep->fid, 0)) != 0) return r;
		if ((r = fi_mr_enable(o->mr)) != 0) return r;
	}
	*key = fi_mr_key(o->mr);
	return 0;
}

static int gshm_av_insert(gshm_ofi *o, const void *addr, fi_addr_t *fa)
{
	int n = fi_av_insert(o->av, addr, 1, fa, 0, NULL);
	return n == 1 ? 0 : (n < 0 ? n : -FI_EADDRNOTAVAIL);
}

/* gshm_atomic_ok reports whether the provider does op on dt: kind 0 plain,
 * 1 fetching, 2 compare. */
static int gshm_atomic_ok(gshm_ofi *o, int kind, int dt, int op)
{
	size_t count = 0;
	int r;
	switch (kind) {
	case 0: r = fi_atomicvalid(o->ep, dt, op, &count); break;
	case 1: r = fi_fetch_atomicvalid(o->ep, dt, op, &count); break;
	default: r = fi_compare_atomicvalid(o->ep, dt, op, &count); break;
	}
	return r == 0 && count >= 1;
}

/* gshm_buf_get gives op a bounce buffer of at least len bytes. */
static int gshm_buf_get(gshm_ofi *o, gshm_op *op, size_t len)
{
	pthread_mutex_lock(&o->pollmu);
	for (int i = 0; i < GSHM_BCACHE; i++) {
		if (o->bcache[i].p && o->bcache[i].cap >= len) {
			op->buf = o->bcache[i].p;
			op->bufcap = o->bcache[i].cap;
			o->bcache[i].p = NULL;
			pthread_mutex_unlock(&o->pollmu);
			return 0;
		}
	}
	pthread_mutex_unlock(&o->pollmu);
	op->buf = malloc(len);
	op->bufcap = len;
	return op->buf ? 0 : -FI_ENOMEM;
}

/* gshm_buf_put returns op's bounce buffer to the cache (or frees it).
 * Called with pollmu held. */
static void gshm_buf_put_locked(gshm_ofi *o, gshm_op *op)
{
	if (!op->buf) return;
	for (int i = 0; i < GSHM_BCACHE; i++) {
		if (!o->bcache[i].p) {
			o->bcache[i].p = op->buf;
			o->bcache[i].cap = op->bufcap;
			op->buf = NULL;
			return;
		}
	}
	free(op->buf);
	op->buf = NULL;
}

static void gshm_record_err(gshm_ofi *o, gshm_op *op, int err, int prov_err)
{
	if (!o->first_err.set) {
		o->first_err.set = 1;
		o->first_err.op = op->op;
		o->first_err.err = err;
		o->first_err.prov_err = prov_err;
		o->first_err.peer = op->peer;
	}
}

/* gshm_complete finishes the op of a completion (err 0) or error entry.
 * Called with pollmu held. */
static void gshm_complete(gshm_ofi *o, struct gshm_ctx *c, int err, int prov_err)
{
	gshm_op *op = (gshm_op *)c;
	if (c->kind == GSHM_CTX_ASYNC) {
		if (err) gshm_record_err(o, op, err, prov_err);
		gshm_buf_put_locked(o, op);
		free(op);
		atomic_fetch_sub(&o->pending, 1);
		return;
	}
	op->err = err;
	op->prov_err = prov_err;
	int want = GSHM_PENDING;
	if (!atomic_compare_exchange_strong(&op->state, &want, GSHM_DONE)) {
		free(op->buf); /* the waiter gave up on it */
		free(op);
	}
}

/* gshm_ev_grow doubles the event ring (pollmu held); 0 when out of memory. */
static int gshm_ev_grow(gshm_ofi *o)
{
	unsigned n = o->evtail - o->evhead, cap = o->evcap * 2;
	gshm_event *ev = malloc(cap * sizeof *ev);
	if (!ev) return 0;
	for (unsigned i = 0; i < n; i++) ev[i] = o->ev[(o->evhead + i) & (o->evcap - 1)];
	free(o->ev);
	o->ev = ev;
	o->evcap = cap;
	o->evhead = 0;
	o->evtail = n;
	return 1;
}

static int gshm_ev_push(gshm_ofi *o, int kind, int rx, size_t len, uint64_t data)
{
	if (o->evtail - o->evhead >= o->evcap && !gshm_ev_grow(o)) return 0;
	gshm_event *e = &o->ev[o->evtail & (o->evcap - 1)];
	e->kind = kind;
	e->rx = rx;
	e->len = len;
	e->data = data;
	o->evtail++;
	return 1;
}

static void gshm_kick(gshm_ofi *o)
{
	uint64_t one = 1;
	ssize_t n = write(o->kick_fd, &one, sizeof one);
	(void)n;
}

/* gshm_poll reads the CQ once (up to 16 entries, no more than the ring has
 * room for) and handles what it read. It returns the number of entries
 * read, 0 when there were none, or a negative FI_E*. kick says whether to
 * wake the progress thread when events were queued (1 for readers other than
 * the progress thread). */
static int gshm_poll(gshm_ofi *o, int kick)
{
	struct fi_cq_data_entry ent[16];
	pthread_mutex_lock(&o->pollmu);
	size_t room = o->evcap - (o->evtail - o->evhead);
	if (room < 16 && gshm_ev_grow(o)) room = o->evcap - (o->evtail - o->evhead);
	if (room > 16) room = 16;
	if (room == 0) {
		pthread_mutex_unlock(&o->pollmu);
		if (kick) gshm_kick(o);
		return 0;
	}
	unsigned before = o->evtail;
	ssize_t n = fi_cq_read(o->cq, ent, room);
	if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry ee;
		memset(&ee, 0, sizeof ee);
		n = fi_cq_readerr(o->cq, &ee, 0);
		if (n == 1) {
			struct gshm_ctx *c = ee.op_context;
			if (c && c->kind == GSHM_CTX_RECV) {
				gshm_rx *rx = (gshm_rx *)c;
				if (!atomic_load(&o->closing))
					fi_recv(o->ep, rx->buf, GSHM_MSGSIZE, NULL, FI_ADDR_UNSPEC, &rx->c);
			} else if (c) {
				gshm_complete(o, c, ee.err ? ee.err : FI_EIO, ee.prov_errno);
			}
		}
	} else if (n > 0) {
		for (ssize_t i = 0; i < n; i++) {
			struct gshm_ctx *c = ent[i].op_context;
			if (c && c->kind == GSHM_CTX_RECV) {
				gshm_rx *rx = (gshm_rx *)c;
				gshm_ev_push(o, GSHM_EV_MSG, rx->idx, ent[i].len, ent[i].data);
			} else if (!c || (ent[i].flags & FI_REMOTE_WRITE)) {
				if (ent[i].flags & FI_REMOTE_CQ_DATA)
					gshm_ev_push(o, GSHM_EV_DATA, -1, 0, ent[i].data);
			} else {
				gshm_complete(o, c, 0, 0);
			}
		}
	}
	int queued = o->evtail != before;
	pthread_mutex_unlock(&o->pollmu);
	if (queued && kick) gshm_kick(o);
	return n == -FI_EAGAIN ? 0 : (int)n;
}

/* gshm_events copies up to max queued events into out and removes them. */
static int gshm_events(gshm_ofi *o, gshm_event *out, int max)
{
	pthread_mutex_lock(&o->pollmu);
	int n = 0;
	while (n < max && o->evhead != o->evtail) {
		out[n++] = o->ev[o->evhead & (o->evcap - 1)];
		o->evhead++;
	}
	pthread_mutex_unlock(&o->pollmu);
	return n;
}

/* gshm_queued is the number of events in the ring. */
static unsigned gshm_queued(gshm_ofi *o)
{
	pthread_mutex_lock(&o->pollmu);
	unsigned n = o->evtail - o->evhead;
	pthread_mutex_unlock(&o->pollmu);
	return n;
}

static char *gshm_rx_buf(gshm_ofi *o, int i) { return o->rx[i].buf; }

static int gshm_repost(gshm_ofi *o, int i)
{
	if (atomic_load(&o->closing)) return 0;
	int r;
	while ((r = fi_recv(o->ep, o->rx[i].buf, GSHM_MSGSIZE, NULL, FI_ADDR_UNSPEC, &o->rx[i].c)) == -FI_EAGAIN)
		gshm_poll(o, 1);
	return r;
}

/* gshm_sleep blocks the calling thread until the CQ (or, with kick, the
 * kick_fd) has something, or timeout_ms passes. With no CQ wait fd it sleeps
 * at most 1 ms. Only the progress thread passes kick: a waiter that read the
 * kick would steal the progress thread's wake-up. */
static void gshm_sleep(gshm_ofi *o, int timeout_ms, int kick)
{
	struct pollfd p[2];
	int n = 0;
	p[n].fd = kick ? o->kick_fd : -1; /* poll ignores a negative fd */
	p[n].events = POLLIN;
	p[n].revents = 0;
	n++;
	if (o->wait_fd >= 0) {
		struct fid *f = &o->cq->fid;
		if (fi_trywait(o->fabric, &f, 1) != FI_SUCCESS) return;
		p[n].fd = o->wait_fd;
		p[n].events = POLLIN;
		n++;
	} else if (timeout_ms > 1) {
		timeout_ms = 1;
	}
	if (poll(p, n, timeout_ms) > 0 && (p[0].revents & POLLIN)) {
		uint64_t v;
		ssize_t r = read(o->kick_fd, &v, sizeof v);
		(void)r;
	}
}

/* gshm_nap is a blocked caller's sleep between looks at the CQ: on the CQ's
 * wait fd (after fi_trywait), for at most *backoff_ns, which doubles up to
 * 1 ms. The progress thread may read the completion the caller waits for
 * while it sleeps (the fd then stays quiet): the bound keeps that cheap. */
static void gshm_nap(gshm_ofi *o, int64_t *backoff_ns)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = *backoff_ns};
	if (*backoff_ns < 1000000) *backoff_ns *= 2;
	if (o->wait_fd >= 0) {
		struct fid *f = &o->cq->fid;
		if (fi_trywait(o->fabric, &f, 1) != FI_SUCCESS) return;
		struct pollfd p = {.fd = o->wait_fd, .events = POLLIN};
		ppoll(&p, 1, &ts, NULL);
	} else {
		nanosleep(&ts, NULL);
	}
}

/* gshm_idle is the progress thread's step when a look at the CQ found
 * nothing. While a caller drives the CQ (gshm_enter), or did within
 * aside_ns, it sleeps aside_ns on the kick fd only. Otherwise it keeps
 * polling the CQ while the CQ shows traffic (a peer's RMA or atomic that
 * this process serves produces no completion here, only that), returns
 * when a poll read something, and after spin_ns with no traffic sleeps on
 * the wait fd and the kick fd, sleep_ms at most, and returns. */
static void gshm_idle(gshm_ofi *o, int64_t spin_ns, int64_t aside_ns, int sleep_ms)
{
	int64_t since = gshm_now() - atomic_load_explicit(&o->last_wait, memory_order_relaxed);
	if (atomic_load(&o->waiters) > 0 || since < aside_ns) {
		/* This process is issuing: its callers drive the CQ while
		 * they wait. Leave them the CPU and the CQ (a wake-up on the
		 * CQ's fd would race them for their own completions), and
		 * look again after aside_ns; Close kicks. A peer's request
		 * that arrives in between waits for the next look (or for a
		 * caller's wait, which serves it). */
		struct timespec ts = {.tv_sec = 0, .tv_nsec = aside_ns};
		struct pollfd p = {.fd = o->kick_fd, .events = POLLIN};
		atomic_store(&o->aside, 1);
		/* Look again after saying so: gshm_unblock either sees aside
		 * set, and kicks, or cleared last_wait before this look. */
		since = gshm_now() - atomic_load(&o->last_wait);
		if ((atomic_load(&o->waiters) > 0 || since < aside_ns) && ppoll(&p, 1, &ts, NULL) > 0) {
			uint64_t v;
			ssize_t r = read(o->kick_fd, &v, sizeof v);
			(void)r;
		}
		atomic_store(&o->aside, 0);
		return;
	}
	int64_t last = gshm_now();
	for (unsigned i = 0;; i++) {
		if (atomic_load(&o->closing)) return;
		if (gshm_poll(o, 0) > 0) return;
		int64_t now = gshm_now();
		if (o->wait_fd >= 0) {
			/* Traffic: the CQ not empty (trywait fails), or a
			 * socket with data behind the wait fd. trywait also
			 * clears the fd's stale signal, which would read as
			 * traffic for ever. */
			struct fid *f = &o->cq->fid;
			struct pollfd p = {.fd = o->wait_fd, .events = POLLIN};
			if (fi_trywait(o->fabric, &f, 1) != FI_SUCCESS || poll(&p, 1, 0) > 0) {
				last = now;
				continue;
			}
		}
		/* Spin only in a process that is serving, not issuing: a
		 * caller that posted within spin_ns drives the CQ itself,
		 * and a third spinning thread would take its CPU. */
		int64_t posted = atomic_load_explicit(&o->last_wait, memory_order_relaxed);
		if (now - last > spin_ns || now - posted < aside_ns) {
			gshm_sleep(o, sleep_ms, 1);
			return;
		}
		if ((i & 15) == 15) sched_yield();
	}
}

/* gshm_enter and gshm_leave bracket a caller's wait (Go's Endpoint.wait
 * and Quiet): while one waits, and for a while after, the progress thread
 * stands aside (gshm_idle). */
static void gshm_enter(gshm_ofi *o)
{
	atomic_fetch_add(&o->waiters, 1);
	atomic_store_explicit(&o->last_wait, gshm_now(), memory_order_relaxed);
}

static void gshm_leave(gshm_ofi *o) { atomic_fetch_sub(&o->waiters, 1); }

/* gshm_unblock says that no caller will drive the CQ for a while (one is
 * about to sleep until a peer's message comes): the progress thread stops
 * standing aside, at once. */
static void gshm_unblock(gshm_ofi *o)
{
	if (atomic_load(&o->waiters) > 0) return;
	atomic_store(&o->last_wait, 0);
	if (atomic_load(&o->aside)) gshm_kick(o);
}

/* gshm_wait_slice drives the CQ until op completes (it returns op's error,
 * 0 or a positive FI_E*), slice_end passes (GSHM_EAGAIN: op still pending,
 * call again), or deadline passes or the endpoint closes (GSHM_ETIMEDOUT,
 * GSHM_ECLOSED: op is abandoned, its completion will free it, and the
 * caller must not touch it again). With nap it sleeps between looks
 * (gshm_nap), else it spins. Go calls it in slices of a few microseconds
 * while it spins, so that no cgo call outlasts the scheduler's patience:
 * a call that blocks past ~20 us loses its P, and getting one back costs
 * a thread wake-up. */
static int gshm_wait_slice(gshm_ofi *o, gshm_op *op, int64_t deadline, int64_t slice_end, int nap,
			   int64_t *backoff)
{
	for (unsigned i = 0;; i++) {
		if (atomic_load_explicit(&op->state, memory_order_acquire) == GSHM_DONE) return op->err;
		int n = gshm_poll(o, 1);
		if (atomic_load_explicit(&op->state, memory_order_acquire) == GSHM_DONE) return op->err;
		if (n > 0 || (i & 15) != 15) continue;
		int64_t now = gshm_now();
		int code = 0;
		if (atomic_load(&o->closing)) code = GSHM_ECLOSED;
		else if (gshm_is_gone(o, op->peer)) code = GSHM_EGONE;
		else if (now >= deadline) code = GSHM_ETIMEDOUT;
		if (code) {
			int want = GSHM_PENDING;
			if (atomic_compare_exchange_strong(&op->state, &want, GSHM_ABANDONED)) return code;
			return op->err; /* it completed after all */
		}
		if (now >= slice_end) return GSHM_EAGAIN;
		if (nap) gshm_nap(o, backoff);
		else if ((i & 63) == 63) sched_yield();
	}
}

/* gshm_quiet_slice drives the CQ until no async op is pending (0),
 * slice_end passes (GSHM_EAGAIN) or the endpoint closes (GSHM_ECLOSED),
 * spinning or (nap) sleeping between looks. */
static int gshm_quiet_slice(gshm_ofi *o, int64_t slice_end, int nap, int64_t *backoff)
{
	for (unsigned i = 0;; i++) {
		if (atomic_load(&o->pending) == 0) return 0;
		int n = gshm_poll(o, 1);
		if (n > 0 || (i & 15) != 15) continue;
		if (atomic_load(&o->closing)) return GSHM_ECLOSED;
		if (gshm_now() >= slice_end) return GSHM_EAGAIN;
		if (nap) gshm_nap(o, backoff);
		else if ((i & 63) == 63) sched_yield();
	}
}

static long gshm_pending(gshm_ofi *o) { return atomic_load(&o->pending); }

static gshm_err gshm_take_err(gshm_ofi *o)
{
	pthread_mutex_lock(&o->pollmu);
	gshm_err e = o->first_err;
	o->first_err.set = 0;
	pthread_mutex_unlock(&o->pollmu);
	return e;
}

static gshm_op *gshm_op_new(gshm_ofi *o, int kind, int opk, uint64_t peer)
{
	(void)o;
	gshm_op *op = calloc(1, sizeof *op);
	if (!op) return NULL;
	op->c.kind = kind;
	op->op = opk;
	op->peer = peer;
	return op;
}

/* gshm_retry runs post until it stops saying -FI_EAGAIN, driving the CQ in
 * between (the provider's queues drain only as completions are read). */
#define GSHM_RETRY(o, peer, deadline, call)                                 \
	({                                                                  \
		ssize_t _r;                                                 \
		while ((_r = (call)) == -FI_EAGAIN) {                       \
			if (atomic_load(&(o)->closing)) { _r = GSHM_ECLOSED; break; } \
			if (gshm_is_gone((o), (peer))) { _r = GSHM_EGONE; break; } \
			if (gshm_now() >= (deadline)) { _r = GSHM_ETIMEDOUT; break; } \
			if (gshm_poll((o), 1) == 0) sched_yield();          \
		}                                                           \
		_r;                                                         \
	})

/* gshm_put posts an RMA write of src[0:len] to (dest, raddr, key): with
 * FI_INJECT when len fits inject_size, from a malloc'd copy otherwise, so
 * src is free when it returns. withdata adds remote CQ data. The op
 * completes (delivery complete) asynchronously; Quiet waits for it. */
static int gshm_put(gshm_ofi *o, fi_addr_t dest, uint64_t raddr, uint64_t key, const void *src, size_t len,
		    uint64_t peer, int withdata, uint64_t data, int64_t deadline)
{
	gshm_op *op = gshm_op_new(o, GSHM_CTX_ASYNC, withdata ? GSHM_OP_PUTDATA : GSHM_OP_PUT, peer);
	if (!op) return -FI_ENOMEM;
	uint64_t flags = FI_DELIVERY_COMPLETE | FI_COMPLETION;
	const void *buf = src;
	if (len <= o->info->tx_attr->inject_size) {
		flags |= FI_INJECT;
	} else {
		if (gshm_buf_get(o, op, len)) { free(op); return -FI_ENOMEM; }
		memcpy(op->buf, src, len);
		buf = op->buf;
	}
	if (withdata) flags |= FI_REMOTE_CQ_DATA;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct fi_rma_iov riov = {.addr = raddr, .len = len, .key = key};
	struct fi_msg_rma msg = {
		.msg_iov = &iov, .desc = NULL, .iov_count = len ? 1 : 0, .addr = dest,
		.rma_iov = &riov, .rma_iov_count = 1, .context = op, .data = data,
	};
	atomic_fetch_add(&o->pending, 1);
	ssize_t r = GSHM_RETRY(o, peer, deadline, fi_writemsg(o->ep, &msg, flags));
	if (r) {
		atomic_fetch_sub(&o->pending, 1);
		pthread_mutex_lock(&o->pollmu);
		gshm_buf_put_locked(o, op);
		pthread_mutex_unlock(&o->pollmu);
		free(op);
	}
	return (int)r;
}

/* gshm_put_wait_post posts a write of src[0:len] to (dest, raddr, key)
 * straight from src, as a sync op for the caller to wait for: for large
 * sources, where the copy to a bounce buffer costs more than the wait.
 * Should the wait give up, the provider may still read src (never write
 * it). */
static int gshm_put_wait_post(gshm_ofi *o, fi_addr_t dest, uint64_t raddr, uint64_t key, const void *src,
			      size_t len, uint64_t peer, int64_t deadline, gshm_op **out)
{
	gshm_op *op = gshm_op_new(o, GSHM_CTX_SYNC, GSHM_OP_PUT, peer);
	if (!op) return -FI_ENOMEM;
	struct iovec iov = {.iov_base = (void *)src, .iov_len = len};
	struct fi_rma_iov riov = {.addr = raddr, .len = len, .key = key};
	struct fi_msg_rma msg = {
		.msg_iov = &iov, .desc = NULL, .iov_count = 1, .addr = dest,
		.rma_iov = &riov, .rma_iov_count = 1, .context = op, .data = 0,
	};
	ssize_t r = GSHM_RETRY(o, peer, deadline, fi_writemsg(o->ep, &msg, FI_DELIVERY_COMPLETE | FI_COMPLETION));
	if (r) { free(op); return (int)r; }
	*out = op;
	return 0;
}

/* gshm_send posts a message with the sender's index as remote CQ data. */
static int gshm_send(gshm_ofi *o, fi_addr_t dest, const void *src, size_t len, uint64_t peer, uint64_t data,
		     int64_t deadline)
{
	gshm_op *op = gshm_op_new(o, GSHM_CTX_ASYNC, GSHM_OP_SEND, peer);
	if (!op) return -FI_ENOMEM;
	uint64_t flags = FI_DELIVERY_COMPLETE | FI_COMPLETION | FI_REMOTE_CQ_DATA;
	const void *buf = src;
	if (len <= o->info->tx_attr->inject_size) {
		flags |= FI_INJECT;
	} else {
		if (gshm_buf_get(o, op, len)) { free(op); return -FI_ENOMEM; }
		memcpy(op->buf, src, len);
		buf = op->buf;
	}
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct fi_msg msg = {
		.msg_iov = &iov, .desc = NULL, .iov_count = len ? 1 : 0, .addr = dest, .context = op, .data = data,
	};
	atomic_fetch_add(&o->pending, 1);
	ssize_t r = GSHM_RETRY(o, peer, deadline, fi_sendmsg(o->ep, &msg, flags));
	if (r) {
		atomic_fetch_sub(&o->pending, 1);
		pthread_mutex_lock(&o->pollmu);
		gshm_buf_put_locked(o, op);
		pthread_mutex_unlock(&o->pollmu);
		free(op);
	}
	return (int)r;
}

/* gshm_get_post posts a read of len bytes at (dest, raddr, key) into a
 * bounce buffer (gshm_get_done copies it out once complete: the caller's
 * buffer is never written after a wait that gave up). */
static int gshm_get_post(gshm_ofi *o, fi_addr_t dest, uint64_t raddr, uint64_t key, size_t len, uint64_t peer,
			 int64_t deadline, gshm_op **out)
{
	gshm_op *op = gshm_op_new(o, GSHM_CTX_SYNC, GSHM_OP_GET, peer);
	if (!op) return -FI_ENOMEM;
	void *buf = &op->result;
	if (len > sizeof op->result) {
		op->buf = malloc(len);
		if (!op->buf) { free(op); return -FI_ENOMEM; }
		buf = op->buf;
	}
	ssize_t r = GSHM_RETRY(o, peer, deadline, fi_read(o->ep, buf, len, NULL, dest, raddr, key, op));
	if (r) { free(op->buf); free(op); return (int)r; }
	*out = op;
	return 0;
}

/* gshm_get_done copies a completed read's bytes to dst and frees op. */
static void gshm_get_done(gshm_op *op, void *dst, size_t len)
{
	memcpy(dst, op->buf ? op->buf : (void *)&op->result, len);
	free(op->buf);
	free(op);
}

/* gshm_op_free frees a sync op that completed (with or without error). */
static void gshm_op_free(gshm_op *op)
{
	free(op->buf);
	free(op);
}

/* gshm_amo_post posts one fetching atomic (compare: a compare atomic) on
 * dt at (dest, raddr, key); gshm_amo_result reads the old value once it
 * completes. */
static int gshm_amo_post(gshm_ofi *o, fi_addr_t dest, uint64_t raddr, uint64_t key, int dt, int fop, int compare,
			 uint64_t operand, uint64_t cmp, uint64_t peer, int64_t deadline, gshm_op **out)
{
	gshm_op *op = gshm_op_new(o, GSHM_CTX_SYNC, GSHM_OP_AMO, peer);
	if (!op) return -FI_ENOMEM;
	/* Operands in the op, in the datatype's width. */
	if (dt == FI_UINT32) {
		*(uint32_t *)&op->operand = (uint32_t)operand;
		*(uint32_t *)&op->cmp = (uint32_t)cmp;
	} else {
		op->operand = operand;
		op->cmp = cmp;
	}
	ssize_t r;
	if (compare)
		r = GSHM_RETRY(o, peer, deadline, fi_compare_atomic(o->ep, &op->operand, 1, NULL, &op->cmp, NULL, &op->result,
							       NULL, dest, raddr, key, dt, fop, op));
	else
		r = GSHM_RETRY(o, peer, deadline, fi_fetch_atomic(o->ep, &op->operand, 1, NULL, &op->result, NULL, dest, raddr,
							     key, dt, fop, op));
	if (r) { free(op); return (int)r; }
	*out = op;
	return 0;
}

static uint64_t gshm_amo_result(gshm_op *op, int dt)
{
	return dt == FI_UINT32 ? *(uint32_t *)&op->result : op->result;
}

/* gshm_shutdown marks the endpoint closing and wakes every waiter. */
static void gshm_shutdown(gshm_ofi *o)
{
	atomic_store(&o->closing, 1);
	gshm_kick(o);
}

static void gshm_free(gshm_ofi *o) { gshm_close_all(o); }

#endif
