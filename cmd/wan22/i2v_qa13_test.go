package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
)

// TestI2VOutIsAFolder: --out naming a folder (an existing one, or a name
// ending in a separator) says it is a folder and suggests a file name in
// it; it said "the file name has no extension: end it in .mp4", which
// leads to a video next to the folder instead of in it. The demo's -out
// reads the same.
func TestI2VOutIsAFolder(t *testing.T) {
	dir := t.TempDir()
	sep := string(filepath.Separator)
	for _, c := range []struct {
		out, want string
	}{
		{dir, "--out " + dir + " is a folder: give a file name in it, such as " + filepath.Join(dir, "video.mp4")},
		{dir + sep, "--out " + dir + sep + " is a folder: give a file name in it, such as " + filepath.Join(dir, "video.mp4")},
		{filepath.Join(dir, "clips") + sep, "--out " + filepath.Join(dir, "clips") + sep + " ends in " + sep + ", which names a folder: give a file name, such as " + filepath.Join(dir, "clips", "video.mp4")},
	} {
		code, _, stderr := runCLI(qaI2VArgs(dir, "--out", c.out)...)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, c.want)
		require.NotContains(t, stderr, "no extension")
	}
	code, _, stderr := runCLI("demo", "-out", dir)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "-out "+dir+" is a folder: give a file name in it")
	_, err := os.Stat(filepath.Join(dir, "video.mp4"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestI2VFramesDirExists: an existing --frames-dir is refused without the
// advice to remove it (a folder of the user's, perhaps full of other
// files): the frames go into a new folder, and a name inside it that is
// free is suggested. A file there is still "choose another name or remove
// it".
func TestI2VFramesDirExists(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(qaI2VArgs(dir, "--frames-dir", dir)...)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--frames-dir "+dir+" already exists: the frames go into a new folder that the run makes, so that no earlier file is mixed in or replaced: name one that does not exist yet, such as "+filepath.Join(dir, "frames"))
	require.NotContains(t, stderr, "remove")

	// frames, taken, gives frames-2.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "frames"), 0o755))
	code, _, stderr = runCLI(qaI2VArgs(dir, "--frames-dir", dir)...)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "such as "+filepath.Join(dir, "frames-2"))

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	code, _, stderr = runCLI(qaI2VArgs(dir, "--frames-dir", file)...)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--frames-dir "+file+" already exists: choose another name or remove it")
}

// TestI2VTildeNotExpanded: a path that starts with a ~ the shell left
// alone (--out=~/v.mp4: bash expands ~ only at the start of a word) is
// said to be one, with the spelling that works and the full path; for an
// output it said "the folder ~ does not exist: create it first", which
// makes a folder named ~ in the current folder (and a later rm -rf ~ is
// a classic way to lose one's home). Inputs (the image, the models, the
// LoRAs) are refused the same way before anything is read, and a real
// folder named ~ is used as any other.
func TestI2VTildeNotExpanded(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", "~/v.mp4"}, "--out ~/v.mp4: the folder ~ does not exist: the shell did not expand ~ to a home folder: it does so only at the start of a word, not after = or in quotes; write --out ~/v.mp4 (with a space, no quotes) or the full path " + filepath.Join(home, "v.mp4")},
		{[]string{"--frames-dir", "~/clips/frames"}, "--frames-dir ~/clips/frames: the folder ~/clips does not exist: the shell did not expand ~"},
		{[]string{"--out", filepath.Join(dir, "v.mp4"), "--preview", "~/p.png"}, "--preview ~/p.png: the folder ~ does not exist: the shell did not expand ~"},
		{[]string{"--out", filepath.Join(dir, "v.mp4"), "--image", "~/in.png"}, "--image ~/in.png: no such file: the shell did not expand ~ to a home folder: it does so only at the start of a word, not after = or in quotes; write --image ~/in.png (with a space, no quotes) or the full path " + filepath.Join(home, "in.png")},
		{[]string{"--out", filepath.Join(dir, "v.mp4"), "--high", "~/m/high.gguf"}, "--high ~/m/high.gguf: no such file: the shell did not expand ~"},
		{[]string{"--out", filepath.Join(dir, "v.mp4"), "--vae", "~bob/vae.safetensors"}, "--vae ~bob/vae.safetensors: no such file: the shell did not expand ~ to a home folder: it does so only at the start of a word, not after = or in quotes; write --vae ~bob/vae.safetensors (with a space, no quotes)\n"},
		{[]string{"--out", filepath.Join(dir, "v.mp4"), "--lora-low", "~/l.safetensors:0.5"}, "--lora-low ~/l.safetensors: no such file: the shell did not expand ~"},
	} {
		code, _, stderr := runCLI(qaI2VArgs(dir, c.args...)...)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, c.want)
		require.NotContains(t, stderr, "create it first")
	}
	require.Empty(t, entries(t, cwd))

	// A folder really named ~ is an ordinary folder.
	require.NoError(t, os.Mkdir(filepath.Join(cwd, "~"), 0o755))
	code, _, stderr := runCLI(qaI2VArgs(dir, "--out", filepath.Join("~", "sub", "v.mp4"))...)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "does not exist: create it first")
	require.NotContains(t, stderr, "expand")
}

