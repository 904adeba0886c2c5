//go:build !unix

package gguf

import (
	"fmt"
	"os"
)

// Open opens the GGUF file at path and parses its header. On this platform
// the file is not memory-mapped: Data reads each tensor into a fresh buffer.
// Close closes the file.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := NewFile(fd)
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.closer = fd.Close
	return f, nil
}
