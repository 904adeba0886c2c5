package video

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFFmpegDiskFullIsENOSPC: ffmpeg's failure for want of disk space
// (its last lines say "No space left on device", or "Disk quota
// exceeded") is errors.Is syscall.ENOSPC (EDQUOT), as a full disk is for
// the AVI and PNG writers, whose errors are the system's: a caller can
// tell the user to free space without reading ffmpeg's words. Any other
// failure is neither.
func TestFFmpegDiskFullIsENOSPC(t *testing.T) {
	for _, c := range []struct {
		says   string
		is, no error
	}{
		{"[out#0/mp4 @ 0x5] Error writing trailer: No space left on device", syscall.ENOSPC, syscall.EDQUOT},
		{"av_interleaved_write_frame(): Disk quota exceeded", syscall.EDQUOT, syscall.ENOSPC},
		{"muxer exploded", nil, syscall.ENOSPC},
	} {
		fakeFFmpeg(t, "cat >/dev/null\necho '"+c.says+"' >&2\nexit 1\n")
		f, err := Create(context.Background(), filepath.Join(t.TempDir(), "a.mp4"), Options{Width: 16, Height: 16})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.WriteFrame(testFrame(16, 16, 0)); err != nil {
			t.Fatal(err)
		}
		err = f.Close()
		if err == nil {
			t.Fatalf("%s: Close succeeded", c.says)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v is not %v", c.says, err, c.is)
		}
		if errors.Is(err, c.no) {
			t.Errorf("%s: %v is %v", c.says, err, c.no)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("%s: %v lost ffmpeg's exit status", c.says, err)
		}
	}
}
