package memcopy

// repMovsb copies n bytes from src to dst with REP MOVSB, forwards: the
// ranges must not overlap.
//
//go:noescape
func repMovsb(dst, src *byte, n uintptr)

// cpuid runs CPUID with EAX=leaf and ECX=sub.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// hasERMS reports whether the CPU has enhanced REP MOVSB (CPUID leaf 7,
// EBX bit 9), the microcode path that makes it a copy at full speed.
func hasERMS() bool {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<9) != 0
}
