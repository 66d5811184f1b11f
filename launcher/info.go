package launcher

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/gshmem/gshmem/internal/affinity"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/pmi/pmix"
)

// Info writes what `gpurun info` prints: the version, the transports this
// build has, how a program started with this environment finds its job
// (bootstrap: see Bootstrap; in a task of srun --mpi=pmix, also which PMIx
// library it loads, or why none loads), how gpurun binds PEs to CPUs, the
// device side (devices: what
// device.Plan.Describe says), and a table of every variable in
// config.Vars with its value from getenv (os.Getenv when nil) and its
// default; "-" marks an empty one. In a task of a Slurm step (srun), a
// second table lists Slurm's variables that gshmem reads
// (config.SlurmVars).
func Info(w io.Writer, getenv func(string) string, devices string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	fmt.Fprintf(w, "gpurun %s\n", Version)
	fmt.Fprintf(w, "transports: %s %s\n", config.TransportInproc, config.TransportShm)
	fmt.Fprintf(w, "bootstrap: %s\n", Bootstrap(getenv))
	if c, err := config.Load(getenv); err == nil && c.Bootstrap == config.BootstrapPMIx {
		lib, err := pmix.Probe(c.PMIxLibrary)
		if err != nil {
			lib = "error: " + err.Error()
		}
		fmt.Fprintf(w, "pmix library: %s\n", lib)
	}
	fmt.Fprintf(w, "binding: %s\n", binding())
	fmt.Fprintf(w, "devices: %s\n\n", devices)
	table(w, getenv, config.Vars)
	if getenv(config.EnvSlurmStepID) != "" {
		fmt.Fprintln(w)
		table(w, getenv, config.SlurmVars)
	}
}

// Bootstrap says how a gshmem program started with the environment getenv
// reads (os.Getenv when nil) finds its job: in-process, gpurun, srun+pmi2
// or srun+pmix (config.Bootstrap*), with what it is known by, or the
// error gshmem.Run would return.
func Bootstrap(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	c, err := config.Load(getenv)
	if err != nil {
		return "error: " + err.Error()
	}
	switch c.Bootstrap {
	case config.BootstrapGpurun:
		return fmt.Sprintf("%s (PE %d of %d, job %s)", c.Bootstrap, c.PE, c.NPES, c.Job)
	case config.BootstrapPMI2:
		return fmt.Sprintf("%s (task %d of Slurm step %s: PE %d, the step's tasks are the job's PEs; PMI-2 over %s=%d)",
			c.Bootstrap, c.PMI.Rank, c.PMI.JobID, c.PMI.Rank, config.EnvPMIFD, c.PMI.FD)
	case config.BootstrapPMIx:
		pe, lib := "?", c.PMIxLibrary
		if c.PMIx.Rank >= 0 {
			pe = strconv.Itoa(c.PMIx.Rank)
		}
		if lib == "" {
			lib = pmix.Libraries()[0]
		}
		return fmt.Sprintf("%s (task %s of PMIx namespace %s: PE %s, the step's tasks are the job's PEs; PMIx through %s, loaded at start-up)",
			c.Bootstrap, pe, c.PMIx.Namespace, pe, lib)
	}
	return fmt.Sprintf("%s (%d goroutine PEs; gpurun -n N PROGRAM runs one process per PE, srun --mpi=pmi2 or --mpi=pmix PROGRAM one per Slurm task)", c.Bootstrap, c.NPES)
}

// table writes vars with their values from getenv.
func table(w io.Writer, getenv func(string) string, vars []config.Var) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tVALUE\tDEFAULT\tMEANING")
	for _, v := range vars {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, orDash(getenv(v.Name)), orDash(v.Default), v.Doc)
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// binding says how gpurun places its PEs on this machine's CPUs.
func binding() string {
	if _, err := affinity.Allowed(); err != nil {
		return "none (" + err.Error() + ")"
	}
	return "gpurun binds PE i to the i-th CPU it may use when there are no more PEs than CPUs, none when oversubscribed (-bind=false: none; srun places its tasks itself)"
}
