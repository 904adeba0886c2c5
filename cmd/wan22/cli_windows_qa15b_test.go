package main

// Tests of the advice for paths a Windows user (and others) can give, where
// only the output paths (checkOutputPath) had it: i2v's and bench's inputs,
// bench's folders and synth's OUT.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMissingInputAdvice: an input file wrapped in quotes that reached
// wan22 as part of it ("C:\m\high.gguf" quoted twice, 'x.gguf' in cmd.exe,
// typographic quotes), or whose folder holds a variable no shell expanded,
// got no advice: on Windows the system says only that the syntax is
// incorrect, elsewhere that there is no such file. i2v and bench now say
// why and what to give, before anything is read; a file really named so is
// read as any other.
func TestMissingInputAdvice(t *testing.T) {
	env := map[string]string{"USERPROFILE": `C:\Users\me`}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		goos, path, want string
	}{
		{"windows", `"C:\m\high.gguf"`, `give it without them: C:\m\high.gguf`},
		{"windows", `'x.gguf'`, "give it in double quotes or none: x.gguf"},
		{"windows", "“C:\\m\\high.gguf”", "typographic quotes (“ ”)"},
		{"linux", `"/m/high.gguf"`, "give it without them: /m/high.gguf"},
		{"windows", `%USERPROFILE%\m\high.gguf`, `PowerShell leaves it as it is: there write $env:USERPROFILE, or write the full path C:\Users\me\m\high.gguf`},
		{"linux", "$WAN22_QA15B_UNSET/high.gguf", "the shell did not expand $WAN22_QA15B_UNSET"},
	} {
		if got := missingInputAdvice(c.path, c.goos, getenv); !strings.Contains(got, c.want) {
			t.Errorf("%s %q: %q, want %q in it", c.goos, c.path, got, c.want)
		}
	}
	for _, path := range []string{"", "-", "high.gguf", `C:\m\high.gguf`} {
		if got := missingInputAdvice(path, "windows", getenv); got != "" {
			t.Errorf("%q: %q", path, got)
		}
	}
	// A file really named with the quotes is there.
	dir := t.TempDir()
	quoted := filepath.Join(dir, `"m.gguf"`)
	require.NoError(t, os.WriteFile(quoted, nil, 0o644))
	require.Empty(t, missingInputAdvice(quoted, "linux", getenv))

	m := `"` + filepath.Join(dir, "high.gguf") + `"`
	for _, c := range []struct {
		args []string
		want string
	}{
		{qaI2VArgs(dir, "--out", filepath.Join(dir, "v.mp4"), "--high", m), "--high " + m + ": no such file: the path is wrapped in quotes that are part of it"},
		{qaI2VArgs(dir, "--out", filepath.Join(dir, "v.mp4"), "--image", "'in.png'"), "--image 'in.png': no such file: the path is wrapped in single quotes"},
		{qaI2VArgs(dir, "--out", filepath.Join(dir, "v.mp4"), "--vae", "$WAN22_QA15B_UNSET/vae.safetensors"), "--vae $WAN22_QA15B_UNSET/vae.safetensors: no such file: it holds the variable's name, not its value"},
		{[]string{"bench", "--high", m}, "wan22 bench: --high " + m + ": no such file: the path is wrapped in quotes that are part of it (quoted twice, or copied with its quotes into a quoted string or variable): give it without them: " + filepath.Join(dir, "high.gguf") + "\n"},
		{[]string{"bench", "--text-encoder", "“t5.gguf”"}, "wan22 bench: --text-encoder “t5.gguf”: no such file: the path is wrapped in typographic quotes"},
		{[]string{"bench", "--vae", "'vae.safetensors'"}, "wan22 bench: --vae 'vae.safetensors': no such file: the path is wrapped in single quotes"},
		{[]string{"bench", "--low", "%WAN22_QA15B_UNSET%/low.gguf"}, "wan22 bench: --low %WAN22_QA15B_UNSET%/low.gguf: no such file: it holds the variable's name, not its value"},
	} {
		code, _, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, "%q", c.args)
	}
}

