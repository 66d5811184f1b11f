/*
 * ofi_bench.c: the raw libfabric figure for fabric/ofi's benchmarks: the
 * same operations, written directly against libfabric, between two
 * processes on one provider (default tcp;ofi_rxm; FI_PROVIDER and
 * FI_TCP_IFACE apply as usual).
 *
 *   cc -O2 -o ofi_bench bench/peer/ofi_bench.c -lfabric
 *   FI_TCP_IFACE=lo ./ofi_bench [-p provider] [-b 1] [common.h flags]
 *
 * The program forks: the child is the target, which only drives its CQ
 * (busy-polling fi_cq_read, what a C program dedicated to a benchmark
 * does; with -b 1 it sleeps in poll(2) on the CQ's wait fd whenever a read
 * finds nothing, as a process that does other work must) and echoes
 * messages; the parent times, and prints common.h's
 * RESULT lines. Ops (-o): putq8 (8-byte fi_write, injected, delivery
 * complete, waited for: fabric/ofi's Put+Quiet), get8 (fi_read),
 * fadd (fi_fetch_atomic FI_SUM on a uint64), sendrt (an 8-byte fi_send
 * echoed back: round trip), putbw (fi_write of each -s size from a
 * registered buffer, 16 in flight, then waited for).
 */
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "common.h"



#define REGION (64u << 20)
#define WINDOW 16

static struct fi_info *info;
static struct fid_fabric *fab;
static struct fid_domain *dom;
static struct fid_ep *ep;
static struct fid_av *av;
static struct fid_cq *cq;
static struct fid_mr *mr;
static char *mem;
static char rxbuf[2][64];
static int block;       /* -b: the target sleeps on the CQ's wait fd when idle */
static int wait_fd = -1;

struct peerinfo {
    char name[256];
    size_t namelen;
    uint64_t base, key;
};

#define CHECK(call)                                                        \
    do {                                                                   \
        int _r = (int)(call);                                              \
        if (_r) {                                                          \
            fprintf(stderr, "bench: %s: %s\n", #call, fi_strerror(-_r));   \
            exit(2);                                                       \
        }                                                                  \
    } while (0)

static void setup(const char *prov)
{
    struct fi_info *h = fi_allocinfo();
    h->caps = FI_MSG | FI_RMA | FI_ATOMIC;
    h->mode = FI_CONTEXT | FI_CONTEXT2;
    h->ep_attr->type = FI_EP_RDM;
    h->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
    h->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
    h->fabric_attr->prov_name = strdup(prov);
    CHECK(fi_getinfo(FI_VERSION(1, 17), NULL, NULL, 0, h, &info));
    fi_freeinfo(h);
    CHECK(fi_fabric(info->fabric_attr, &fab, NULL));
    CHECK(fi_domain(fab, info, &dom, NULL));
    struct fi_cq_attr ca = {.format = FI_CQ_FORMAT_DATA, .wait_obj = block ? FI_WAIT_FD : FI_WAIT_NONE,
                            .size = 1024};
    CHECK(fi_cq_open(dom, &ca, &cq, NULL));
    if (block)
        CHECK(fi_control(&cq->fid, FI_GETWAIT, &wait_fd));
    struct fi_av_attr aa = {.type = FI_AV_TABLE};
    CHECK(fi_av_open(dom, &aa, &av, NULL));
    CHECK(fi_endpoint(dom, info, &ep, NULL));
    CHECK(fi_ep_bind(ep, &av->fid, 0));
    CHECK(fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV));
    CHECK(fi_enable(ep));
    mem = calloc(1, REGION);
    CHECK(fi_mr_reg(dom, mem, REGION, FI_REMOTE_READ | FI_REMOTE_WRITE | FI_READ | FI_WRITE, 0, 1, 0, &mr, NULL));
    if (info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
        CHECK(fi_mr_bind(mr, &ep->fid, 0));
        CHECK(fi_mr_enable(mr));
    }
}

