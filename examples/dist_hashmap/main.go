// Command dist_hashmap is a distributed hash map driven by active
// messages: each PE owns the keys that hash to it, in a map inside a
// LocalRwDarc; Insert and Lookup AMs go to the owner, whose handler takes
// the map's write or read lock there.
//
//	go run ./examples/dist_hashmap -keys 10000
//	go run ./cmd/gpurun -n 2 ./examples/dist_hashmap -keys 10000
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
)

// Table is one PE's part of the map.
type Table = am.LocalRwDarc[map[string]int64]

// Insert adds Val to Key's value on the PE that owns Key.
type Insert struct {
	T   *Table
	Key string
	Val int64
}

// Exec runs on the owner under its table's write lock.
func (in Insert) Exec(ctx *am.Context) (am.Unit, error) {
	return am.Unit{}, in.T.Write(ctx, func(m *map[string]int64) error {
		(*m)[in.Key] += in.Val
		return nil
	})
}

// Lookup returns Key's value and whether it is there.
type Lookup struct {
	T   *Table
	Key string
}

// Found is Lookup's result.
type Found struct {
	Val int64
	OK  bool
}

// Exec runs on the owner under its table's read lock.
func (l Lookup) Exec(ctx *am.Context) (Found, error) {
	var f Found
	err := l.T.Read(ctx, func(m *map[string]int64) error {
		f.Val, f.OK = (*m)[l.Key]
		return nil
	})
	return f, err
}

// Size returns the number of keys a PE holds.
type Size struct{ T *Table }

// Exec runs on each PE.
func (s Size) Exec(ctx *am.Context) (int, error) {
	n := 0
	err := s.T.Read(ctx, func(m *map[string]int64) error { n = len(*m); return nil })
	return n, err
}

var reg = am.NewRegistry()

func init() {
	am.MustRegister[Insert](reg, "dist_hashmap.insert")
	am.MustRegister[Lookup](reg, "dist_hashmap.lookup")
	am.MustRegister[Size](reg, "dist_hashmap.size")
}

func owner(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

func main() {
	keys := flag.Int("keys", 10000, "keys each PE inserts")
	flag.Parse()
	if err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error { return run(ctx, pe, *keys, os.Stdout) }); err != nil {
		fmt.Fprintln(os.Stderr, "dist_hashmap:", err)
		os.Exit(1)
	}
}

// run builds the map collectively: every PE inserts keys "k<i>" (i < keys)
// with value PE+1, so each key ends with the sum over PEs; then every PE
// looks up a sample of keys and checks them, and PE 0 prints the sizes.
func run(ctx context.Context, pe *gshmem.PE, keys int, out io.Writer) error {
	w, err := am.New(ctx, pe, reg, am.Options{})
	if err != nil {
		return err
	}
	defer w.Abort() // on an error path; after Close it does nothing
	n, me := pe.NPEs(), pe.MyPE()
	t, err := am.NewLocalRwDarc(ctx, w, map[string]int64{})
	if err != nil {
		return err
	}
	t0 := time.Now()
	for i := range keys {
		k := fmt.Sprintf("k%d", i)
		am.Exec(w, owner(k, n), Insert{T: t, Key: k, Val: int64(me + 1)}) // eager: no need to keep the future
	}
	if err := w.WaitAll(ctx); err != nil {
		return err
	}
	if err := pe.BarrierAll(ctx); err != nil { // every PE's inserts are in
		return err
	}
	ins := time.Since(t0)
	want := int64(n * (n + 1) / 2)
	g := am.NewTypedGroup[Lookup](w)
	for i := me; i < keys; i += 7 {
		k := fmt.Sprintf("k%d", i)
		g.Add(owner(k, n), Lookup{T: t, Key: k})
	}
	found, err := g.Wait(ctx)
	if err != nil {
		return err
	}
	for _, f := range found {
		if !f.OK || f.Val != want {
			return fmt.Errorf("PE %d: lookup found %+v, want %d", me, f, want)
		}
	}
	missing, err := am.Exec(w, owner("absent", n), Lookup{T: t, Key: "absent"}).Wait(ctx)
	if err != nil {
		return err
	}
	if missing.OK {
		return fmt.Errorf("PE %d: found a key nobody inserted", me)
	}
	if me == 0 {
		sizes, err := am.ExecAll(w, Size{T: t}).Wait(ctx)
		if err != nil {
			return err
		}
		total := 0
		for _, s := range sizes {
			total += s
		}
		fmt.Fprintf(out, "%d PEs inserted %d keys each (%.0f inserts/s per PE); %d distinct keys, per PE %v; lookups ok\n",
			n, keys, float64(keys)/ins.Seconds(), total, sizes)
		if total != keys {
			return fmt.Errorf("%d distinct keys, want %d", total, keys)
		}
	}
	if err := w.WaitAll(ctx); err != nil {
		return err
	}
	if err := pe.BarrierAll(ctx); err != nil { // nobody still reads the tables
		return err
	}
	if err := t.Drop(); err != nil {
		return err
	}
	return w.Close(ctx)
}
