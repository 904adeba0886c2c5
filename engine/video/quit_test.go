package video

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile"
)

// TestCloseKeepsHeldVideo: when the finished video or frames folder cannot
// be renamed onto its path because another program holds it (atomicfile's
// *KeptError, a Windows failure simulated here), Close keeps it — complete —
// and returns the error naming it; Abort and a later quit leave it alone.
func TestCloseKeepsHeldVideo(t *testing.T) {
	old := renameOutput
	t.Cleanup(func() { renameOutput = old })
	renameOutput = func(tmp, target string) error {
		kept := target + ".finished"
		if err := os.Rename(tmp, kept); err != nil {
			return err
		}
		atomicfile.Forget(tmp)
		return &KeptError{Target: target, Kept: kept, Err: errors.New("Access is denied.")}
	}
	for _, format := range []Format{AVI, PNGDir} {
		path := filepath.Join(t.TempDir(), "clip.avi")
		f, err := Create(context.Background(), path, Options{Width: 16, Height: 16, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			if err := f.WriteFrame(testFrame(16, 16, k)); err != nil {
				t.Fatal(err)
			}
		}
		err = f.Close()
		var ke *KeptError
		if !errors.As(err, &ke) || ke.Kept != path+".finished" || !strings.Contains(err.Error(), path+".finished") {
			t.Fatalf("%v: Close = %v, want a *KeptError naming %s.finished", format, err, path)
		}
		if err := f.Abort(); err != nil {
			t.Errorf("%v: Abort after Close: %v", format, err)
		}
		if err := atomicfile.RemovePending(); err != nil {
			t.Fatal(err)
		}
		if format == AVI {
			b, err := os.ReadFile(ke.Kept)
			if err != nil {
				t.Fatal(err)
			}
			if hdrl := find(parseRIFF(t, b[12:], 12), "LIST"); hdrl == nil || len(b) < 300 {
				t.Errorf("the kept AVI (%d bytes) is not a finished AVI", len(b))
			}
		} else if ents, err := os.ReadDir(ke.Kept); err != nil || len(ents) != 3 {
			t.Errorf("the kept frames folder holds %d frames (%v), want 3", len(ents), err)
		}
		if err2 := f.Close(); err2 != err {
			t.Errorf("a second Close = %v, want %v", err2, err)
		}
	}
}

// TestQuitWhileWriting: a second Ctrl-C (atomicfile.RemovePending) while a
// writer is busy on another goroutine closes what the writer holds open in
// the temporary output (the AVI's file, ffmpeg — killed and waited for —,
// the PNG being written) before removing it, as Windows needs; the writer's
// next frame fails and nothing is left or registered. Run with -race it also
// checks that the closers may run beside the writer.
func TestQuitWhileWriting(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		ffmpeg string // a fake ffmpeg script, or ""
	}{
		{"clip.avi", AVI, ""},
		{"frames", PNGDir, ""},
		{"clip.mp4", MP4, "exec cat >\"$(eval echo \\${$#})\"\n"}, // copies its input to the output file
	}
	for _, c := range cases {
		t.Run(c.format.String(), func(t *testing.T) {
			if c.ffmpeg != "" {
				fakeFFmpeg(t, c.ffmpeg)
			}
			dir := t.TempDir()
			f, err := Create(context.Background(), filepath.Join(dir, c.name), Options{Width: 16, Height: 16, Format: c.format})
			if err != nil {
				t.Fatal(err)
			}
			if f.Format() != c.format {
				t.Fatalf("format %v, want %v", f.Format(), c.format)
			}
			frames := make(chan struct{}, 1)
			var werr error
			var wg sync.WaitGroup
			wg.Go(func() {
				// The AVI's buffered writer fails at its next flush to
				// the closed file, after up to 1 MiB of frames.
				for k := range 20000 {
					if werr = f.WriteFrame(testFrame(16, 16, k%4)); werr != nil {
						t.Logf("frame %d: %v", k, werr)
						return
					}
					if k == 2 {
						frames <- struct{}{}
					}
				}
			})
			<-frames
			if err := atomicfile.RemovePending(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if werr == nil {
				t.Fatal("the writer went on after the quit")
			}
			if e, ok := f.enc.(*ffmpegEnc); ok && e.cmd.ProcessState == nil {
				t.Error("ffmpeg was not waited for")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left %v", ents)
			}
			if p := atomicfile.Pending(); len(p) != 0 {
				t.Errorf("still registered: %v", p)
			}
			if err := f.Abort(); err != nil {
				t.Errorf("Abort after the quit: %v", err)
			}
		})
	}
}

// TestPNGCloseFrame: the frames folder's closer closes the frame file being
// written and refuses further frames.
func TestPNGCloseFrame(t *testing.T) {
	p := &pngDir{dir: t.TempDir()}
	if err := p.writeFrame(testFrame(8, 8, 0)); err != nil {
		t.Fatal(err)
	}
	open, err := os.Create(filepath.Join(p.dir, "frame_0001.png"))
	if err != nil {
		t.Fatal(err)
	}
	p.open = open // as in the middle of writeFrame
	if err := p.closeFrame(); err != nil {
		t.Fatal(err)
	}
	if _, err := open.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the open frame after closeFrame: write = %v, want os.ErrClosed", err)
	}
	if err := p.writeFrame(image.NewRGBA(image.Rect(0, 0, 8, 8))); err == nil {
		t.Error("a frame after closeFrame was written")
	}
	if ents, _ := os.ReadDir(p.dir); !slices.EqualFunc(ents, []string{"frame_0000.png", "frame_0001.png"}, func(e os.DirEntry, n string) bool { return e.Name() == n }) {
		t.Errorf("folder holds %v", ents)
	}
}
