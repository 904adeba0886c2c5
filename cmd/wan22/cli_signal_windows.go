//go:build windows

package main

import (
	"errors"
	"syscall"
)

// Windows' errors for a write to a pipe whose reader has gone.
const (
	errorBrokenPipe syscall.Errno = 109 // ERROR_BROKEN_PIPE
	errorNoData     syscall.Errno = 232 // ERROR_NO_DATA: the pipe is being closed
)

// isBrokenPipe reports whether err is a write to a pipe whose reader has gone.
func isBrokenPipe(err error) bool {
	return errors.Is(err, errorBrokenPipe) || errors.Is(err, errorNoData) || errors.Is(err, syscall.EPIPE)
}
