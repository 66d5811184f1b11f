package kernels_test

import (
	"encoding/binary"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/kernels"
)

// ptxEntry is one kernel of a PTX module: its parameters' PTX types.
type ptxEntry struct{ params []string }

var (
	entryRE = regexp.MustCompile(`(?s)\.visible \.entry (\w+)\((.*?)\)\s*\{`)
	paramRE = regexp.MustCompile(`\.param \.(\w+) (\w+)`)
)

// parseEntries returns the kernels a PTX text defines.
func parseEntries(t *testing.T, ptx string) map[string]ptxEntry {
	t.Helper()
	out := map[string]ptxEntry{}
	for _, m := range entryRE.FindAllStringSubmatch(ptx, -1) {
		var e ptxEntry
		for i, pm := range paramRE.FindAllStringSubmatch(m[2], -1) {
			require.Equal(t, m[1]+"_param_"+strconv.Itoa(i), pm[2], "parameter %d of %s", i, m[1])
			e.params = append(e.params, pm[1])
		}
		out[m[1]] = e
	}
	return out
}

// ptxType is the PTX parameter type nvcc gives a parameter of kind k.
func ptxType(k kernels.ParamKind) string {
	if k.Size() == 4 {
		return "u32"
	}
	return "u64"
}

func TestEveryKernelIsInThePTX(t *testing.T) {
	entries := parseEntries(t, kernels.PTX())
	names := kernels.Kernels()
	require.True(t, slices.IsSorted(names))
	require.Len(t, names, 9+5*4*3)

	var inPTX []string
	for n := range entries {
		inPTX = append(inPTX, n)
	}
	slices.Sort(inPTX)
	assert.Equal(t, names, inPTX, "Kernels() and the PTX's .entry lines differ")

	for _, n := range names {
		sig, ok := kernels.Signature(n)
		require.True(t, ok, n)
		var want []string
		for _, p := range sig {
			want = append(want, ptxType(p.Kind))
		}
		assert.Equal(t, want, entries[n].params, "parameters of %s", n)
	}
	_, ok := kernels.Signature("gshmem_k_nonesuch")
	assert.False(t, ok)
}

func TestNamedKernelsExist(t *testing.T) {
	names := kernels.Kernels()
	has := func(n string) bool { _, ok := slices.BinarySearch(names, n); return ok }
	for _, n := range []string{
		kernels.KernelBarrier, kernels.KernelSignalOp, kernels.KernelSignalWait,
		kernels.KernelAMO64, kernels.KernelAMO32,
		kernels.KernelAllGather, kernels.KernelAllToAll, kernels.KernelBroadcast,
	} {
		assert.True(t, has(n), n)
	}
	count := 0
	for dt := kernels.F32; dt.Valid(); dt++ {
		for op := kernels.OpSum; op.Valid(); op++ {
			for _, n := range []string{
				kernels.AllReduceKernel(dt, op, false),
				kernels.AllReduceKernel(dt, op, true),
				kernels.ReduceScatterKernel(dt, op),
			} {
				assert.True(t, has(n), n)
				count++
			}
		}
	}
	assert.Equal(t, 5*4*3, count)
	assert.Equal(t, "gshmem_k_allreduce_twoshot_bf16_max", kernels.AllReduceKernel(kernels.BF16, kernels.OpMax, true))
	assert.Equal(t, "gshmem_k_reducescatter_i64_prod", kernels.ReduceScatterKernel(kernels.I64, kernels.OpProd))
	assert.Empty(t, kernels.AllReduceKernel(kernels.DType(5), kernels.OpSum, false))
	assert.Empty(t, kernels.AllReduceKernel(kernels.F32, kernels.Op(-1), true))
	assert.Empty(t, kernels.ReduceScatterKernel(kernels.F16, kernels.Op(4)))
	assert.Equal(t, "DType(7)", kernels.DType(7).String())
	assert.Equal(t, "Op(9)", kernels.Op(9).String())
	assert.Equal(t, 0, kernels.DType(-1).Size())
	assert.Equal(t, []int{4, 2, 2, 4, 8},
		[]int{kernels.F32.Size(), kernels.F16.Size(), kernels.BF16.Size(), kernels.I32.Size(), kernels.I64.Size()})
}

