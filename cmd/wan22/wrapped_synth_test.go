package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWrappedQuotesSynthOut: synth's OUT wrapped in quotes that reached
// wan22 as part of it gets wrappedQuotesAdvice's words and the name to give,
// where checkSynthExt, which runs first, took the closing quote for the
// end of the extension and said to name the file "m.gguf".gguf; nothing is
// written.
func TestWrappedQuotesSynthOut(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ kind, name string }{{"dit", "m.gguf"}, {"vae", "v.safetensors"}} {
		for _, q := range [][2]string{{`"`, `"`}, {"“", "”"}, {"'", "'"}} {
			path := q[0] + filepath.Join(dir, c.name) + q[1]
			code, _, stderr := runCLI("synth", "-kind", c.kind, path)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, "the path is wrapped in", path)
			require.NotContains(t, stderr, "wants the extension", path)
			require.NotContains(t, stderr, c.name+q[1]+".", "no extension suggested after the quote: %s", path)
		}
	}
	require.Empty(t, entries(t, dir))
}
