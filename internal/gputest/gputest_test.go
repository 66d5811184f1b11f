package gputest

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunPattern(t *testing.T) {
	assert.Equal(t, `^TestGPULazy$/^LAZY\+x$`, RunPattern("TestGPULazy/LAZY+x"))
	assert.Equal(t, `^TestGPUSticky$`, RunPattern("TestGPUSticky"))
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	w := &prefixWriter{w: &b, prefix: []byte("> ")}
	for _, s := range []string{"one\ntw", "o\n", "\nthree"} {
		n, err := w.Write([]byte(s))
		require.NoError(t, err)
		assert.Equal(t, len(s), n)
	}
	assert.Equal(t, "> one\n> two\n> \n> three", b.String())
}

// A child runs only the test it was started for, sees EnvChild and the
// extra environment, and its end (here: a pass) becomes the parent's.
func TestChild(t *testing.T) {
	if InChild(t) {
		assert.Equal(t, "yes", os.Getenv("GPUTEST_EXTRA"))
		return
	}
	Child(t, 30*time.Second, "GPUTEST_EXTRA=yes")
}

// A child that runs past its bound fails the parent with "hung" and the
// child's goroutine dump; the parent runs the check in a child of its own.
func TestChildTimeout(t *testing.T) {
	if os.Getenv(EnvChild) == "TestChildTimeout/sleeper" {
		t.Run("sleeper", func(t *testing.T) { time.Sleep(time.Minute) })
		return
	}
	if testing.Short() {
		t.Skip("waits for a child's 1 s timeout")
	}
	out, err := run("TestChildTimeout/sleeper", time.Second, nil, nil)
	require.ErrorIs(t, err, errTimedOut)
	assert.Contains(t, string(out), "panic: test timed out after 1s")
	assert.Contains(t, string(out), "time.Sleep")
}
