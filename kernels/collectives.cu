// collectives.cu -- the gshmem runtime's own kernels: barrier, signals,
// host-issued atomics on device memory, and the collectives. Compiled to
// one PTX module (collectives.ptx, embedded by package kernels); every
// kernel is extern "C" so the runtime finds it by name.
//
// Conventions.
//   - Pointers are local symmetric device pointers (into this PE's heap)
//     unless said otherwise; peers' copies are reached through gshmemi_state.
//   - A team is (start, stride, size): member i is PE start + i*stride.
//   - Counts are unsigned long long (8-byte parameters), PEs and codes int.
//   - The collectives use the grid-stride pattern (any grid works) and do
//     no cross-PE synchronisation: the runtime launches gshmem_k_barrier on
//     the team before (every source is ready) and after (every destination
//     is complete) each of them.
//   - The waiting kernels (gshmem_k_barrier, gshmem_k_signal_wait) take sw,
//     the device address of the launching stream's host-mapped words
//     (GSHMEM_STREAM_WORDS_BYTES; NULL for none): they give up when the
//     stream's abort word or the PE's is set, and record their failures in
//     the stream's status word, so one stream's abort leaves the PE's other
//     streams alone.
//   - A kernel that finds the state unfilled (wrong magic or version)
//     traps: the launch fails with an error the host sees. Bad arguments
//     (a malformed team or one without this PE, an unmapped member, a
//     symmetric range outside the heap) are recorded in the status word by
//     block 0's thread 0, and the kernel does nothing.

#include "gshmem_device.cuh"

// ---------------------------------------------------------------------------
// Prologue shared by the kernels.

__device__ inline void gshmemi_check_state() {
    if (gshmemi_state.magic_version != GSHMEM_STATE_MAGIC_VERSION) {
        __trap();
    }
}

__device__ inline bool gshmemi_first_thread() {
    return gshmemi_block_tid() == 0 && blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0;
}

// gshmemi_team_setup checks the team (uniformly in every thread) and
// returns this PE's index in it, or -1 after block 0's thread 0 recorded
// the error.
__device__ __noinline__ int gshmemi_team_setup(int start, int stride, int size) {
    gshmemi_check_state();
    int bad_pe;
    int err = gshmemi_team_check(start, stride, size, &bad_pe);
    if (err != GSHMEM_SUCCESS) {
        if (gshmemi_first_thread()) {
            gshmemi_fail(err, bad_pe);
        }
        return -1;
    }
    return gshmem_team_index(start, stride, size);
}

// gshmemi_sym_ok reports whether n items of esize bytes at local pointer p
// lie in this PE's heap (and so, at the same offset, in every peer's). If
// not, block 0's thread 0 records GSHMEM_ERR_INVALID.
__device__ __noinline__ bool gshmemi_sym_ok(const void* p, unsigned long long n, unsigned long long esize) {
    unsigned long long size = gshmemi_state.heap_size;
    if (n <= size && esize <= size && (esize == 0 || n <= size / esize) &&
        gshmemi_peer((const char*)p, n * esize, gshmemi_state.my_pe) != nullptr) {
        return true;
    }
    if (gshmemi_first_thread()) {
        gshmemi_fail(GSHMEM_ERR_INVALID, -1);
    }
    return false;
}

// gshmemi_member_base is the heap base of team member i (checked mapped).
__device__ __forceinline__ uintptr_t gshmemi_member_base(int start, int stride, int i) {
    return gshmemi_base(start + i * stride);
}

// ---------------------------------------------------------------------------
// Barrier, signals, atomics.

// gshmem_k_barrier: a barrier across the team on barrier channel channel
// (1 + the host team's slot for the runtime's stream barriers; see the
// reserved area in gshmem_device.cuh). Launch with one block (any size; 32
// threads suffice for GSHMEM_MAX_PES). Completes the stream's earlier
// kernels' stores to peers before arriving; the stream's later kernels see
// every member's stores from before its barrier. An aborted wait (sw's
// abort word or the PE's) and a bad team or channel are recorded in sw's
// status word (the PE's when sw is NULL).
extern "C" __global__ void gshmem_k_barrier(gshmemi_sw* sw, int channel, int start, int stride, int size) {
    gshmemi_check_state();
    (void)gshmemi_team_barrier_block(channel, start, stride, size, sw);
}

