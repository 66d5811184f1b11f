package hostshmem

import "testing"

// TestMaxPEs: the predefined teams of a job of up to MaxPEs PEs fit the
// team pool, whatever the push-slot size; one PE more does not.
func TestMaxPEs(t *testing.T) {
	for _, n := range []int{1, 2, 63, 64, 65, 1000, MaxPEs} {
		for _, push := range []uintptr{64, DefaultCollPushMax, 16 << 10} {
			if _, k, ok := sizing(n, push); !ok || 3*k > teamChunks {
				t.Fatalf("%d PEs, push slots of %d bytes: %d chunks a team (fits a block: %v), three teams do not fit %d", n, push, k, ok, teamChunks)
			}
		}
	}
	if _, _, ok := sizing(MaxPEs+1, DefaultCollPushMax); ok {
		t.Fatalf("a team of MaxPEs+1 = %d fits a block: MaxPEs is not the largest", MaxPEs+1)
	}
}
