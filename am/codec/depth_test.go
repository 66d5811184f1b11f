package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// node is a type that points to itself.
type node struct {
	V    int
	Next *node
}

// list is a slice of itself; tree a map of itself.
type (
	list []list
	tree map[string]tree
)

// chain returns a node with k nodes after it.
func chain(k int) node {
	var n node
	for range k {
		p := n
		n = node{V: p.V + 1, Next: &p}
	}
	return n
}

// TestCodecDepthLimit: a value that nests deeper than MaxDepth, or has a
// cycle, fails to encode with an error naming the type and the limit
// (instead of a fatal stack overflow); one within the limit round-trips.
func TestCodecDepthLimit(t *testing.T) {
	cyclic := &node{V: 1}
	cyclic.Next = cyclic
	l := make(list, 1)
	l[0] = l
	m := tree{}
	m["self"] = m
	for _, v := range []any{*cyclic, l, m, chain(MaxDepth + 1)} {
		c, err := Compile(reflect.TypeOf(v), testConfig)
		require.NoError(t, err)
		assert.Equal(t, -1, c.Size(v), "%T: size says only encoding tells", v)
		var e Encoder
		c.Encode(&e, v)
		require.Error(t, e.Err(), "%T", v)
		assert.Contains(t, e.Err().Error(), reflect.TypeOf(v).String())
		assert.Contains(t, e.Err().Error(), fmt.Sprint(MaxDepth))
		assert.Zero(t, e.depth, "%T: the encoder's depth is back at 0", v)
	}
	got, _ := roundTrip(t, chain(MaxDepth-1), false)
	assert.Equal(t, chain(MaxDepth-1), got)
}

// TestCodecDecodeDepthLimit: decoding bytes that nest deeper than
// MaxDepth fails with an error, without recursing further.
func TestCodecDecodeDepthLimit(t *testing.T) {
	c, err := Compile(reflect.TypeFor[node](), testConfig)
	require.NoError(t, err)
	// node: V (8 bytes), then Next's flag (1) and the next node, ...
	var b []byte
	for range 4 * MaxDepth {
		b = append(b, make([]byte, 8)...)
		b = append(b, 1)
	}
	b = append(b, make([]byte, 8)...)
	b = append(b, 0)
	var d Decoder
	d.Reset(b, false, nil)
	_, err = c.Decode(&d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprint(MaxDepth))

	lc, err := Compile(reflect.TypeFor[list](), testConfig)
	require.NoError(t, err)
	// list: the non-nil flag, the length 1, then the element, ...
	b = bytes.Repeat([]byte{1, 1}, 4*MaxDepth)
	b = append(b, 0)
	d.Reset(b, false, nil)
	_, err = lc.Decode(&d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprint(MaxDepth))
}
