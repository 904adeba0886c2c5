package video

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile"
	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestOutputModes: a finished video, frames folder and its frames have the
// modes of new files and folders, 0666 and 0777 less the umask (an unusual
// one, 027, so that a fixed 0644 or a private 0600 fails), and no temporary
// output stays registered.
func TestOutputModes(t *testing.T) {
	atomictest.WithUmask(t, 0o027)
	_, noFFmpeg := exec.LookPath("ffmpeg")
	for _, name := range []string{"a.avi", "frames", "a.mp4"} {
		if name == "a.mp4" && noFFmpeg != nil {
			continue // Create falls back to AVI, checked above
		}
		format := Auto
		if name == "frames" {
			format = PNGDir
		}
		path := filepath.Join(t.TempDir(), name)
		f, err := Create(context.Background(), path, Options{Width: 32, Height: 16, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		for k := range 2 {
			if err := f.WriteFrame(testFrame(32, 16, k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		atomictest.CheckMode(t, path)
		if format == PNGDir {
			atomictest.CheckMode(t, filepath.Join(path, "frame_0000.png"))
		}
		if p := atomicfile.Pending(); len(p) != 0 {
			t.Errorf("%s: temporary outputs still registered: %v", name, p)
		}
		if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
			t.Errorf("%s: the folder holds %v", name, ents)
		}
	}
}
