package hostshmem

import (
	"testing"
	"unsafe"
)

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

// TestEntryStateLayout: a team's entry state is shared with bindings that
// run the entry step in C (AllEntry documents the offsets; capi's gs.h
// declares the struct again and asserts them).
func TestEntryStateLayout(t *testing.T) {
	var s entryState
	for name, c := range map[string][2]uintptr{
		"busy":    {unsafe.Offsetof(s.busy), 0},
		"broken":  {unsafe.Offsetof(s.broken), 4},
		"calls":   {unsafe.Offsetof(s.calls), 8},
		"cepoch":  {unsafe.Offsetof(s.cepoch), 16},
		"pending": {unsafe.Offsetof(s.pending), 24},
	} {
		if c[0] != c[1] {
			t.Errorf("entryState.%s at offset %d, AllEntry says %d", name, c[0], c[1])
		}
	}
	if unsafe.Sizeof(s) > lineSize {
		t.Errorf("entryState is %d bytes, more than its line", unsafe.Sizeof(s))
	}
}
