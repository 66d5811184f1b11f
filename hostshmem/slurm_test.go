package hostshmem_test

import (
	"testing"

	"github.com/gshmem/gshmem/internal/petest"
)

// slurmScenarios run one after the other in one job under srun: the host
// API's puts, gets, atomics, signals, waits, locks, collectives, teams and
// contexts. (The fault scenarios kill PEs: they run on their own.)
var slurmScenarios = []string{
	"alloc", "rma", "amo", "amo_nbi", "signal", "wait", "wait16", "barrier", "ring",
	"coll", "teams", "split_args", "team_ctx", "ctx", "lock", "lock_fifo", "malloc_hints", "ptr",
}

// TestSlurm runs the host API's scenarios as the tasks of a Slurm step,
// bootstrapped through PMI-2 and through PMIx: on one node (3 PEs over
// shared memory) and on two (4 PEs, 2 per node, the nodes reaching each
// other through libfabric).
func TestSlurm(t *testing.T) {
	for _, mpi := range []string{"pmi2", "pmix"} {
		t.Run(mpi+"/1node", func(t *testing.T) { petest.Slurm(t, scenarios, mpi, 1, 3, slurmScenarios...) })
		// "ptr" asserts that every peer's memory is mapped here: across
		// nodes Ptr rightly says it is not.
		t.Run(mpi+"/2nodes", func(t *testing.T) {
			petest.Slurm(t, scenarios, mpi, 2, 4, slurmScenarios[:len(slurmScenarios)-1]...)
		})
	}
}