// TestStateGlobal: the module defines the state global under its C name,
// at the size of the state struct, for the PTX target the docs promise.
func TestStateGlobal(t *testing.T) {
	ptx := kernels.PTX()
	m := regexp.MustCompile(`(?m)^\.global \.align 8 \.b8 (\w+)\[(\d+)\];$`).FindAllStringSubmatch(ptx, -1)
	require.Len(t, m, 1, "want exactly one module global")
	assert.Equal(t, kernels.StateSymbol, m[0][1])
	assert.Equal(t, strconv.Itoa(kernels.StateSize), m[0][2])
	assert.NotRegexp(t, `_Z\w*gshmemi_state`, ptx, "the state's name is mangled somewhere")
	assert.Regexp(t, `(?m)^\.target sm_70$`, ptx)
	assert.Regexp(t, `(?m)^\.address_size 64$`, ptx)
}

// TestExamplePTX: examples/device_put's committed PTX has the kernel its
// main.go launches and a state global of the same layout.
func TestExamplePTX(t *testing.T) {
	b, err := os.ReadFile("../examples/device_put/put.ptx")
	require.NoError(t, err)
	ptx := string(b)
	e, ok := parseEntries(t, ptx)["put_next"]
	require.True(t, ok, "no .entry put_next")
	assert.Equal(t, []string{"u64", "u64", "u64", "u64"}, e.params)
	assert.Regexp(t, `(?m)^\.global \.align 8 \.b8 gshmemi_state\[`+strconv.Itoa(kernels.StateSize)+`\];$`, ptx)
}

func readHeader(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("gshmem_device.cuh")
	require.NoError(t, err)
	return string(b)
}

