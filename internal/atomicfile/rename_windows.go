package atomicfile

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// transientRenameError reports whether a failed rename (MoveFileEx) may work
// once another program lets go of the file: Windows refuses to rename a file
// that is open without FILE_SHARE_DELETE (an antivirus or indexer scan, a
// player, a preview) with access denied or a sharing violation, and a folder
// with a file open in it with access denied. Access denied may also be a
// lasting lack of permission, which then costs the retry's few seconds.
func transientRenameError(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case windows.ERROR_ACCESS_DENIED, windows.ERROR_SHARING_VIOLATION, windows.ERROR_LOCK_VIOLATION:
		return true
	}
	return false
}
