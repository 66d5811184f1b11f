package am

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestCodecDepthLimit: a value that nests deeper than maxDepth, or has a
// cycle, fails to encode with an error naming the type and the limit
// (instead of a fatal stack overflow); one within the limit round-trips.
func TestCodecDepthLimit(t *testing.T) {
	cyclic := &node{V: 1}
	cyclic.Next = cyclic
	l := make(list, 1)
	l[0] = l
	m := tree{}
	m["self"] = m
	for _, v := range []any{*cyclic, l, m, chain(maxDepth + 1)} {
		c, err := codecFor(reflect.TypeOf(v))
		require.NoError(t, err)
		assert.Equal(t, -1, c.sizeOf(v), "%T: size says only encoding tells", v)
		var e encoder
		c.encodeValue(&e, v)
		require.Error(t, e.err, "%T", v)
		assert.Contains(t, e.err.Error(), reflect.TypeOf(v).String())
		assert.Contains(t, e.err.Error(), fmt.Sprint(maxDepth))
		assert.Zero(t, e.depth, "%T: the encoder's depth is back at 0", v)
	}
	got, _ := roundTrip(t, chain(maxDepth-1), false)
	assert.Equal(t, chain(maxDepth-1), got)
}

// TestCodecDecodeDepthLimit: decoding bytes that nest deeper than
// maxDepth fails with an error, without recursing further.
func TestCodecDecodeDepthLimit(t *testing.T) {
	c, err := codecFor(reflect.TypeFor[node]())
	require.NoError(t, err)
	// node: V (8 bytes), then Next's flag (1) and the next node, ...
	var b []byte
	for range 4 * maxDepth {
		b = append(b, make([]byte, 8)...)
		b = append(b, 1)
	}
	b = append(b, make([]byte, 8)...)
	b = append(b, 0)
	_, err = c.decodeValue(&decoder{b: b})
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprint(maxDepth))

	lc, err := codecFor(reflect.TypeFor[list]())
	require.NoError(t, err)
	// list: the non-nil flag, the length 1, then the element, ...
	b = bytes.Repeat([]byte{1, 1}, 4*maxDepth)
	b = append(b, 0)
	_, err = lc.decodeValue(&decoder{b: b})
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprint(maxDepth))
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
	require.ErrorContains(t, err, fmt.Sprint(maxDepth))
	l := make(list, 1)
	l[0] = l
	_, err = Exec(ws[0], 1, l).Wait(ctx)
	require.ErrorIs(t, err, ErrCodec)
	m := tree{}
	m["self"] = m
	_, err = Exec(ws[0], 1, m).Wait(ctx)
	require.ErrorIs(t, err, ErrCodec)
	_, err = Exec(ws[0], 1, chain(maxDepth+1)).Wait(ctx)
	require.ErrorIs(t, err, ErrCodec)

	k, err := Exec(ws[0], 1, chain(100)).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 100, k)
}
