package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWrappedQuotesVideoOut: a video output wrapped in quotes that reached
// wan22 as part of it (i2v's --out, the demo's -out) gets
// wrappedQuotesAdvice's words and the path to give, as the other outputs
// do, not checkVideoExt's 'unknown video extension ".mp4\""', which sent
// the user to change an extension that is right.
func TestWrappedQuotesVideoOut(t *testing.T) {
	args, out := i2vSetup(t)
	for _, q := range [][2]string{{`"`, `"`}, {"“", "”"}, {"'", "'"}} {
		path := q[0] + filepath.Join(out, "v.mp4") + q[1]
		for _, cmd := range [][]string{append(append([]string(nil), args...), "--out", path), {"demo", "-out", path}} {
			code, _, stderr := runCLI(cmd...)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, "the path is wrapped in", "%q", cmd)
			require.Contains(t, stderr, filepath.Join(out, "v.mp4")+"\n", "the path to give, %q", cmd)
			require.NotContains(t, stderr, "extension", "%q", cmd)
		}
	}
	// A name of its own with a quote inside is no wrapped path: its
	// extension is still checked.
	code, _, stderr := runCLI(append(append([]string(nil), args...), "--out", filepath.Join(out, `v.mp4"`))...)
	require.Equal(t, 2, code, stderr)
	require.True(t, strings.Contains(stderr, "unknown video extension"), stderr)
}
