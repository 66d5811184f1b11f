//go:build ofi && cgo

package ofi_test

import (
	"context"
	"fmt"
	"syscall"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/ofi"
)

// Two endpoints in one process, each with a region: peer 0 writes into
// peer 1's region, reads it back and adds to a word there. Across
// processes, each process opens one endpoint and they exchange Addr and
// the Window through the process manager.
func Example() {
	ctx := context.Background()
	var eps [2]*ofi.Endpoint
	var mems [2][]byte
	var peers [2]ofi.Peer
	defer func() { // the endpoints first: a region outlives its endpoint
		for i := range eps {
			if eps[i] != nil {
				eps[i].Close()
			}
			if mems[i] != nil {
				syscall.Munmap(mems[i])
			}
		}
	}()
	for i := range eps {
		e, err := ofi.Open(ctx, ofi.Options{Provider: "tcp;ofi_rxm"})
		if err != nil {
			fmt.Println(err)
			return
		}
		eps[i] = e
		mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			fmt.Println(err)
			return
		}
		mems[i] = mem
		win, err := e.Register(mem)
		if err != nil {
			fmt.Println(err)
			return
		}
		peers[i] = ofi.Peer{Addr: e.Addr(), Win: win}
	}
	for _, e := range eps {
		if err := e.Connect(ctx, peers[:]); err != nil {
			fmt.Println(err)
			return
		}
	}
	a := eps[0]
	if err := a.Put(1, 64, []byte("hello, peer 1")); err != nil {
		fmt.Println(err)
		return
	}
	if err := a.Quiet(ctx); err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, 13)
	if err := a.Get(1, 64, buf); err != nil {
		fmt.Println(err)
		return
	}
	old, err := a.AMO64(1, 128, fabric.AMOAdd, 5, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	now, _ := a.AMO64(1, 128, fabric.AMOFetch, 0, 0)
	fmt.Printf("%s; add: %d -> %d\n", buf, old, now)
	// Output: hello, peer 1; add: 0 -> 5
}
