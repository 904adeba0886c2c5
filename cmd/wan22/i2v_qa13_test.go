package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
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
