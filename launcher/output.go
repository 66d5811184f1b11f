package launcher

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"
)

const (
	// maxLine is the longest line forwarded whole; longer ones are cut.
	maxLine = 64 << 10
	// maxBatch is how many bytes of complete lines one Write carries at most.
	maxBatch = 64 << 10
)

// output serializes the job's writes so that lines of different PEs never
// interleave. Stdout and Stderr may be one writer, so one lock covers both.
type output struct {
	mu sync.Mutex // held across each Write to either writer
}

func (o *output) write(w io.Writer, b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = w.Write(b) // a broken writer must not stall the PEs: keep draining
}

func (o *output) printf(w io.Writer, format string, args ...any) {
	o.write(w, fmt.Appendf(nil, format, args...))
}

// copyLines copies r to w until r fails or ends, each line starting with
// prefix and ending in a newline. It writes the complete lines r has
// buffered in one batch, and never waits for more input while holding
// complete lines back.
func (o *output) copyLines(w io.Writer, r io.Reader, prefix string) {
	br := bufio.NewReaderSize(r, maxLine)
	var batch []byte
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			batch = append(batch, prefix...)
			batch = append(batch, line...)
			if line[len(line)-1] != '\n' { // last line, or cut at maxLine
				batch = append(batch, '\n')
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			if len(batch) > 0 {
				o.write(w, batch)
			}
			return
		}
		if len(batch) >= maxBatch || !lineBuffered(br) {
			o.write(w, batch)
			batch = batch[:0]
		}
	}
}

// lineBuffered reports whether br holds a complete line, so that reading it
// will not block.
func lineBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}
