package pmi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The PMI-2 wire format (MPICH's simple_pmi2, which Slurm's mpi/pmi2
// plugin and MPICH's hydra serve): every command is a 6-character decimal
// length, left-justified and padded with spaces, then that many bytes of
// "key=value;" fields, the first of which is "cmd=NAME". A ';' inside a
// value is written twice (";;"); keys never hold ';' or '='.
const (
	lenSize = 6
	// MaxCommand is the longest command body the length prefix can say.
	MaxCommand = 999999
	// MaxKey and MaxValue are the longest key and value a PMI-2 server
	// must accept (PMI2_MAX_KEYLEN, PMI2_MAX_VALLEN); Slurm's plugin
	// refuses longer ones.
	MaxKey   = 64
	MaxValue = 1024
)

// field is one key=value pair of a command, in order.
type field struct{ key, value string }

// command is one PMI-2 message: its name (the cmd field) and the other
// fields in the order they came.
type command struct {
	name   string
	fields []field
}

// get returns the value of key and whether the command had it.
func (c *command) get(key string) (string, bool) {
	for _, f := range c.fields {
		if f.key == key {
			return f.value, true
		}
	}
	return "", false
}

// encode returns c in wire form: the length prefix and the body.
func encode(c command) ([]byte, error) {
	var b strings.Builder
	write := func(k, v string) error {
		if k == "" || strings.ContainsAny(k, ";=") {
			return fmt.Errorf("pmi: key %q: want a non-empty key without ';' or '='", k)
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(v, ";", ";;"))
		b.WriteByte(';')
		return nil
	}
	if c.name == "" {
		return nil, fmt.Errorf("pmi: a command without a name")
	}
	if err := write("cmd", c.name); err != nil {
		return nil, err
	}
	for _, f := range c.fields {
		if err := write(f.key, f.value); err != nil {
			return nil, err
		}
	}
	if b.Len() > MaxCommand {
		return nil, fmt.Errorf("pmi: command %s is %d bytes, more than the %d a PMI-2 length prefix can say", c.name, b.Len(), MaxCommand)
	}
	return fmt.Appendf(nil, "%-*d%s", lenSize, b.Len(), b.String()), nil
}

// errMalformed is what decode's errors match.
var errMalformed = errors.New("malformed PMI-2 command")

// parseLen reads a command's length prefix.
func parseLen(p []byte) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(string(p)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: length prefix %q", errMalformed, p)
	}
	return n, nil
}

// decode parses a command body (without its length prefix).
func decode(body []byte) (command, error) {
	var c command
	s := string(body)
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return c, fmt.Errorf("%w: field without a key in %q", errMalformed, body)
		}
		key := s[:eq]
		if strings.IndexByte(key, ';') >= 0 {
			return c, fmt.Errorf("%w: key %q holds ';' in %q", errMalformed, key, body)
		}
		s = s[eq+1:]
		var v strings.Builder
		for {
			i := strings.IndexByte(s, ';')
			if i < 0 { // the last field may lack its ';'
				v.WriteString(s)
				s = ""
				break
			}
			v.WriteString(s[:i])
			if i+1 < len(s) && s[i+1] == ';' { // ";;" is a ';' of the value
				v.WriteByte(';')
				s = s[i+2:]
				continue
			}
			s = s[i+1:]
			break
		}
		if c.name == "" && len(c.fields) == 0 && key == "cmd" {
			c.name = v.String()
			continue
		}
		c.fields = append(c.fields, field{key, v.String()})
	}
	if c.name == "" {
		return c, fmt.Errorf("%w: no cmd field first in %q", errMalformed, body)
	}
	return c, nil
}

// ParseProcessMapping turns PMI_process_mapping, the job attribute in
// which PMI-2 servers describe where ranks run, into the node index of
// each of size ranks. The value is a vector of (first node, node count,
// ranks per node) blocks, "(vector,(0,2,3))" for 3 ranks on each of nodes
// 0 and 1, which repeats until every rank has a node: "(vector,(0,2,1))"
// for 4 ranks is nodes 0, 1, 0, 1.
func ParseProcessMapping(s string, size int) ([]int, error) {
	bad := func(why string) ([]int, error) {
		return nil, fmt.Errorf("pmi: PMI_process_mapping %q: %s", s, why)
	}
	if size < 1 {
		return bad(fmt.Sprintf("%d ranks", size))
	}
	t := strings.Join(strings.Fields(s), "")
	rest, ok := strings.CutPrefix(t, "(vector,")
	if !ok || !strings.HasSuffix(rest, ")") {
		return bad("want (vector,(node,nodes,ranks),...)")
	}
	rest = strings.TrimSuffix(rest, ")")
	type block struct{ node, nodes, ppn int }
	var blocks []block
	for rest != "" {
		if !strings.HasPrefix(rest, "(") {
			return bad("want (node,nodes,ranks) blocks")
		}
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return bad("unclosed block")
		}
		parts := strings.Split(rest[1:end], ",")
		if len(parts) != 3 {
			return bad("a block is not three numbers")
		}
		var v [3]int
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || i > 0 && n == 0 {
				return bad(fmt.Sprintf("block number %q", p))
			}
			v[i] = n
		}
		blocks = append(blocks, block{v[0], v[1], v[2]})
		rest = strings.TrimPrefix(rest[end+1:], ",")
	}
	if len(blocks) == 0 {
		return bad("no blocks")
	}
	nodes := make([]int, 0, size)
	for len(nodes) < size {
		for _, b := range blocks {
			for n := b.node; n < b.node+b.nodes; n++ {
				for range b.ppn {
					if len(nodes) < size {
						nodes = append(nodes, n)
					}
				}
			}
		}
	}
	return nodes, nil
}
