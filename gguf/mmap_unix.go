//go:build unix

package gguf

import (
	"errors"
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
	ok := false
	defer func() {
		if !ok {
			fd.Close()
		}
	}()
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
	f, err := newMappedFile(data, func() error { return errors.Join(unix.Munmap(data), fd.Close()) })
	if err != nil {
		_ = unix.Munmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.evict = func(off, n int64) error { return evictRange(fd, data, off, n) }
	ok = true
	return f, nil
}

// evictRange drops the whole pages inside [off, off+n) of a mapping from the
// process (MADV_DONTNEED) and, on Linux, from the page cache
// (POSIX_FADV_DONTNEED).
// Partial pages at the ends stay: neighbouring tensors may still need them.
func evictRange(fd *os.File, data []byte, off, n int64) error {
	page := int64(unix.Getpagesize())
	start := (off + page - 1) / page * page
	end := (off + n) / page * page
	if end <= start {
		return nil
	}
	if err := unix.Madvise(data[start:end], unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("gguf: madvise: %w", err)
	}
	return dropCache(fd, start, end-start)
}
