package bench

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// WriteTable prints ours (gshmem's results, measured by the caller) against
// peers (from [Peers], any number of implementations) and memmove (from
// [Memmove]; may be nil), as aligned text.
//
// Rows are keyed by (Op, PEs, Bytes) and come from ours and peers; each
// distinct Impl in peers gets a column, in order of first appearance. Where
// an implementation has several results for one row, the first counts.
// There are three sections, each printed only if it has rows:
//
//   - latency (ops for which neither [IsBandwidth] nor [IsRate] holds):
//     time per op;
//   - bandwidth: [Result.BusBandwidth] in decimal units (1 GB/s = 1e9 B/s),
//     and a memmove column matched by Bytes alone;
//   - rate ([IsRate]: the bale kernels): million updates per second per PE
//     (Mupd/s, 1e3/NsPerOp; kupd/s below 1 Mupd/s).
//
// All then give, in a column "vs-X" for each other implementation X, the
// speed-up of ours over X, one convention for every row: above 1 means ours
// is faster. For latency that is X's time over ours, for bandwidth and rate
// ours over X's (the same number where a bandwidth is Bytes over the time,
// or a rate one over it). Where a section has two peer columns or more, a
// last column, vs-best, gives the speed-up over the better peer of the row
// (the shorter time, the higher bandwidth or rate). A column of
// [ImplGshmemC] (gshmem's C interface) is not a peer there: with it, vs-best
// is over the others (even one), and a column c-vs-best gives the C
// interface's speed-up over the same peer.
//
// A value or speed-up that cannot be computed prints as "-". The column of
// ours is named after the Impl of ours[0], or [ImplGshmem] if ours is empty.
// WriteTable returns the error of writing to w.
func WriteTable(w io.Writer, ours, peers, memmove []Result) error {
	name := ImplGshmem
	if len(ours) > 0 && ours[0].Impl != "" {
		name = ours[0].Impl
	}
	mine := map[rowKey]Result{}
	for _, r := range ours {
		if _, dup := mine[r.key()]; !dup {
			mine[r.key()] = r
		}
	}
	theirs := map[string]map[rowKey]Result{}
	var impls []string
	for _, r := range peers {
		m := theirs[r.Impl]
		if m == nil {
			m = map[rowKey]Result{}
			theirs[r.Impl] = m
			impls = append(impls, r.Impl)
		}
		if _, dup := m[r.key()]; !dup {
			m[r.key()] = r
		}
	}
	mm := map[int]Result{}
	for _, r := range memmove {
		if _, dup := mm[r.Bytes]; !dup {
			mm[r.Bytes] = r
		}
	}

	var buf bytes.Buffer
	for _, sec := range []section{secLatency, secBandwidth, secRate} {
		bw := sec == secBandwidth
		rows := sectionRows(sec, mine, theirs)
		if len(rows) == 0 {
			continue
		}
		var cols []string // peers with a value in this section
		for _, impl := range impls {
			if slices.ContainsFunc(rows, func(k rowKey) bool { _, ok := theirs[impl][k]; return ok }) {
				cols = append(cols, impl)
			}
		}
		withMM := bw && len(mm) > 0
		if buf.Len() > 0 {
			buf.WriteByte('\n')
		}
		header := []string{"op", "size", "PEs", name}
		header = append(header, cols...)
		if withMM {
			header = append(header, ImplMemmove)
		}
		for _, c := range cols {
			header = append(header, "vs-"+c)
		}
		if withMM {
			header = append(header, "vs-"+ImplMemmove)
		}
		// gshmem's C interface is ours too: the better peer is the better
		// of the others, and a last column compares the C interface with
		// it.
		others := slices.DeleteFunc(slices.Clone(cols), func(c string) bool { return c == ImplGshmemC })
		withC := len(others) < len(cols)
		withBest := len(others) >= 2 || withC && len(others) >= 1
		if withBest {
			header = append(header, "vs-best")
		}
		withC = withC && len(others) >= 1
		if withC {
			header = append(header, "c-vs-best")
		}
		switch sec {
		case secBandwidth:
			fmt.Fprintf(&buf, "Bandwidth, 1 GB/s = 1e9 B/s, allreduce as bus bandwidth; vs-X: %s speed-up over X = %s's bandwidth / X's (above 1: %s is faster)\n", name, name, name)
		case secRate:
			fmt.Fprintf(&buf, "Rate per PE, 1 Mupd/s = 1e6 updates (histo: atomic adds, igather: gets, randperm: darts landed) per second on each PE; vs-X: %s speed-up over X = %s's rate / X's (above 1: %s is faster)\n", name, name, name)
		default:
			fmt.Fprintf(&buf, "Latency, time per operation; vs-X: %s speed-up over X = X's time / %s's (above 1: %s is faster)\n", name, name, name)
		}
		table := [][]string{header}
		for _, k := range rows {
			m, haveMine := mine[k]
			row := []string{k.op, formatSize(k.bytes), fmt.Sprint(k.pes), cell(m, haveMine, sec)}
			for _, c := range cols {
				p, ok := theirs[c][k]
				row = append(row, cell(p, ok, sec))
			}
			mv, haveMM := mm[k.bytes]
			if withMM {
				row = append(row, cell(mv, haveMM, secBandwidth))
			}
			for _, c := range cols {
				p, ok := theirs[c][k]
				row = append(row, speedup(m, haveMine, p, ok, bw))
			}
			if withMM {
				row = append(row, speedup(m, haveMine, mv, haveMM, true))
			}
			if withBest {
				b, ok := best(k, others, theirs, bw)
				row = append(row, speedup(m, haveMine, b, ok, bw))
			}
			if withC {
				b, ok := best(k, others, theirs, bw)
				c, haveC := theirs[ImplGshmemC][k]
				row = append(row, speedup(c, haveC, b, ok, bw))
			}
			table = append(table, row)
		}
		writeAligned(&buf, table)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// best returns the better peer's result for row k: the higher bandwidth,
// or the shorter time (the higher rate); ok is false if no peer has one.
func best(k rowKey, cols []string, theirs map[string]map[rowKey]Result, bw bool) (b Result, ok bool) {
	for _, c := range cols {
		p, have := theirs[c][k]
		if !have || p.NsPerOp <= 0 {
			continue
		}
		if !ok || (bw && p.BusBandwidth() > b.BusBandwidth()) || (!bw && p.NsPerOp < b.NsPerOp) {
			b, ok = p, true
		}
	}
	return b, ok
}

type rowKey struct {
	op         string
	pes, bytes int
}

func (r Result) key() rowKey { return rowKey{r.Op, r.PEs, r.Bytes} }

// section is a part of the table: its ops share a unit.
type section int

const (
	secLatency   section = iota // time per op
	secBandwidth                // [IsBandwidth]
	secRate                     // [IsRate]
)

func sectionOf(op string) section {
	switch {
	case IsBandwidth(op):
		return secBandwidth
	case IsRate(op):
		return secRate
	}
	return secLatency
}

// sectionRows returns the keys of one section in table order: ops as in
// opOrder (others after, by name), then PEs, then bytes.
func sectionRows(sec section, mine map[rowKey]Result, theirs map[string]map[rowKey]Result) []rowKey {
	seen := map[rowKey]bool{}
	var rows []rowKey
	add := func(k rowKey) {
		if sectionOf(k.op) == sec && !seen[k] {
			seen[k] = true
			rows = append(rows, k)
		}
	}
	for k := range mine {
		add(k)
	}
	for _, m := range theirs {
		for k := range m {
			add(k)
		}
	}
	rank := func(op string) int {
		if i := slices.Index(opOrder, op); i >= 0 {
			return i
		}
		if i := slices.Index(AMOps, op); i >= 0 {
			return len(opOrder) + i
		}
		return len(opOrder) + len(AMOps)
	}
	slices.SortFunc(rows, func(a, b rowKey) int {
		return cmp.Or(cmp.Compare(rank(a.op), rank(b.op)), strings.Compare(a.op, b.op),
			cmp.Compare(a.pes, b.pes), cmp.Compare(a.bytes, b.bytes))
	})
	return rows
}

func cell(r Result, ok bool, sec section) string {
	switch {
	case !ok || r.NsPerOp <= 0:
		return "-"
	case sec == secBandwidth:
		return formatBandwidth(r.BusBandwidth())
	case sec == secRate:
		return formatRate(r.NsPerOp)
	default:
		return formatLatency(r.NsPerOp)
	}
}

// speedup returns the speed-up of a over b as "1.89x", above 1 when a is
// faster: b's time over a's for latency (and for a rate, one over the
// time: a's rate over b's), a's bandwidth over b's for bandwidth; "-"
// unless both are there.
func speedup(a Result, aok bool, b Result, bok bool, bw bool) string {
	if !aok || !bok || a.NsPerOp <= 0 || b.NsPerOp <= 0 {
		return "-"
	}
	if bw {
		return fmt.Sprintf("%.2fx", a.BusBandwidth()/b.BusBandwidth())
	}
	return fmt.Sprintf("%.2fx", b.NsPerOp/a.NsPerOp)
}

// sig3 formats v (>= 0) with three significant digits (more from 1000 up).
// The thresholds are those of the rounded value, so 9.996 prints as 10.0.
func sig3(v float64) string {
	switch {
	case v < 9.995:
		return fmt.Sprintf("%.2f", v)
	case v < 99.95:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// formatLatency prints nanoseconds in the unit that keeps 1 to 999 of it.
func formatLatency(ns float64) string {
	switch {
	case ns < 999.5:
		return sig3(ns) + "ns"
	case ns < 999.5e3:
		return sig3(ns/1e3) + "µs"
	case ns < 999.5e6:
		return sig3(ns/1e6) + "ms"
	default:
		return sig3(ns/1e9) + "s"
	}
}

// formatRate prints the rate of one operation every ns nanoseconds in
// million operations per second as Mupd/s, or below 1 Mupd/s as kupd/s.
func formatRate(ns float64) string {
	if mups := 1e3 / ns; mups >= 0.9995 {
		return sig3(mups) + "Mupd/s"
	}
	return sig3(1e6/ns) + "kupd/s"
}

// formatBandwidth prints bytes per second as MB/s or GB/s (decimal).
func formatBandwidth(bps float64) string {
	if bps < 999.5e6 {
		return sig3(bps/1e6) + "MB/s"
	}
	return sig3(bps/1e9) + "GB/s"
}

// formatSize prints a byte count with binary units: 8B, 4KiB, 1.5MiB.
func formatSize(n int) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	v, i := float64(n), 0
	for ; v >= 1024 && i < len(units)-1; i++ {
		v /= 1024
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d%s", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f%s", v, units[i])
}

// writeAligned writes rows as columns two spaces apart: the first column
// left-aligned, the others right-aligned.
func writeAligned(buf *bytes.Buffer, rows [][]string) {
	var width []int
	for _, row := range rows {
		for i, c := range row {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				line.WriteString(c + pad)
			} else {
				line.WriteString("  " + pad + c)
			}
		}
		buf.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}
