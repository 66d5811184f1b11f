package release

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A store published with Store64 carries the stores before it to a reader
// that loads it atomically: the reader never sees the flag without the
// data.
func TestStore64Publishes(t *testing.T) {
	const rounds = 20000
	var data, flag uint64
	done := make(chan uint64)
	go func() {
		var bad uint64
		deadline := time.Now().Add(10 * time.Second)
		for r := uint64(1); r <= rounds; r++ {
			for atomic.LoadUint64(&flag) < r {
				if time.Now().After(deadline) {
					done <- rounds + 1 // the flag never arrived: a store that did not store
					return
				}
			}
			if atomic.LoadUint64(&data) < r {
				bad++
			}
		}
		done <- bad
	}()
	for r := uint64(1); r <= rounds; r++ {
		atomic.StoreUint64(&data, r)
		Store64(&flag, r)
	}
	assert.Zero(t, <-done, "rounds whose flag arrived before its data (%d: the flag stopped arriving)", rounds+1)
	assert.Equal(t, uint64(rounds), flag)
}
