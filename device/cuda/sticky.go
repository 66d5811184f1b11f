package cuda

// CUresult values of the errors that leave a context unusable
// (cuda.h, CUDA 12): after one, every call on the context returns it.
const (
	codeECCUncorrectable   = 214
	codeIllegalAddress     = 700
	codeLaunchTimeout      = 702
	codeAssert             = 710
	codeHardwareStackError = 714
	codeIllegalInstruction = 715
	codeMisalignedAddress  = 716
	codeInvalidAddrSpace   = 717
	codeInvalidPC          = 718
	codeLaunchFailed       = 719
)

// IsSticky reports whether err is a driver error that poisons its context:
// a kernel faulted (CUDA_ERROR_ILLEGAL_ADDRESS, _ILLEGAL_INSTRUCTION,
// _MISALIGNED_ADDRESS, _INVALID_ADDRESS_SPACE, _INVALID_PC,
// _HARDWARE_STACK_ERROR, _ASSERT, _LAUNCH_FAILED, _LAUNCH_TIMEOUT) or the
// memory failed (CUDA_ERROR_ECC_UNCORRECTABLE). After such an error every
// call on the context fails with it, for every user of the context (every
// PE of the process on that GPU, with primary contexts), until the process
// ends: nothing on that context can go on.
func IsSticky(err error) bool {
	switch {
	case hasCode(err, codeECCUncorrectable), hasCode(err, codeIllegalAddress),
		hasCode(err, codeLaunchTimeout), hasCode(err, codeAssert),
		hasCode(err, codeHardwareStackError), hasCode(err, codeIllegalInstruction),
		hasCode(err, codeMisalignedAddress), hasCode(err, codeInvalidAddrSpace),
		hasCode(err, codeInvalidPC), hasCode(err, codeLaunchFailed):
		return true
	}
	return false
}
