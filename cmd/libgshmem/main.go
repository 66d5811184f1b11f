//go:build cgo

// Command libgshmem is built, not run: it is libgshmem.so, gshmem's
// OpenSHMEM C library (package capi, with include/shmem.h).
//
//	go build -buildmode=c-shared -o libgshmem.so ./cmd/libgshmem
//
// gshmemcc builds it for you (go run ./cmd/gshmemcc).
package main

import _ "github.com/gshmem/gshmem/capi"

func main() {}
