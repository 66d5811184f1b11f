// Package affinity binds a process to CPUs: the placement gpurun gives
// its PEs by default (one CPU each when there are no more PEs than CPUs,
// as mpirun's --bind-to core does), so that a user's run and gpurun bench
// run under the same placement.
package affinity

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned where the system has no CPU affinity calls
// this package knows (outside Linux).
var ErrUnsupported = errors.New("affinity: CPU affinity needs Linux")

// Plan returns the CPU local PE rank of size PEs on this node is bound to,
// given the CPUs the launcher may use: allowed[rank], or -1 when the node
// is oversubscribed (more PEs than CPUs), where, as with mpirun, nothing
// is bound.
func Plan(allowed []int, rank, size int) (int, error) {
	if size < 1 || rank < 0 || rank >= size {
		return -1, fmt.Errorf("affinity: local rank %d of %d PEs: want 0 <= rank < size", rank, size)
	}
	if size > len(allowed) {
		return -1, nil
	}
	return allowed[rank], nil
}
