//go:build !windows

package main

import (
	"errors"
	"syscall"
)

// isBrokenPipe reports whether err is a write to a pipe or socket whose
// reader has gone.
func isBrokenPipe(err error) bool { return errors.Is(err, syscall.EPIPE) }
