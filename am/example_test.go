package am_test

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
)

// Greet is an AM: its handler runs on the PE it is sent to.
type Greet struct{ From int }

func (g Greet) Exec(ctx *am.Context) (string, error) {
	return fmt.Sprintf("PE %d greets PE %d", ctx.MyPE(), g.From), nil
}

var exampleReg = am.NewRegistry()

func init() { am.MustRegister[Greet](exampleReg, "example.greet") }

// Example sends an AM to the next PE and waits for its typed result.
func Example() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 4 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, exampleReg, am.Options{})
		if err != nil {
			return err
		}
		defer w.Close(ctx)
		if pe.MyPE() == 0 {
			s, err := am.Exec(w, 1, Greet{From: 0}).Wait(ctx)
			if err != nil {
				return err
			}
			fmt.Println(s)
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: PE 1 greets PE 0
}

// ExampleExecAll runs an AM on every PE; results come in PE order.
func ExampleExecAll() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 3, HeapSize: 4 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, exampleReg, am.Options{})
		if err != nil {
			return err
		}
		defer w.Close(ctx)
		if pe.MyPE() == 2 {
			all, err := am.ExecAll(w, Greet{From: 2}).Wait(ctx)
			if err != nil {
				return err
			}
			for _, s := range all {
				fmt.Println(s)
			}
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// PE 0 greets PE 2
	// PE 1 greets PE 2
	// PE 2 greets PE 2
}

// Sum adds up a large payload where it arrives: an am.Bytes field of an
// AM that travels through the sender's arena is read in place, valid
// until the handler returns.
type Sum struct{ Data am.Bytes }

func (s Sum) Exec(*am.Context) (uint64, error) {
	var t uint64
	for _, b := range s.Data {
		t += uint64(b)
	}
	return t, nil // keep nothing of s.Data past here (bytes.Clone what you must)
}

func init() { am.MustRegister[Sum](exampleReg, "example.sum") }

// ExampleBytes sends 1 MiB to PE 1, which reads it in place.
func ExampleBytes() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 16 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, exampleReg, am.Options{})
		if err != nil {
			return err
		}
		defer w.Close(ctx)
		if pe.MyPE() == 0 {
			data := make([]byte, 1<<20)
			for i := range data {
				data[i] = 1
			}
			t, err := am.Exec(w, 1, Sum{Data: data}).Wait(ctx)
			if err != nil {
				return err
			}
			fmt.Println(t)
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: 1048576
}
