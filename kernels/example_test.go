package kernels_test

import (
	"fmt"

	"github.com/gshmem/gshmem/kernels"
)

// The runtime picks a reduce kernel by element type and operation, and
// packs its parameters as Signature lists them.
func ExampleAllReduceKernel() {
	name := kernels.AllReduceKernel(kernels.BF16, kernels.OpSum, true)
	sig, _ := kernels.Signature(name)
	fmt.Println(name)
	for _, p := range sig {
		fmt.Printf("  %s %s (%d bytes)\n", p.Kind, p.Name, p.Kind.Size())
	}
	// Output:
	// gshmem_k_allreduce_twoshot_bf16_sum
	//   ptr dst (8 bytes)
	//   ptr src (8 bytes)
	//   u64 count (8 bytes)
	//   i32 start (4 bytes)
	//   i32 stride (4 bytes)
	//   i32 size (4 bytes)
}

// Before launching a module's kernels the runtime encodes the PE's view
// of the job and copies it to the module's gshmemi_state global.
func ExampleState_AppendBinary() {
	s := kernels.State{MyPE: 0, NPEs: 2, HeapSize: 64 << 20}
	s.PeerBase[0] = 0x7f0000000000 // this PE's heap
	s.PeerBase[1] = 0x7f1000000000 // PE 1's heap, opened with CUDA IPC
	b, err := s.AppendBinary(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d bytes for %s, first word %#x\n", len(b), kernels.StateSymbol, b[:8])

	s.PeerBase[0] = 0
	_, err = s.AppendBinary(nil)
	fmt.Println(err)
	// Output:
	// 304 bytes for gshmemi_state, first word 0x010000004d485347
	// kernels: bad device state: PE 0's own heap base is 0
}

func ExampleDecodeStatus() {
	// A kernel on this PE gave up waiting on PE 3 after the host aborted.
	code, pe := kernels.DecodeStatus(3<<32 | uint64(kernels.CodeAborted))
	fmt.Println(code, pe)
	// Output: aborted 3
}
