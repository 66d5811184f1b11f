// Package capi is gshmem's OpenSHMEM 1.5 C interface: the Go half of
// libgshmem.so (built by cmd/libgshmem) and, in C beside it, the hot paths
// that run on the mappings the Go runtime set up.
//
// A C program sees include/shmem.h. Its puts, gets, p and g, atomics,
// fence, quiet and the first phase of its waits run in C, on the table of
// peer region bases and wake words (gs.h) that shmem_init fills from the
// PE's hostshmem.PE (Region, SleepWord): a call from C into Go costs
// ~60 ns, five times an 8-byte put. So do shmem_barrier_all and
// shmem_sync_all, which run the entry step of hostshmem's agreement on the
// words Go's calls use (hostshmem.AllEntry) and call Go only to sleep or
// to report. Setup, allocation, teams, contexts, the other
// collectives, the waits' sleeping phase and everything that reaches a PE
// whose memory is not mapped here (another node, the GPU heap) call into
// Go, which runs hostshmem's code.
//
// The C interface is a process-wide singleton by its definition (shmem_init
// takes no handle), so its state is too: one PE per process, or, for
// shmemx_run's in-process PEs, one per OS thread (a thread-local pointer).
// That is the one place in gshmem with process-wide mutable state.
//
// A C program's global and static variables are symmetric objects where
// the PEs are processes: shmem_init shares the executable's .data and .bss
// with the PEs of its node, and RMA on them runs in C as on the heap
// (static.go). shmemx_run's PEs, threads that share one copy, and PEs of
// other nodes must use the symmetric heap instead.
//
// A bad argument (a PE out of range, an address outside the symmetric
// heap, a size that overflows, a call before shmem_init) prints a message
// that names the call and the values and ends the job as
// shmem_global_exit(1) does: never a segfault. Where the specification
// defines a result for a failure (shmem_malloc's null pointer), that is
// what a C program gets, with a message on stderr saying why.
//
//go:generate go run ./gen -root ..
package capi
