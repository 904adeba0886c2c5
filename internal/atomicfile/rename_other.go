//go:build !windows

package atomicfile

// transientRenameError reports whether a failed rename may work a moment
// later. On Unix an open file does not stop a rename, so no failure does.
func transientRenameError(error) bool { return false }
