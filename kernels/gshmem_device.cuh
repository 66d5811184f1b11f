// gshmem_device.cuh -- the device-side API of gshmem for CUDA kernels.
//
// Include it in a .cu file compiled to PTX (nvcc -ptx -arch=compute_70 or
// newer). The gshmem runtime loads the module, fills the module's
// gshmemi_state (found by that name with cuModuleGetGlobal) and then
// launches the module's kernels.
//
// Addresses. Every PE owns a device symmetric heap: one allocation of
// heap_size bytes. A symmetric object lives at the same byte offset in
// every PE's heap. Kernels pass *local* pointers -- pointers into their own
// PE's heap -- and name the PE that owns the copy they mean; the functions
// here translate:
//
//     peer pointer = peer_base[pe] + (local pointer - peer_base[my_pe])
//
// The first GSHMEM_DEVICE_RESERVED_BYTES of every heap belong to the
// runtime (barrier counters; layout below); user objects come after.
//
// Scopes. Each communication function comes in up to three scopes:
//   thread   (no suffix)  one thread performs the operation alone;
//   _warp                 every thread of a warp calls it, converged, with
//                         the same arguments, and the warp shares the work;
//   _block                every thread of the thread block calls it with
//                         the same arguments, and the block shares the work.
// A warp- or block-scoped call returns in every calling thread after the
// whole operation is done (it ends with __syncwarp / __syncthreads).
//
// Ordering. Puts are plain stores into the peer's memory: when a put
// returns the source may be reused, but the data is guaranteed visible at
// the peer only after gshmem_quiet (or a barrier, or a put-with-signal's
// signal). gshmem_fence orders this thread's puts: those before it become
// visible before those after it. Atomics and signals are system-scope
// atomics: peers may be other GPUs (NVLink, PCIe) or the same GPU.
//
// Failures. A peer whose heap is not mapped (peer_base[pe] == 0), a PE out
// of range or a pointer outside the local heap make a call fail with
// GSHMEM_ERR_UNMAPPED and do nothing. Every wait watches the host's abort
// flag (*abort_ptr): once the host sets it, waits give up with
// GSHMEM_ERR_ABORTED, so a dead peer never hangs a kernel. A failing call
// records why in the host-mapped status word (gshmemi_fail) and returns the
// error code where its signature allows; functions that return a value
// (gshmem_g, atomic fetches, signal waits) return 0 or the last value read
// and leave the error to the status word and gshmem_aborted().
//
// Not offered: grid-wide operations. Every function is thread, warp or
// block scoped; synchronising the blocks of a grid is the caller's business.

#ifndef GSHMEM_DEVICE_CUH
#define GSHMEM_DEVICE_CUH

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

// ---------------------------------------------------------------------------
// ABI constants. Package kernels (kernels.go) mirrors every number in this
// section; its tests parse these lines and compare.

#define GSHMEM_MAX_PES 32
#define GSHMEM_DEVICE_RESERVED_BYTES 65536

// The state struct's first word: magic in the high 32 bits ("GSHM"),
// ABI version in the low 32 bits.
#define GSHMEM_STATE_MAGIC 0x4753484Du
#define GSHMEM_STATE_VERSION 1u
#define GSHMEM_STATE_MAGIC_VERSION 0x4753484D00000001ull

// Reserved area (byte offsets from the start of every PE's device heap).
// The runtime zeroes the whole area before the first barrier. Barriers
// count arrivals per channel: GSHMEM_BARRIER_CHANNELS independent sets of
// counters, so that barriers on different channels may be in flight on a
// PE at once. Channel 0 is the device API's (gshmem_team_barrier and the
// rest, in user kernels); channels 1 to 64 are the runtime's stream
// barriers, channel 1 + the team's slot in the host team pool
// (hostshmem.Team.Slot), which every member agrees on.
//   ARRIVE: uint64 arrive[GSHMEM_MAX_PES] of channel 0; arrive[q] counts
//           the barriers PE q has arrived at on this PE. Written only by
//           peers, with system-scope atomic adds.
//   SEEN:   uint64 seen[GSHMEM_MAX_PES] of channel 0; seen[q] counts the
//           arrivals of q this PE has consumed. Read and written only by
//           this PE.
//   CHAN_ARRIVE: uint64 arrive[GSHMEM_BARRIER_CHANNELS - 1][GSHMEM_MAX_PES]
//           of channels 1, 2, ... (as ARRIVE).
//   CHAN_SEEN: uint64 seen[GSHMEM_BARRIER_CHANNELS - 1][GSHMEM_MAX_PES] of
//           channels 1, 2, ... (as SEEN).
//   FREE:   the first byte the runtime has given no meaning yet; the rest
//           of the area up to GSHMEM_DEVICE_RESERVED_BYTES stays zero.
// (Channel 0 keeps the layout of the first ABI, so user modules built
// before channels existed still meet each other's barriers.)
#define GSHMEM_BARRIER_CHANNELS 65
#define GSHMEM_RESERVED_ARRIVE_OFFSET 0
#define GSHMEM_RESERVED_SEEN_OFFSET 4096
#define GSHMEM_RESERVED_CHAN_ARRIVE_OFFSET 8192
#define GSHMEM_RESERVED_CHAN_SEEN_OFFSET 24576
#define GSHMEM_RESERVED_FREE_OFFSET 40960

// Stream words: a host-mapped block of GSHMEM_STREAM_WORDS_BYTES per
// runtime stream, passed to the runtime's waiting kernels (sw). A wait
// gives up when the host sets the stream's abort word or the PE's
// (abort_ptr); the kernels given sw record their failures in the stream's
// status word instead of the PE's.
//   +0  uint32 abort:  non-zero: the stream's waits give up
//   +8  uint64 status: as the PE's status word, for this stream's kernels
//   +16 uint64 done:   the position of the stream's last completed op
//                      (written by the stream, read by the host)
#define GSHMEM_STREAM_WORDS_BYTES 64
#define GSHMEM_STREAM_ABORT_OFFSET 0
#define GSHMEM_STREAM_STATUS_OFFSET 8
#define GSHMEM_STREAM_DONE_OFFSET 16

// Error codes: the int results of the API and the low 32 bits of the
// status word.
#define GSHMEM_SUCCESS 0
#define GSHMEM_ERR_ABORTED 1  // a wait gave up: the host set *abort_ptr
#define GSHMEM_ERR_UNMAPPED 2 // PE out of range, heap not mapped, or pointer outside the heap
#define GSHMEM_ERR_INVALID 3  // a bad op or comparison code, or a bad team

// Comparisons for waits (the numbers of hostshmem.Cmp).
#define GSHMEM_CMP_EQ 0
#define GSHMEM_CMP_NE 1
#define GSHMEM_CMP_GT 2
#define GSHMEM_CMP_GE 3
#define GSHMEM_CMP_LT 4
#define GSHMEM_CMP_LE 5

// Signal operations for put-with-signal and gshmem_signal_op.
#define GSHMEM_SIGNAL_SET 0
#define GSHMEM_SIGNAL_ADD 1

// Atomic operations of the host-issued AMO kernels (the numbers of
// fabric.AMOOp). Each yields the value the word held before.
#define GSHMEM_AMO_FETCH 0
#define GSHMEM_AMO_SET 1
#define GSHMEM_AMO_SWAP 2
#define GSHMEM_AMO_COMPARE_SWAP 3
#define GSHMEM_AMO_ADD 4
#define GSHMEM_AMO_AND 5
#define GSHMEM_AMO_OR 6
#define GSHMEM_AMO_XOR 7

