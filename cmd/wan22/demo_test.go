package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDemoWritesVideo(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the tiny models go here and must be gone afterwards
	outDir := t.TempDir()
	out := filepath.Join(outDir, "demo.avi")
	args := []string{"demo", "-out", out, "-steps", "2", "-frames", "5", "-width", "32", "-height", "16", "-device", "cpu"}
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stdout.String(), "wrote "+out+" (MJPEG AVI, 5 frames)")
	require.Contains(t, stdout.String(), "coloured noise, not a")
	require.Contains(t, stdout.String(), "wan22 i2v --image")
	require.Contains(t, stderr.String(), "high-noise expert: 2 blocks resident")
	first, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Empty(t, entries(t, tmp), "the tiny models were not removed")

	// An existing output is refused and left as it is.
	stderr.Reset()
	require.Equal(t, 2, run(args, &stdout, &stderr))
	require.Contains(t, stderr.String(), "already exists")
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, first, again)

	// The same seed gives the same bytes.
	out2 := filepath.Join(outDir, "demo2.avi")
	require.Equal(t, 0, run(append(args[:0:0], "demo", "-out", out2, "-steps", "2", "-frames", "5", "-width", "32", "-height", "16", "-device", "cpu"), &stdout, &stderr))
	second, err := os.ReadFile(out2)
	require.NoError(t, err)
	require.Equal(t, first, second)
}

func TestDemoBadInput(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	outDir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-device", "tpu"}, 2, `wan22 demo: -device "tpu": use cpu, cuda or auto`},
		{[]string{"-width", "-16"}, 2, "width -16 is below 16"},
		{[]string{"-frames", "6"}, 2, "5 and 9"},
		{[]string{"-steps", "20000"}, 2, "-steps 20000 is out of range"},
		{[]string{"-vram-budget", "NaN"}, 2, "wan22 demo: -vram-budget NaN is out of range"},
		{[]string{"-vram-budget", "4"}, 2, "wan22 demo: -vram-budget needs the GPU (-device cuda): the CPU has no device memory to budget"},
		{[]string{"-width", "4096", "-height", "4096", "-frames", "1025"}, 1, "GiB of host memory available: make the video smaller or use fewer frames, or free memory. In wan22 demo, use a smaller -width and -height, or fewer -frames"},
		{[]string{"stray"}, 2, "unexpected arguments"},
		{[]string{"-prompt", "un caf\xe9"}, 2, "wan22 demo: -prompt is not UTF-8 text (byte 0xe9 at offset 6"},
		{[]string{"-attention", "int4"}, 2, `attention precision "int4" not understood`},
		{[]string{"-attention", "fp8"}, 2, "wan22 demo: -attention fp8: 8-bit attention needs the CUDA backend, and -device cpu computes attention in f32: use -attention bf16 or -device cuda"},
		{[]string{"-device", "auto", "-attention", "int8"}, 2, "8-bit attention needs the"},
		{[]string{"-out", filepath.Join(outDir, "missing", "dir", "d.avi"), "-steps", "1", "-frames", "1", "-width", "16", "-height", "16"}, 2, "d.avi: the folder"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"demo", "-device", "cpu", "-out", filepath.Join(outDir, "d.avi")}, c.args...)
		require.Equal(t, c.code, run(args, &stdout, &stderr), "%v: %s", c.args, stderr.String())
		require.Contains(t, stderr.String(), "wan22 demo:", c.args)
		require.Contains(t, stderr.String(), c.want, c.args)
		require.Empty(t, entries(t, outDir), "%v left files", c.args)
		require.Empty(t, entries(t, tmp), "%v left the tiny models", c.args)
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run([]string{"demo", "-frames"}, &stdout, &stderr))

	// The demo has no -frames-dir: a wrong -out extension does not suggest one.
	stderr.Reset()
	require.Equal(t, 2, run([]string{"demo", "-device", "cpu", "-out", filepath.Join(outDir, "d.mkv")}, &stdout, &stderr))
	require.Contains(t, stderr.String(), `unknown video extension ".mkv": use .mp4 (H.264 through ffmpeg) or .avi (MJPEG)`)
	require.NotContains(t, stderr.String(), "frames-dir")
}

// TestDemoMP4Deterministic checks that the MP4 path is deterministic too,
// where ffmpeg is installed (the same ffmpeg build encodes the same frames to
// the same bytes).
func TestDemoMP4Deterministic(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed: the MP4 path is not tested here")
	}
	dir := t.TempDir()
	var videos [][]byte
	for _, name := range []string{"a.mp4", "b.mp4"} {
		var stdout, stderr bytes.Buffer
		out := filepath.Join(dir, name)
		code := run([]string{"demo", "-out", out, "-steps", "1", "-frames", "5", "-width", "32", "-height", "16", "-device", "cpu"}, &stdout, &stderr)
		require.Equal(t, 0, code, stderr.String())
		require.Contains(t, stdout.String(), "(MP4, 5 frames)")
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		videos = append(videos, b)
	}
	require.Equal(t, videos[0], videos[1])
}
