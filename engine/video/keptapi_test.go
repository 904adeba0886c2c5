package video_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/video"
)

// TestKeptErrorNameable checks, from outside the package as a library user
// sees it, that a *video.KeptError's fields and its Found values can be
// named and inspected through errors.As, though the type lives in an
// internal package: without the Blocker alias and constants a caller could
// not tell a folder in the way from another program's open handle.
func TestKeptErrorNameable(t *testing.T) {
	for _, tc := range []struct {
		found video.Blocker
		want  string
	}{
		{video.BlockedByProgram, "another program"},
		{video.BlockedByFolder, "a folder is there"},
		{video.BlockedByReadOnly, "read-only"},
	} {
		kept := &video.KeptError{Target: "out.mp4", Kept: "out.finished.mp4", Err: errors.New("Access is denied."), Found: tc.found}
		err := fmt.Errorf("video out.mp4: %w", kept)
		var ke *video.KeptError
		if !errors.As(err, &ke) {
			t.Fatalf("errors.As(%v) found no *video.KeptError", err)
		}
		if ke.Target != "out.mp4" || ke.Kept != "out.finished.mp4" || ke.Found != tc.found {
			t.Errorf("KeptError = %+v, want Target out.mp4, Kept out.finished.mp4, Found %d", *ke, tc.found)
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "out.finished.mp4") {
			t.Errorf("Found %d: message %q does not say %q and where the video is", tc.found, err, tc.want)
		}
	}
	if video.BlockedByProgram == video.BlockedByFolder || video.BlockedByFolder == video.BlockedByReadOnly {
		t.Error("the Blocker values are not distinct")
	}
}
