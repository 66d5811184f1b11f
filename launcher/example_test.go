package launcher_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/gshmem/gshmem/launcher"
)

// Two PEs of a shell program; the PEs' lines arrive in any order, so the
// example sorts them.
func ExampleRun() {
	var out bytes.Buffer
	code, err := launcher.Run(context.Background(), launcher.Options{
		N:       2,
		Program: "sh",
		Args:    []string{"-c", `echo "hello from PE $GSHMEM_PE of $GSHMEM_NPES"`},
		Prefix:  true,
		Stdout:  &out,
	})
	for _, line := range slices.Sorted(strings.Lines(out.String())) {
		fmt.Print(line)
	}
	fmt.Println("exit", code, err)
	// Output:
	// PE 0: hello from PE 0 of 2
	// PE 1: hello from PE 1 of 2
	// exit 0 <nil>
}

func ExampleInfo() {
	env := map[string]string{"GSHMEM_SYMMETRIC_SIZE": "1g"}
	launcher.Info(os.Stdout, func(k string) string { return env[k] }, "CPU fallback (GSHMEM_DEVICE=cpu)")
	// Output:
	// gpurun 0.1.0
	// transports: inproc shm
	// bootstrap: in-process (4 goroutine PEs; gpurun -n N PROGRAM runs one process per PE, srun --mpi=pmi2 or --mpi=pmix PROGRAM one per Slurm task)
	// binding: gpurun binds PE i to the i-th CPU it may use when there are no more PEs than CPUs, none when oversubscribed (-bind=false: none; srun places its tasks itself)
	// devices: CPU fallback (GSHMEM_DEVICE=cpu)
	//
	// VARIABLE                      VALUE  DEFAULT   MEANING
	// GSHMEM_NPES                   -      4         number of PEs; in-process runs start this many, gpurun sets it for its children
	// GSHMEM_PE                     -      -         this process's PE number (set by gpurun)
	// GSHMEM_TRANSPORT              -      inproc    transport: inproc (PEs as goroutines) or shm (one process per PE, set by gpurun)
	// GSHMEM_JOB                    -      -         job id (set by gpurun; unguessable): names the job's shared-memory segments
	// GSHMEM_SYMMETRIC_SIZE         1g     128m      bytes of symmetric heap per PE (k, m, g suffixes)
	// SHMEM_SYMMETRIC_SIZE          -      -         OpenSHMEM spelling of GSHMEM_SYMMETRIC_SIZE; used when that is unset
	// GSHMEM_LOCAL_RANK             -      -         rank of this PE among the PEs on its node (set by gpurun)
	// GSHMEM_LOCAL_SIZE             -      -         number of PEs on this node (set by gpurun)
	// GSHMEM_BOOT_TIMEOUT           -      30s       how long a PE waits for its peers to appear at start-up
	// GSHMEM_PREFAULT               -      1         pre-fault shared-memory segments at start-up (0 to skip)
	// GSHMEM_BIND                   -      none      the CPU this PE binds itself (every thread) to at start-up; gpurun sets PE i's to the i-th CPU it may use when there are no more PEs than CPUs, as mpirun --bind-to core does (gpurun -bind=false: none)
	// GSHMEM_SHM_DIR                -      /dev/shm  directory (tmpfs) where PEs not started by gpurun create their shared-memory segments; unused under gpurun
	// GSHMEM_SEGMENT_FDS            -      -         set by gpurun: the first of GSHMEM_NPES inherited descriptors holding the job's segments (unnamed memory files), PE i's at this number + i
	// GSHMEM_COLL_PUSH_MAX          -      2048      largest per-PE collective payload (bytes, k suffix) sent with the one-shot push algorithms; larger ones use direct loads between syncs (at most 16k)
	// GSHMEM_CHECKED                -      0         1: every RMA, atomic and wait checks that its symmetric object is still allocated (a put into a freed object is an error; costs a lock per call)
	// GSHMEM_DEVICE                 -      -         GPU ordinal of this PE, or cpu for the CPU fallback; default: local rank modulo visible GPUs (gpurun sets it)
	// GSHMEM_DEVICE_SYMMETRIC_SIZE  -      64m       bytes of device symmetric heap per PE (in host memory on the CPU fallback)
	// GSHMEM_PMIX_LIBRARY           -      -         under srun --mpi=pmix: the PMIx client library to load (a file name or path); default: libpmix.so.2, libpmix.so, then Debian's pmix2/lib directory
	// GSHMEM_SHARED_GPU             -      0         1: allow PEs of several processes on one GPU without MPS (refused by default: their spinning device barriers and collectives take turns in time slices and run orders of magnitude slower); set it in every process
	// GSHMEM_THREADS                -      -         active-message handler goroutines per PE; default GOMAXPROCS
	// LAMELLAR_THREADS              -      -         Lamellar spelling of GSHMEM_THREADS; used when that is unset
	// GSHMEM_OFI_PROVIDER           -      -         libfabric provider for PEs on other nodes, e.g. tcp;ofi_rxm or verbs;ofi_rxm; default: the best this host offers (needs a build with -tags ofi)
	// GSHMEM_PEER_TIMEOUT           -      10s       how long a PE on another node may send nothing, not even its heartbeat, before its peers take it for dead
	// GSHMEM_AM_SIZE_THRESHOLD      -      64k       most bytes of operations (an 8-byte offset, and the operands where each operation has its own) in one active message of a distributed array's batch; a batch's share of a PE it does not map goes in as many as that takes (k, m suffixes; at most 1g)
	// GSHMEM_CAPI_UNMAP             -      -         tests of the C interface only: odd makes its odd-numbered PEs reach every PE through Go, as they would PEs on another node
	// GOMAXPROCS                    -      -         Go threads per PE; gpurun sets cores/N (at least 1) unless you set it
}

// Under srun, Bootstrap says how the task joins the step's job, or why it
// cannot.
func ExampleBootstrap() {
	task := map[string]string{"SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "2",
		"PMI_FD": "11", "PMI_RANK": "2", "PMI_JOBID": "7.0"}
	fmt.Println(launcher.Bootstrap(func(k string) string { return task[k] }))
	delete(task, "PMI_FD")
	task["PMIX_NAMESPACE"], task["PMIX_RANK"] = "slurm.pmix.7.0", "2"
	fmt.Println(launcher.Bootstrap(func(k string) string { return task[k] }))
	delete(task, "PMIX_NAMESPACE")
	fmt.Println(launcher.Bootstrap(func(k string) string { return task[k] }))
	// Output:
	// srun+pmi2 (task 2 of Slurm step 7.0: PE 2, the step's tasks are the job's PEs; PMI-2 over PMI_FD=11)
	// srun+pmix (task 2 of PMIx namespace slurm.pmix.7.0: PE 2, the step's tasks are the job's PEs; PMIx through libpmix.so.2, loaded at start-up)
	// error: config: this is task 2 of a Slurm step of 4 tasks (SLURM_STEP_NUM_TASKS=4) started without a process-management interface (srun --mpi=none: neither PMI_FD nor PMIX_NAMESPACE is set), so the tasks cannot find each other and each would run a job of its own: start it with srun --mpi=pmi2 (or --mpi=pmix), or set GSHMEM_TRANSPORT=inproc for one in-process job per task
}
