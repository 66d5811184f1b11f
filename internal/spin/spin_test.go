package spin

import "testing"

// Pause returns, and costs what a hint costs (go test -bench Pause).
func BenchmarkPause(b *testing.B) {
	for b.Loop() {
		Pause()
	}
}

func TestPauseReturns(t *testing.T) {
	for range 1000 {
		Pause()
	}
}