// gshmem_k_signal_op: applies sig_op (GSHMEM_SIGNAL_SET / _ADD) with value
// to PE pe's copy of the signal at local pointer sig, after a system-scope
// fence (so the stream's earlier puts are visible first). One thread.
extern "C" __global__ void gshmem_k_signal_op(unsigned long long* sig, int pe, int sig_op,
                                              unsigned long long value) {
    gshmemi_check_state();
    if (!gshmemi_first_thread()) {
        return;
    }
    __threadfence_system();
    (void)gshmem_signal_op(sig, value, sig_op, pe);
}

// gshmem_k_signal_wait: waits until the local signal at sig compares to
// value as cmp (GSHMEM_CMP_*) says; gives up when the host sets sw's abort
// word or the PE's (recorded in sw's status word, the PE's when sw is
// NULL). One thread; the stream's later work sees the data stored before
// the signal.
extern "C" __global__ void gshmem_k_signal_wait(unsigned long long* sig, int cmp,
                                                unsigned long long value, gshmemi_sw* sw) {
    gshmemi_check_state();
    if (!gshmemi_first_thread()) {
        return;
    }
    unsigned long long last;
    (void)gshmemi_wait_sw((const unsigned long long*)sig, cmp, value, -1, &last, sw);
}

// gshmem_k_store64: stores value to the 8-byte word at p (device memory or
// host-mapped memory), after a system-scope fence, so a host that sees the
// value also sees what the stream's earlier work stored. One thread. The
// runtime uses it to mark a stream's progress (the done word) where the
// device has no stream memory operations (cuStreamWriteValue64).
extern "C" __global__ void gshmem_k_store64(unsigned long long* p, unsigned long long value) {
    if (!gshmemi_first_thread()) {
        return;
    }
    __threadfence_system();
    *(volatile unsigned long long*)p = value;
    __threadfence_system();
}

// gshmem_k_amo64: applies AMO op (GSHMEM_AMO_*) with operand (and cond for
// compare-swap) to PE pe's copy of the 8-byte word at local pointer ptr,
// and stores the word's previous value to *result (a device pointer to
// host-mapped memory; may be NULL), followed by a system-scope fence. One
// thread. Errors are recorded in the status word; *result is then 0.
extern "C" __global__ void gshmem_k_amo64(unsigned long long* ptr, int pe, int op,
                                          unsigned long long operand, unsigned long long cond,
                                          unsigned long long* result) {
    gshmemi_check_state();
    if (!gshmemi_first_thread()) {
        return;
    }
    unsigned long long old = gshmemi_amo(ptr, pe, op, operand, cond);
    if (result != nullptr) {
        *(volatile unsigned long long*)result = old;
    }
    __threadfence_system();
}

// gshmem_k_amo32: gshmem_k_amo64 for a 4-byte word.
extern "C" __global__ void gshmem_k_amo32(unsigned int* ptr, int pe, int op, unsigned int operand,
                                          unsigned int cond, unsigned int* result) {
    gshmemi_check_state();
    if (!gshmemi_first_thread()) {
        return;
    }
    unsigned int old = gshmemi_amo(ptr, pe, op, operand, cond);
    if (result != nullptr) {
        *(volatile unsigned int*)result = old;
    }
    __threadfence_system();
}

// ---------------------------------------------------------------------------
// Byte-moving collectives. nbytes is per PE; copies use 16-byte words
// where source and destination align alike.

// gshmem_k_allgather: member i's nbytes at src land at dst + i*nbytes on
// every member (this PE pushes its block to every member, itself
// included, starting with the next member to spread the traffic). dst
// (size*nbytes) is symmetric; src may be any device memory not
// overlapping dst.
extern "C" __global__ void gshmem_k_allgather(void* dst, const void* src, unsigned long long nbytes,
                                              int start, int stride, int size) {
    int me = gshmemi_team_setup(start, stride, size);
    if (me < 0 || !gshmemi_sym_ok(dst, size, nbytes)) {
        return;
    }
    size_t tid = gshmemi_grid_tid(), nthr = gshmemi_grid_nthreads();
    uintptr_t dst_off = (uintptr_t)dst - gshmemi_my_base() + (uintptr_t)me * nbytes;
    for (int r = 1; r <= size; r++) {
        int j = (me + r) % size;
        void* d = (void*)(gshmemi_member_base(start, stride, j) + dst_off);
        gshmemi_copy(d, src, nbytes, tid, nthr);
    }
}

