//go:build !unix

package gguf

// allocatedBytes is unknown on this platform.
func allocatedBytes(string) (int64, bool) { return 0, false }
