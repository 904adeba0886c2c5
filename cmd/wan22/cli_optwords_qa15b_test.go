package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
)

// TestNaNWithLoRAsNamesFlags: an expert whose latent turns NaN with a LoRA
// attached (the library's expertNonFinite) is told, by i2v and bench on
// standard error and in the --json error object, to run without the
// --lora-high, --lora-low and --lora flags; it said "run without the LoRAs
// (Request.LoRAs)", a field of the library's Request the user never sees.
func TestNaNWithLoRAsNamesFlags(t *testing.T) {
	text := libraryText(t, "run without the LoRAs")
	require.Equal(t, 2, strings.Count(text, "%s"), "expertNonFinite's message changed: update this test to its words")
	err := &wan22.ModelError{
		Role: "high-noise expert",
		Path: "/models/high.safetensors",
		Msg:  fmt.Sprintf(text, "/loras/style.safetensors", "; try the defaults first"),
		Err:  errors.New("dit: the latent is not finite (NaN) after step 3"),
	}
	for _, cmd := range []string{"i2v", "bench"} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 1, runFailed(context.Background(), cmd, err, true, &stdout, &stderr))
		for _, out := range []string{stderr.String(), stdout.String()} {
			require.NotContains(t, out, "Request.", cmd)
			require.Contains(t, out, "run without the LoRAs (--lora-high, --lora-low and --lora) to tell which", cmd)
		}
		require.Contains(t, stdout.String(), `"type":"error"`, cmd)
	}
	require.Contains(t, flagWords("demo", text), "wan22 i2v's --lora-high, --lora-low and --lora; the demo has none")
}