// Reduction operations (the numbers of hostshmem.ReduceOp) and element
// types of the runtime's reduce kernels; the kernel names spell them.
#define GSHMEM_OP_SUM 0
#define GSHMEM_OP_PROD 1
#define GSHMEM_OP_MIN 2
#define GSHMEM_OP_MAX 3

#define GSHMEM_DTYPE_F32 0
#define GSHMEM_DTYPE_F16 1
#define GSHMEM_DTYPE_BF16 2
#define GSHMEM_DTYPE_I32 3
#define GSHMEM_DTYPE_I64 4

// Wait tuning: polls before the first sleep, the sleep's bounds, and how
// often (in polls, a power of two) a wait reads the host's abort flag.
#define GSHMEM_SPIN_POLLS 64u
#define GSHMEM_BACKOFF_MIN_NS 32u
#define GSHMEM_BACKOFF_MAX_NS 1024u
#define GSHMEM_ABORT_CHECK_POLLS 64u

// ---------------------------------------------------------------------------
// The device state: one per module, filled by the runtime before launch
// and not changed while a kernel of the module runs. All fields are
// little-endian fixed-size integers; pointers are device addresses.

struct gshmemi_device_state {
    uint64_t magic_version; // GSHMEM_STATE_MAGIC_VERSION
    int32_t my_pe;          // this PE, in [0, n_pes)
    int32_t n_pes;          // PEs in the job, at most GSHMEM_MAX_PES
    uint64_t heap_size;     // bytes of every PE's device heap, reserved area included
    uint64_t sym_base;      // symmetric-space offset of the heap's first byte
    uint64_t abort_ptr;     // device address of a host-mapped uint32; non-zero: waits give up (0: none)
    uint64_t status_ptr;    // device address of a host-mapped uint64 status word (0: none)
    uint64_t peer_base[GSHMEM_MAX_PES]; // heap base of each PE as mapped here; 0: not mapped.
                                        // peer_base[my_pe] is this PE's own heap.
};

static_assert(offsetof(gshmemi_device_state, magic_version) == 0, "ABI");
static_assert(offsetof(gshmemi_device_state, my_pe) == 8, "ABI");
static_assert(offsetof(gshmemi_device_state, n_pes) == 12, "ABI");
static_assert(offsetof(gshmemi_device_state, heap_size) == 16, "ABI");
static_assert(offsetof(gshmemi_device_state, sym_base) == 24, "ABI");
static_assert(offsetof(gshmemi_device_state, abort_ptr) == 32, "ABI");
static_assert(offsetof(gshmemi_device_state, status_ptr) == 40, "ABI");
static_assert(offsetof(gshmemi_device_state, peer_base) == 48, "ABI");
static_assert(sizeof(gshmemi_device_state) == 304, "ABI");

// The status word (at status_ptr): 0 while nothing failed; else the error
// code in the low 32 bits and, in the high 32 bits, the PE the failing call
// addressed or waited on (as a uint32; 0xFFFFFFFF when none).

// The module's state. The braces make this a definition: each .cu file
// compiled to its own module gets its own copy, which the runtime fills.
// With separate compilation (-rdc), define GSHMEM_STATE_EXTERN in every
// translation unit but one.
#ifdef GSHMEM_STATE_EXTERN
extern "C" __device__ gshmemi_device_state gshmemi_state;
#else
extern "C" {
__device__ gshmemi_device_state gshmemi_state;
}
#endif

// ---------------------------------------------------------------------------
// Internals (gshmemi_*): helpers the API and the runtime's kernels share.

#define GSHMEM_DEV __device__ inline
#define GSHMEM_DEV_HOT __device__ __forceinline__

GSHMEM_DEV_HOT uintptr_t gshmemi_my_base() {
    return (uintptr_t)gshmemi_state.peer_base[gshmemi_state.my_pe];
}

// gshmemi_fail_at records (code, pe) in the status word st (may be NULL)
// unless a failure is recorded there already, and returns code. Plain
// stores: the word is host memory, and of two racing failures either may
// win -- both are true.
GSHMEM_DEV int gshmemi_fail_at(volatile unsigned long long* st, int code, int pe) {
    if (st != nullptr && *st == 0) {
        *st = ((unsigned long long)(uint32_t)pe << 32) | (uint32_t)code;
    }
    return code;
}

// gshmemi_fail records (code, pe) in the PE's status word (gshmemi_fail_at).
GSHMEM_DEV int gshmemi_fail(int code, int pe) {
    return gshmemi_fail_at((volatile unsigned long long*)gshmemi_state.status_ptr, code, pe);
}

// gshmemi_sw is a runtime stream's host-mapped words (see
// GSHMEM_STREAM_WORDS_BYTES); a NULL one means the PE's words only.
struct gshmemi_sw {
    unsigned int abort;
    unsigned int pad;
    unsigned long long status;
    unsigned long long done;
};
static_assert(offsetof(gshmemi_sw, abort) == GSHMEM_STREAM_ABORT_OFFSET, "ABI");
static_assert(offsetof(gshmemi_sw, status) == GSHMEM_STREAM_STATUS_OFFSET, "ABI");
static_assert(offsetof(gshmemi_sw, done) == GSHMEM_STREAM_DONE_OFFSET, "ABI");

// gshmemi_fail_sw records a failure in sw's status word, or the PE's when
// sw is NULL.
GSHMEM_DEV int gshmemi_fail_sw(gshmemi_sw* sw, int code, int pe) {
    if (sw == nullptr) {
        return gshmemi_fail(code, pe);
    }
    return gshmemi_fail_at((volatile unsigned long long*)&sw->status, code, pe);
}

// gshmemi_base returns PE pe's heap base as mapped here, or 0 when pe is
// out of range or not mapped.
GSHMEM_DEV_HOT uintptr_t gshmemi_base(int pe) {
    if (pe < 0 || pe >= gshmemi_state.n_pes) {
        return 0;
    }
    return (uintptr_t)gshmemi_state.peer_base[pe];
}

// gshmemi_peer translates the local range [ptr, ptr+nbytes) to PE pe's
// copy, or returns nullptr if pe is not mapped or the range leaves the heap.
template <typename T>
GSHMEM_DEV_HOT T* gshmemi_peer(T* ptr, size_t nbytes, int pe) {
    uintptr_t base = gshmemi_base(pe);
    uintptr_t off = (uintptr_t)ptr - gshmemi_my_base();
    uint64_t size = gshmemi_state.heap_size;
    if (base == 0 || off >= size || nbytes > size - off) {
        return nullptr;
    }
    return (T*)(base + off);
}

