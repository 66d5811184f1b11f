//go:build !cgo

package pmix

// The stand-in for raw_cgo.go in a binary built without cgo: Open fails
// with ErrNoLibrary before any of these can be reached, so they only need
// to compile.

const haveCgo = false

type status int32

const (
	statusOK       = status(0)
	statusTimeout  = status(-24)
	statusNotFound = status(-46)
	statusBadType  = status(1000)
	statusNoCgo    = status(-31) // PMIX_ERR_INIT

	typeString = 3
)

const (
	loadOK = iota
	loadDlopen
	loadMissing
)

type lib struct{}

func openLib(string) (lib, int, string) { return lib{}, loadDlopen, "built without cgo" }
func symbolNames() []string             { return nil }
func (lib) version() string             { return "" }
func (lib) errorString(status) string   { return "built without cgo" }
func (lib) init() (string, uint32, status) {
	return "", 0, statusNoCgo
}
func (lib) get(string, uint32, string, bool, int) (int, uint64, string, status) {
	return 0, 0, "", statusNoCgo
}
func (lib) put(string, string) status                      { return statusNoCgo }
func (lib) fence(string, int) status                       { return statusNoCgo }
func (lib) resolveNodes(string) (string, status)           { return "", statusNoCgo }
func (lib) resolvePeers(string, string) ([]uint32, status) { return nil, statusNoCgo }
func (lib) abort(int, string) status                       { return statusNoCgo }
func (lib) finalize() status                               { return statusNoCgo }
