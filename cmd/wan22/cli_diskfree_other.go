//go:build !unix && !windows

package main

// freeBytes cannot ask the file system for its free space on this platform
// without cgo or extra dependencies; ok is false and callers skip the check
// (a full disk then fails the write, which removes its partial file).
func freeBytes(dir string) (free int64, ok bool, err error) {
	return 0, false, nil
}
