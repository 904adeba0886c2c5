package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoRAStrengthWrappedQuotes: a --lora* value FILE:STRENGTH wrapped in
// quotes that reached wan22 as part of it ('"x.safetensors:0.8"' quoted
// twice, 'x.safetensors:0.8' in cmd.exe, typographic quotes) is told so,
// with the value to give, as a wrapped FILE is (missingInputAdvice), where
// it was told that "0.8\"" is not a number.
func TestLoRAStrengthWrappedQuotes(t *testing.T) {
	for _, v := range []string{`"style.safetensors:0.8"`, `'style.safetensors:0.8'`, "“style.safetensors:0.8”"} {
		for _, goos := range []string{"linux", "windows"} {
			_, _, err := splitLoRA(v, goos, func(string) bool { return false })
			require.Error(t, err, v)
			require.Contains(t, err.Error(), "the path is wrapped in", "%s %s", goos, v)
			require.Contains(t, err.Error(), ": style.safetensors:0.8", "%s %s", goos, v)
			require.NotContains(t, err.Error(), "not a number", "%s %s", goos, v)
		}
		for _, cmd := range []string{"i2v", "bench"} {
			code, _, stderr := runCLI(cmd, "--lora-high", v)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, "the path is wrapped in", "%s %s", cmd, v)
		}
	}
	// A strength that is no number after a real file name is still said so.
	_, _, err := splitLoRA("style.safetensors:0.8x", "linux", func(string) bool { return false })
	require.ErrorContains(t, err, `"0.8x" is not a number`)
}
