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