// gshmem_k_alltoall: block j (nbytes at src + j*nbytes) of member i lands
// at dst + i*nbytes on member j (this PE pushes block j to member j). dst
// (size*nbytes) is symmetric; src (size*nbytes) may be any device memory
// not overlapping dst.
extern "C" __global__ void gshmem_k_alltoall(void* dst, const void* src, unsigned long long nbytes,
                                             int start, int stride, int size) {
    int me = gshmemi_team_setup(start, stride, size);
    if (me < 0 || !gshmemi_sym_ok(dst, size, nbytes)) {
        return;
    }
    size_t tid = gshmemi_grid_tid(), nthr = gshmemi_grid_nthreads();
    uintptr_t dst_off = (uintptr_t)dst - gshmemi_my_base() + (uintptr_t)me * nbytes;
    for (int r = 1; r <= size; r++) {
        int j = (me + r) % size;
        void* d = (void*)(gshmemi_member_base(start, stride, j) + dst_off);
        gshmemi_copy(d, (const char*)src + (size_t)j * nbytes, nbytes, tid, nthr);
    }
}

// gshmem_k_broadcast: nbytes at src on member root (a team index) land at
// dst on every member, root included (each member pulls from root; root
// copies locally unless dst == src). src is symmetric; dst may be any
// device memory, not overlapping src unless equal to it.
extern "C" __global__ void gshmem_k_broadcast(void* dst, const void* src, unsigned long long nbytes,
                                              int root, int start, int stride, int size) {
    int me = gshmemi_team_setup(start, stride, size);
    if (me < 0 || !gshmemi_sym_ok(src, nbytes, 1)) {
        return;
    }
    if (root < 0 || root >= size) {
        if (gshmemi_first_thread()) {
            gshmemi_fail(GSHMEM_ERR_INVALID, -1);
        }
        return;
    }
    if (root == me && dst == src) {
        return;
    }
    uintptr_t src_off = (uintptr_t)src - gshmemi_my_base();
    const void* s = (const void*)(gshmemi_member_base(start, stride, root) + src_off);
    gshmemi_copy(dst, s, nbytes, gshmemi_grid_tid(), gshmemi_grid_nthreads());
}

// ---------------------------------------------------------------------------
// Reductions.
//
// Each element of the result is ((s0 op s1) op s2) ... over the team's
// members in team order, so every PE computes the same bits. 16-bit
// floats are converted to float32, combined in float32 and rounded once
// (to nearest even). Integer sum and prod wrap in two's complement. Float
// min and max follow Go's: a NaN input gives a NaN, min(-0, +0) is -0 and
// max(-0, +0) is +0 -- the host-side reductions' rules (hostshmem.OpSum).

template <typename T> struct gshmemi_acc { typedef T type; };
template <> struct gshmemi_acc<__half> { typedef float type; };
template <> struct gshmemi_acc<__nv_bfloat16> { typedef float type; };

__device__ __forceinline__ float gshmemi_to_acc(__half x) { return __half2float(x); }
__device__ __forceinline__ float gshmemi_to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float gshmemi_to_acc(float x) { return x; }
__device__ __forceinline__ int gshmemi_to_acc(int x) { return x; }
__device__ __forceinline__ long long gshmemi_to_acc(long long x) { return x; }

template <typename T> __device__ __forceinline__ T gshmemi_from_acc(typename gshmemi_acc<T>::type x) {
    return x;
}
template <> __device__ __forceinline__ __half gshmemi_from_acc<__half>(float x) {
    return __float2half_rn(x);
}
template <> __device__ __forceinline__ __nv_bfloat16 gshmemi_from_acc<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}

// Integer sum and prod in unsigned arithmetic: wrapping, no signed overflow.
template <typename A> struct gshmemi_wrap { typedef A type; };
template <> struct gshmemi_wrap<int> { typedef unsigned int type; };
template <> struct gshmemi_wrap<long long> { typedef unsigned long long type; };