static struct peerinfo me(void)
{
    struct peerinfo p = {.namelen = sizeof p.name};
    CHECK(fi_getname(&ep->fid, p.name, &p.namelen));
    p.base = (info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)mem : 0;
    p.key = fi_mr_key(mr);
    return p;
}

/* poll_once reads the CQ once: it returns how many completions of our own
 * operations it read, and counts received messages in *recvs (reposting
 * their buffers). */
static long post_done; /* completions read while retrying a post */

static long poll_once(long *recvs)
{
    struct fi_cq_data_entry e[16];
    ssize_t r = fi_cq_read(cq, e, 16);
    if (r == -FI_EAGAIN)
        return 0;
    if (r < 0) {
        struct fi_cq_err_entry ee = {0};
        fi_cq_readerr(cq, &ee, 0);
        fprintf(stderr, "bench: completion error: %s\n", fi_strerror(ee.err));
        exit(2);
    }
    long n = 0;
    for (ssize_t i = 0; i < r; i++) {
        if (e[i].flags & FI_RECV) {
            (*recvs)++;
            fi_recv(ep, e[i].op_context, 64, NULL, FI_ADDR_UNSPEC, e[i].op_context);
        } else {
            n++;
        }
    }
    return n;
}

/* wait_cq reads the CQ until n completions of our own have arrived. */
static void wait_cq(long n)
{
    long recvs = 0;
    n -= post_done;
    post_done = 0;
    while (n > 0)
        n -= poll_once(&recvs);
}

/* POST retries a post that the provider refuses for now (connecting,
 * queues full), driving the CQ in between. */