// Thread numbering inside a block and a warp (warps are formed from the
// linear thread index).
GSHMEM_DEV_HOT unsigned gshmemi_block_tid() {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
GSHMEM_DEV_HOT unsigned gshmemi_block_nthreads() { return blockDim.x * blockDim.y * blockDim.z; }
GSHMEM_DEV_HOT unsigned gshmemi_warp_lane() { return gshmemi_block_tid() & 31u; }
// Threads in the caller's warp: 32 except in a block's last, partial warp.
GSHMEM_DEV_HOT unsigned gshmemi_warp_nthreads() {
    unsigned first = gshmemi_block_tid() & ~31u;
    unsigned n = gshmemi_block_nthreads() - first;
    return n < 32u ? n : 32u;
}
GSHMEM_DEV_HOT unsigned gshmemi_warp_mask() {
    unsigned n = gshmemi_warp_nthreads();
    return n == 32u ? 0xFFFFFFFFu : ((1u << n) - 1u);
}
// The grid-stride pattern: this thread's index in the grid and the grid's size.
GSHMEM_DEV_HOT size_t gshmemi_grid_tid() {
    size_t block = blockIdx.x + (size_t)gridDim.x * (blockIdx.y + (size_t)gridDim.y * blockIdx.z);
    return block * gshmemi_block_nthreads() + gshmemi_block_tid();
}
GSHMEM_DEV_HOT size_t gshmemi_grid_nthreads() {
    return (size_t)gridDim.x * gridDim.y * gridDim.z * gshmemi_block_nthreads();
}

// gshmemi_copy_vec copies n bytes with thread tid of nthr doing its share,
// in V-sized words once dst is V-aligned (the caller checked that src is
// then V-aligned too). Each thread keeps four words in flight.
template <typename V>
GSHMEM_DEV void gshmemi_copy_vec(char* dst, const char* src, size_t n, size_t tid, size_t nthr) {
    size_t head = (size_t)(-(uintptr_t)dst) & (sizeof(V) - 1);
    if (head > n) {
        head = n;
    }
    for (size_t i = tid; i < head; i += nthr) {
        dst[i] = src[i];
    }
    V* d = (V*)(dst + head);
    const V* s = (const V*)(src + head);
    size_t nv = (n - head) / sizeof(V);
    size_t i = tid;
    for (; i + 3 * nthr < nv; i += 4 * nthr) {
        V a = s[i], b = s[i + nthr], c = s[i + 2 * nthr], e = s[i + 3 * nthr];
        d[i] = a;
        d[i + nthr] = b;
        d[i + 2 * nthr] = c;
        d[i + 3 * nthr] = e;
    }
    for (; i < nv; i += nthr) {
        d[i] = s[i];
    }
    for (size_t j = head + nv * sizeof(V) + tid; j < n; j += nthr) {
        dst[j] = src[j];
    }
}

// gshmemi_copy copies n bytes from src to dst (which must not overlap),
// shared among nthr threads of which the caller is tid, with the widest
// word (16, 8, 4 or 1 bytes) the two addresses' relative alignment allows.
GSHMEM_DEV void gshmemi_copy(void* dst, const void* src, size_t n, size_t tid, size_t nthr) {
    char* d = (char*)dst;
    const char* s = (const char*)src;
    uintptr_t rel = (uintptr_t)d ^ (uintptr_t)s;
    if ((rel & 15) == 0) {
        gshmemi_copy_vec<uint4>(d, s, n, tid, nthr);
    } else if ((rel & 7) == 0) {
        gshmemi_copy_vec<uint2>(d, s, n, tid, nthr);
    } else if ((rel & 3) == 0) {
        gshmemi_copy_vec<unsigned int>(d, s, n, tid, nthr);
    } else {
        for (size_t i = tid; i < n; i += nthr) {
            d[i] = s[i];
        }
    }
}

// Unsigned integers of a size, and bit casts, for the atomics.
template <int N> struct gshmemi_uint;
template <> struct gshmemi_uint<4> { typedef unsigned int type; };
template <> struct gshmemi_uint<8> { typedef unsigned long long type; };

template <typename To, typename From>
GSHMEM_DEV_HOT To gshmemi_bitcast(From f) {
    static_assert(sizeof(To) == sizeof(From), "bitcast between different sizes");
    To t;
    memcpy(&t, &f, sizeof(t));
    return t;
}

template <typename T>
GSHMEM_DEV_HOT bool gshmemi_holds(T v, int cmp, T value) {
    switch (cmp) {
    case GSHMEM_CMP_EQ: return v == value;
    case GSHMEM_CMP_NE: return v != value;
    case GSHMEM_CMP_GT: return v > value;
    case GSHMEM_CMP_GE: return v >= value;
    case GSHMEM_CMP_LT: return v < value;
    case GSHMEM_CMP_LE: return v <= value;
    }
    return false;
}

GSHMEM_DEV_HOT void gshmemi_backoff(unsigned* ns) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
    __nanosleep(*ns);
    *ns = *ns * 2 < GSHMEM_BACKOFF_MAX_NS ? *ns * 2 : GSHMEM_BACKOFF_MAX_NS;
#else
    (void)ns;
#endif
}

// ---------------------------------------------------------------------------
// Identity and addresses.

// gshmem_my_pe is this PE's number; gshmem_n_pes the number of PEs.
GSHMEM_DEV_HOT int gshmem_my_pe() { return gshmemi_state.my_pe; }
GSHMEM_DEV_HOT int gshmem_n_pes() { return gshmemi_state.n_pes; }

// gshmem_ptr returns a pointer through which this thread loads from and
// stores to PE pe's copy of the symmetric object at local pointer ptr, or
// NULL if pe's heap is not mapped here (or pe or ptr is out of range).
GSHMEM_DEV_HOT void* gshmem_ptr(const void* ptr, int pe) {
    return gshmemi_peer((char*)ptr, 1, pe);
}

// gshmem_sym_ptr turns a host-side symmetric offset (the Go side's Sym
// offset, sym_base plus the byte offset in the device heap) into PE pe's
// pointer, or NULL (see gshmem_ptr).
GSHMEM_DEV_HOT void* gshmem_sym_ptr(uint64_t sym_off, int pe) {
    uintptr_t base = gshmemi_base(pe);
    uint64_t off = sym_off - gshmemi_state.sym_base;
    if (base == 0 || sym_off < gshmemi_state.sym_base || off >= gshmemi_state.heap_size) {
        return nullptr;
    }
    return (void*)(base + off);
}

// gshmem_aborted reports whether the host asked device waits to give up.
// It reads host memory (a bus round trip): poll it sparingly.
GSHMEM_DEV bool gshmem_aborted() {
    const volatile unsigned int* a = (const volatile unsigned int*)gshmemi_state.abort_ptr;
    return a != nullptr && *a != 0;
}

// gshmemi_aborted_sw reports whether the host asked the waits of the
// stream whose words are sw (NULL: none) or of the whole PE to give up.
GSHMEM_DEV bool gshmemi_aborted_sw(gshmemi_sw* sw) {
    return (sw != nullptr && *(const volatile unsigned int*)&sw->abort != 0) || gshmem_aborted();
}

// ---------------------------------------------------------------------------
// Ordering.

// gshmem_fence orders this thread's puts, AMOs and signals: those issued
// before it are visible at their PEs before any issued after it.
GSHMEM_DEV_HOT void gshmem_fence() { __threadfence_system(); }

// gshmem_quiet completes this thread's puts, AMOs and signals: when it
// returns they are visible at their PEs. (Puts are stores into mapped
// peer memory, so a system-scope fence completes them.)
GSHMEM_DEV_HOT void gshmem_quiet() { __threadfence_system(); }

// ---------------------------------------------------------------------------
// RMA: putmem / getmem in bytes, gshmem_put / gshmem_get in elements.

// gshmem_putmem copies nbytes from local src (any device memory) to PE
// pe's copy of the symmetric dest. Thread scope. When it returns, src may
// be reused; the data is visible at pe after gshmem_quiet. Returns 0 or
// GSHMEM_ERR_UNMAPPED.
GSHMEM_DEV int gshmem_putmem(void* dest, const void* src, size_t nbytes, int pe) {
    void* d = gshmemi_peer((char*)dest, nbytes, pe);
    if (d == nullptr) {
        return gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
    }
    gshmemi_copy(d, src, nbytes, 0, 1);
    return GSHMEM_SUCCESS;
}