struct gshmemi_op_sum {
    template <typename A> __device__ __forceinline__ A operator()(A a, A b) const {
        typedef typename gshmemi_wrap<A>::type W;
        return (A)((W)a + (W)b);
    }
};
struct gshmemi_op_prod {
    template <typename A> __device__ __forceinline__ A operator()(A a, A b) const {
        typedef typename gshmemi_wrap<A>::type W;
        return (A)((W)a * (W)b);
    }
};
struct gshmemi_op_min {
    template <typename A> __device__ __forceinline__ A operator()(A a, A b) const {
        return b < a ? b : a;
    }
    __device__ __forceinline__ float operator()(float a, float b) const {
        if (a != a) return a;
        if (b != b) return b;
        if (a == b) return signbit(a) ? a : b; // -0 beats +0
        return b < a ? b : a;
    }
};
struct gshmemi_op_max {
    template <typename A> __device__ __forceinline__ A operator()(A a, A b) const {
        return b > a ? b : a;
    }
    __device__ __forceinline__ float operator()(float a, float b) const {
        if (a != a) return a;
        if (b != b) return b;
        if (a == b) return signbit(a) ? b : a; // +0 beats -0
        return b > a ? b : a;
    }
};

// gshmemi_reduce reduces elements [lo, hi) of the array at byte offset
// src_off of every member's heap and writes element e of the result to
// element e - dshift of the array at byte offset dst_off: in this PE's
// heap, or with to_all in every member's heap. Thread tid of nthr does its
// share; 16 bytes at a time when every address involved is 16-aligned.
template <typename T, typename Op>
__device__ void gshmemi_reduce(uintptr_t src_off, uintptr_t dst_off, bool to_all, size_t lo,
                               size_t hi, size_t dshift, int start, int stride, int size,
                               size_t tid, size_t nthr) {
    typedef typename gshmemi_acc<T>::type A;
    const int P = 16 / sizeof(T);
    Op op;

    bool vec = ((src_off + lo * sizeof(T)) & 15) == 0 && ((dst_off + (lo - dshift) * sizeof(T)) & 15) == 0;
    for (int j = 0; j < size && vec; j++) {
        vec = (gshmemi_member_base(start, stride, j) & 15) == 0;
    }
    size_t vhi = lo;
    if (vec) {
        size_t npack = (hi - lo) / P;
        vhi = lo + npack * P;
        for (size_t k = tid; k < npack; k += nthr) {
            size_t e = lo + k * P;
            uintptr_t soff = src_off + e * sizeof(T);
            A acc[16 / sizeof(T)];
            uint4 v = *(const uint4*)(gshmemi_member_base(start, stride, 0) + soff);
#pragma unroll
            for (int q = 0; q < P; q++) {
                acc[q] = gshmemi_to_acc(((const T*)&v)[q]);
            }
#pragma unroll 1
            for (int j = 1; j < size; j++) {
                v = *(const uint4*)(gshmemi_member_base(start, stride, j) + soff);
#pragma unroll
                for (int q = 0; q < P; q++) {
                    acc[q] = op(acc[q], gshmemi_to_acc(((const T*)&v)[q]));
                }
            }
            uint4 out;
#pragma unroll
            for (int q = 0; q < P; q++) {
                ((T*)&out)[q] = gshmemi_from_acc<T>(acc[q]);
            }
            uintptr_t doff = dst_off + (e - dshift) * sizeof(T);
            if (to_all) {
#pragma unroll 1
                for (int j = 0; j < size; j++) {
                    *(uint4*)(gshmemi_member_base(start, stride, j) + doff) = out;
                }
            } else {
                *(uint4*)(gshmemi_my_base() + doff) = out;
            }
        }
    }
    for (size_t e = vhi + tid; e < hi; e += nthr) {
        uintptr_t soff = src_off + e * sizeof(T);
        A acc = gshmemi_to_acc(*(const T*)(gshmemi_member_base(start, stride, 0) + soff));
#pragma unroll 1
        for (int j = 1; j < size; j++) {
            acc = op(acc, gshmemi_to_acc(*(const T*)(gshmemi_member_base(start, stride, j) + soff)));
        }
        T y = gshmemi_from_acc<T>(acc);
        uintptr_t doff = dst_off + (e - dshift) * sizeof(T);
        if (to_all) {
#pragma unroll 1
            for (int j = 0; j < size; j++) {
                *(T*)(gshmemi_member_base(start, stride, j) + doff) = y;
            }
        } else {
            *(T*)(gshmemi_my_base() + doff) = y;
        }
    }
}

// One-shot allreduce: every member reads all members' src and writes its
// own dst (count elements each). src is symmetric; dst may be any device
// memory not overlapping src (peers read this PE's src meanwhile).
template <typename T, typename Op>
__device__ void gshmemi_allreduce_oneshot(T* dst, const T* src, unsigned long long count, int start,
                                          int stride, int size) {
    if (gshmemi_team_setup(start, stride, size) < 0 || !gshmemi_sym_ok(src, count, sizeof(T))) {
        return;
    }
    uintptr_t mb = gshmemi_my_base();
    gshmemi_reduce<T, Op>((uintptr_t)src - mb, (uintptr_t)dst - mb, false, 0, count, 0, start, stride,
                          size, gshmemi_grid_tid(), gshmemi_grid_nthreads());
}

