package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestZeroStrengthWarned runs i2v with a LoRA at strength 0: the run goes on
// and the warning of zeroStrengthWarning reaches standard error, or the
// --json stream as a warning object.
func TestZeroStrengthWarned(t *testing.T) {
	args, out := i2vSetup(t)
	lora := writeTinyLoRA(t, t.TempDir(), "style.safetensors", 1, "self_attn.q")
	_, _, stderr := i2vVideo(t, args, filepath.Join(out, "a.mp4"), "--lora-high", lora+":0")
	require.Contains(t, stderr, "warning: --lora-high")
	require.Contains(t, stderr, "at strength 0 changes nothing")

	var so, se bytes.Buffer
	code := run(append(args, "--out", filepath.Join(out, "b.mp4"), "--json", "--lora-high", lora+":0"), &so, &se)
	require.Equal(t, 0, code, se.String())
	found := false
	for _, line := range strings.Split(strings.TrimSpace(so.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m["type"] == "warning" && strings.Contains(m["message"].(string), "at strength 0 changes nothing") {
			found = true
		}
	}
	require.True(t, found, so.String())
}
