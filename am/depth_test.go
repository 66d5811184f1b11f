package am

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am/codec"
)

// node is a payload type that points to itself.
type node struct {
	V    int
	Next *node
}

func (n node) Exec(*Context) (int, error) {
	k := 0
	for p := n.Next; p != nil; p = p.Next {
		k++
	}
	return k, nil
}

// list is a slice of itself; tree a map of itself.
type list []list

func (list) Exec(*Context) (int, error) { return 0, nil }

type tree map[string]tree

func (tree) Exec(*Context) (int, error) { return 0, nil }

// chain returns a node with k nodes after it.
func chain(k int) node {
	var n node
	for range k {
		p := n
		n = node{V: p.V + 1, Next: &p}
	}
	return n
}

// TestCyclicPayload: an AM whose payload points to itself fails at launch
// with ErrCodec naming its type and the limit; the World keeps working.
func TestCyclicPayload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := NewRegistry()
	MustRegister[node](reg, "internal.node")
	MustRegister[list](reg, "internal.list")
	MustRegister[tree](reg, "internal.tree")
	_, pes, ws := InprocWorlds(t, ctx, reg, 2, Options{Threads: 1})
	defer func() {
		for i := range ws {
			ws[i].Abort()
			pes[i].Abort()
		}
	}()
	cyclic := &node{V: 1}
	cyclic.Next = cyclic
	_, err := Exec(ws[0], 1, *cyclic).Wait(ctx)
	require.ErrorIs(t, err, ErrCodec)
	require.ErrorContains(t, err, "internal.node")
	require.ErrorContains(t, err, "am.node")
	require.ErrorContains(t, err, fmt.Sprint(codec.MaxDepth))
	l := make(list, 1)
	l[0] = l
	_, err = Exec(ws[0], 1, l).Wait(ctx)
	require.ErrorIs(t, err, ErrCodec)
	m := tree{}
	m["self"] = m
	_, err = Exec(ws[0], 1, m).Wait(ctx)
	require.ErrorIs(t, err, ErrCodec)
	_, err = Exec(ws[0], 1, chain(codec.MaxDepth+1)).Wait(ctx)
	require.ErrorIs(t, err, ErrCodec)

	k, err := Exec(ws[0], 1, chain(100)).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 100, k)
}