// gshmem_putmem_warp is gshmem_putmem shared by the calling warp.
GSHMEM_DEV int gshmem_putmem_warp(void* dest, const void* src, size_t nbytes, int pe) {
    void* d = gshmemi_peer((char*)dest, nbytes, pe);
    if (d == nullptr) {
        return gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
    }
    gshmemi_copy(d, src, nbytes, gshmemi_warp_lane(), gshmemi_warp_nthreads());
    __syncwarp(gshmemi_warp_mask());
    return GSHMEM_SUCCESS;
}

// gshmem_putmem_block is gshmem_putmem shared by the calling block.
GSHMEM_DEV int gshmem_putmem_block(void* dest, const void* src, size_t nbytes, int pe) {
    void* d = gshmemi_peer((char*)dest, nbytes, pe);
    if (d == nullptr) {
        return gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
    }
    gshmemi_copy(d, src, nbytes, gshmemi_block_tid(), gshmemi_block_nthreads());
    __syncthreads();
    return GSHMEM_SUCCESS;
}

// gshmem_getmem copies nbytes from PE pe's copy of the symmetric src to
// local dest (any device memory). Thread scope; when it returns the data
// is in dest. It reads what pe's memory holds: to see pe's latest puts,
// synchronise with pe first (a barrier or a signal). Returns 0 or
// GSHMEM_ERR_UNMAPPED.
GSHMEM_DEV int gshmem_getmem(void* dest, const void* src, size_t nbytes, int pe) {
    const void* s = gshmemi_peer((const char*)src, nbytes, pe);
    if (s == nullptr) {
        return gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
    }
    gshmemi_copy(dest, s, nbytes, 0, 1);
    return GSHMEM_SUCCESS;
}

// gshmem_getmem_warp is gshmem_getmem shared by the calling warp.
GSHMEM_DEV int gshmem_getmem_warp(void* dest, const void* src, size_t nbytes, int pe) {
    const void* s = gshmemi_peer((const char*)src, nbytes, pe);
    if (s == nullptr) {
        return gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
    }
    gshmemi_copy(dest, s, nbytes, gshmemi_warp_lane(), gshmemi_warp_nthreads());
    __syncwarp(gshmemi_warp_mask());
    return GSHMEM_SUCCESS;
}

// gshmem_getmem_block is gshmem_getmem shared by the calling block.
GSHMEM_DEV int gshmem_getmem_block(void* dest, const void* src, size_t nbytes, int pe) {
    const void* s = gshmemi_peer((const char*)src, nbytes, pe);
    if (s == nullptr) {
        return gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
    }
    gshmemi_copy(dest, s, nbytes, gshmemi_block_tid(), gshmemi_block_nthreads());
    __syncthreads();
    return GSHMEM_SUCCESS;
}

// Typed RMA: nelems elements of T; otherwise as putmem / getmem.
template <typename T>
GSHMEM_DEV int gshmem_put(T* dest, const T* src, size_t nelems, int pe) {
    return gshmem_putmem(dest, src, nelems * sizeof(T), pe);
}
template <typename T>
GSHMEM_DEV int gshmem_put_warp(T* dest, const T* src, size_t nelems, int pe) {
    return gshmem_putmem_warp(dest, src, nelems * sizeof(T), pe);
}
template <typename T>
GSHMEM_DEV int gshmem_put_block(T* dest, const T* src, size_t nelems, int pe) {
    return gshmem_putmem_block(dest, src, nelems * sizeof(T), pe);
}
template <typename T>
GSHMEM_DEV int gshmem_get(T* dest, const T* src, size_t nelems, int pe) {
    return gshmem_getmem(dest, src, nelems * sizeof(T), pe);
}
template <typename T>
GSHMEM_DEV int gshmem_get_warp(T* dest, const T* src, size_t nelems, int pe) {
    return gshmem_getmem_warp(dest, src, nelems * sizeof(T), pe);
}
template <typename T>
GSHMEM_DEV int gshmem_get_block(T* dest, const T* src, size_t nelems, int pe) {
    return gshmem_getmem_block(dest, src, nelems * sizeof(T), pe);
}

// gshmem_p stores value into PE pe's copy of *dest (thread scope; visible
// after gshmem_quiet). Returns 0 or GSHMEM_ERR_UNMAPPED.
template <typename T>
GSHMEM_DEV_HOT int gshmem_p(T* dest, T value, int pe) {
    T* d = gshmemi_peer(dest, sizeof(T), pe);
    if (d == nullptr) {
        return gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
    }
    *d = value;
    return GSHMEM_SUCCESS;
}

// gshmem_g loads PE pe's copy of *src (thread scope), or returns T() and
// records GSHMEM_ERR_UNMAPPED.
template <typename T>
GSHMEM_DEV_HOT T gshmem_g(const T* src, int pe) {
    const T* s = gshmemi_peer(src, sizeof(T), pe);
    if (s == nullptr) {
        gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
        return T();
    }
    return *s;
}

// ---------------------------------------------------------------------------
// Atomics on PE pe's copy of a symmetric object: system scope, relaxed
// (order them with gshmem_fence / gshmem_quiet). T is a 4- or 8-byte
// integer for all of them, and may also be float or double for fetch, set,
// swap and compare_swap. On an unmapped PE they record
// GSHMEM_ERR_UNMAPPED and do nothing; fetching ones then return T().

#define GSHMEMI_AMO_PROLOGUE(ret)                                               \
    typedef typename gshmemi_uint<sizeof(T)>::type U;                           \
    U* p = (U*)gshmemi_peer(dest, sizeof(T), pe);                               \
    if (p == nullptr) {                                                         \
        gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);                                  \
        return ret;                                                             \
    }

#define GSHMEMI_AMO_INTEGRAL                                                    \
    static_assert(std::is_integral<T>::value, "this atomic needs an integer type")

// gshmem_atomic_fetch atomically loads PE pe's copy of *dest.
template <typename T>
GSHMEM_DEV_HOT T gshmem_atomic_fetch(const T* dest, int pe) {
    GSHMEMI_AMO_PROLOGUE(T())
    return gshmemi_bitcast<T>(*(volatile U*)p);
}

// gshmem_atomic_set atomically stores value.
template <typename T>
GSHMEM_DEV_HOT void gshmem_atomic_set(T* dest, T value, int pe) {
    GSHMEMI_AMO_PROLOGUE()
    atomicExch_system(p, gshmemi_bitcast<U>(value));
}

// gshmem_atomic_swap atomically stores value and returns the old value.
template <typename T>
GSHMEM_DEV_HOT T gshmem_atomic_swap(T* dest, T value, int pe) {
    GSHMEMI_AMO_PROLOGUE(T())
    return gshmemi_bitcast<T>(atomicExch_system(p, gshmemi_bitcast<U>(value)));
}

// gshmem_atomic_compare_swap stores value if the word equals cond (bit for
// bit) and returns the old value either way.
template <typename T>
GSHMEM_DEV_HOT T gshmem_atomic_compare_swap(T* dest, T cond, T value, int pe) {
    GSHMEMI_AMO_PROLOGUE(T())
    return gshmemi_bitcast<T>(atomicCAS_system(p, gshmemi_bitcast<U>(cond), gshmemi_bitcast<U>(value)));
}

