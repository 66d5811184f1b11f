//go:build !amd64

package spin

// Pause does nothing here: the hint is amd64's PAUSE.
func Pause() {}
