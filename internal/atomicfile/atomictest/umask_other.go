//go:build !unix

package atomictest

// setUmask does nothing where there is no umask (Windows).
func setUmask(int) int { return 0 }
