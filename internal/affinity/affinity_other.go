//go:build !linux

package affinity

// Allowed returns ErrUnsupported outside Linux.
func Allowed() ([]int, error) { return nil, ErrUnsupported }

// Set returns ErrUnsupported outside Linux.
func Set([]int) error { return ErrUnsupported }
