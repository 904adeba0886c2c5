package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQA14DemoEmptyOut: -out "" (or -out=) is refused in the demo's words,
// naming its own -out; it said i2v's '--out (a video file) or --frames-dir
// (a folder for PNG frames) is required', a flag the demo does not have.
func TestQA14DemoEmptyOut(t *testing.T) {
	isolateTemp(t)
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{{"-out="}, {"--out", ""}, {"-out", "", "-json"}} {
		code, stdout, stderr := runCLI(append([]string{"demo", "-device", "cpu"}, args...)...)
		require.Equal(t, 2, code, "%q: %s", args, stderr)
		require.Contains(t, stderr, `wan22 demo: -out "": give the video file to write, such as -out demo.mp4 (.mp4 or .avi)`, "%q", args)
		require.NotContains(t, stderr, "frames-dir", "%q", args)
		require.Contains(t, stderr, "Run `wan22 help demo` for its flags.", "%q", args)
		if len(args) == 3 {
			require.Contains(t, stdout, `"exit_code":2`)
		}
		require.Empty(t, entries(t, dir), "%q left files", args)
	}
}