// Two-shot allreduce: the count elements are cut into size chunks (the
// chunk length a multiple of 16 bytes); member i reduces chunk i from all
// members' src and writes it into chunk i of every member's dst. src and
// dst are symmetric; dst may equal src (in place: a member reads and
// writes only its own chunk), but must not overlap it otherwise.
template <typename T, typename Op>
__device__ void gshmemi_allreduce_twoshot(T* dst, const T* src, unsigned long long count, int start,
                                          int stride, int size) {
    int me = gshmemi_team_setup(start, stride, size);
    if (me < 0 || !gshmemi_sym_ok(src, count, sizeof(T)) || !gshmemi_sym_ok(dst, count, sizeof(T))) {
        return;
    }
    const size_t P = 16 / sizeof(T);
    size_t per = (count + size - 1) / size;
    per = (per + P - 1) / P * P;
    size_t lo = (size_t)me * per < count ? (size_t)me * per : count;
    size_t hi = lo + per < count ? lo + per : count;
    uintptr_t mb = gshmemi_my_base();
    gshmemi_reduce<T, Op>((uintptr_t)src - mb, (uintptr_t)dst - mb, true, lo, hi, 0, start, stride,
                          size, gshmemi_grid_tid(), gshmemi_grid_nthreads());
}

// Reduce-scatter: src holds size*count elements; member i reduces elements
// [i*count, (i+1)*count) of all members' src into its own dst (count
// elements). src is symmetric; dst may be any device memory not
// overlapping src.
template <typename T, typename Op>
__device__ void gshmemi_reducescatter(T* dst, const T* src, unsigned long long count, int start,
                                      int stride, int size) {
    int me = gshmemi_team_setup(start, stride, size);
    if (me < 0 || !gshmemi_sym_ok(src, count, sizeof(T) * (unsigned)size)) {
        return;
    }
    size_t lo = (size_t)me * count;
    uintptr_t mb = gshmemi_my_base();
    gshmemi_reduce<T, Op>((uintptr_t)src - mb, (uintptr_t)dst - mb, false, lo, lo + count, lo, start,
                          stride, size, gshmemi_grid_tid(), gshmemi_grid_nthreads());
}

// The instantiations: gshmem_k_allreduce_oneshot_<dtype>_<op>,
// gshmem_k_allreduce_twoshot_<dtype>_<op>, gshmem_k_reducescatter_<dtype>_<op>,
// each (T* dst, const T* src, unsigned long long count, int start,
// int stride, int size).
#define GSHMEMI_REDUCE_KERNEL(KIND, DT, T, OP)                                                   \
    extern "C" __global__ void gshmem_k_##KIND##_##DT##_##OP(                                    \
        T* dst, const T* src, unsigned long long count, int start, int stride, int size) {       \
        gshmemi_##KIND<T, gshmemi_op_##OP>(dst, src, count, start, stride, size);                \
    }

#define GSHMEMI_REDUCE_OPS(KIND, DT, T)                                                          \
    GSHMEMI_REDUCE_KERNEL(KIND, DT, T, sum)                                                      \
    GSHMEMI_REDUCE_KERNEL(KIND, DT, T, prod)                                                     \
    GSHMEMI_REDUCE_KERNEL(KIND, DT, T, min)                                                      \
    GSHMEMI_REDUCE_KERNEL(KIND, DT, T, max)

#define GSHMEMI_REDUCE_DTYPES(KIND)                                                              \
    GSHMEMI_REDUCE_OPS(KIND, f32, float)                                                         \
    GSHMEMI_REDUCE_OPS(KIND, f16, __half)                                                        \
    GSHMEMI_REDUCE_OPS(KIND, bf16, __nv_bfloat16)                                                \
    GSHMEMI_REDUCE_OPS(KIND, i32, int)                                                           \
    GSHMEMI_REDUCE_OPS(KIND, i64, long long)

GSHMEMI_REDUCE_DTYPES(allreduce_oneshot)
GSHMEMI_REDUCE_DTYPES(allreduce_twoshot)
GSHMEMI_REDUCE_DTYPES(reducescatter)
