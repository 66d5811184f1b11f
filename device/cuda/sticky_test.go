package cuda

import (
	"fmt"
	"testing"
)

// TestIsSticky: the errors that poison a context are sticky, wrapped or
// not; the ones a caller can recover from are not.
func TestIsSticky(t *testing.T) {
	for code, want := range map[int]bool{
		700: true, 702: true, 710: true, 714: true, 715: true, 716: true, 717: true, 718: true, 719: true, 214: true,
		0: false, 1: false, 2: false, 100: false, 600: false, 701: false, 720: false, 999: false,
	} {
		err := fmt.Errorf("op: %w", &Error{Op: "cuStreamQuery", Code: code})
		if got := IsSticky(err); got != want {
			t.Errorf("IsSticky(code %d) = %v, want %v", code, got, want)
		}
	}
	if IsSticky(nil) {
		t.Error("IsSticky(nil)")
	}
}
