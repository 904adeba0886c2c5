//go:build unix

package gguf

import (
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// Open memory-maps the GGUF file at path (read-only, shared) and parses its
// header. Only the pages the header touches are read from disk; tensor data
// is paged in when used. Close unmaps the file.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close() // the mapping outlives the descriptor
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return nil, fmt.Errorf("gguf: %s: %w", path, formatErr(0, "magic", "empty file"))
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("gguf: %s: %d bytes do not fit in the address space", path, size)
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("gguf: mmap %s: %w", path, err)
	}
	f, err := newMappedFile(data, func() error { return unix.Munmap(data) })
	if err != nil {
		_ = unix.Munmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