// TestTildeAdviceWindows: Windows's command line never expands ~, so the
// advice is the full path alone.
func TestTildeAdviceWindows(t *testing.T) {
	t.Chdir(t.TempDir())
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	require.Equal(t, "Windows's command line does not expand ~ to your home folder: write the full path, such as "+filepath.Join(home, "v.mp4"),
		tildeAdvice("--out", "~/v.mp4", "windows"))
	require.Empty(t, tildeAdvice("--out", "v~.mp4", "windows"))
	require.Empty(t, tildeAdvice("--out", "v.mp4", "linux"))
}

// TestI2VDiskFullSaysSo: a run whose outputs fill the disk (here ffmpeg
// failing with "No space left on device" as it writes the MP4) is told
// that the disk became full and what to do, first, then the writer's own
// error, which names the file: it was the library's "wan22: Output.Video
// failed at frame 1: …" with ffmpeg's words at the end. Nothing is left.
func TestI2VDiskFullSaysSo(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for the fake ffmpeg")
	}
	args, out := i2vSetup(t)
	bin := t.TempDir()
	fake := "#!/bin/sh\nhead -c 3000 >/dev/null\necho 'Could not write header for output file #0 (incorrect codec parameters ?): No space left on device' >&2\nexit 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ffmpeg"), []byte(fake), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	v := filepath.Join(out, "v.mp4")
	code, _, stderr := runCLI(append(args, "--out", v)...)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "wan22 i2v: the disk became full while the outputs were written (another program may have filled it): free some space there or write them to another disk, and run again (video "+v+": ")
	require.Contains(t, stderr, "No space left on device")
	require.NotContains(t, stderr, "Output.Video")
	require.Empty(t, entries(t, out))
}

// TestExplainWriteError: a full disk or an exceeded quota under any
// writer (the AVI's or PNG folder's system error) gets the advice; the
// library's wrapping of an output's failure gives way to the writer's
// error, which names the output, except for a panic (a bug: its words
// are kept); other errors are unchanged, and errors.Is and errors.As
// still see everything.
func TestExplainWriteError(t *testing.T) {
	full := &os.PathError{Op: "write", Path: "/d/.v.avi.tmp-1", Err: syscall.ENOSPC}
	video := &wan22.OutputError{Output: "Video", Frame: 4, Step: -1, Err: full}
	err := explainWriteError(video)
	require.Equal(t, "the disk became full while the outputs were written (another program may have filled it): free some space there or write them to another disk, and run again (write /d/.v.avi.tmp-1: no space left on device)", err.Error())
	require.ErrorIs(t, err, syscall.ENOSPC)
	_, ok := errors.AsType[*wan22.OutputError](err)
	require.True(t, ok)

	quota := explainWriteError(&os.PathError{Op: "write", Path: "/d/f", Err: syscall.EDQUOT})
	require.True(t, strings.HasPrefix(quota.Error(), "the disk quota was exceeded while the outputs were written: free some space there or write them to another disk, and run again (write /d/f: "), quota.Error())

	// Several lines (an *outputsError: a failure, the outputs kept) follow
	// the advice on lines of their own.
	kept := &outputsError{errs: []error{full}, written: []output{&fakeOutput{path: "/d/frames"}}}
	require.Equal(t, "the disk became full while the outputs were written (another program may have filled it): free some space there or write them to another disk, and run again:\n"+kept.Error(), explainWriteError(kept).Error())
	require.True(t, keptOutputs(explainWriteError(kept)))

	other := &wan22.OutputError{Output: "Video", Frame: 1, Step: -1, Err: errors.New("video /d/v.mp4: frame 1: ffmpeg failed: exit status 1: bad")}
	require.Equal(t, "video /d/v.mp4: frame 1: ffmpeg failed: exit status 1: bad", explainWriteError(other).Error())
	panicked := &wan22.OutputError{Output: "Video", Frame: 1, Step: -1, Err: &wan22.PanicError{Value: "boom"}}
	require.Equal(t, panicked.Error(), explainWriteError(panicked).Error())
	plain := errors.New("something else")
	require.Same(t, plain, explainWriteError(plain))
}

