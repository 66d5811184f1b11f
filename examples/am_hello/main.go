// Command am_hello is hello world with active messages: every PE sends a
// Hello AM to every PE, whose handler answers with a greeting that comes
// back to the sender as the AM's result.
//
//	go run ./examples/am_hello                      # 4 PEs as goroutines
//	go run ./cmd/gpurun -n 2 ./examples/am_hello    # 2 processes over shm
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
)

// Hello is the AM: it runs on the PE it is sent to.
type Hello struct{ From int }

// Exec runs on the receiving PE, on one of its handler goroutines.
func (h Hello) Exec(ctx *am.Context) (string, error) {
	return fmt.Sprintf("PE %d says hello to PE %d", ctx.MyPE(), h.From), nil
}

// reg holds the AM types; every PE registers the same ones.
var reg = am.NewRegistry()

func init() { am.MustRegister[Hello](reg, "am_hello.hello") }

func main() {
	if err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error { return hello(ctx, pe, os.Stdout) }); err != nil {
		fmt.Fprintln(os.Stderr, "am_hello:", err)
		os.Exit(1)
	}
}

// hello sends Hello to every PE and prints the answers, one line per PE
// in PE order, prefixed by this PE.
func hello(ctx context.Context, pe *gshmem.PE, out io.Writer) error {
	w, err := am.New(ctx, pe, reg, am.Options{})
	if err != nil {
		return err
	}
	defer w.Abort() // on an error path; after Close it does nothing
	answers, err := am.ExecAll(w, Hello{From: pe.MyPE()}).Wait(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, a := range answers {
		fmt.Fprintf(&b, "PE %d of %d: %s\n", pe.MyPE(), pe.NPEs(), a)
	}
	if _, err := io.WriteString(out, b.String()); err != nil {
		return err
	}
	return w.Close(ctx)
}
