//go:build unix

package gguf

import (
	"os"
	"syscall"
)

// allocatedBytes returns the disk space a file really occupies.
func allocatedBytes(path string) (int64, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int64(sys.Blocks) * 512, true
}
