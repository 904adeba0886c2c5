package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDemoScriptPlayable runs the README's first command the way `make demo` does (scripts/demo.sh with a
// freshly built binary, in an empty folder, defaults only) and checks with ffprobe that the video plays:
// first with ffmpeg on PATH (H.264 MP4, BT.709), then without it (the pure-Go MJPEG AVI fallback, next to
// the MP4 the first run left, which the second run must not touch). CI installs ffmpeg; without ffprobe
// the test skips with a message.
func TestDemoScriptPlayable(t *testing.T) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe is not installed (apt install ffmpeg): the demo video's playability is not checked here")
	}
	if testing.Short() {
		t.Skip("builds the binary: skipped with -short")
	}
	top, err := filepath.Abs("../..")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "wan22")
	build := exec.Command("go", "build", "-o", bin, "./cmd/wan22")
	build.Dir, build.Env = top, append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	work := t.TempDir()
	demo := func(path string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(top, "scripts", "demo.sh"), bin)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+path, "TMPDIR="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "%s", stderr.String())
		require.Contains(t, stdout.String(), "coloured noise")
		return stdout.String() + stderr.String()
	}
	probe := func(file string) string {
		t.Helper()
		out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-show_entries",
			"stream=codec_name,pix_fmt,color_space,nb_read_frames,r_frame_rate", "-of", "compact", file).CombinedOutput()
		require.NoError(t, err, "ffprobe %s: %s", file, out)
		return string(out)
	}

	demo(os.Getenv("PATH"))
	mp4 := probe(filepath.Join(work, "demo.mp4"))
	for _, want := range []string{"codec_name=h264", "pix_fmt=yuv420p", "color_space=bt709", "r_frame_rate=16/1", "nb_read_frames=9"} {
		require.Contains(t, mp4, want)
	}

	// No ffmpeg on PATH: the fallback writes an AVI beside the first video, which stays as it was.
	before, err := os.ReadFile(filepath.Join(work, "demo.mp4"))
	require.NoError(t, err)
	noFFmpeg := t.TempDir()
	for _, tool := range []string{"bash", "env", "dirname"} {
		if p, err := exec.LookPath(tool); err == nil {
			require.NoError(t, os.Symlink(p, filepath.Join(noFFmpeg, tool)))
		}
	}
	said := demo(noFFmpeg)
	require.True(t, strings.Contains(said, "ffmpeg"), "the fallback says how to get MP4: %s", said)
	avi := probe(filepath.Join(work, "demo-1.avi"))
	for _, want := range []string{"codec_name=mjpeg", "nb_read_frames=9"} {
		require.Contains(t, avi, want)
	}
	after, err := os.ReadFile(filepath.Join(work, "demo.mp4"))
	require.NoError(t, err)
	require.Equal(t, before, after, "the second run changed the first video")
}
