//go:build !cgo

package cuda

// The stand-in for raw_cgo.go in a binary built without cgo: Load fails
// with ErrNoDriver before any of these methods can be reached, so they only
// need to compile; each reports CUDA_ERROR_NOT_INITIALIZED.

import "unsafe"

type result int32

const (
	ctxErrBit = 0x40000000
	haveCgo   = false
	notInit   = result(3) // CUDA_ERROR_NOT_INITIALIZED
	maxArgs   = 128
	// codeMissing is the result of a call whose optional entry point the
	// driver lacks.
	codeMissing = 0x20000000
)

type driverLib struct{}

const (
	loadOK = iota
	loadDlopen
	loadMissing
)

func openLib(string) (driverLib, int, string) { return driverLib{}, loadDlopen, "built without cgo" }
func symbolNames() (names, alts []string)     { return nil, nil }
func optionalNames() []string                 { return nil }
func (driverLib) release()                    {}
func (driverLib) memOpsV2() bool              { return false }
func (driverLib) init() result                { return notInit }
func (driverLib) version() (int, result)      { return 0, notInit }
func (driverLib) errorText(result) (string, string) {
	return "CUDA_ERROR_NOT_INITIALIZED", "built without cgo"
}
func (driverLib) deviceCount() (int, result)    { return 0, notInit }
func (driverLib) deviceGet(int) (int32, result) { return 0, notInit }
func (driverLib) deviceInfo(int32) (name, pci string, uuid [16]byte, total uint64, step int, r result) {
	return "", "", uuid, 0, 0, notInit
}
func (driverLib) deviceAttr(int32, int) (int, result)        { return 0, notInit }
func (driverLib) primaryRetain(int32) (uintptr, result)      { return 0, notInit }
func (driverLib) primaryRelease(int32) result                { return notInit }
func (driverLib) setCurrent(uintptr) result                  { return notInit }
func (driverLib) ctxSync(uintptr) result                     { return notInit }
func (driverLib) memAlloc(uintptr, uintptr) (uint64, result) { return 0, notInit }
func (driverLib) memFree(uintptr, uint64) result             { return notInit }
func (driverLib) memset8(uintptr, uint64, byte, uintptr, uintptr, bool) result {
	return notInit
}
func (driverLib) htod(uintptr, uint64, unsafe.Pointer, uintptr, uintptr, bool) result {
	return notInit
}
func (driverLib) dtoh(uintptr, unsafe.Pointer, uint64, uintptr, uintptr, bool) result {
	return notInit
}
func (driverLib) dtod(uintptr, uint64, uint64, uintptr, uintptr, bool) result { return notInit }
func (driverLib) hostAlloc(uintptr, uintptr, uint32) (unsafe.Pointer, result) {
	return nil, notInit
}
func (driverLib) hostFree(uintptr, unsafe.Pointer) result                      { return notInit }
func (driverLib) hostRegister(uintptr, unsafe.Pointer, uintptr, uint32) result { return notInit }
func (driverLib) hostUnregister(uintptr, unsafe.Pointer) result                { return notInit }
func (driverLib) hostDevPtr(uintptr, unsafe.Pointer) (uint64, result)          { return 0, notInit }
func (driverLib) ipcGet(uintptr, uint64, *[64]byte) result                     { return notInit }
func (driverLib) ipcOpen(uintptr, *[64]byte) (uint64, result)                  { return 0, notInit }
func (driverLib) ipcClose(uintptr, uint64) result                              { return notInit }
func (driverLib) canAccessPeer(int32, int32) (bool, result)                    { return false, notInit }
func (driverLib) enablePeer(uintptr, uintptr) result                           { return notInit }
func (driverLib) streamCreate(uintptr, uint32) (uintptr, result)               { return 0, notInit }
func (driverLib) streamDestroy(uintptr, uintptr) result                        { return notInit }
func (driverLib) streamSync(uintptr, uintptr) result                           { return notInit }
func (driverLib) streamQuery(uintptr, uintptr) result                          { return notInit }
func (driverLib) streamWaitEvent(uintptr, uintptr, uintptr) result             { return notInit }
func (driverLib) streamMemOp(uintptr, uintptr, int, uint64, uint64, uint32) result {
	return notInit
}
func (driverLib) eventCreate(uintptr, uint32) (uintptr, result)            { return 0, notInit }
func (driverLib) eventDestroy(uintptr, uintptr) result                     { return notInit }
func (driverLib) eventRecord(uintptr, uintptr, uintptr) result             { return notInit }
func (driverLib) eventSync(uintptr, uintptr) result                        { return notInit }
func (driverLib) eventQuery(uintptr, uintptr) result                       { return notInit }
func (driverLib) eventElapsed(uintptr, uintptr, uintptr) (float32, result) { return 0, notInit }
func (driverLib) moduleLoad(uintptr, []byte) (uintptr, string, result)     { return 0, "", notInit }
func (driverLib) moduleUnload(uintptr, uintptr) result                     { return notInit }
func (driverLib) moduleFunction(uintptr, uintptr, string) (uintptr, result) {
	return 0, notInit
}
func (driverLib) moduleGlobal(uintptr, uintptr, string) (uint64, uintptr, result) {
	return 0, 0, notInit
}
func (driverLib) funcAttr(uintptr, uintptr, int) (int, result) { return 0, notInit }
func (driverLib) launch(uintptr, uintptr, Dim3, Dim3, uint32, uintptr, []uint64) result {
	return notInit
}
func (driverLib) moduleFunctionCount(uintptr, uintptr) (int, result) { return 0, notInit }
func (driverLib) moduleFunctions(uintptr, uintptr, int) ([]uintptr, []string, result) {
	return nil, nil, notInit
}
func (driverLib) funcLoad(uintptr, uintptr) result { return notInit }
