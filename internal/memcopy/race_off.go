//go:build !race

package memcopy

// raceEnabled is false: Copy may use REP MOVSB.
const raceEnabled = false
