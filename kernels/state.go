package kernels

import "encoding/binary"

// The device state's ABI (struct gshmemi_device_state in
// gshmem_device.cuh, whose static_asserts pin the same numbers): its
// first word, its size and the byte offsets of its fields. Every field is
// little-endian.
const (
	StateMagic        = 0x4753484D // "GSHM"
	StateVersion      = 1
	StateMagicVersion = StateMagic<<32 | StateVersion // the uint64 at OffMagicVersion

	StateSize = 304 // bytes

	OffMagicVersion = 0  // uint64: StateMagicVersion
	OffMyPE         = 8  // int32
	OffNPEs         = 12 // int32
	OffHeapSize     = 16 // uint64
	OffSymBase      = 24 // uint64
	OffAbortPtr     = 32 // uint64 device address
	OffStatusPtr    = 40 // uint64 device address
	OffPeerBase     = 48 // [MaxPEs]uint64 device addresses
)

// State is what the runtime writes into a module's StateSymbol global
// before launching the module's kernels, one per PE and module.
type State struct {
	MyPE int32 // this PE, in [0, NPEs)
	NPEs int32 // PEs in the job, in [1, MaxPEs]
	// HeapSize is the size in bytes of every PE's device heap, reserved
	// area included.
	HeapSize uint64
	// SymBase is the symmetric-space offset of the device heap's first
	// byte: a host-side Sym offset minus SymBase is the byte offset in
	// every PE's device heap (hostshmem.PE.DeviceOffset).
	SymBase uint64
	// AbortPtr is the device address of a host-mapped pinned uint32 the
	// host sets non-zero to make every device-side wait give up; 0 for
	// none (then waits never give up).
	AbortPtr uint64
	// StatusPtr is the device address of a host-mapped uint64, zero at
	// first, where a kernel that fails records why (DecodeStatus); 0 for
	// none.
	StatusPtr uint64
	// PeerBase[pe] is PE pe's device heap as mapped in this PE's context
	// (CUDA IPC), 0 where not mapped; PeerBase[MyPE] is the PE's own heap.
	// Entries from NPEs on must be 0.
	PeerBase [MaxPEs]uint64
}

// AppendBinary appends the StateSize bytes of s in the device layout,
// magic first, to b. It returns an error wrapping ErrBadState if s breaks
// a rule of State's fields, or if HeapSize leaves no room beyond the
// reserved area.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	switch {
	case s.NPEs < 1 || s.NPEs > MaxPEs:
		return b, fmtErr("%d PEs, want 1 to %d", s.NPEs, MaxPEs)
	case s.MyPE < 0 || s.MyPE >= s.NPEs:
		return b, fmtErr("PE %d of %d", s.MyPE, s.NPEs)
	case s.PeerBase[s.MyPE] == 0:
		return b, fmtErr("PE %d's own heap base is 0", s.MyPE)
	case s.HeapSize <= DeviceReservedBytes:
		return b, fmtErr("heap of %d bytes, want more than the %d reserved", s.HeapSize, DeviceReservedBytes)
	}
	for pe := int(s.NPEs); pe < MaxPEs; pe++ {
		if s.PeerBase[pe] != 0 {
			return b, fmtErr("heap base for PE %d of %d", pe, s.NPEs)
		}
	}
	b = binary.LittleEndian.AppendUint64(b, StateMagicVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(s.MyPE))
	b = binary.LittleEndian.AppendUint32(b, uint32(s.NPEs))
	b = binary.LittleEndian.AppendUint64(b, s.HeapSize)
	b = binary.LittleEndian.AppendUint64(b, s.SymBase)
	b = binary.LittleEndian.AppendUint64(b, s.AbortPtr)
	b = binary.LittleEndian.AppendUint64(b, s.StatusPtr)
	for _, base := range s.PeerBase {
		b = binary.LittleEndian.AppendUint64(b, base)
	}
	return b, nil
}

// MarshalBinary is AppendBinary into a new slice.
func (s *State) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, StateSize))
}

// UnmarshalBinary reads a State from the StateSize bytes of the device
// layout (a copy of a module's StateSymbol global, say). It returns an
// error wrapping ErrBadState if b has another length or does not start
// with StateMagicVersion; it does not check the fields' rules.
func (s *State) UnmarshalBinary(b []byte) error {
	if len(b) != StateSize {
		return fmtErr("%d bytes, want %d", len(b), StateSize)
	}
	le := binary.LittleEndian
	if mv := le.Uint64(b[OffMagicVersion:]); mv != StateMagicVersion {
		return fmtErr("magic and version %#x, want %#x", mv, uint64(StateMagicVersion))
	}
	s.MyPE = int32(le.Uint32(b[OffMyPE:]))
	s.NPEs = int32(le.Uint32(b[OffNPEs:]))
	s.HeapSize = le.Uint64(b[OffHeapSize:])
	s.SymBase = le.Uint64(b[OffSymBase:])
	s.AbortPtr = le.Uint64(b[OffAbortPtr:])
	s.StatusPtr = le.Uint64(b[OffStatusPtr:])
	for i := range s.PeerBase {
		s.PeerBase[i] = le.Uint64(b[OffPeerBase+8*i:])
	}
	return nil
}