// gshmem_atomic_fetch_add adds value (wrapping in two's complement) and
// returns the old value; gshmem_atomic_add does not return it.
template <typename T>
GSHMEM_DEV_HOT T gshmem_atomic_fetch_add(T* dest, T value, int pe) {
    GSHMEMI_AMO_INTEGRAL;
    GSHMEMI_AMO_PROLOGUE(T())
    return (T)atomicAdd_system(p, (U)value);
}
template <typename T>
GSHMEM_DEV_HOT void gshmem_atomic_add(T* dest, T value, int pe) {
    (void)gshmem_atomic_fetch_add(dest, value, pe);
}

// gshmem_atomic_fetch_inc adds 1 and returns the old value;
// gshmem_atomic_inc does not return it.
template <typename T>
GSHMEM_DEV_HOT T gshmem_atomic_fetch_inc(T* dest, int pe) {
    return gshmem_atomic_fetch_add(dest, (T)1, pe);
}
template <typename T>
GSHMEM_DEV_HOT void gshmem_atomic_inc(T* dest, int pe) {
    (void)gshmem_atomic_fetch_add(dest, (T)1, pe);
}

// Bitwise atomics: the word becomes word OP value; the fetch_ forms
// return the old value.
template <typename T>
GSHMEM_DEV_HOT T gshmem_atomic_fetch_and(T* dest, T value, int pe) {
    GSHMEMI_AMO_INTEGRAL;
    GSHMEMI_AMO_PROLOGUE(T())
    return (T)atomicAnd_system(p, (U)value);
}
template <typename T>
GSHMEM_DEV_HOT T gshmem_atomic_fetch_or(T* dest, T value, int pe) {
    GSHMEMI_AMO_INTEGRAL;
    GSHMEMI_AMO_PROLOGUE(T())
    return (T)atomicOr_system(p, (U)value);
}
template <typename T>
GSHMEM_DEV_HOT T gshmem_atomic_fetch_xor(T* dest, T value, int pe) {
    GSHMEMI_AMO_INTEGRAL;
    GSHMEMI_AMO_PROLOGUE(T())
    return (T)atomicXor_system(p, (U)value);
}
template <typename T>
GSHMEM_DEV_HOT void gshmem_atomic_and(T* dest, T value, int pe) {
    (void)gshmem_atomic_fetch_and(dest, value, pe);
}
template <typename T>
GSHMEM_DEV_HOT void gshmem_atomic_or(T* dest, T value, int pe) {
    (void)gshmem_atomic_fetch_or(dest, value, pe);
}
template <typename T>
GSHMEM_DEV_HOT void gshmem_atomic_xor(T* dest, T value, int pe) {
    (void)gshmem_atomic_fetch_xor(dest, value, pe);
}

// gshmemi_amo applies AMO code op (GSHMEM_AMO_*) to PE pe's copy of *dest
// and returns the old value; cond is compare_swap's comparand. The host's
// AMO kernels use it. An unknown op records GSHMEM_ERR_INVALID and
// returns 0.
template <typename T>
GSHMEM_DEV T gshmemi_amo(T* dest, int pe, int op, T operand, T cond) {
    switch (op) {
    case GSHMEM_AMO_FETCH: return gshmem_atomic_fetch(dest, pe);
    case GSHMEM_AMO_SET: return gshmem_atomic_swap(dest, operand, pe);
    case GSHMEM_AMO_SWAP: return gshmem_atomic_swap(dest, operand, pe);
    case GSHMEM_AMO_COMPARE_SWAP: return gshmem_atomic_compare_swap(dest, cond, operand, pe);
    case GSHMEM_AMO_ADD: return gshmem_atomic_fetch_add(dest, operand, pe);
    case GSHMEM_AMO_AND: return gshmem_atomic_fetch_and(dest, operand, pe);
    case GSHMEM_AMO_OR: return gshmem_atomic_fetch_or(dest, operand, pe);
    case GSHMEM_AMO_XOR: return gshmem_atomic_fetch_xor(dest, operand, pe);
    }
    gshmemi_fail(GSHMEM_ERR_INVALID, pe);
    return T();
}

// ---------------------------------------------------------------------------
// Waits on local symmetric variables.

// gshmemi_wait_sw spins until (*ivar cmp value) holds, reading *ivar with
// volatile (relaxed, system-scope) loads; after GSHMEM_SPIN_POLLS polls it
// sleeps between polls with exponential backoff, and every
// GSHMEM_ABORT_CHECK_POLLS polls it reads the host's abort flags (the
// PE's, and the stream's when sw is not NULL). It stores the last value
// read in *last and returns 0 -- after a system-scope fence, so the
// caller's later loads see what the writer stored before its signal -- or
// GSHMEM_ERR_ABORTED (recording it against pe, the PE waited on, -1 if
// unknown, in sw's status word or else the PE's), or GSHMEM_ERR_INVALID
// for an unknown cmp.
template <typename T>
GSHMEM_DEV int gshmemi_wait_sw(const T* ivar, int cmp, T value, int pe, T* last, gshmemi_sw* sw) {
    static_assert(std::is_integral<T>::value && (sizeof(T) == 4 || sizeof(T) == 8),
                  "waits take 4- or 8-byte integers");
    if (cmp < GSHMEM_CMP_EQ || cmp > GSHMEM_CMP_LE) {
        *last = T();
        return gshmemi_fail_sw(sw, GSHMEM_ERR_INVALID, pe);
    }
    const volatile T* v = ivar;
    unsigned polls = 0;
    unsigned ns = GSHMEM_BACKOFF_MIN_NS;
    for (;;) {
        T x = *v;
        if (gshmemi_holds(x, cmp, value)) {
            __threadfence_system();
            *last = x;
            return GSHMEM_SUCCESS;
        }
        ++polls;
        if ((polls & (GSHMEM_ABORT_CHECK_POLLS - 1)) == 0 && gshmemi_aborted_sw(sw)) {
            *last = x;
            return gshmemi_fail_sw(sw, GSHMEM_ERR_ABORTED, pe);
        }
        if (polls > GSHMEM_SPIN_POLLS) {
            gshmemi_backoff(&ns);
        }
    }
}

// gshmemi_wait is gshmemi_wait_sw with the PE's words only.
template <typename T>
GSHMEM_DEV int gshmemi_wait(const T* ivar, int cmp, T value, int pe, T* last) {
    return gshmemi_wait_sw(ivar, cmp, value, pe, last, (gshmemi_sw*)nullptr);
}

// gshmem_wait_until waits (thread scope) until the local symmetric
// variable *ivar, which peers update with puts or atomics, compares to
// value as cmp (GSHMEM_CMP_*) says. T is a 4- or 8-byte integer. Returns
// 0 once the comparison holds (later loads see the data the writer stored
// before its update), GSHMEM_ERR_ABORTED if the host aborted the wait, or
// GSHMEM_ERR_INVALID for an unknown cmp.
template <typename T>
GSHMEM_DEV int gshmem_wait_until(T* ivar, int cmp, T value) {
    T last;
    return gshmemi_wait((const T*)ivar, cmp, value, -1, &last);
}

// ---------------------------------------------------------------------------
// Signals: a uint64 signal word in the symmetric heap, updated by peers.

