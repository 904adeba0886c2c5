package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/internal/atomicfile"
)

// argValue is the value that follows flag in args.
func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	t.Fatalf("no %s in %q", flag, args)
	return ""
}

// TestI2VPreviewNeverReplacesOtherFiles: --preview naming the input image, a
// model, a LoRA, --out (or the .avi an --out .mp4 becomes without ffmpeg)
// or --frames-dir (by another spelling or a link too), or an existing file
// that is not a PNG, is a usage error before anything loads, and the file is
// left as it was; an earlier preview (a PNG) is replaced.
func TestI2VPreviewNeverReplacesOtherFiles(t *testing.T) {
	args, out := i2vSetup(t)
	img, high := argValue(t, args, "--image"), argValue(t, args, "--high")
	loraFile := writeTinyLoRA(t, t.TempDir(), "l.safetensors", 1, "blocks.0.self_attn.q")
	notPNG := filepath.Join(out, "notes.txt")
	require.NoError(t, os.WriteFile(notPNG, []byte("my notes"), 0o644))
	link := filepath.Join(out, "link.png")
	require.NoError(t, os.Symlink(img, link))
	video := filepath.Join(out, "v.avi")
	mp4 := filepath.Join(out, "v.MP4")
	frames := filepath.Join(out, "frames")
	sum := func() map[string]string {
		m := map[string]string{}
		for _, p := range []string{img, high, loraFile, notPNG} {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			m[p] = string(b)
		}
		return m
	}
	before := sum()
	for _, c := range []struct {
		preview string
		extra   []string
		want    string
	}{
		{img, nil, "--preview " + img + " is the same file as --image " + img},
		{filepath.Join(filepath.Dir(img), ".", filepath.Base(img)), nil, "is the same file as --image"},
		{link, nil, "--preview " + link + " is the same file as --image"},
		{high, nil, "is the same file as --high " + high},
		{loraFile, []string{"--lora", loraFile}, "is the same file as --lora " + loraFile},
		{video, nil, "is the same file as --out " + video},
		{frames, []string{"--frames-dir", frames}, "is the same file as --frames-dir " + frames},
		{notPNG, nil, "--preview " + notPNG + " exists and is not a PNG image"},
		// Without ffmpeg an --out .mp4 is written as the .avi of its name.
		{video, []string{"--out", mp4}, "--preview " + video + " is the same file as " + video + ", the MJPEG AVI that --out " + mp4 + " is written as when ffmpeg is missing"},
	} {
		a := append(append(append([]string{}, args...), "--out", video, "--preview", c.preview), c.extra...)
		code, stdout, stderr := runCLI(a...)
		require.Equal(t, 2, code, "%s: %s", c.preview, stderr)
		require.Contains(t, stderr, c.want, c.preview)
		require.Empty(t, stdout, c.preview)
	}
	require.Equal(t, before, sum(), "a refused --preview changed a file")
	require.NoFileExists(t, video)
	require.NoFileExists(t, mp4)
	require.NoDirExists(t, frames)

	// An earlier preview is replaced.
	prev := filepath.Join(out, "prev.png")
	require.NoError(t, os.WriteFile(prev, []byte(pngMagic+"an earlier preview"), 0o644))
	code, _, stderr := runCLI(append(args, "--out", video, "--preview", prev)...)
	require.Equal(t, 0, code, stderr)
	b, err := os.ReadFile(prev)
	require.NoError(t, err)
	require.NotContains(t, string(b), "an earlier preview")
}

// cancelOn is a stdout that cancels a run when a line containing stage is
// printed.
type cancelOn struct {
	stage  string
	cancel context.CancelFunc
}

func (c cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.stage)) {
		c.cancel()
	}
	return len(p), nil
}

// TestI2VPreviewRemovedOnFailure: the preview is one of the run's outputs:
// a run cancelled (Ctrl-C) or failing after a preview was written leaves
// none, so "nothing was written" is true.
func TestI2VPreviewRemovedOnFailure(t *testing.T) {
	args, out := i2vSetup(t)
	preview := filepath.Join(out, "prev.png")

	// Cancelled in the low-noise stage, after the high-noise step wrote
	// the preview.
	f, code, ok := parseI2V(append(args[1:], "--out", filepath.Join(out, "v.avi"), "--preview", preview, "--json"), io.Discard, io.Discard)
	require.True(t, ok, code)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sawPreview := false
	err := i2v(ctx, f, cancelOn{`"stage":"low-noise"`, func() {
		_, err := os.Stat(preview)
		sawPreview = sawPreview || err == nil
		cancel()
	}}, io.Discard)
	require.Error(t, err)
	require.True(t, sawPreview, "no preview was written before the cancel")
	require.Empty(t, entries(t, out))
	require.Empty(t, atomicfile.Pending())

	// Failing when the video is written, after every step.
	readBytes := failingFFmpeg(t)
	code, _, stderr := runCLI(append(args, "--out", filepath.Join(out, "v.mp4"), "--preview", preview)...)
	require.Equal(t, 1, code, stderr)
	requireFFmpegFailedAfterFrames(t, stderr, readBytes)
	require.Empty(t, entries(t, out))
	require.Empty(t, atomicfile.Pending())
}

