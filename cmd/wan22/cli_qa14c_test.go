package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQA14BenchFolderIsFile: --out-video or --synth-dir naming an existing
// file says that the name is a file and asks for a folder; it said "is not
// an existing folder: create it first", which cannot be done with a file in
// the way. A missing folder keeps its advice (TestBenchSynthDirMissing).
func TestQA14BenchFolderIsFile(t *testing.T) {
	tmp := isolateTemp(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	smallSynth(t)
	m := tinyFiles(t)
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, flag := range []string{"--out-video", "--synth-dir"} {
		args := []string{"--device", "cpu", "--vae", m.VAE, "--frames", "5", "--size", "32x16", "--steps", "1", "--no-history", flag, file}
		code, stdout, stderr := runBenchCtx(t.Context(), args...)
		require.Equal(t, 2, code, "%q: %s%s", args, stdout, stderr)
		require.Empty(t, stdout)
		require.True(t, strings.HasPrefix(stderr, "wan22 bench: "+flag+" "+file+" is a file, not a folder: give a folder"), "%q: %s", args, stderr)
		require.NotContains(t, stderr, "create it first")
	}
	assertEmptyDir(t, tmp)
}