// gshmem_signal_op applies sig_op (GSHMEM_SIGNAL_SET or _ADD) with value
// to PE pe's copy of the symmetric signal *sig, as a system-scope atomic.
// Thread scope; it does not order earlier puts (use the put-with-signal
// functions or gshmem_fence first). Returns 0, GSHMEM_ERR_UNMAPPED or
// GSHMEM_ERR_INVALID.
GSHMEM_DEV int gshmem_signal_op(unsigned long long* sig, unsigned long long value, int sig_op, int pe) {
    unsigned long long* p = gshmemi_peer(sig, sizeof(*sig), pe);
    if (p == nullptr) {
        return gshmemi_fail(GSHMEM_ERR_UNMAPPED, pe);
    }
    switch (sig_op) {
    case GSHMEM_SIGNAL_SET: atomicExch_system(p, value); return GSHMEM_SUCCESS;
    case GSHMEM_SIGNAL_ADD: atomicAdd_system(p, value); return GSHMEM_SUCCESS;
    }
    return gshmemi_fail(GSHMEM_ERR_INVALID, pe);
}

// gshmem_signal_fetch atomically loads the local signal *sig.
GSHMEM_DEV_HOT unsigned long long gshmem_signal_fetch(const unsigned long long* sig) {
    return *(const volatile unsigned long long*)sig;
}

// gshmem_signal_wait_until waits (thread scope) until the local signal
// *sig compares to value as cmp says, and returns the signal's value then.
// If the host aborts the wait (or cmp is unknown) it records why in the
// status word and returns the last value read: check gshmem_aborted() or
// use gshmem_signal_wait_until_status when that matters.
GSHMEM_DEV unsigned long long gshmem_signal_wait_until(unsigned long long* sig, int cmp,
                                                       unsigned long long value) {
    unsigned long long last;
    (void)gshmemi_wait((const unsigned long long*)sig, cmp, value, -1, &last);
    return last;
}

// gshmem_signal_wait_until_status is gshmem_signal_wait_until returning
// the error code (0, GSHMEM_ERR_ABORTED, GSHMEM_ERR_INVALID) and storing
// the value in *out.
GSHMEM_DEV int gshmem_signal_wait_until_status(unsigned long long* sig, int cmp,
                                               unsigned long long value, unsigned long long* out) {
    return gshmemi_wait((const unsigned long long*)sig, cmp, value, -1, out);
}

// gshmem_putmem_signal puts nbytes from src to PE pe's dest (as
// gshmem_putmem), then updates PE pe's signal *sig with sig_op and value
// (as gshmem_signal_op). A peer that sees the signal's update sees the
// data: a system-scope fence separates them. Thread scope. Returns 0,
// GSHMEM_ERR_UNMAPPED (nothing moved) or GSHMEM_ERR_INVALID (data moved,
// no signal).
GSHMEM_DEV int gshmem_putmem_signal(void* dest, const void* src, size_t nbytes,
                                    unsigned long long* sig, unsigned long long value, int sig_op,
                                    int pe) {
    int err = gshmem_putmem(dest, src, nbytes, pe);
    if (err != GSHMEM_SUCCESS) {
        return err;
    }
    __threadfence_system();
    return gshmem_signal_op(sig, value, sig_op, pe);
}

// gshmem_putmem_signal_warp is gshmem_putmem_signal shared by the calling
// warp: the warp copies, then lane 0 fences and signals once. Every lane
// returns the same code.
GSHMEM_DEV int gshmem_putmem_signal_warp(void* dest, const void* src, size_t nbytes,
                                         unsigned long long* sig, unsigned long long value,
                                         int sig_op, int pe) {
    int err = gshmem_putmem_warp(dest, src, nbytes, pe);
    if (err != GSHMEM_SUCCESS) {
        return err;
    }
    if (gshmemi_warp_lane() == 0) {
        __threadfence_system();
        err = gshmem_signal_op(sig, value, sig_op, pe);
    }
    return __shfl_sync(gshmemi_warp_mask(), err, 0);
}

// gshmem_putmem_signal_block is gshmem_putmem_signal shared by the calling
// block: the block copies, then thread 0 fences and signals once. Every
// thread returns the same code.
GSHMEM_DEV int gshmem_putmem_signal_block(void* dest, const void* src, size_t nbytes,
                                          unsigned long long* sig, unsigned long long value,
                                          int sig_op, int pe) {
    int err = gshmem_putmem_block(dest, src, nbytes, pe);
    if (err != GSHMEM_SUCCESS) {
        return err;
    }
    __shared__ int gshmemi_signal_err;
    if (gshmemi_block_tid() == 0) {
        __threadfence_system();
        gshmemi_signal_err = gshmem_signal_op(sig, value, sig_op, pe);
    }
    __syncthreads();
    err = gshmemi_signal_err;
    __syncthreads(); // the shared word may be reused by the next call
    return err;
}

// Typed put-with-signal: nelems elements of T.
template <typename T>
GSHMEM_DEV int gshmem_put_signal(T* dest, const T* src, size_t nelems, unsigned long long* sig,
                                 unsigned long long value, int sig_op, int pe) {
    return gshmem_putmem_signal(dest, src, nelems * sizeof(T), sig, value, sig_op, pe);
}
template <typename T>
GSHMEM_DEV int gshmem_put_signal_warp(T* dest, const T* src, size_t nelems, unsigned long long* sig,
                                      unsigned long long value, int sig_op, int pe) {
    return gshmem_putmem_signal_warp(dest, src, nelems * sizeof(T), sig, value, sig_op, pe);
}
template <typename T>
GSHMEM_DEV int gshmem_put_signal_block(T* dest, const T* src, size_t nelems,
                                       unsigned long long* sig, unsigned long long value,
                                       int sig_op, int pe) {
    return gshmem_putmem_signal_block(dest, src, nelems * sizeof(T), sig, value, sig_op, pe);
}

// ---------------------------------------------------------------------------
// Teams and barriers.
//
// A team is strided: member i (0 <= i < size) is PE start + i*stride.
// A barrier is pairwise: every member adds 1 to arrive[me] in every other
// member's reserved area, then waits until its own arrive[q] exceeds
// seen[q] for every other member q, and consumes one arrival from each.
// The counters only grow, so any sequence of barriers on any teams is
// correct as long as every pair of PEs calls the barriers they share in
// the same order. The device API's barriers (these functions) use barrier
// channel 0: at most one of them may be in flight on a PE at a time unless
// the barriers in flight have no other member in common. The runtime's
// stream barriers use channels of their own (one per host team), so they
// never take an arrival of a user kernel's barrier, nor one of another
// team's. After an aborted barrier the channel's counters are out of step
// and the job must end.

// gshmem_team_index returns this PE's index in the team (start, stride,
// size), or -1 if the team is malformed (size outside [1, GSHMEM_MAX_PES],
// stride < 1 with size > 1, a member outside [0, n_pes)) or lacks this PE.
GSHMEM_DEV int gshmem_team_index(int start, int stride, int size) {
    int n = gshmemi_state.n_pes;
    if (size < 1 || size > GSHMEM_MAX_PES || start < 0 || start >= n) {
        return -1;
    }
    if (size > 1 && (stride < 1 || (long long)start + (long long)(size - 1) * stride >= n)) {
        return -1;
    }
    int d = gshmemi_state.my_pe - start;
    if (d < 0) {
        return -1;
    }
    if (size == 1) {
        return d == 0 ? 0 : -1;
    }
    return (d % stride == 0 && d / stride < size) ? d / stride : -1;
}

