//go:build unix

package main

import "syscall"

// freeBytes returns the bytes an unprivileged user may still write on the
// file system holding dir. ok is false when the platform cannot tell.
func freeBytes(dir string) (free int64, ok bool, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	// Bavail and Bsize have different integer types across unix systems.
	return int64(st.Bavail) * int64(st.Bsize), true, nil
}
