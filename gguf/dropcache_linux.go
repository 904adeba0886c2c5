package gguf

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dropCache asks the kernel to drop a file range from the page cache.
func dropCache(fd *os.File, off, n int64) error {
	if err := unix.Fadvise(int(fd.Fd()), off, n, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("gguf: fadvise: %w", err)
	}
	return nil
}