// TestHeaderStateLayout compares the header's static_asserts on
// gshmemi_device_state with the Go offsets.
func TestHeaderStateLayout(t *testing.T) {
	h := readHeader(t)
	want := map[string]int{
		"magic_version": kernels.OffMagicVersion,
		"my_pe":         kernels.OffMyPE,
		"n_pes":         kernels.OffNPEs,
		"heap_size":     kernels.OffHeapSize,
		"sym_base":      kernels.OffSymBase,
		"abort_ptr":     kernels.OffAbortPtr,
		"status_ptr":    kernels.OffStatusPtr,
		"peer_base":     kernels.OffPeerBase,
	}
	got := map[string]int{}
	re := regexp.MustCompile(`static_assert\(offsetof\(gshmemi_device_state, (\w+)\) == (\d+),`)
	for _, m := range re.FindAllStringSubmatch(h, -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	assert.Equal(t, want, got)

	m := regexp.MustCompile(`static_assert\(sizeof\(gshmemi_device_state\) == (\d+),`).FindStringSubmatch(h)
	require.NotNil(t, m, "no sizeof static_assert")
	assert.Equal(t, strconv.Itoa(kernels.StateSize), m[1])
	assert.Equal(t, kernels.OffPeerBase+8*kernels.MaxPEs, kernels.StateSize)
}

// TestHeaderConstants compares every integer #define of the header with
// its Go mirror; a new code in the header fails here until Go has it.
func TestHeaderConstants(t *testing.T) {
	want := map[string]uint64{
		"GSHMEM_MAX_PES":                     kernels.MaxPEs,
		"GSHMEM_DEVICE_RESERVED_BYTES":       kernels.DeviceReservedBytes,
		"GSHMEM_STATE_MAGIC":                 kernels.StateMagic,
		"GSHMEM_STATE_VERSION":               kernels.StateVersion,
		"GSHMEM_STATE_MAGIC_VERSION":         kernels.StateMagicVersion,
		"GSHMEM_RESERVED_ARRIVE_OFFSET":      kernels.ReservedArriveOffset,
		"GSHMEM_RESERVED_SEEN_OFFSET":        kernels.ReservedSeenOffset,
		"GSHMEM_RESERVED_FREE_OFFSET":        kernels.ReservedFreeOffset,
		"GSHMEM_BARRIER_CHANNELS":            kernels.BarrierChannels,
		"GSHMEM_RESERVED_CHAN_ARRIVE_OFFSET": kernels.ReservedChanArriveOffset,
		"GSHMEM_RESERVED_CHAN_SEEN_OFFSET":   kernels.ReservedChanSeenOffset,
		"GSHMEM_STREAM_WORDS_BYTES":          kernels.StreamWordsBytes,
		"GSHMEM_STREAM_ABORT_OFFSET":         kernels.StreamAbortOffset,
		"GSHMEM_STREAM_STATUS_OFFSET":        kernels.StreamStatusOffset,
		"GSHMEM_STREAM_DONE_OFFSET":          kernels.StreamDoneOffset,
		"GSHMEM_SUCCESS":                     uint64(kernels.CodeSuccess),
		"GSHMEM_ERR_ABORTED":                 uint64(kernels.CodeAborted),
		"GSHMEM_ERR_UNMAPPED":                uint64(kernels.CodeUnmapped),
		"GSHMEM_ERR_INVALID":                 uint64(kernels.CodeInvalid),
		"GSHMEM_CMP_EQ":                      uint64(kernels.CmpEQ),
		"GSHMEM_CMP_NE":                      uint64(kernels.CmpNE),
		"GSHMEM_CMP_GT":                      uint64(kernels.CmpGT),
		"GSHMEM_CMP_GE":                      uint64(kernels.CmpGE),
		"GSHMEM_CMP_LT":                      uint64(kernels.CmpLT),
		"GSHMEM_CMP_LE":                      uint64(kernels.CmpLE),
		"GSHMEM_SIGNAL_SET":                  uint64(kernels.SignalSet),
		"GSHMEM_SIGNAL_ADD":                  uint64(kernels.SignalAdd),
		"GSHMEM_AMO_FETCH":                   uint64(kernels.AMOFetch),
		"GSHMEM_AMO_SET":                     uint64(kernels.AMOSet),
		"GSHMEM_AMO_SWAP":                    uint64(kernels.AMOSwap),
		"GSHMEM_AMO_COMPARE_SWAP":            uint64(kernels.AMOCompareSwap),
		"GSHMEM_AMO_ADD":                     uint64(kernels.AMOAdd),
		"GSHMEM_AMO_AND":                     uint64(kernels.AMOAnd),
		"GSHMEM_AMO_OR":                      uint64(kernels.AMOOr),
		"GSHMEM_AMO_XOR":                     uint64(kernels.AMOXor),
		"GSHMEM_OP_SUM":                      uint64(kernels.OpSum),
		"GSHMEM_OP_PROD":                     uint64(kernels.OpProd),
		"GSHMEM_OP_MIN":                      uint64(kernels.OpMin),
		"GSHMEM_OP_MAX":                      uint64(kernels.OpMax),
		"GSHMEM_DTYPE_F32":                   uint64(kernels.F32),
		"GSHMEM_DTYPE_F16":                   uint64(kernels.F16),
		"GSHMEM_DTYPE_BF16":                  uint64(kernels.BF16),
		"GSHMEM_DTYPE_I32":                   uint64(kernels.I32),
		"GSHMEM_DTYPE_I64":                   uint64(kernels.I64),
	}
	tuning := map[string]bool{ // device-only knobs, no ABI
		"GSHMEM_SPIN_POLLS": true, "GSHMEM_BACKOFF_MIN_NS": true,
		"GSHMEM_BACKOFF_MAX_NS": true, "GSHMEM_ABORT_CHECK_POLLS": true,
	}
	re := regexp.MustCompile(`(?m)^#define (GSHMEM_\w+) (0x[0-9A-Fa-f]+|\d+)(?:u|ull)?\b`)
	got := map[string]uint64{}
	for _, m := range re.FindAllStringSubmatch(readHeader(t), -1) {
		if tuning[m[1]] {
			continue
		}
		v, err := strconv.ParseUint(m[2], 0, 64)
		require.NoError(t, err, m[0])
		got[m[1]] = v
	}
	assert.Equal(t, want, got)

	// The reserved area's arrays fit where the offsets put them.
	assert.LessOrEqual(t, kernels.ReservedArriveOffset+8*kernels.MaxPEs, kernels.ReservedSeenOffset)
	assert.LessOrEqual(t, kernels.ReservedSeenOffset+8*kernels.MaxPEs, kernels.ReservedChanArriveOffset)
	chanBytes := 8 * kernels.MaxPEs * (kernels.BarrierChannels - 1)
	assert.LessOrEqual(t, kernels.ReservedChanArriveOffset+chanBytes, kernels.ReservedChanSeenOffset)
	assert.LessOrEqual(t, kernels.ReservedChanSeenOffset+chanBytes, kernels.ReservedFreeOffset)
	// Every slot of the host team pool has a channel of its own.
	assert.Equal(t, 1, kernels.TeamChannel(0))
	assert.Equal(t, kernels.BarrierChannels-1, kernels.TeamChannel(hostshmem.TeamSlots-1))
	assert.Equal(t, -1, kernels.TeamChannel(hostshmem.TeamSlots))
	assert.LessOrEqual(t, kernels.ReservedFreeOffset, kernels.DeviceReservedBytes)
}

// TestCodesMatchTheHostSide: the codes the device ABI shares with the
// host packages have the host packages' numbers.
func TestCodesMatchTheHostSide(t *testing.T) {
	assert.Equal(t, hostshmem.DeviceReservedBytes, kernels.DeviceReservedBytes)
	assert.Equal(t,
		[]int{int(hostshmem.CmpEQ), int(hostshmem.CmpNE), int(hostshmem.CmpGT), int(hostshmem.CmpGE), int(hostshmem.CmpLT), int(hostshmem.CmpLE)},
		[]int{int(kernels.CmpEQ), int(kernels.CmpNE), int(kernels.CmpGT), int(kernels.CmpGE), int(kernels.CmpLT), int(kernels.CmpLE)})
	assert.Equal(t,
		[]int{int(hostshmem.SignalSet), int(hostshmem.SignalAdd)},
		[]int{int(kernels.SignalSet), int(kernels.SignalAdd)})
	assert.Equal(t,
		[]int{int(fabric.AMOFetch), int(fabric.AMOSet), int(fabric.AMOSwap), int(fabric.AMOCompareSwap),
			int(fabric.AMOAdd), int(fabric.AMOAnd), int(fabric.AMOOr), int(fabric.AMOXor)},
		[]int{int(kernels.AMOFetch), int(kernels.AMOSet), int(kernels.AMOSwap), int(kernels.AMOCompareSwap),
			int(kernels.AMOAdd), int(kernels.AMOAnd), int(kernels.AMOOr), int(kernels.AMOXor)})
	for op := kernels.OpSum; op.Valid(); op++ {
		assert.Equal(t, hostshmem.ReduceOp(op).String(), op.String(), "op %d", int(op))
	}
}

func testState() kernels.State {
	s := kernels.State{
		MyPE: 1, NPEs: 3,
		HeapSize:  1 << 26,
		SymBase:   0x1234_0000,
		AbortPtr:  0x7f00_0000_1000,
		StatusPtr: 0x7f00_0000_2000,
	}
	s.PeerBase[0] = 0x7000_0000_0000
	s.PeerBase[1] = 0x7100_0000_0000
	s.PeerBase[2] = 0 // not mapped
	return s
}

func TestStateEncoding(t *testing.T) {
	s := testState()
	b, err := s.AppendBinary([]byte{0xAA})
	require.NoError(t, err)
	require.Len(t, b, 1+kernels.StateSize)
	assert.Equal(t, byte(0xAA), b[0])
	b = b[1:]

	le := binary.LittleEndian
	assert.Equal(t, uint64(kernels.StateMagicVersion), le.Uint64(b[kernels.OffMagicVersion:]))
	assert.Equal(t, "GSHM", string([]byte{b[7], b[6], b[5], b[4]}), "the magic reads GSHM")
	assert.Equal(t, uint32(1), le.Uint32(b[kernels.OffMyPE:]))
	assert.Equal(t, uint32(3), le.Uint32(b[kernels.OffNPEs:]))
	assert.Equal(t, s.HeapSize, le.Uint64(b[kernels.OffHeapSize:]))
	assert.Equal(t, s.SymBase, le.Uint64(b[kernels.OffSymBase:]))
	assert.Equal(t, s.AbortPtr, le.Uint64(b[kernels.OffAbortPtr:]))
	assert.Equal(t, s.StatusPtr, le.Uint64(b[kernels.OffStatusPtr:]))
	for pe := range kernels.MaxPEs {
		assert.Equal(t, s.PeerBase[pe], le.Uint64(b[kernels.OffPeerBase+8*pe:]), "peer_base[%d]", pe)
	}

	var back kernels.State
	require.NoError(t, back.UnmarshalBinary(b))
	assert.Equal(t, s, back)

	m, err := s.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, b, m)

	assert.ErrorIs(t, back.UnmarshalBinary(b[:kernels.StateSize-1]), kernels.ErrBadState)
	bad := slices.Clone(b)
	bad[0] ^= 1
	assert.ErrorIs(t, back.UnmarshalBinary(bad), kernels.ErrBadState)
}