// TestI2VOutputSpace: a disk without room for the outputs is refused
// before any model loads (it passed every check, an empty file fits
// anywhere, and the run failed at its end); one with less than the
// outputs typically take is a warning, and the run goes on. Outputs in one
// folder add up; a disk whose free space cannot be read is not checked.
func TestI2VOutputSpace(t *testing.T) {
	args, out := i2vSetup(t) // 32×16, 5 frames
	free, known := int64(0), true
	var asked []string
	outputFree = func(dir string) (int64, bool, error) {
		asked = append(asked, dir)
		return free, known, nil
	}
	t.Cleanup(func() { outputFree = freeBytes })
	v, frames := filepath.Join(out, "v.avi"), filepath.Join(out, "frames")
	run := func(extra ...string) (int, string, string) {
		asked = nil
		return runCLI(append(append([]string(nil), args...), extra...)...)
	}

	code, stdout, stderr := run("--out", v, "--frames-dir", frames)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "wan22 i2v: not enough disk space: the disk holding "+out+" has 0 bytes free, and writing the MJPEG AVI video (--out "+v+") and the 5 PNG frames (--frames-dir "+frames+") needs at least 4.39 kB (typically about 42.37 kB): free some space there or write to another disk")
	require.NotContains(t, stderr, "expert:", "a model loaded")
	require.Empty(t, stdout)
	require.Equal(t, []string{out}, asked, "one folder, asked once")
	require.Empty(t, entries(t, out))

	// Room for the least but not the typical: a warning.
	free = 10000
	code, _, stderr = run("--out", v)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "wan22 i2v: warning: the disk holding "+out+" has 10.00 kB free, and writing the MJPEG AVI video (--out "+v+") typically needs about 16.77 kB: the run may fail at its end for want of space; free some space there first")
	require.NoError(t, os.Remove(v))

	free = 1 << 30
	code, _, stderr = run("--out", v)
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stderr, "disk")
	require.NoError(t, os.Remove(v))

	free, known = 0, false
	code, _, stderr = run("--out", v)
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stderr, "disk")
}

// TestOutputSpaceRelativeFolder: the disk is named by its folder's whole
// path, not "the disk holding .".
func TestOutputSpaceRelativeFolder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	outputFree = func(string) (int64, bool, error) { return 0, true, nil }
	t.Cleanup(func() { outputFree = freeBytes })
	_, err := checkOutputSpace(wan22.Settings{Width: 32, Height: 16, Frames: 5}, "--out", "v.avi", "")
	require.ErrorContains(t, err, "the disk holding "+dir+" has 0 bytes free, and writing the MJPEG AVI video (--out v.avi) needs")
}

// TestI2VOutTrailingDotOrSpace: --out "v.mp4 " or "v.mp4." (a stray
// space from a script, a dot typed on) says what follows the extension
// and the name without it, on every system (Windows would drop it and write
// another name); it said 'unknown video extension ".mp4 "'.
func TestI2VOutTrailingDotOrSpace(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, says string }{
		{"v.mp4 ", `a space`}, {"v.MP4.", `a dot`}, {"v.avi .", `" ."`}, {"v.mp4  ", `"  "`},
	} {
		out := filepath.Join(dir, c.name)
		code, _, stderr := runCLI(qaI2VArgs(dir, "--out", out)...)
		require.Equal(t, 2, code, stderr)
		name := strings.TrimRight(out, ". ")
		require.Contains(t, stderr, "--out "+strconv.Quote(out)+": the name ends in "+c.says+" after its extension "+filepath.Ext(name)+": name the file "+name, c.name)
		require.NotContains(t, stderr, "unknown video extension", c.name)
	}
	out := filepath.Join(dir, "v.mov ")
	_, _, stderr := runCLI(qaI2VArgs(dir, "--out", out)...)
	require.Contains(t, stderr, `unknown video extension ".mov "`)
}

// TestI2VInputURL: an input given as a web address (a model's download
// link pasted from its page, an image's) is refused before anything is
// read, saying that only local files are read; it was "no such file".
func TestI2VInputURL(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "v.mp4")
	for _, c := range []struct{ flag, url string }{
		{"--image", "https://example.com/cat.png"},
		{"--high", "https://huggingface.co/x/y/resolve/main/high.gguf"},
		{"--vae", "HTTP://example.com/vae.safetensors"},
		{"--lora", "https://example.com/l.safetensors"},
	} {
		code, _, stderr := runCLI(qaI2VArgs(dir, "--out", out, c.flag, c.url)...)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, c.flag+" "+c.url+": a web address; wan22 reads local files only: download it first and give the file's path", c.url)
	}
}