static long post_recvs;
#define POST(call)                                                         \
    do {                                                                   \
        ssize_t _r;                                                        \
        while ((_r = (call)) == -FI_EAGAIN)                                \
            post_done += poll_once(&post_recvs);                           \
        if (_r) {                                                          \
            fprintf(stderr, "bench: %s: %s\n", #call, fi_strerror((int)-_r)); \
            exit(2);                                                       \
        }                                                                  \
    } while (0)

static fi_addr_t peer;
static struct peerinfo remote;

typedef void (*opfn)(long iters, size_t size);

static void op_putq8(long iters, size_t size)
{
    (void)size;
    uint64_t v = 1;
    for (long i = 0; i < iters; i++) {
        struct iovec iov = {&v, 8};
        struct fi_rma_iov riov = {remote.base, 8, remote.key};
        struct fi_msg_rma m = {&iov, NULL, 1, peer, &riov, 1, NULL, 0};
        POST(fi_writemsg(ep, &m, FI_INJECT | FI_DELIVERY_COMPLETE | FI_COMPLETION));
        wait_cq(1);
    }
}

static void op_get8(long iters, size_t size)
{
    (void)size;
    for (long i = 0; i < iters; i++) {
        POST(fi_read(ep, mem + 64, 8, fi_mr_desc(mr), peer, remote.base, remote.key, NULL));
        wait_cq(1);
    }
}

static void op_fadd(long iters, size_t size)
{
    (void)size;
    uint64_t one = 1, old;
    for (long i = 0; i < iters; i++) {
        POST(fi_fetch_atomic(ep, &one, 1, NULL, &old, NULL, peer, remote.base + 128, remote.key, FI_UINT64,
                              FI_SUM, NULL));
        wait_cq(1);
    }
}

static void op_sendrt(long iters, size_t size)
{
    (void)size;
    uint64_t v = 0;
    for (long i = 0; i < iters; i++) {
        long got = 0, done = 0;
        POST(fi_send(ep, &v, 8, NULL, peer, NULL));
        done = post_done;
        got = post_recvs;
        post_done = post_recvs = 0;
        while (done == 0 || got == 0)
            done += poll_once(&got);
    }
}

static void op_putbw(long iters, size_t size)
{
    long inflight = 0;
    for (long i = 0; i < iters; i++) {
        POST(fi_write(ep, mem, size, fi_mr_desc(mr), peer, remote.base, remote.key, NULL));
        if (++inflight == WINDOW) {
            wait_cq(inflight);
            inflight = 0;
        }
    }
    wait_cq(inflight);
}

static void measure(const struct config *c, const char *name, opfn f, size_t size)
{
    f(16, size); /* warm up: connect */
    long n = 1;
    double dt;
    for (;;) {
        double t0 = now_ns();
        f(n, size);
        dt = now_ns() - t0;
        if (calibrated(c, dt, n))
            break;
        n *= 2;
    }
    long iters = iters_for(c, dt, n);
    double best = 0;
    for (long r = 0; r < c->reps; r++) {
        double t0 = now_ns();
        f(iters, size);
        double per = (now_ns() - t0) / (double)iters;
        if (r == 0 || per < best)
            best = per;
    }
    report(name, size, iters, best);
}

/* serve is the target: echo messages, drive the CQ until the parent closes
 * the socket. */
static void serve(int sock)
{
    struct fi_cq_data_entry e[16];
    uint64_t echo = 0;
    for (;;) {
        ssize_t r = fi_cq_read(cq, e, 16);
        for (ssize_t i = 0; i < r; i++) {
            if (e[i].flags & FI_RECV) {
                while (fi_inject(ep, &echo, 8, peer) == -FI_EAGAIN)
                    fi_cq_read(cq, NULL, 0);
                fi_recv(ep, e[i].op_context, 64, NULL, FI_ADDR_UNSPEC, e[i].op_context);
            }
        }
        if (r == -FI_EAVAIL) {
            struct fi_cq_err_entry ee = {0};
            fi_cq_readerr(cq, &ee, 0);
        }
        if (r == -FI_EAGAIN && block) {
            struct fid *f = &cq->fid;
            struct pollfd p = {.fd = wait_fd, .events = POLLIN};
            if (fi_trywait(fab, &f, 1) == FI_SUCCESS)
                poll(&p, 1, 10);
        }
        char b;
        if (recv(sock, &b, 1, MSG_DONTWAIT) == 0)
            return;
    }
}

int main(int argc, char **argv)
{
    const char *prov = "tcp;ofi_rxm";
    for (;;) {
        if (argc >= 3 && strcmp(argv[1], "-p") == 0) {
            prov = argv[2];
        } else if (argc >= 3 && strcmp(argv[1], "-b") == 0) {
            block = atoi(argv[2]);
        } else {
            break;
        }
        argv[2] = argv[0];
        argc -= 2;
        argv += 2;
    }
    struct config c;
    parse_args(&c, argc, argv, "putq8,get8,fadd,sendrt,putbw");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
        die("socketpair", NULL);
    pid_t pid = fork();
    int sock = pid == 0 ? sv[1] : sv[0];
    close(pid == 0 ? sv[0] : sv[1]);
    setup(prov);
    struct peerinfo mine = me();
    if (write(sock, &mine, sizeof mine) != sizeof mine || read(sock, &remote, sizeof remote) != sizeof remote)
        die("exchanging addresses", NULL);
    if (fi_av_insert(av, remote.name, 1, &peer, 0, NULL) != 1)
        die("fi_av_insert", NULL);
    for (int i = 0; i < 2; i++)
        CHECK(fi_recv(ep, rxbuf[i], 64, NULL, FI_ADDR_UNSPEC, rxbuf[i]));
    if (pid == 0) {
        serve(sock);
        return 0;
    }
    printf("# ofi_bench: provider %s\n", info->fabric_attr->prov_name);
    if (want(&c, "putq8")) measure(&c, "putq8", op_putq8, 8);
    if (want(&c, "get8")) measure(&c, "get8", op_get8, 8);
    if (want(&c, "fadd")) measure(&c, "fadd", op_fadd, 8);
    if (want(&c, "sendrt")) measure(&c, "sendrt", op_sendrt, 8);
    if (want(&c, "putbw"))
        for (int i = 0; i < c.nsizes; i++)
            if (c.sizes[i] <= REGION)
                measure(&c, "putbw", op_putbw, c.sizes[i]);
    close(sock);
    int st;
    waitpid(pid, &st, 0);
    return 0;
}
