package gguf

import (
	"os"

	"golang.org/x/sys/unix"
)

// Prefetch asks the kernel to start reading the first n bytes of the file at
// path (all of it when n ≤ 0) into the page cache (POSIX_FADV_WILLNEED) and
// returns; the reading goes on while the caller computes. A model loaded from
// the file afterwards reads memory, not the disk. It is advice: errors only
// say that it could not be given.
func Prefetch(path string, n int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, max(n, 0), unix.FADV_WILLNEED)
}
