package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/internal/golden"
)

func TestDemoWritesFrames(t *testing.T) {
	models := golden.Dir(t)
	out := filepath.Join(t.TempDir(), "frames")
	var stdout, stderr bytes.Buffer
	code := run([]string{"demo", "-models", models, "-out", out, "-steps", "2", "-frames", "5", "-width", "48", "-height", "32"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 5)
	require.Contains(t, stdout.String(), "wrote 5 frames")

	// An existing output folder is refused, and nothing is left behind on failure.
	code = run([]string{"demo", "-models", models, "-out", out}, &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "already exists")
	stderr.Reset()
	bad := filepath.Join(t.TempDir(), "bad")
	code = run([]string{"demo", "-models", t.TempDir(), "-out", bad}, &stdout, &stderr)
	require.Equal(t, 1, code)
	_, err = os.Stat(bad)
	require.True(t, os.IsNotExist(err))
	require.Equal(t, 2, run([]string{"demo", "-frames"}, &stdout, &stderr))
	for _, bad := range [][]string{{"-backend", "tpu"}, {"-backend", "cuda"}, {"-width", "-16"}, {"-width", "1000000", "-height", "1000000"}, {"-frames", "6"}} {
		stderr.Reset()
		require.Equal(t, 1, run(append([]string{"demo", "-models", models, "-out", filepath.Join(t.TempDir(), "x")}, bad...), &stdout, &stderr), bad)
		require.Contains(t, stderr.String(), "wan22 demo:")
	}
}
