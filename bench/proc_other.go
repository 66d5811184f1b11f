//go:build !linux

package bench

import (
	"errors"
	"syscall"
)

// newSessionAttr returns nil: only Linux runs the peers in a session of
// their own.
func newSessionAttr() *syscall.SysProcAttr { return nil }

// killSession does nothing outside Linux, where cancelling a job relies on
// the launcher's own SIGTERM handling alone.
func killSession(int) {}

// removeLauncherDir does nothing outside Linux.
func removeLauncherDir(int) {}
