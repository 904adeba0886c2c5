package wan22

// The QA pass's defects of the library's front door: the experts' name warnings.

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each naming mistake of the expert files gets its own warning; a real swap
// is called one, two files named alike are not.
func TestExpertNameWarnings(t *testing.T) {
	dir := t.TempDir()
	warn := func(high, low string) string {
		m := tiny
		m.High = copyFile(t, tiny.High, dir, high)
		m.Low = copyFile(t, tiny.Low, dir, low)
		defer os.Remove(m.High)
		defer os.Remove(m.Low)
		var log bytes.Buffer
		p, err := Open(context.Background(), m, Options{Device: "cpu", Log: slog.New(slog.NewTextHandler(&log, nil))})
		require.NoError(t, err)
		require.NoError(t, p.Close())
		return log.String()
	}
	for name, c := range map[string]struct {
		high, low string
		want      []string // substrings of the warning; nil: no warning
	}{
		"swapped":       {"wan2.2_i2v_low_noise_14B_Q8_0.gguf", "Wan2.2-I2V-A14B-HighNoise-Q4_K.gguf", []string{"swapped"}},
		"both high":     {"wan2.2_i2v_high_noise_14B_Q8_0.gguf", "wan2.2_i2v_high_noise_14B_Q4_K_M.gguf", []string{"both", "high-noise", "low-noise expert's file"}},
		"both low":      {"wan2.2_i2v_low_noise_14B_Q8_0.gguf", "wan2.2_i2v_low_noise_14B_Q4_K_M.gguf", []string{"both", "low-noise", "high-noise expert's file"}},
		"high says low": {"wan2.2_i2v_low_noise_14B_Q8_0.gguf", "expert-b.gguf", []string{"high-noise expert's file", "low-noise"}},
		"low says high": {"expert-a.gguf", "wan2.2_i2v_high_noise_14B_Q8_0.gguf", []string{"low-noise expert's file", "high-noise"}},
		"right":         {"wan2.2_i2v_high_noise_14B_Q8_0.gguf", "wan2.2_i2v_low_noise_14B_Q8_0.gguf", nil},
		"unnamed":       {"a.gguf", "b.gguf", nil},
	} {
		out := warn(c.high, c.low)
		if c.want == nil {
			require.NotContains(t, out, "level=WARN", name)
			continue
		}
		require.Contains(t, out, "level=WARN", name)
		require.Contains(t, out, "high_noise_expert="+filepath.Join(dir, c.high), name)
		require.Contains(t, out, "low_noise_expert="+filepath.Join(dir, c.low), name)
		require.Contains(t, out, "running them as given", name)
		for _, w := range c.want {
			require.Contains(t, out, w, name)
		}
		if name != "swapped" {
			require.NotContains(t, out, "swapped", name)
		}
	}
}