// TestMissingFolderAdvice: bench's folders --out-video and --synth-dir,
// which must exist, were told "create it first" whatever the reason:
// --out-video "C:\videos\" arrives as C:\videos" (a backslash before the
// closing quote), a path wrapped in quotes, a drive not there, a variable
// no shell expanded. Each is now said what it is and what to give, as an
// output's folder is (checkOutputPath).
func TestMissingFolderAdvice(t *testing.T) {
	there := map[string]bool{`C:\`: true}
	exists := func(p string) bool { return there[p] }
	env := map[string]string{"USERPROFILE": `C:\Users\me`}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		goos, path, want string
	}{
		{"windows", `C:\videos"`, `typed as "C:\videos\", and a backslash just before the closing quote makes the quote part of the path: leave that backslash out, as in "C:\videos"`},
		{"windows", `C:\videos" --json r.json`, "(--json r.json) joined to it"},
		{"windows", `"C:\videos"`, `give it without them: C:\videos`},
		{"linux", `'/videos'`, "give it in double quotes or none: /videos"},
		{"windows", `Z:\videos`, "there is no drive Z:"},
		{"windows", `\\nas\media\videos`, `the network share \\nas\media cannot be reached`},
		{"windows", `%USERPROFILE%\videos`, `there write $env:USERPROFILE, or write the full path C:\Users\me\videos`},
		{"linux", "$WAN22_QA15B_UNSET/videos", "the shell did not expand $WAN22_QA15B_UNSET"},
	} {
		if got := missingFolderAdvice(c.path, c.goos, exists, getenv); !strings.Contains(got, c.want) {
			t.Errorf("%s %q: %q, want %q in it", c.goos, c.path, got, c.want)
		}
	}
	for _, c := range []struct{ goos, path string }{
		{"windows", `C:\videos`}, {"windows", `videos`}, {"linux", `videos"`}, {"linux", "/videos"},
	} {
		if got := missingFolderAdvice(c.path, c.goos, exists, getenv); got != "" {
			t.Errorf("%s %q: %q", c.goos, c.path, got)
		}
	}

	dir := t.TempDir()
	quoted := `"` + dir + `"`
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--out-video", quoted}, "wan22 bench: --out-video " + quoted + " is not an existing folder: the path is wrapped in quotes that are part of it (quoted twice, or copied with its quotes into a quoted string or variable): give it without them: " + dir + "\n"},
		{[]string{"bench", "--out-video", "$WAN22_QA15B_UNSET/videos"}, "wan22 bench: --out-video $WAN22_QA15B_UNSET/videos is not an existing folder: it holds the variable's name, not its value"},
		{[]string{"bench", "--synth-lora", "2", "--synth-dir", "'" + dir + "'"}, "wan22 bench: --synth-dir '" + dir + "' is not an existing folder: the path is wrapped in single quotes"},
		{[]string{"bench", "--synth-lora", "2", "--synth-dir", "%WAN22_QA15B_UNSET%/synth"}, "wan22 bench: --synth-dir %WAN22_QA15B_UNSET%/synth is not an existing folder: it holds the variable's name, not its value"},
	} {
		code, _, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, "%q", c.args)
		require.NotContains(t, stderr, "create it first", "%q", c.args)
	}
}

// TestSynthFolderAdvice: synth's OUT in a folder that does not exist
// because its drive or network share is not there, or because it holds a
// variable no shell expanded, was told "create it first", which the user
// cannot, or which makes a folder named %VAR%; it is told what it is, as
// an output of i2v is (checkOutputPath). OUT's name is checked for control
// and invisible characters and a trailing space as the outputs' are.
func TestSynthFolderAdvice(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, c := range []struct{ goos, path, want string }{
		{"windows", "Z:/models/m.gguf", "the folder Z:/models does not exist: there is no drive Z: (a disk not plugged in, a network drive not connected)"},
		{"windows", "//server/share/models/m.gguf", `the network share \\server\share cannot be reached`},
		{"windows", "%WAN22_QA15B_UNSET%/m.gguf", "the folder %WAN22_QA15B_UNSET% does not exist: it holds the variable's name, not its value: %WAN22_QA15B_UNSET% is how cmd.exe names a variable, and PowerShell leaves it as it is: there write $env:WAN22_QA15B_UNSET"},
		{"linux", "$WAN22_QA15B_UNSET/m.gguf", "the folder $WAN22_QA15B_UNSET does not exist: it holds the variable's name, not its value: the shell did not expand $WAN22_QA15B_UNSET"},
	} {
		err := checkTargetPath(c.path, ".gguf", false, c.goos)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "create it first") {
			t.Errorf("%s %q: %v, want %q in it", c.goos, c.path, err, c.want)
		}
	}
	if err := checkTargetPath("nodir/m.gguf", ".gguf", false, "windows"); err == nil || !strings.Contains(err.Error(), "create it first") {
		t.Errorf("nodir/m.gguf: %v, want to create the folder", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"synth", "-kind", "vae", "$WAN22_QA15B_UNSET/v.safetensors"}, "wan22 synth: the folder $WAN22_QA15B_UNSET does not exist: it holds the variable's name, not its value"},
		{[]string{"synth", "-kind", "vae", "%WAN22_QA15B_UNSET%/v.safetensors"}, "wan22 synth: the folder %WAN22_QA15B_UNSET% does not exist: it holds the variable's name, not its value"},
		{[]string{"synth", "-kind", "vae", "v\x1b[31m.safetensors"}, `wan22 synth: OUT "v\x1b[31m.safetensors": the name contains a control character (escape, ESC)`},
		{[]string{"synth", "-kind", "vae", "v\u202e.safetensors"}, "a right-to-left override (U+202E)"},
		{[]string{"synth", "-kind", "vae", "v.safetensors "}, `wan22 synth: "v.safetensors ": the name ends in a space after its extension .safetensors: name the file v.safetensors`},
		{[]string{"synth", "-kind", "vae", "v.safetensors\u00a0"}, `the name ends in a space after its extension .safetensors: name the file v.safetensors`},
	} {
		code, _, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, "%q", c.args)
		require.NotContains(t, stderr, "create it first", "%q", c.args)
	}
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	require.Empty(t, entries)
}
