//go:build !race

package hostshmem

// raceEnabled reports a -race build (sync.Pool then drops items at random).
const raceEnabled = false
