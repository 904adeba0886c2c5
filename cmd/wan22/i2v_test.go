package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/tinymodels"
)

// tinySet writes the tiny models into a temporary folder (well under a
// second).
func tinySet(t *testing.T) tinymodels.Paths {
	t.Helper()
	p, err := tinymodels.Write(t.TempDir(), 5)
	require.NoError(t, err)
	return p
}

// i2vSetup writes the tiny models and a test image and returns the base
// arguments of a small run, and the folder for outputs.
func i2vSetup(t *testing.T) ([]string, string) {
	p := tinySet(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "in.png")
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, imageprep.TestImage(48, 24)))
	require.NoError(t, f.Close())
	out := t.TempDir()
	return []string{"i2v", "--image", img, "--prompt", "a red boat", "--high", p.High, "--low", p.Low,
		"--text-encoder", p.TextEncoder, "--vae", p.VAE, "--frames", "5", "--size", "32x16", "--steps", "2",
		"--seed", "7", "--device", "cpu"}, out
}

// entries lists a folder's names.
func entries(t *testing.T, dir string) []string {
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestI2VWritesVideoDeterministically(t *testing.T) {
	args, out := i2vSetup(t)
	var stdout, stderr bytes.Buffer
	a := filepath.Join(out, "a.avi")
	preview := filepath.Join(out, "preview.png")
	code := run(append(args, "--out", a, "--frames-dir", filepath.Join(out, "frames"), "--preview", preview), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stdout.String(), "wrote "+a+" (MJPEG AVI, 5 frames)")
	require.Contains(t, stderr.String(), "wan22 i2v: 32x16, 5 frames at 16 fps, 2 unipc steps")
	require.Contains(t, stderr.String(), "high-noise expert: 2 blocks resident")
	require.Contains(t, stderr.String(), "s/it")
	require.Len(t, entries(t, filepath.Join(out, "frames")), 5)
	pf, err := os.Open(preview)
	require.NoError(t, err)
	pimg, err := png.Decode(pf)
	pf.Close()
	require.NoError(t, err)
	require.Equal(t, 32, pimg.Bounds().Dx())

	// Same seed, same bytes; the JSON events are one object per line.
	b := filepath.Join(out, "b.avi")
	stdout.Reset()
	require.Equal(t, 0, run(append(args, "--out", b, "--json"), &stdout, &stderr), stderr.String())
	ab, err := os.ReadFile(a)
	require.NoError(t, err)
	bb, err := os.ReadFile(b)
	require.NoError(t, err)
	require.Equal(t, ab, bb)
	types := map[string]int{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), sc.Text())
		types[ev["type"].(string)]++
		if ev["type"] == "progress" {
			require.Contains(t, []string{"vae-encode", "text-encode", "high-noise", "low-noise", "vae-decode", "video-write"}, ev["stage"])
		}
	}
	require.Equal(t, 1, types["start"])
	require.Equal(t, 1, types["done"])
	require.Greater(t, types["progress"], 5)

	// Another seed, another video.
	c := filepath.Join(out, "c.avi")
	require.Equal(t, 0, run(append(args, "--out", c, "--seed", "8"), &stdout, &stderr))
	cb, err := os.ReadFile(c)
	require.NoError(t, err)
	require.NotEqual(t, ab, cb)
}

