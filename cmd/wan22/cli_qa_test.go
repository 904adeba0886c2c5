package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// qaI2VArgs are i2v arguments whose model files do not exist: a check that
// refuses them with exit 2 ran before anything was read or loaded.
func qaI2VArgs(dir string, extra ...string) []string {
	m := filepath.Join(dir, "absent.gguf")
	return append([]string{"i2v", "--image", filepath.Join(dir, "in.png"), "--prompt", "p", "--high", m, "--low", m,
		"--text-encoder", m, "--vae", m, "--device", "cpu", "--frames", "5", "--size", "32x16"}, extra...)
}

// TestI2VOutputPathsCheckedFirst: --preview, --frames-dir and --out in a
// missing folder (or naming a folder) are refused before any model loads.
func TestI2VOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nodir")
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"preview missing folder": {[]string{"--out", filepath.Join(dir, "v.avi"), "--preview", filepath.Join(missing, "p.png")},
			"--preview " + filepath.Join(missing, "p.png") + ": the folder " + missing + " does not exist"},
		"preview is a folder": {[]string{"--out", filepath.Join(dir, "v.avi"), "--preview", dir}, "--preview " + dir + " is a folder"},
		"frames-dir missing folder": {[]string{"--frames-dir", filepath.Join(missing, "frames")},
			"--frames-dir " + filepath.Join(missing, "frames") + ": the folder " + missing + " does not exist"},
		"out missing folder": {[]string{"--out", filepath.Join(missing, "v.mp4")}, "--out " + filepath.Join(missing, "v.mp4") + ": the folder"},
		"out parent is a file": {[]string{"--out", filepath.Join(dir, "file", "v.mp4")}, "is not a folder"},
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), nil, 0o644))
		code, _, stderr := runCLI(qaI2VArgs(dir, c.args...)...)
		require.Equal(t, 2, code, "%s: %s", name, stderr)
		require.Contains(t, stderr, c.want, name)
		require.NotContains(t, stderr, "absent.gguf", name)
	}
	// A writable folder passes, and the check leaves nothing behind.
	require.NoError(t, checkOutputPath("--preview", filepath.Join(dir, "p.png"), true))
	for _, e := range entries(t, dir) {
		require.False(t, strings.HasPrefix(e, ".wan22-write-check"), "the write check left %s", e)
	}
}
