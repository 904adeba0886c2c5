package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestQA14DemoSuggestsRunnableCommand: the command the demo suggests for the
// real weights starts with the binary as it can be run: `make demo` runs
// bin/wan22, which is not on PATH, and the suggested "wan22 i2v …" was
// "command not found". The name alone when that name on PATH is this
// binary; "wan22" for any other name (a test binary).
func TestQA14DemoSuggestsRunnableCommand(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "wan22")
	require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
	require.NoError(t, os.WriteFile(bin, []byte("x"), 0o755))
	other := filepath.Join(dir, "wan22")
	require.NoError(t, os.WriteFile(other, []byte("y"), 0o755))
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	onPath := func(p string) func(string) (string, error) {
		return func(string) (string, error) { return p, nil }
	}
	for _, c := range []struct {
		goos, arg0 string
		look       func(string) (string, error)
		want       string
	}{
		{"linux", "bin/wan22", notFound, "bin/wan22"},
		{"linux", "./bin/wan22-cuda", notFound, "./bin/wan22-cuda"},
		{"linux", "wan22", notFound, "wan22"},
		{"linux", bin, onPath(bin), "wan22"},
		{"linux", bin, onPath(other), bin}, // another wan22 comes first on PATH
		{"linux", "/home/ann/my tools/wan22", notFound, "'/home/ann/my tools/wan22'"},
		{"linux", "/tmp/go-build1/b001/wan22.test", notFound, "wan22"},
		{"linux", "/usr/local/bin/video", notFound, "wan22"},
		{"windows", `bin\wan22.exe`, notFound, `bin\wan22.exe`},
		{"windows", `C:\Program Files\wan22\wan22.exe`, notFound, `"C:\Program Files\wan22\wan22.exe"`},
		{"windows", "wan22.exe", notFound, "wan22"},
	} {
		require.Equal(t, c.want, demoProgram(c.goos, c.arg0, c.look), "%s %q", c.goos, c.arg0)
	}
	for _, goos := range []string{"linux", "windows"} {
		e := demoEpilogueFor(goos, "bin/wan22")
		require.Contains(t, e, "\n  bin/wan22 i2v --image photo.png", goos)
		require.Equal(t, strings.ReplaceAll(demoEpilogue(goos), "wan22 i2v", "bin/wan22 i2v"), e, goos)
	}
}

// TestQA14FlagBeforeCommand: a flag given before the command (wan22 -out
// v.mp4 demo, wan22 -v) says that flags follow the command; it said
// 'unknown command "-out"'. A word that is not a flag keeps its words.
func TestQA14FlagBeforeCommand(t *testing.T) {
	for _, args := range [][]string{{"-out", "v.mp4", "demo"}, {"-v"}, {"--device=cpu", "i2v"}} {
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 2, code, "%q", args)
		require.Empty(t, stdout, "%q", args)
		require.Contains(t, stderr, "wan22: unknown flag "+args[0]+": a command comes first, its flags after it (wan22 demo -out v.mp4)", "%q", args)
		require.NotContains(t, stderr, "unknown command", "%q", args)
		require.Contains(t, stderr, "commands:", "%q", args)
	}
	code, _, stderr := runCLI("-")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `wan22: unknown command "-"`)
}

// TestQA14DemoHelpWrapped: `wan22 help demo`'s description is wrapped as
// paragraphs (no line over 80 columns, none cut short mid-paragraph); a
// line ended at "to compare its" in the middle of a sentence.
func TestQA14DemoHelpWrapped(t *testing.T) {
	for _, para := range strings.Split(demoHelp, "\n\n") {
		lines := strings.Split(para, "\n")
		for i, l := range lines {
			require.LessOrEqual(t, len(l), 80, "%q", l)
			if i < len(lines)-1 {
				next := strings.Fields(lines[i+1])[0]
				require.Greater(t, len(l)+1+len(next), 76, "line %q is cut short: %q fits on it", l, next)
			}
		}
	}
	code, stdout, _ := runCLI("help", "demo")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "wgmma, not on Hopper) to compare its frames with the default bf16 ones")
}
