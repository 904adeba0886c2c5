//go:build unix && !linux

package gguf

import "os"

// dropCache does nothing where posix_fadvise is missing (macOS): the pages
// left the process with madvise and the system reclaims the cache itself.
func dropCache(*os.File, int64, int64) error { return nil }
