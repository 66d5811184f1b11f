// put.cu -- a user kernel on gshmem's device API: every PE sends a block
// of floats to the next PE (a ring) and waits for the previous PE's.
//
// Regenerate put.ptx with kernels/gen.sh (nvcc -ptx -arch=compute_70).

#include "gshmem_device.cuh"

// put_next: block 0 copies n floats from src to the next PE's dst (dst is
// a symmetric object: pass this PE's own pointer) and then adds 1 to the
// next PE's signal *sig (symmetric too, starting at 0), with
// gshmem_putmem_signal_block, which orders the data before the signal.
// Block 0 then waits until its own *sig >= 1: the previous PE's data has
// arrived in this PE's dst. Other blocks return at once. If the host
// aborts the wait, the kernel ends early and the status word says why.
extern "C" __global__ void put_next(float* dst, const float* src, unsigned long long n,
                                    unsigned long long* sig) {
    if (blockIdx.x != 0 || blockIdx.y != 0 || blockIdx.z != 0) {
        return;
    }
    int next = (gshmem_my_pe() + 1) % gshmem_n_pes();
    if (gshmem_putmem_signal_block(dst, src, n * sizeof(float), sig, 1, GSHMEM_SIGNAL_ADD, next) !=
        GSHMEM_SUCCESS) {
        return;
    }
    if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) {
        gshmem_signal_wait_until(sig, GSHMEM_CMP_GE, 1);
    }
    __syncthreads(); // the block sees the previous PE's data once thread 0 has
}
