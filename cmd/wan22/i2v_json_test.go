package main

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonLines decodes --json output: one object per line.
func jsonLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), sc.Text())
		evs = append(evs, ev)
	}
	return evs
}

// TestI2VJSONError: with --json a failure ends the stream with one error
// object (type, message, exit_code), the message still on stderr and the
// exit status unchanged: 1 for a failed run, 2 for a usage error.
func TestI2VJSONError(t *testing.T) {
	args, out := i2vSetup(t)
	readBytes := failingFFmpeg(t)
	code, stdout, stderr := runCLI(append(args, "--out", filepath.Join(out, "v.mp4"), "--json")...)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "wan22 i2v: ")
	requireFFmpegFailedAfterFrames(t, stderr, readBytes)
	evs := jsonLines(t, stdout)
	require.Greater(t, len(evs), 2)
	last := evs[len(evs)-1]
	require.Equal(t, "error", last["type"])
	require.IsType(t, "", last["message"])
	requireFFmpegFailedAfterFrames(t, last["message"].(string), readBytes)
	require.Equal(t, 1.0, last["exit_code"])
	require.Equal(t, "start", evs[0]["type"])

	// A usage error found after parsing: the same object, exit 2.
	code, stdout, stderr = runCLI(append(args, "--out", filepath.Join(out, "v.avi"), "--json", "--frames", "6")...)
	require.Equal(t, 2, code, stderr)
	evs = jsonLines(t, stdout)
	require.Len(t, evs, 1)
	require.Equal(t, "error", evs[0]["type"])
	require.Contains(t, evs[0]["message"], "--frames 6")
	require.Equal(t, 2.0, evs[0]["exit_code"])
	require.Contains(t, stderr, "--frames 6")
}

// TestI2VSummaryOnce: with --out and --frames-dir the stage summary is
// printed once (text and JSON), then one line or object per output.
func TestI2VSummaryOnce(t *testing.T) {
	args, out := i2vSetup(t)
	code, stdout, stderr := runCLI(append(args, "--out", filepath.Join(out, "a.avi"), "--frames-dir", filepath.Join(out, "fa"))...)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, 1, strings.Count(stderr, "\nstage "), stderr)
	require.Equal(t, 2, strings.Count(stdout, "wrote "), stdout)

	code, stdout, stderr = runCLI(append(args, "--out", filepath.Join(out, "b.avi"), "--frames-dir", filepath.Join(out, "fb"), "--json")...)
	require.Equal(t, 0, code, stderr)
	types := map[string]int{}
	for _, ev := range jsonLines(t, stdout) {
		types[ev["type"].(string)]++
	}
	require.Equal(t, 1, types["summary"])
	require.Equal(t, 2, types["done"])
	require.Zero(t, types["error"])
}

// TestJSONUsageErrors: with --json every usage error found once the flags
// parse ends the stream with the error object (exit 2), in i2v and demo
// alike: unexpected arguments, and the demo's own size, frame and step
// checks.
func TestJSONUsageErrors(t *testing.T) {
	args, out := i2vSetup(t)
	tmp := isolateTemp(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(args, "--out", filepath.Join(out, "v.avi"), "--json", "extra"), `unexpected arguments ["extra"]`},
		{[]string{"demo", "-device", "cpu", "-json", "-out", filepath.Join(out, "d.avi"), "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"demo", "-device", "cpu", "-json", "-out", filepath.Join(out, "d.avi"), "-width", "17"}, "-width 17"},
		{[]string{"demo", "-device", "cpu", "-json", "-out", filepath.Join(out, "d.avi"), "-steps", "0"}, "-steps 0 is out of range"},
		{[]string{"demo", "-device", "cpu", "-json", "-out", filepath.Join(out, "d.txt")}, "unknown video extension"},
	} {
		code, stdout, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, c.args)
		evs := jsonLines(t, stdout)
		require.Len(t, evs, 1, "%q: stdout %q", c.args, stdout)
		require.Equal(t, "error", evs[0]["type"], c.args)
		require.Contains(t, evs[0]["message"], c.want, c.args)
		require.Equal(t, 2.0, evs[0]["exit_code"], c.args)
	}
	require.Empty(t, entries(t, out))
	require.Empty(t, entries(t, tmp), "demo wrote its tiny models")
}