// gshmemi_chan_word is the counter of from_pe on barrier channel ch
// (0 <= ch < GSHMEM_BARRIER_CHANNELS) in the heap at base: an arrive
// counter, or with seen a seen counter.
GSHMEM_DEV_HOT unsigned long long* gshmemi_chan_word(uintptr_t base, int ch, int from_pe, bool seen) {
    uintptr_t off;
    if (ch == 0) {
        off = seen ? GSHMEM_RESERVED_SEEN_OFFSET : GSHMEM_RESERVED_ARRIVE_OFFSET;
    } else {
        off = (seen ? GSHMEM_RESERVED_CHAN_SEEN_OFFSET : GSHMEM_RESERVED_CHAN_ARRIVE_OFFSET) +
              (uintptr_t)(ch - 1) * GSHMEM_MAX_PES * 8;
    }
    return (unsigned long long*)(base + off) + from_pe;
}
GSHMEM_DEV_HOT unsigned long long* gshmemi_arrive_word(uintptr_t base, int ch, int from_pe) {
    return gshmemi_chan_word(base, ch, from_pe, false);
}
GSHMEM_DEV_HOT unsigned long long* gshmemi_seen_word(int ch, int from_pe) {
    return gshmemi_chan_word(gshmemi_my_base(), ch, from_pe, true);
}

// gshmemi_barrier_arrive counts one arrival of this PE at PE pe (mapped:
// the caller checked) on channel ch. The caller fenced its earlier stores.
GSHMEM_DEV_HOT void gshmemi_barrier_arrive(int ch, int pe) {
    atomicAdd_system(gshmemi_arrive_word(gshmemi_base(pe), ch, gshmemi_state.my_pe), 1ull);
}

// gshmemi_barrier_await waits for the next arrival of PE pe here on
// channel ch and consumes it. Returns 0 or GSHMEM_ERR_ABORTED (recorded in
// sw's status word, or the PE's when sw is NULL).
GSHMEM_DEV int gshmemi_barrier_await(int ch, int pe, gshmemi_sw* sw) {
    unsigned long long* seen = gshmemi_seen_word(ch, pe);
    unsigned long long want = *seen + 1, last;
    int err = gshmemi_wait_sw((const unsigned long long*)gshmemi_arrive_word(gshmemi_my_base(), ch, pe),
                              GSHMEM_CMP_GE, want, pe, &last, sw);
    if (err == GSHMEM_SUCCESS) {
        *seen = want;
    }
    return err;
}

// gshmemi_team_check returns 0 if the team is well formed, holds this PE
// and every member's heap is mapped, else the error (not yet recorded) and
// in *bad_pe the PE at fault (-1 for a bad team).
GSHMEM_DEV int gshmemi_team_check(int start, int stride, int size, int* bad_pe) {
    *bad_pe = -1;
    if (gshmem_team_index(start, stride, size) < 0) {
        return GSHMEM_ERR_INVALID;
    }
    for (int i = 0; i < size; i++) {
        int pe = start + i * stride;
        if (gshmemi_base(pe) == 0) {
            *bad_pe = pe;
            return GSHMEM_ERR_UNMAPPED;
        }
    }
    return GSHMEM_SUCCESS;
}

// gshmem_team_barrier is a barrier across the team (start, stride, size),
// called by one thread of each member PE. It first completes the caller's
// earlier puts, AMOs and signals (gshmem_quiet); it returns once every
// member has arrived, and the caller's later loads see what every member
// stored before arriving. Returns 0, GSHMEM_ERR_INVALID (bad team, or the
// team lacks this PE), GSHMEM_ERR_UNMAPPED (no barrier happened), or
// GSHMEM_ERR_ABORTED.
GSHMEM_DEV int gshmem_team_barrier(int start, int stride, int size) {
    int bad_pe;
    int err = gshmemi_team_check(start, stride, size, &bad_pe);
    if (err != GSHMEM_SUCCESS) {
        return gshmemi_fail(err, bad_pe);
    }
    int me = gshmemi_state.my_pe;
    __threadfence_system();
    for (int i = 0; i < size; i++) {
        int pe = start + i * stride;
        if (pe != me) {
            gshmemi_barrier_arrive(0, pe);
        }
    }
    for (int i = 0; i < size; i++) {
        int pe = start + i * stride;
        if (pe != me) {
            err = gshmemi_barrier_await(0, pe, (gshmemi_sw*)nullptr);
            if (err != GSHMEM_SUCCESS) {
                return err;
            }
        }
    }
    return GSHMEM_SUCCESS;
}

// gshmemi_team_barrier_block is gshmem_team_barrier_block on barrier
// channel ch, giving up when sw's abort word (or the PE's) is set and
// recording failures in sw's status word (the PE's when sw is NULL).
GSHMEM_DEV int gshmemi_team_barrier_block(int ch, int start, int stride, int size, gshmemi_sw* sw) {
    int bad_pe;
    int err = gshmemi_team_check(start, stride, size, &bad_pe);
    if (err == GSHMEM_SUCCESS && (ch < 0 || ch >= GSHMEM_BARRIER_CHANNELS)) {
        err = GSHMEM_ERR_INVALID;
    }
    if (err != GSHMEM_SUCCESS) { // the same in every thread
        if (gshmemi_block_tid() == 0) {
            gshmemi_fail_sw(sw, err, bad_pe);
        }
        return err;
    }
    int me = gshmemi_state.my_pe;
    unsigned tid = gshmemi_block_tid(), nthr = gshmemi_block_nthreads();
    __syncthreads(); // the block's earlier stores precede every arrival
    for (unsigned i = tid; i < (unsigned)size; i += nthr) {
        int pe = start + (int)i * stride;
        if (pe != me) {
            __threadfence_system();
            gshmemi_barrier_arrive(ch, pe);
        }
    }
    int failed = GSHMEM_SUCCESS;
    for (unsigned i = tid; i < (unsigned)size; i += nthr) {
        int pe = start + (int)i * stride;
        if (pe != me && failed == GSHMEM_SUCCESS) {
            failed = gshmemi_barrier_await(ch, pe, sw);
        }
    }
    // Every code a wait returns is GSHMEM_ERR_ABORTED.
    return __syncthreads_or(failed != GSHMEM_SUCCESS) ? GSHMEM_ERR_ABORTED : GSHMEM_SUCCESS;
}

// gshmem_team_barrier_block is gshmem_team_barrier for a whole block: every
// thread of the block calls it, the block's threads share the members
// (thread t arrives at and waits for members t, t+blockDim, ...), and it
// completes the puts of every thread of the block issued before the call.
// All threads return the same code.
GSHMEM_DEV int gshmem_team_barrier_block(int start, int stride, int size) {
    return gshmemi_team_barrier_block(0, start, stride, size, (gshmemi_sw*)nullptr);
}

// gshmem_barrier_all and gshmem_barrier_all_block: the barrier across all
// PEs (the team 0, 1, n_pes), thread and block scoped.
GSHMEM_DEV int gshmem_barrier_all() { return gshmem_team_barrier(0, 1, gshmemi_state.n_pes); }
GSHMEM_DEV int gshmem_barrier_all_block() {
    return gshmem_team_barrier_block(0, 1, gshmemi_state.n_pes);
}

// ---------------------------------------------------------------------------
// C-friendly typed names, e.g. gshmem_float_put_block,
// gshmem_int64_atomic_fetch_add, gshmem_uint64_wait_until.

#define GSHMEMI_RMA_TYPES(X)                                                    \
    X(float, float)                                                             \
    X(double, double)                                                           \
    X(char, char)                                                               \
    X(schar, signed char)                                                       \
    X(short, short)                                                             \
    X(int, int)                                                                 \
    X(long, long)                                                               \
    X(longlong, long long)                                                      \
    X(uchar, unsigned char)                                                     \
    X(ushort, unsigned short)                                                   \
    X(uint, unsigned int)                                                       \
    X(ulong, unsigned long)                                                     \
    X(ulonglong, unsigned long long)                                            \
    X(int8, int8_t)                                                             \
    X(int16, int16_t)                                                           \
    X(int32, int32_t)                                                           \
    X(int64, int64_t)                                                           \
    X(uint8, uint8_t)                                                           \
    X(uint16, uint16_t)                                                         \
    X(uint32, uint32_t)                                                         \
    X(uint64, uint64_t)                                                         \
    X(size, size_t)                                                             \
    X(half, __half)                                                             \
    X(bfloat16, __nv_bfloat16)

