package gshmem

import (
	"fmt"
	"os"

	"github.com/gshmem/gshmem/fabric"
)

// ExitError is what RunWith returns when a PE ended the job with
// GlobalExit (hostshmem.PE.GlobalExit, OpenSHMEM's shmem_global_exit) in
// an in-process run: PE called it with Status. Every other PE's context
// ended meanwhile, with the ExitError as its cause. A program that wants
// the job's status as its own ends with it:
//
//	var exit *gshmem.ExitError
//	if errors.As(err, &exit) {
//		os.Exit(exit.Status)
//	}
//
// Under gpurun there is no ExitError: the PE's process ends with Status,
// every other PE's process ends with it too, and gpurun exits with it.
type ExitError struct {
	PE     int // the PE that called GlobalExit
	Status int // the status it gave
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("gshmem: PE %d ended the job with GlobalExit(%d)", e.PE, e.Status)
}

// exited returns the ExitError of f's job, or nil if no PE called
// GlobalExit.
func exited(f fabric.Fabric) *ExitError {
	if e, ok := f.(fabric.Exiter); ok {
		if pe, status, ok := e.Exited(); ok {
			return &ExitError{PE: pe, Status: status}
		}
	}
	return nil
}

// exitProcess ends a process PE's process with the job's status, once
// its PE or a peer called GlobalExit.
func exitProcess(status int) { os.Exit(status) }
