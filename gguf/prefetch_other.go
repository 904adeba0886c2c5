//go:build !linux

package gguf

// Prefetch does nothing where posix_fadvise is missing; loading reads the
// file when it needs it.
func Prefetch(path string, n int64) error { return nil }
