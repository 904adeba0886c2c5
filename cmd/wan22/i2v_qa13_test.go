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
