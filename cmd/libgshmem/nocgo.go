//go:build !cgo

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "libgshmem: build with cgo (-buildmode=c-shared) to get libgshmem.so")
	os.Exit(2)
}