func TestI2VBadInput(t *testing.T) {
	args, out := i2vSetup(t)
	p := tinySet(t)
	notImage := filepath.Join(t.TempDir(), "notimage.png")
	require.NoError(t, os.WriteFile(notImage, []byte("this is not a picture"), 0o644))
	corrupt := filepath.Join(t.TempDir(), "corrupt.gguf")
	require.NoError(t, os.WriteFile(corrupt, []byte("GGUF\x03\x00\x00\x00\xff\xff"), 0o644))
	existing := filepath.Join(t.TempDir(), "exists.mp4")
	require.NoError(t, os.WriteFile(existing, []byte("mine"), 0o644))
	set := func(flag, v string) []string {
		a := append([]string(nil), args...)
		for i := range a {
			if a[i] == flag {
				a[i+1] = v
				return a
			}
		}
		return append(a, flag, v)
	}
	target := filepath.Join(out, "v.avi")
	for name, c := range map[string]struct {
		args []string
		code int
		want string
	}{
		"missing model":     {set("--high", filepath.Join(out, "nope.gguf")), 1, "high-noise expert"},
		"corrupt model":     {set("--low", corrupt), 1, "low-noise expert " + corrupt + ": cannot be read"},
		"VAE as encoder":    {set("--text-encoder", p.VAE), 1, "text encoder " + p.VAE + ": is a WAN"},
		"low twice":         {set("--high", args[slices.Index(args, "--low")+1]), 1, "same file as the high-noise expert"},
		"image undecodable": {set("--image", notImage), 1, "image " + notImage},
		"frames":            {set("--frames", "6"), 2, "5 and 9"},
		"size":              {set("--size", "40x16"), 2, "nearest are 32 and 48"},
		"size syntax":       {set("--size", "big"), 2, "WIDTHxHEIGHT"},
		"no models":         {[]string{"i2v", "--image", notImage, "--out", target}, 2, "--high is required"},
		"no output":         {args, 2, "--out (a video file) or --frames-dir"},
		"output exists":     {set("--out", existing), 2, "already exists"},
		"unwritable":        {set("--out", filepath.Join(out, "no", "such", "dir", "v.mp4")), 1, "v.mp4"},
		"budget":            {append(set("--size", "2048x2048"), "--host-budget", "0.5", "--frames", "81"), 1, "0.50 GiB is available"},
		"cfg":               {set("--cfg", "3,4,5"), 2, "HIGH,LOW"},
		"cfg NaN":           {set("--cfg", "NaN"), 2, "--cfg NaN is out of range"},
		"vram NaN":          {set("--vram-budget", "NaN"), 2, "--vram-budget"},
		"both switches":     {append(set("--boundary", "0.8"), "--switch-step", "1"), 2, "not both"},
		"device":            {set("--device", "tpu"), 2, "--device"},
		"arguments":         {append(args, "stray"), 2, "unexpected arguments"},
	} {
		var stdout, stderr bytes.Buffer
		a := c.args
		if !strings.Contains(strings.Join(a, " "), "--out") && name != "no output" {
			a = append(a, "--out", target)
		}
		code := run(a, &stdout, &stderr)
		require.Equal(t, c.code, code, "%s: %s", name, stderr.String())
		require.Contains(t, stderr.String(), c.want, name)
		require.Contains(t, stderr.String(), "wan22 i2v:", name)
		require.Empty(t, entries(t, out), "%s left files", name)
	}
	b, err := os.ReadFile(existing)
	require.NoError(t, err)
	require.Equal(t, "mine", string(b))
}

// TestI2VFFmpegFailsMidStream puts a fake ffmpeg on PATH that reads a little
// and then fails: the run must fail with ffmpeg's message and leave nothing.
func TestI2VFFmpegFailsMidStream(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for the fake ffmpeg")
	}
	args, out := i2vSetup(t)
	bin := t.TempDir()
	fake := "#!/bin/sh\nhead -c 3000 >/dev/null\necho 'fake ffmpeg: disk quota exceeded' >&2\nexit 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ffmpeg"), []byte(fake), 0o755))
	t.Setenv("PATH", bin)
	var stdout, stderr bytes.Buffer
	code := run(append(args, "--out", filepath.Join(out, "v.mp4")), &stdout, &stderr)
	require.Equal(t, 1, code, stderr.String())
	require.Contains(t, stderr.String(), "ffmpeg")
	require.Empty(t, entries(t, out))
}

func TestI2VHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"i2v", "-h"}, &stdout, &stderr)
	require.Equal(t, 0, code)
	help := stdout.String() + stderr.String()
	require.Contains(t, help, "EXIF orientation is NOT applied")
	for _, f := range []string{"image", "prompt", "negative", "high", "low", "text-encoder", "vae", "frames", "size", "max-area", "steps", "shift", "cfg", "boundary", "switch-step", "solver", "seed", "vram-budget", "pinned-budget", "out", "fps", "frames-dir", "preview", "json", "device"} {
		require.Regexp(t, `\n  -`+f+`[ \n]`, help, f)
	}
}
