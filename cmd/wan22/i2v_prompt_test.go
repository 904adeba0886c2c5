package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestI2VWarnsLongPrompt: a prompt longer than umT5's 512 tokens gets one
// warning on stderr naming it and its length, as the library's other
// warnings do; the run goes on. The negative prompt is warned about alike,
// and a short prompt not at all.
func TestI2VWarnsLongPrompt(t *testing.T) {
	args, out := i2vSetup(t)
	long := strings.Repeat("a cat surfing a wave at sunset, ", 100) // 801 tokens with EOS in the tiny tokenizer
	const tail = " tokens long; umT5 reads only the first 512 (the official pipeline truncates the same way): the rest has no effect — shorten it\n"
	_, _, stderr := i2vVideo(t, args, filepath.Join(out, "short.avi"))
	require.NotContains(t, stderr, "warning", stderr)
	_, _, stderr = i2vVideo(t, args, filepath.Join(out, "long.avi"), "--prompt", long, "--negative", long)
	require.Equal(t, 1, strings.Count(stderr, "wan22 i2v: warning: the prompt is 801"+tail), stderr)
	require.Equal(t, 1, strings.Count(stderr, "wan22 i2v: warning: the negative prompt is 801"+tail), stderr)
	require.Equal(t, 2, strings.Count(stderr, "warning"), stderr)
}

// TestI2VJSONCarriesLibraryWarnings: with --json a library warning (here the
// long prompt's) is a "warning" object among the progress events on stdout,
// as the command's own warnings are, not a plain line on stderr outside the
// stream.
func TestI2VJSONCarriesLibraryWarnings(t *testing.T) {
	args, out := i2vSetup(t)
	long := strings.Repeat("a cat surfing a wave at sunset, ", 100)
	_, stdout, stderr := i2vVideo(t, args, filepath.Join(out, "long.avi"), "--prompt", long, "--json")
	require.NotContains(t, stderr, "warning", stderr)
	var warnings []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var ev struct{ Type, Message string }
		require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
		if ev.Type == "warning" {
			warnings = append(warnings, ev.Message)
		}
	}
	require.Len(t, warnings, 1, stdout)
	require.True(t, strings.HasPrefix(warnings[0], "the prompt is 801 tokens long; umT5 reads only the first 512"), warnings[0])
}