func TestStateRules(t *testing.T) {
	for name, breakIt := range map[string]func(*kernels.State){
		"no PEs":             func(s *kernels.State) { s.NPEs = 0 },
		"too many PEs":       func(s *kernels.State) { s.NPEs = kernels.MaxPEs + 1 },
		"PE out of range":    func(s *kernels.State) { s.MyPE = 3 },
		"negative PE":        func(s *kernels.State) { s.MyPE = -1 },
		"own heap unmapped":  func(s *kernels.State) { s.PeerBase[1] = 0 },
		"base past the PEs":  func(s *kernels.State) { s.PeerBase[3] = 0x1000 },
		"heap only reserved": func(s *kernels.State) { s.HeapSize = kernels.DeviceReservedBytes },
	} {
		s := testState()
		breakIt(&s)
		b, err := s.AppendBinary(nil)
		assert.ErrorIs(t, err, kernels.ErrBadState, name)
		assert.Empty(t, b, name)
	}
}

func TestDecodeStatus(t *testing.T) {
	code, pe := kernels.DecodeStatus(0)
	assert.Equal(t, kernels.CodeSuccess, code)
	assert.Equal(t, -1, pe)
	code, pe = kernels.DecodeStatus(5<<32 | uint64(kernels.CodeAborted))
	assert.Equal(t, kernels.CodeAborted, code)
	assert.Equal(t, 5, pe)
	code, pe = kernels.DecodeStatus(0xFFFFFFFF<<32 | uint64(kernels.CodeInvalid))
	assert.Equal(t, kernels.CodeInvalid, code)
	assert.Equal(t, -1, pe)
	assert.Equal(t, "peer not mapped", kernels.CodeUnmapped.String())
	assert.Equal(t, "Code(9)", kernels.Code(9).String())
}

func TestParamKinds(t *testing.T) {
	var s []string
	for k := kernels.ParamPtr; k <= kernels.ParamU32+1; k++ {
		s = append(s, k.String()+":"+strconv.Itoa(k.Size()))
	}
	assert.Equal(t, "ptr:8 u64:8 i32:4 u32:4 ParamKind(4):8", strings.Join(s, " "))
}
