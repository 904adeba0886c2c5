package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/internal/atomicfile"
)

// TestRemoveLeftovers: what main does after every command. Temporary
// outputs still registered — the state a removal that failed while the
// command unwound leaves (on Windows, a file still open) — are removed,
// file and folder; the user's files, a finished output and a kept one
// (never registered) stay. A path it cannot remove is named in one line
// and stays registered.
func TestRemoveLeftovers(t *testing.T) {
	require.Empty(t, atomicfile.Pending(), "an earlier test left registered paths")
	dir := t.TempDir()
	for _, name := range []string{"prev.png", "done.avi", "v.finished.mp4"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644))
	}
	f, err := atomicfile.Create(filepath.Join(dir, "v.mp4"))
	require.NoError(t, err)
	_, err = f.WriteString("half a video")
	require.NoError(t, err)
	require.NoError(t, f.File.Close()) // closed, neither committed nor removed
	d, err := atomicfile.TempDir(filepath.Join(dir, "frames"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d, "frame_0000.png"), []byte("frame"), 0o644))
	require.Len(t, atomicfile.Pending(), 2)

	var stderr bytes.Buffer
	removeLeftovers(&stderr)
	require.Empty(t, stderr.String())
	require.ElementsMatch(t, []string{"done.avi", "prev.png", "v.finished.mp4"}, entries(t, dir))
	require.Empty(t, atomicfile.Pending())
	removeLeftovers(&stderr) // nothing registered: nothing to do, nothing said
	require.Empty(t, stderr.String())

	// A path that cannot be removed (a NUL byte: every system refuses it).
	bad := filepath.Join(dir, "bad\x00name")
	atomicfile.Register(bad)
	t.Cleanup(func() { atomicfile.Forget(bad) })
	removeLeftovers(&stderr)
	require.Contains(t, stderr.String(), "wan22: a temporary output could not be removed, remove it by hand: ")
	require.Contains(t, stderr.String(), "bad")
	require.Equal(t, []string{bad}, atomicfile.Pending())
	require.ElementsMatch(t, []string{"done.avi", "prev.png", "v.finished.mp4"}, entries(t, dir))
}

// TestRemoveLeftoversAfterFailedRun: an i2v run that fails at the end
// (ffmpeg fails) after writing a preview, followed by what main does,
// leaves the folder as it was: the run's outputs gone, the user's file
// there kept.
func TestRemoveLeftoversAfterFailedRun(t *testing.T) {
	args, out := i2vSetup(t)
	mine := filepath.Join(out, "notes.txt")
	require.NoError(t, os.WriteFile(mine, []byte("mine"), 0o644))
	readBytes := failingFFmpeg(t)
	code, _, stderr := runCLI(append(args, "--out", filepath.Join(out, "v.mp4"), "--preview", filepath.Join(out, "p.png"))...)
	require.Equal(t, 1, code, stderr)
	requireFFmpegFailedAfterFrames(t, stderr, readBytes)
	var se bytes.Buffer
	removeLeftovers(&se)
	require.Empty(t, se.String())
	require.Equal(t, []string{"notes.txt"}, entries(t, out))
	b, err := os.ReadFile(mine)
	require.NoError(t, err)
	require.Equal(t, "mine", string(b))
}