#define GSHMEMI_DEFINE_RMA(NAME, T)                                                              \
    GSHMEM_DEV int gshmem_##NAME##_put(T* d, const T* s, size_t n, int pe) {                     \
        return gshmem_put(d, s, n, pe);                                                          \
    }                                                                                            \
    GSHMEM_DEV int gshmem_##NAME##_put_warp(T* d, const T* s, size_t n, int pe) {                \
        return gshmem_put_warp(d, s, n, pe);                                                     \
    }                                                                                            \
    GSHMEM_DEV int gshmem_##NAME##_put_block(T* d, const T* s, size_t n, int pe) {               \
        return gshmem_put_block(d, s, n, pe);                                                    \
    }                                                                                            \
    GSHMEM_DEV int gshmem_##NAME##_get(T* d, const T* s, size_t n, int pe) {                     \
        return gshmem_get(d, s, n, pe);                                                          \
    }                                                                                            \
    GSHMEM_DEV int gshmem_##NAME##_get_warp(T* d, const T* s, size_t n, int pe) {                \
        return gshmem_get_warp(d, s, n, pe);                                                     \
    }                                                                                            \
    GSHMEM_DEV int gshmem_##NAME##_get_block(T* d, const T* s, size_t n, int pe) {               \
        return gshmem_get_block(d, s, n, pe);                                                    \
    }                                                                                            \
    GSHMEM_DEV int gshmem_##NAME##_p(T* d, T v, int pe) { return gshmem_p(d, v, pe); }           \
    GSHMEM_DEV T gshmem_##NAME##_g(const T* s, int pe) { return gshmem_g(s, pe); }               \
    GSHMEM_DEV int gshmem_##NAME##_put_signal(T* d, const T* s, size_t n,                        \
                                              unsigned long long* sig, unsigned long long v,     \
                                              int op, int pe) {                                  \
        return gshmem_put_signal(d, s, n, sig, v, op, pe);                                       \
    }                                                                                            \
    GSHMEM_DEV int gshmem_##NAME##_put_signal_warp(T* d, const T* s, size_t n,                   \
                                                   unsigned long long* sig,                      \
                                                   unsigned long long v, int op, int pe) {       \
        return gshmem_put_signal_warp(d, s, n, sig, v, op, pe);                                  \
    }                                                                                            \
    GSHMEM_DEV int gshmem_##NAME##_put_signal_block(T* d, const T* s, size_t n,                  \
                                                    unsigned long long* sig,                     \
                                                    unsigned long long v, int op, int pe) {      \
        return gshmem_put_signal_block(d, s, n, sig, v, op, pe);                                 \
    }
GSHMEMI_RMA_TYPES(GSHMEMI_DEFINE_RMA)
#undef GSHMEMI_DEFINE_RMA

// Types of the standard atomics (fetch, set, swap, compare_swap).
#define GSHMEMI_AMO_STD_TYPES(X)                                                \
    X(float, float)                                                             \
    X(double, double)                                                           \
    GSHMEMI_AMO_INT_TYPES(X)

// Types of every atomic, and of waits.
#define GSHMEMI_AMO_INT_TYPES(X)                                                \
    X(int, int)                                                                 \
    X(long, long)                                                               \
    X(longlong, long long)                                                      \
    X(uint, unsigned int)                                                       \
    X(ulong, unsigned long)                                                     \
    X(ulonglong, unsigned long long)                                            \
    X(int32, int32_t)                                                           \
    X(int64, int64_t)                                                           \
    X(uint32, uint32_t)                                                         \
    X(uint64, uint64_t)                                                         \
    X(size, size_t)

#define GSHMEMI_DEFINE_AMO_STD(NAME, T)                                                           \
    GSHMEM_DEV T gshmem_##NAME##_atomic_fetch(const T* d, int pe) {                               \
        return gshmem_atomic_fetch(d, pe);                                                        \
    }                                                                                             \
    GSHMEM_DEV void gshmem_##NAME##_atomic_set(T* d, T v, int pe) { gshmem_atomic_set(d, v, pe); } \
    GSHMEM_DEV T gshmem_##NAME##_atomic_swap(T* d, T v, int pe) {                                 \
        return gshmem_atomic_swap(d, v, pe);                                                      \
    }                                                                                             \
    GSHMEM_DEV T gshmem_##NAME##_atomic_compare_swap(T* d, T c, T v, int pe) {                    \
        return gshmem_atomic_compare_swap(d, c, v, pe);                                           \
    }
GSHMEMI_AMO_STD_TYPES(GSHMEMI_DEFINE_AMO_STD)
#undef GSHMEMI_DEFINE_AMO_STD

#define GSHMEMI_DEFINE_AMO_INT(NAME, T)                                                           \
    GSHMEM_DEV T gshmem_##NAME##_atomic_fetch_add(T* d, T v, int pe) {                            \
        return gshmem_atomic_fetch_add(d, v, pe);                                                 \
    }                                                                                             \
    GSHMEM_DEV void gshmem_##NAME##_atomic_add(T* d, T v, int pe) { gshmem_atomic_add(d, v, pe); } \
    GSHMEM_DEV T gshmem_##NAME##_atomic_fetch_inc(T* d, int pe) {                                 \
        return gshmem_atomic_fetch_inc(d, pe);                                                    \
    }                                                                                             \
    GSHMEM_DEV void gshmem_##NAME##_atomic_inc(T* d, int pe) { gshmem_atomic_inc(d, pe); }        \
    GSHMEM_DEV T gshmem_##NAME##_atomic_fetch_and(T* d, T v, int pe) {                            \
        return gshmem_atomic_fetch_and(d, v, pe);                                                 \
    }                                                                                             \
    GSHMEM_DEV T gshmem_##NAME##_atomic_fetch_or(T* d, T v, int pe) {                             \
        return gshmem_atomic_fetch_or(d, v, pe);                                                  \
    }                                                                                             \
    GSHMEM_DEV T gshmem_##NAME##_atomic_fetch_xor(T* d, T v, int pe) {                            \
        return gshmem_atomic_fetch_xor(d, v, pe);                                                 \
    }                                                                                             \
    GSHMEM_DEV void gshmem_##NAME##_atomic_and(T* d, T v, int pe) { gshmem_atomic_and(d, v, pe); } \
    GSHMEM_DEV void gshmem_##NAME##_atomic_or(T* d, T v, int pe) { gshmem_atomic_or(d, v, pe); }   \
    GSHMEM_DEV void gshmem_##NAME##_atomic_xor(T* d, T v, int pe) { gshmem_atomic_xor(d, v, pe); } \
    GSHMEM_DEV int gshmem_##NAME##_wait_until(T* ivar, int cmp, T v) {                            \
        return gshmem_wait_until(ivar, cmp, v);                                                   \
    }
GSHMEMI_AMO_INT_TYPES(GSHMEMI_DEFINE_AMO_INT)
#undef GSHMEMI_DEFINE_AMO_INT

#endif // GSHMEM_DEVICE_CUH
