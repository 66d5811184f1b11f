// Command hello prints one line per PE. Run it in-process with
// `go run ./examples/hello` (GSHMEM_NPES PEs, default 4) or as processes
// with `go run ./cmd/gpurun -n 4 ./examples/hello`, or, built, as the tasks
// of a Slurm step: `srun --mpi=pmi2 -N 1 -n 4 ./hello`.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/gshmem/gshmem"
)

func main() {
	err := gshmem.Run(func(_ context.Context, pe *gshmem.PE) error {
		fmt.Printf("Hello from PE %d of %d (%s)\n", pe.MyPE(), pe.NPEs(), pe.Transport())
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
