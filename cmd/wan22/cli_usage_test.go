package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUsageErrorsBeforeLoading: a value the run cannot use is a usage error
// (exit 2) found with the flags, before any model is read: a --switch-step
// outside 1 to steps − 1 (i2v and bench alike), an unknown --solver (every
// solver named, in any case accepted), an --out that is no video file (i2v
// and demo, named as each spells it).
func TestUsageErrorsBeforeLoading(t *testing.T) {
	tmp := isolateTemp(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "v.avi")
	for _, c := range []struct {
		args []string
		want string
	}{
		{qaI2VArgs(dir, "--out", out, "--steps", "3", "--switch-step", "0"),
			"--switch-step 0 is out of range: want 1 to 2 (the step after which the low-noise expert takes over, each expert running at least one step; leave it out to switch at --boundary)"},
		// --switch-step N of N steps would run no low-noise step, yet load its expert.
		{qaI2VArgs(dir, "--out", out, "--steps", "3", "--switch-step", "3"), "--switch-step 3 is out of range: want 1 to 2"},
		{qaI2VArgs(dir, "--out", out, "--steps", "1", "--switch-step", "1"), "--switch-step 1 is out of range: want none: a 1-step schedule cannot switch experts"},
		// bench: the same range; 0 is no value to give (leave the flag out).
		{[]string{"bench", "--tiny", "--schedule-steps", "3", "--switch-step", "0"}, "--switch-step 0 is out of range: want 1 to 2 (the step after which"},
		{[]string{"bench", "--tiny", "--schedule-steps", "3", "--switch-step", "3"}, "--switch-step 3 is out of range: want 1 to 2"},
		{qaI2VArgs(dir, "--out", out, "--solver", "foo"), `--solver "foo": want one of unipc, dpm++, euler, distill`},
		{[]string{"bench", "--tiny", "--solver", "foo"}, `--solver "foo": want one of unipc, dpm++, euler, distill`},
		{qaI2VArgs(dir, "--out", filepath.Join(dir, "a.txt")), `--out ` + filepath.Join(dir, "a.txt") + `: unknown video extension ".txt": use .mp4`},
		{qaI2VArgs(dir, "--out", filepath.Join(dir, "a")), `--out ` + filepath.Join(dir, "a") + `: the file name has no extension`},
		{[]string{"demo", "-device", "cpu", "-out", filepath.Join(dir, "x.txt")}, `wan22 demo: -out ` + filepath.Join(dir, "x.txt") + `: unknown video extension`},
		{[]string{"demo", "-device", "cpu", "-out", filepath.Join(dir, "nodir", "x.avi")}, `wan22 demo: -out ` + filepath.Join(dir, "nodir", "x.avi") + `: the folder`},
	} {
		code, stdout, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, c.args)
		require.NotContains(t, stderr, "absent.gguf", c.args)
		require.NotContains(t, stdout, "measuring", c.args)
	}
	require.Empty(t, entries(t, dir))
	require.Empty(t, entries(t, tmp), "demo wrote its tiny models")

	for v, want := range map[string]string{"DPM++": "dpm++", "UniPC": "unipc", " euler": "euler", "Distill": "distill"} {
		got, err := parseSolver(v)
		require.NoError(t, err, v)
		require.Equal(t, want, got, v)
	}
}
