package launcher

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/gshmem/gshmem/internal/config"
)

// Info writes what `gpurun info` prints: the version, the transports this
// build has, the device side (devices: what device.Plan.Describe says),
// and a table of every variable in config.Vars with its value from getenv
// (os.Getenv when nil) and its default; "-" marks an empty one.
func Info(w io.Writer, getenv func(string) string, devices string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	fmt.Fprintf(w, "gpurun %s\n", Version)
	fmt.Fprintf(w, "transports: %s %s\n", config.TransportInproc, config.TransportShm)
	fmt.Fprintf(w, "devices: %s\n\n", devices)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tVALUE\tDEFAULT\tMEANING")
	for _, v := range config.Vars {
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
