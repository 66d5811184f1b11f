// Package kernels holds gshmem's CUDA device code and the Go side of its
// ABI.
//
// The sources live beside this file: gshmem_device.cuh is the device API
// that user kernels include (puts, gets, atomics, signals, waits and
// barriers on the symmetric device heap), and collectives.cu holds the
// runtime's own kernels. gen.sh (nvcc 11.8; the flags live in the
// top-level CMakeLists.txt) generates two files from collectives.cu, both
// committed and embedded here: collectives.fatbin, which Image returns and
// the runtime loads (SASS for sm_80 and sm_90, so no JIT at start-up, and
// PTX that the driver JIT-compiles for other GPUs), and collectives.ptx
// (nvcc -ptx -arch=compute_70 -std=c++14 -I kernels), which PTX returns,
// for tests and for reading. Do not edit the generated files; edit the .cu
// sources and run kernels/gen.sh.
//
// The runtime's duties, in order, for each PE and each loaded module
// (this one and every user module built on gshmem_device.cuh):
//
//  1. Allocate the device heap and zero its first DeviceReservedBytes (the
//     barrier counters) before any barrier runs.
//  2. Map the peers' heaps, then fill a State, encode it with
//     State.AppendBinary and copy the bytes to the module's global named
//     StateSymbol (cuModuleGetGlobal), before launching any of the
//     module's kernels. The runtime's kernels trap on an unfilled state.
//  3. Launch the kernels named here with the parameters Signature lists.
//     The collectives do no cross-PE synchronisation of their own: launch
//     KernelBarrier on the team before and after each of them.
//  4. To stop device waits (a peer died), set the host-mapped abort word
//     non-zero; read the status word (DecodeStatus) to learn why a kernel
//     gave up. The waiting kernels also take a stream's own words
//     (StreamWordsBytes): set its abort word to stop one stream's waits
//     only, and read why they gave up in its status word.
//
// Nothing here needs a GPU or cgo: the package is data and names.
package kernels

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

//go:generate bash gen.sh

//go:embed collectives.ptx
var collectivesPTX string

//go:embed collectives.fatbin
var collectivesImage string

// PTX returns the text of the runtime's PTX module (collectives.ptx), to
// load with cuModuleLoadData (which wants it NUL-terminated). It defines
// every kernel Kernels names and the StateSymbol global. PTX ISA 7.8
// (nvcc 11.8): drivers from release 520 on load it. A driver JIT-compiles
// all of it at load, seconds of start-up: the runtime loads Image.
func PTX() string { return collectivesPTX }

// Image returns the runtime's module as a fatbin (collectives.fatbin), to
// load with cuModuleLoadData; the caller owns the returned slice, a fresh
// copy. It holds the same kernels and StateSymbol as PTX, compiled from
// the same source: SASS for sm_80 (also run by sm_86 and sm_89) and sm_90,
// which load without a JIT, and PTX for compute_90 (GPUs newer than sm_90)
// and compute_70 (Volta, Turing), which the driver JIT-compiles as it
// would PTX. Drivers from release 520 on load it (CUDA 11.8); every image
// in it is compressed.
func Image() []byte { return []byte(collectivesImage) }

// ABI sizes and the reserved area, as gshmem_device.cuh defines them.
const (
	// MaxPEs is the most PEs a job may have (GSHMEM_MAX_PES).
	MaxPEs = 32
	// DeviceReservedBytes are the runtime's at the start of every PE's
	// device heap; user objects come after (GSHMEM_DEVICE_RESERVED_BYTES).
	DeviceReservedBytes = 64 << 10

	// BarrierChannels is the number of independent sets of barrier
	// counters in the reserved area: barriers on different channels may
	// be in flight on a PE at once. Channel 0 is the device API's (user
	// kernels); the runtime's stream barriers on a team use channel
	// TeamChannel(team slot).
	BarrierChannels = 65
	// ReservedArriveOffset is where channel 0's uint64 arrive[MaxPEs]
	// counters start in the reserved area: arrive[q] counts the barriers
	// PE q has arrived at on this PE; only peers write it, with atomic
	// adds.
	ReservedArriveOffset = 0
	// ReservedSeenOffset is where channel 0's uint64 seen[MaxPEs]
	// counters start: seen[q] counts the arrivals of q this PE has
	// consumed; only this PE reads and writes it.
	ReservedSeenOffset = 4096
	// ReservedChanArriveOffset is where the arrive counters of channels
	// 1, 2, ... start: uint64 [BarrierChannels-1][MaxPEs], as channel 0's.
	ReservedChanArriveOffset = 8192
	// ReservedChanSeenOffset is where the seen counters of channels 1,
	// 2, ... start: uint64 [BarrierChannels-1][MaxPEs], as channel 0's.
	ReservedChanSeenOffset = 24576
	// ReservedFreeOffset is the first byte of the reserved area without a
	// meaning yet; the rest of the area stays zero.
	ReservedFreeOffset = 40960
)

