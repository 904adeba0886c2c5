//go:build unix

package atomictest

import "syscall"

// setUmask sets the umask and returns the previous one.
func setUmask(mask int) int { return syscall.Umask(mask) }
