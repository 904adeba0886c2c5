package wan22

// The QA pass's defects of the library's front door: the experts' and the LoRAs' name warnings.

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/safetensors"
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

// zeroLoRA writes a rank-1 LoRA of zeros on block 0's self_attn.q of the
// tiny experts into dir/name, with metadata meta.
func zeroLoRA(t *testing.T, dir, name string, meta map[string]string) string {
	t.Helper()
	d := int64(tinymodels.DiT().Dim)
	key := "diffusion_model.blocks.0.self_attn.q"
	path := filepath.Join(dir, name)
	require.NoError(t, safetensors.Write(path, []safetensors.Tensor{
		safetensors.FromFloat32(key+".lora_down.weight", []int64{1, d}, make([]float32, d)),
		safetensors.FromFloat32(key+".lora_up.weight", []int64{d, 1}, make([]float32, d)),
	}, meta))
	return path
}

// A LoRA given to one expert while its name or metadata mark it for the
// other is warned about, as the expert files are: once per Pipeline (the
// CLI resolves, then Generate resolves again), a swap called one.
func TestLoRAExpertWarnings(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	p, err := Open(context.Background(), tiny, Options{Device: "cpu", Log: slog.New(slog.NewTextHandler(&log, nil))})
	require.NoError(t, err)
	defer p.Close()
	low := zeroLoRA(t, dir, "wan_low_noise_lora.safetensors", nil)
	high := zeroLoRA(t, dir, "comfy_high.safetensors", nil)
	meta := zeroLoRA(t, dir, "style.safetensors", map[string]string{"ss_output_name": "motion_HIGH_NOISE"})
	plain := zeroLoRA(t, dir, "plain.safetensors", nil)
	resolve := func(ls ...LoRA) string {
		log.Reset()
		r := tinyRequest()
		r.LoRAs = ls
		_, err := p.Resolve(r)
		require.NoError(t, err)
		return log.String()
	}
	out := resolve(LoRA{Path: low, Expert: LoRAHigh, Strength: 1}, LoRA{Path: high, Expert: LoRALow, Strength: 1})
	require.Equal(t, 1, strings.Count(out, "level=WARN"), out)
	require.Contains(t, out, "swapped")
	require.Contains(t, out, "high_noise_lora="+low)
	require.Contains(t, out, "low_noise_lora="+high)
	require.Empty(t, resolve(LoRA{Path: low, Expert: LoRAHigh, Strength: 1}, LoRA{Path: high, Expert: LoRALow, Strength: 1}), "warned twice")

	out = resolve(LoRA{Path: meta, Expert: LoRALow, Strength: 1})
	require.Contains(t, out, "a LoRA given to the low-noise expert is marked high-noise by its name or metadata")
	require.Contains(t, out, "low_noise_lora="+meta)
	require.NotContains(t, out, "swapped")
	out = resolve(LoRA{Path: high, Expert: LoRAHigh, Strength: 1}, LoRA{Path: low, Expert: LoRABoth, Strength: 1},
		LoRA{Path: plain, Expert: LoRALow, Strength: 1}, LoRA{Path: low, Expert: LoRALow, Strength: 1})
	require.Empty(t, out, "LoRAs given as marked, for both experts or unmarked")
}
