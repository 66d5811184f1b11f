package am_test

import (
	"testing"

	"github.com/gshmem/gshmem/internal/petest"
)

// slurmScenarios run one after the other in one job under srun: active
// messages (with returns, recursion, aggregation, floods, failures) and
// Darcs. (The fault scenario kills a PE: it runs on its own.)
var slurmScenarios = []string{"basic", "returnam", "recursive", "mix", "failures", "darc", "darcstress", "convert", "rw", "aggregate", "flood"}

// TestSlurm runs the AM and Darc scenarios as the tasks of a Slurm step,
// bootstrapped through PMI-2 and through PMIx: on one node (3 PEs over
// shared memory) and on two (4 PEs, 2 per node, the nodes reaching each
// other through libfabric).
func TestSlurm(t *testing.T) {
	for _, mpi := range []string{"pmi2", "pmix"} {
		t.Run(mpi+"/1node", func(t *testing.T) { petest.Slurm(t, scenarios, mpi, 1, 3, slurmScenarios...) })
		t.Run(mpi+"/2nodes", func(t *testing.T) { petest.Slurm(t, scenarios, mpi, 2, 4, slurmScenarios...) })
	}
}
