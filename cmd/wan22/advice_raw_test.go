package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAdviceQuotesPath: the advice for a path wrapped in quotes, ending in
// an escaped quote or on a drive that is not there names the path to give
// as displayName does, so that a control character in it (an input's name,
// which is not refused as an output's is) does not reach the terminal raw
// through the advice, where the message's own naming of the path quoted it.
func TestAdviceQuotesPath(t *testing.T) {
	const esc = "a\x1b[31mb"
	for _, a := range []string{
		wrappedQuotesAdvice(`"` + esc + `.png"`),
		wrappedQuotesAdvice("“" + esc + ".png”"),
		wrappedQuotesAdvice("'" + esc + ".png'"),
		escapedQuoteAdvice(`C:\` + esc + `"`),
		escapedQuoteAdvice(`C:\` + esc + `" --steps 4`),
		missingVolumeAdvice(`\\srv`+esc+`\share\x`, "windows", func(string) bool { return false }),
	} {
		require.NotEmpty(t, a)
		require.NotContains(t, a, "\x1b", "%q", a)
	}
	// Ordinary paths are printed as they are.
	require.True(t, strings.HasSuffix(wrappedQuotesAdvice(`"C:\out\v.mp4"`), ": C:\\out\\v.mp4"))
	require.Contains(t, escapedQuoteAdvice(`C:\out\frames"`), `typed as "C:\out\frames\"`)
	require.Contains(t, escapedQuoteAdvice(`C:\out\frames"`), `as in "C:\out\frames"`)

	// Through the command: an input image wrapped in quotes.
	args, _ := i2vSetup(t)
	img := `"` + filepath.Join(t.TempDir(), esc+".png") + `"`
	for i := range args {
		if args[i] == "--image" {
			args[i+1] = img
		}
	}
	code, _, stderr := runCLI(append(args, "--out", filepath.Join(t.TempDir(), "v.mp4"))...)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "the path is wrapped in quotes")
	require.NotContains(t, stderr, "\x1b", "%q", stderr)
}
