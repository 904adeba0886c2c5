package main

import (
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestFolderNotThereNetShare: on Windows a share whose name is wrong on a
// server that answers (ERROR_BAD_NET_NAME, 67) or a server that is not there
// (ERROR_BAD_NETPATH, 53) is a folder that is not there, as os.Stat returns
// them, so that the output's folder gets missingVolumeAdvice ("the share's
// name is wrong") where it got the bare system error; on other systems the
// same numbers are other errors.
func TestFolderNotThereNetShare(t *testing.T) {
	stat := func(errno syscall.Errno) error {
		return fmt.Errorf("wrapped: %w", &fs.PathError{Op: "GetFileAttributesEx", Path: `\\nas\vidoes\out`, Err: errno})
	}
	for _, errno := range []syscall.Errno{53, 67} {
		if !folderNotThere(stat(errno), "windows") {
			t.Errorf("windows errno %d: not taken for a folder not there", errno)
		}
	}
	if folderNotThere(stat(67), "linux") {
		t.Error("linux errno 67 taken for a folder not there")
	}
	for _, goos := range []string{"windows", "linux", "darwin"} {
		if !folderNotThere(&fs.PathError{Op: "stat", Path: "x", Err: fs.ErrNotExist}, goos) {
			t.Errorf("%s: fs.ErrNotExist not taken for a folder not there", goos)
		}
		for _, err := range []error{nil, fs.ErrPermission, &fs.PathError{Op: "stat", Path: "x", Err: syscall.Errno(5)}} {
			if folderNotThere(err, goos) {
				t.Errorf("%s: %v taken for a folder not there", goos, err)
			}
		}
	}
	// The advice that the share's error now reaches.
	if a := missingVolumeAdvice(`\\nas\vidoes\out\v.mp4`, "windows", func(string) bool { return false }); !strings.Contains(a, `the network share \\nas\vidoes cannot be reached (the computer is off or the share's name is wrong)`) {
		t.Errorf("missingVolumeAdvice: %q", a)
	}
}
