//go:build !amd64 && !arm64

package shm

// sysMemfdCreate is unknown here: NewSegmentFiles reports
// errors.ErrUnsupported, and PEs create named segments (Options.Dir).
const sysMemfdCreate = -1
