//go:build !windows

package hostmem

// commitAvailable is -1 (no bound) here: Linux and macOS overcommit, and
// Linux's cgroup limit is applied separately.
func commitAvailable() int64 { return -1 }
