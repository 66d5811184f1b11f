package pmi

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncode(t *testing.T) {
	b, err := encode(command{"kvs-put", []field{{"key", "a"}, {"value", "x;y=z"}}})
	require.NoError(t, err)
	assert.Equal(t, "31    cmd=kvs-put;key=a;value=x;;y=z;", string(b))
	_, err = encode(command{"kvs-put", []field{{"k;", "v"}}})
	assert.Error(t, err, "a key with ';'")
	_, err = encode(command{"kvs-put", []field{{"k", string(make([]byte, MaxCommand))}}})
	assert.ErrorContains(t, err, "length prefix")
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want command
	}{
		{"cmd=kvs-get-response;rc=0;found=TRUE;value=a;;b=c;", command{"kvs-get-response", []field{{"rc", "0"}, {"found", "TRUE"}, {"value", "a;b=c"}}}},
		{"cmd=finalize-response;rc=0", command{"finalize-response", []field{{"rc", "0"}}}},
		{"cmd=x;v=;;;", command{"x", []field{{"v", ";"}}}},
		{"cmd=x;v=;", command{"x", []field{{"v", ""}}}},
	} {
		got, err := decode([]byte(c.in))
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
	for _, in := range []string{"", "rc=0;cmd=x;", "cmd=x;=v;", "cmd=x;novalue", "cmd=x;a;b=c;"} {
		_, err := decode([]byte(in))
		assert.True(t, errors.Is(err, errMalformed), "%q: %v", in, err)
	}
}

// Whatever encode writes, decode reads back.
func FuzzRoundTrip(f *testing.F) {
	f.Add("kvs-put", "key", "a;;b;")
	f.Fuzz(func(t *testing.T, name, key, value string) {
		c := command{name, []field{{key, value}}}
		b, err := encode(c)
		if err != nil {
			return
		}
		n, err := parseLen(b[:lenSize])
		require.NoError(t, err)
		require.Equal(t, len(b)-lenSize, n)
		got, err := decode(b[lenSize:])
		require.NoError(t, err)
		assert.Equal(t, c, got)
	})
}

func TestParseProcessMapping(t *testing.T) {
	for _, c := range []struct {
		in   string
		size int
		want []int
	}{
		{"(vector,(0,2,2))", 4, []int{0, 0, 1, 1}},
		{"(vector,(0,2,3))", 5, []int{0, 0, 0, 1, 1}}, // an uneven block: the last node holds fewer
		{"(vector,(0,2,1))", 4, []int{0, 1, 0, 1}},    // cyclic
		{"(vector,(0,1,3),(1,1,1))", 4, []int{0, 0, 0, 1}},
		{"(vector, (0,1,1))", 1, []int{0}},
	} {
		got, err := ParseProcessMapping(c.in, c.size)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
	for _, in := range []string{"", "(vector)", "(vector,(0,1))", "(vector,(0,0,1))", "(vector,(0,1,x))", "(list,(0,1,1))", "(vector,(0,1,1)"} {
		_, err := ParseProcessMapping(in, 2)
		assert.Error(t, err, in)
	}
}