// TeamChannel is the barrier channel of the runtime's stream barriers on
// the host team whose slot in the team pool is slot (hostshmem.Team.Slot,
// which every member agrees on): 1 + slot, or -1 when slot is out of
// range.
func TeamChannel(slot int) int {
	if slot < 0 || slot >= BarrierChannels-1 {
		return -1
	}
	return 1 + slot
}

// A runtime stream's words: a host-mapped block of StreamWordsBytes that
// the waiting kernels take as their sw parameter (struct gshmemi_sw in
// gshmem_device.cuh). Waits given it give up when its abort word (or the
// PE's) is non-zero, and record their failures in its status word (as
// the PE's status word: DecodeStatus). The done word is the stream's
// own: the runtime writes the position of each completed op there.
const (
	StreamWordsBytes   = 64
	StreamAbortOffset  = 0  // uint32
	StreamStatusOffset = 8  // uint64
	StreamDoneOffset   = 16 // uint64
)

// Kernel names that take no dtype or op. Signature lists each one's
// parameters; their doc comments in collectives.cu say what they do.
const (
	// KernelBarrier is a barrier across a team on a barrier channel
	// (TeamChannel), giving up when the stream's words (sw) or the PE say
	// abort. Launch one block (32 threads suffice).
	KernelBarrier = "gshmem_k_barrier"
	// KernelSignalOp updates a peer's signal after a system-scope fence.
	// Launch one thread.
	KernelSignalOp = "gshmem_k_signal_op"
	// KernelSignalWait waits until a local signal compares to a value; it
	// gives up when the host sets the stream's abort word (sw) or the
	// PE's. Launch one thread.
	KernelSignalWait = "gshmem_k_signal_wait"
	// KernelStore64 stores a value to an 8-byte word (device or
	// host-mapped memory) after a system-scope fence: a stream's progress
	// mark where cuStreamWriteValue64 is missing. Launch one thread.
	KernelStore64 = "gshmem_k_store64"
	// KernelAMO64 applies an AMOOp to a peer's 8-byte word and stores the
	// old value to host-mapped memory. Launch one thread.
	KernelAMO64 = "gshmem_k_amo64"
	// KernelAMO32 is KernelAMO64 for a 4-byte word.
	KernelAMO32 = "gshmem_k_amo32"
	// KernelAllGather pushes this PE's nbytes at src to dst + i*nbytes on
	// every team member, i being this PE's team index. dst is symmetric;
	// src is any device memory not overlapping dst. Any grid.
	KernelAllGather = "gshmem_k_allgather"
	// KernelAllToAll pushes src block j (nbytes each) to dst block i on
	// team member j. dst is symmetric; src is any device memory not
	// overlapping dst. Any grid.
	KernelAllToAll = "gshmem_k_alltoall"
	// KernelBroadcast copies nbytes from the root member's src (root is a
	// team index) to this PE's dst. src is symmetric; dst is any device
	// memory, equal to src or not overlapping it. Any grid.
	KernelBroadcast = "gshmem_k_broadcast"
)

// StateSymbol is the name of the module global that holds the State.
const StateSymbol = "gshmemi_state"

// DType is an element type of the reduce kernels.
type DType int

// The element types, numbered as GSHMEM_DTYPE_* in gshmem_device.cuh.
const (
	F32  DType = iota // float
	F16               // __half (IEEE binary16), reduced in float32
	BF16              // __nv_bfloat16, reduced in float32
	I32               // int32
	I64               // int64
)

var dtypeNames = [...]string{"f32", "f16", "bf16", "i32", "i64"}
var dtypeSizes = [...]int{4, 2, 2, 4, 8}