// TestI2VPreviewWriteFails: a preview that cannot be written is a
// warning, printed once, and the run goes on to write its video. Here a
// folder has taken --preview's name since the flags were checked, so every
// write fails: what is at --preview is not this run's output, and the run
// leaves it alone.
func TestI2VPreviewWriteFails(t *testing.T) {
	args, out := i2vSetup(t)
	preview := filepath.Join(out, "prev.png")
	for _, asJSON := range []bool{false, true} {
		a := append(args[1:], "--out", filepath.Join(out, "v.avi"), "--preview", preview)
		if asJSON {
			a = append(a, "--json")
		}
		f, code, ok := parseI2V(a, io.Discard, io.Discard)
		require.True(t, ok, code)
		require.NoError(t, os.Mkdir(preview, 0o755))
		kept := filepath.Join(preview, "kept.txt")
		require.NoError(t, os.WriteFile(kept, []byte("the user's"), 0o644))
		var stdout, stderr bytes.Buffer
		require.NoError(t, i2v(context.Background(), f, &stdout, &stderr))
		warning := "--preview " + preview + ": the preview after step 1 of 2 could not be written (preview " + preview + ": is a directory; give a file name); generating on, trying again after each step"
		if asJSON {
			require.Equal(t, 1, strings.Count(stdout.String(), `"type":"warning"`), stdout.String())
			require.Contains(t, stdout.String(), `"message":"`+warning+`"`)
			require.Contains(t, stdout.String(), `"type":"done"`)
		} else {
			require.Equal(t, 1, strings.Count(stderr.String(), "warning:"), stderr.String())
			require.Contains(t, stderr.String(), "wan22 i2v: warning: "+warning+"\n")
			require.Contains(t, stdout.String(), "wrote "+filepath.Join(out, "v.avi"))
		}
		b, rerr := os.ReadFile(kept)
		require.NoError(t, rerr, "the failed preview removed what was at --preview")
		require.Equal(t, "the user's", string(b))
		require.ElementsMatch(t, []string{"prev.png", "v.avi"}, entries(t, out))
		require.Empty(t, atomicfile.Pending())
		require.NoError(t, os.RemoveAll(preview))
		require.NoError(t, os.Remove(filepath.Join(out, "v.avi")))
	}
}

// TestI2VPreviewKeptRemoved: a preview that another program kept from
// being renamed (Windows; made here through writePNG) is not left beside
// the user's as prev.finished.png; the next step's preview replaces the
// earlier one; one warning; the run succeeds with the last preview at
// --preview.
func TestI2VPreviewKeptRemoved(t *testing.T) {
	args, out := i2vSetup(t)
	preview := filepath.Join(out, "prev.png")
	var steps []int
	var previews [][]byte
	real := writePNG
	t.Cleanup(func() { writePNG = real })
	writePNG = func(path string, img image.Image) error {
		steps = append(steps, len(steps)+1)
		if len(steps) == 2 {
			// What WritePNGAtomic returns when atomicfile.Rename keeps the file.
			finished := strings.TrimSuffix(path, ".png") + ".finished.png"
			require.NoError(t, os.WriteFile(finished, []byte(pngMagic+"finished"), 0o644))
			return fmt.Errorf("preview %s: %w", path, &atomicfile.KeptError{Target: path, Kept: finished, Err: errors.New("Access is denied.")})
		}
		if err := real(path, img); err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		previews = append(previews, b)
		return nil
	}
	var stdout, stderr bytes.Buffer
	code := run(append(args, "--steps", "3", "--out", filepath.Join(out, "v.avi"), "--preview", preview), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Equal(t, []int{1, 2, 3}, steps)
	require.Equal(t, 1, strings.Count(stderr.String(), "warning:"), stderr.String())
	require.Contains(t, stderr.String(), "the preview after step 2 of 3 could not be written (preview "+preview+": the finished output could not be renamed")
	require.ElementsMatch(t, []string{"prev.png", "v.avi"}, entries(t, out))
	require.Len(t, previews, 2)
	b, err := os.ReadFile(preview)
	require.NoError(t, err)
	require.Equal(t, previews[1], b, "the last step's preview is not at --preview")
	require.NotEqual(t, previews[0], previews[1])
	require.Empty(t, atomicfile.Pending())
}

// TestI2VPreviewNeedsPNGName: a --preview name that does not end in .png (in
// any case) — another extension, none, a bare dot — is a usage error before
// anything loads, naming the flag and the name to give; nothing is written.
// .png in any case is accepted.
func TestI2VPreviewNeedsPNGName(t *testing.T) {
	args, out := i2vSetup(t)
	video := filepath.Join(out, "v.avi")
	in := func(name string) string { return filepath.Join(out, name) }
	for _, c := range []struct{ name, want string }{
		{"p.jpg", "--preview " + in("p.jpg") + ": the preview is a PNG image, so its name must end in .png, not .jpg: name it " + in("p.png")},
		{"p.JPEG", "must end in .png, not .JPEG: name it " + in("p.png")},
		{"p.png.txt", "must end in .png, not .txt: name it " + in("p.png")},
		{"p", "--preview " + in("p") + ": the preview is a PNG image, so its name must end in .png: name it " + in("p.png")},
		{"p.", "so its name must end in .png: name it " + in("p.png")},
	} {
		code, stdout, stderr := runCLI(append(slices.Clone(args), "--out", video, "--preview", in(c.name))...)
		require.Equal(t, 2, code, "%s: %s", c.name, stderr)
		require.Contains(t, stderr, c.want, c.name)
		require.Empty(t, stdout, c.name)
		require.NoFileExists(t, in(c.name))
		require.NoFileExists(t, video)
	}
	for _, name := range []string{"p.png", "p.PNG", "p.Png", ".png"} {
		require.NoError(t, checkPreviewPath(in(name), nil), name)
	}
}
