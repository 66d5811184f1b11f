//go:build race

package memcopy

// raceEnabled keeps Copy on Go's copy, which the race detector sees (it
// does not see REP MOVSB in assembly).
const raceEnabled = true