// String is the name the kernel names use, e.g. "bf16".
func (d DType) String() string {
	if d.Valid() {
		return dtypeNames[d]
	}
	return "DType(" + strconv.Itoa(int(d)) + ")"
}

// Valid reports whether d is one of the element types.
func (d DType) Valid() bool { return d >= 0 && int(d) < len(dtypeNames) }

// Size is the number of bytes of one element (0 for an invalid DType).
func (d DType) Size() int {
	if d.Valid() {
		return dtypeSizes[d]
	}
	return 0
}

// Op is a reduction operation of the reduce kernels.
type Op int

// The operations, numbered as hostshmem.ReduceOp (GSHMEM_OP_* in
// gshmem_device.cuh) and with its semantics: integer sum and prod wrap,
// float min and max propagate NaNs and order -0 below +0, and every PE
// combines the members' values in team order, so all get the same bits.
const (
	OpSum Op = iota
	OpProd
	OpMin
	OpMax
)

var opNames = [...]string{"sum", "prod", "min", "max"}

// String is the name the kernel names use, e.g. "max".
func (o Op) String() string {
	if o.Valid() {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Valid reports whether o is one of the operations.
func (o Op) Valid() bool { return o >= 0 && int(o) < len(opNames) }

// AllReduceKernel names the allreduce kernel for dt and op: one-shot
// (every PE reads all members' sources and reduces the whole array into
// its own destination) or, with twoShot, two-shot (member i reduces chunk i
// and writes it into every member's destination). src is symmetric. For
// one-shot, dst is any device memory not overlapping src (peers read src
// meanwhile); for two-shot, dst is symmetric and may equal src (in place).
// It returns "" if dt or op is not valid. Its parameters (Signature) are dst, src (local
// symmetric pointers), count (elements) and the team.
func AllReduceKernel(dt DType, op Op, twoShot bool) string {
	if !dt.Valid() || !op.Valid() {
		return ""
	}
	kind := "oneshot"
	if twoShot {
		kind = "twoshot"
	}
	return "gshmem_k_allreduce_" + kind + "_" + dt.String() + "_" + op.String()
}

// ReduceScatterKernel names the reduce-scatter kernel for dt and op: src
// holds size*count elements and member i reduces elements [i*count,
// (i+1)*count) of every member's src into its own dst. src is symmetric;
// dst is any device memory not overlapping src. It returns "" if dt or op
// is not valid. Its parameters (Signature) are dst, src (local
// symmetric pointers), count (elements) and the team.
func ReduceScatterKernel(dt DType, op Op) string {
	if !dt.Valid() || !op.Valid() {
		return ""
	}
	return "gshmem_k_reducescatter_" + dt.String() + "_" + op.String()
}

// ParamKind is the type of one kernel parameter as cuLaunchKernel passes
// it: a pointer to a value of Size bytes.
type ParamKind uint8

// Parameter kinds.
const (
	ParamPtr ParamKind = iota // a device pointer (8 bytes)
	ParamU64                  // unsigned long long (8 bytes)
	ParamI32                  // int (4 bytes)
	ParamU32                  // unsigned int (4 bytes)
)

// Size is the parameter's size in bytes.
func (k ParamKind) Size() int {
	if k == ParamI32 || k == ParamU32 {
		return 4
	}
	return 8
}

func (k ParamKind) String() string {
	switch k {
	case ParamPtr:
		return "ptr"
	case ParamU64:
		return "u64"
	case ParamI32:
		return "i32"
	case ParamU32:
		return "u32"
	}
	return "ParamKind(" + strconv.Itoa(int(k)) + ")"
}

// Param is one kernel parameter: its name in the CUDA source and its kind.
type Param struct {
	Name string
	Kind ParamKind
}

func param(name string, k ParamKind) Param { return Param{name, k} }

var teamParams = []Param{param("start", ParamI32), param("stride", ParamI32), param("size", ParamI32)}

// reduceSignature is the parameter list of every allreduce and
// reduce-scatter kernel: local symmetric pointers to the destination and
// the source, the element count (per PE for reduce-scatter's dst), and
// the team.
var reduceSignature = slices.Concat([]Param{param("dst", ParamPtr), param("src", ParamPtr), param("count", ParamU64)}, teamParams)

var moveSignature = slices.Concat([]Param{param("dst", ParamPtr), param("src", ParamPtr), param("nbytes", ParamU64)}, teamParams)

var signatures = map[string][]Param{
	KernelBarrier:    slices.Concat([]Param{param("sw", ParamPtr), param("channel", ParamI32)}, teamParams),
	KernelSignalOp:   {param("sig", ParamPtr), param("pe", ParamI32), param("sig_op", ParamI32), param("value", ParamU64)},
	KernelSignalWait: {param("sig", ParamPtr), param("cmp", ParamI32), param("value", ParamU64), param("sw", ParamPtr)},
	KernelStore64:    {param("p", ParamPtr), param("value", ParamU64)},
	KernelAMO64: {param("ptr", ParamPtr), param("pe", ParamI32), param("op", ParamI32),
		param("operand", ParamU64), param("cond", ParamU64), param("result", ParamPtr)},
	KernelAMO32: {param("ptr", ParamPtr), param("pe", ParamI32), param("op", ParamI32),
		param("operand", ParamU32), param("cond", ParamU32), param("result", ParamPtr)},
	KernelAllGather: moveSignature,
	KernelAllToAll:  moveSignature,
	KernelBroadcast: slices.Concat([]Param{param("dst", ParamPtr), param("src", ParamPtr), param("nbytes", ParamU64),
		param("root", ParamI32)}, teamParams),
}

func init() {
	for dt := F32; dt.Valid(); dt++ {
		for op := OpSum; op.Valid(); op++ {
			signatures[AllReduceKernel(dt, op, false)] = reduceSignature
			signatures[AllReduceKernel(dt, op, true)] = reduceSignature
			signatures[ReduceScatterKernel(dt, op)] = reduceSignature
		}
	}
}

// Signature returns the parameters of the named kernel in order, or
// false if PTX defines no such kernel. The caller must not modify the
// slice.
func Signature(kernel string) ([]Param, bool) {
	s, ok := signatures[kernel]
	return s, ok
}

// Kernels returns the names of every kernel in PTX, sorted.
func Kernels() []string {
	names := make([]string, 0, len(signatures))
	for n := range signatures {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Cmp is a comparison for device waits, numbered as hostshmem.Cmp.
type Cmp int

// The comparisons: a wait ends when (the variable Cmp the value) holds.
const (
	CmpEQ Cmp = iota
	CmpNE
	CmpGT
	CmpGE
	CmpLT
	CmpLE
)

// SignalOp is how a put-with-signal or KernelSignalOp updates the signal,
// numbered as hostshmem.SignalOp.
type SignalOp int

// The signal operations.
const (
	SignalSet SignalOp = iota // the signal becomes the value
	SignalAdd                 // the value is added to the signal
)

// AMOOp is the operation of KernelAMO64 and KernelAMO32, numbered as
// fabric.AMOOp. Each yields the word's previous value.
type AMOOp int

// The atomic operations.
const (
	AMOFetch AMOOp = iota
	AMOSet
	AMOSwap
	AMOCompareSwap
	AMOAdd
	AMOAnd
	AMOOr
	AMOXor
)

// Code is a device-side error code: an int result of the device API and
// the low half of the status word.
type Code int32

// The codes.
const (
	CodeSuccess  Code = iota // no failure
	CodeAborted              // a wait gave up: the host set the abort word
	CodeUnmapped             // a PE out of range or not mapped, or a pointer outside the heap
	CodeInvalid              // a bad op or comparison code, or a bad team
)

var codeNames = [...]string{"success", "aborted", "peer not mapped", "invalid argument"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}

// DecodeStatus splits a status word (the host-mapped word at
// State.StatusPtr) into the code of the first recorded failure and the PE
// the failing call addressed or waited on (-1 when none). A zero word is
// (CodeSuccess, -1).
func DecodeStatus(word uint64) (code Code, pe int) {
	code = Code(uint32(word))
	pe = int(int32(uint32(word >> 32)))
	if code == CodeSuccess {
		pe = -1
	}
	return code, pe
}

// ErrBadState is wrapped by the errors of State.AppendBinary and
// State.UnmarshalBinary.
var ErrBadState = errors.New("kernels: bad device state")

// fmtErr wraps ErrBadState.
func fmtErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadState}, args...)...)
}
