package main

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TestLoRAForBothRefused: a LoRA given for both experts (--lora) that is
// refused says so — the file itself (damaged values) names both experts,
// a LoRA both expert files refuse names both files, and one that only one
// of them refuses (a full-weight delta of a matrix Q8_0 in the high-noise
// expert, F16 in the low-noise one) names that expert and says the other
// accepts it — never as the high-noise expert's LoRA alone.
func TestLoRAForBothRefused(t *testing.T) {
	args, out := i2vSetup(t)
	dir := t.TempDir()
	c := tinymodels.DiT()
	high := args[slices.Index(args, "--high")+1]
	low := filepath.Join(dir, "low_f16.gguf")
	require.NoError(t, dit.WriteSynthetic(low, c, gguf.TypeF16, 9))
	args[slices.Index(args, "--low")+1] = low

	other := filepath.Join(dir, "other.safetensors") // for a model of width 1536
	require.NoError(t, safetensors.Write(other, []safetensors.Tensor{
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_down.weight", []int64{1, 1536}, make([]float32, 1536)),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", []int64{1536, 1}, make([]float32, 1536)),
	}, nil))
	delta := filepath.Join(dir, "delta.safetensors")
	require.NoError(t, safetensors.Write(delta, []safetensors.Tensor{safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.diff",
		[]int64{int64(c.Dim), int64(c.Dim)}, make([]float32, c.Dim*c.Dim))}, nil))
	nan := filepath.Join(dir, "nan.safetensors")
	v := make([]float32, c.Dim)
	v[3] = float32(math.NaN())
	require.NoError(t, safetensors.Write(nan, []safetensors.Tensor{safetensors.FromFloat32("diffusion_model.blocks.0.norm3.diff", []int64{int64(c.Dim)}, v)}, nil))

	for _, tc := range []struct {
		flag, lora string
		want       []string
	}{
		{"--lora", other, []string{"LoRA for the high-noise expert " + high + " and the low-noise expert " + low + ": lora: " + other + " is a LoRA for Wan 2.1 T2V-1.3B"}},
		{"--lora", delta, []string{"LoRA for both experts, refused by the high-noise expert " + high + " (the low-noise expert " + low + " accepts it): ",
			"full-weight delta of blocks.0.self_attn.q.weight, which is Q8_0 in the model file"}},
		{"--lora", nan, []string{"LoRA for the high-noise expert and the low-noise expert: lora: " + nan + ": tensor", "holds NaN"}},
		// One for one expert is that expert's.
		{"--lora-low", other, []string{"LoRA for the low-noise expert " + low + ": lora: " + other + " is a LoRA for Wan 2.1 T2V-1.3B"}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append(slices.Clone(args), "--out", filepath.Join(out, "v.avi"), tc.flag, tc.lora), &stdout, &stderr)
		require.Equal(t, 1, code, "%s %s: %s", tc.flag, tc.lora, stderr.String())
		for _, w := range tc.want {
			require.Contains(t, stderr.String(), w, "%s %s", tc.flag, tc.lora)
		}
	}
	// The delta LoRA on the low-noise expert alone is fine.
	var stdout, stderr bytes.Buffer
	code := run(append(slices.Clone(args), "--out", filepath.Join(out, "ok.avi"), "--lora-low", delta), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
}

// TestLoRAStrengthPlainDecimal: a --lora strength is a plain decimal
// number. 1_0, which Go's number syntax reads as 10, is refused saying an
// underscore is no decimal point; a hexadecimal 0x1p-2 (0.25), Inf, NaN
// and 1e400 are refused saying what is wrong, before any work; plain
// numbers, signs, a lone dot's sides and exponents included, still read.
func TestLoRAStrengthPlainDecimal(t *testing.T) {
	for v, want := range map[string]string{
		"1_0":       "strength 1_0: an underscore is no decimal point (write 1.0 for one, 10 for ten); want a plain decimal number from -100 to 100",
		"-0_5":      "strength -0_5: an underscore is no decimal point",
		"0x1p-2":    "strength 0x1p-2: a hexadecimal number (0x1p-2 is 0.25); want a plain decimal number from -100 to 100",
		"Inf":       "strength Inf is out of range: want a finite number from -100 to 100",
		"-infinity": "strength -infinity is out of range: want a finite number",
		"NaN":       "strength NaN is out of range: want a finite number",
		"1e400":     "strength 1e400 is out of range: want a number from -100 to 100",
		"1.2.3":     `"1.2.3" is not a number`,
		"+-1":       `"+-1" is not a number`,
	} {
		code, stderr := loraUsage("--lora", "x.safetensors:"+v)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("--lora x.safetensors:%s: status %d, stderr %q; want a usage error with %q", v, code, stderr, want)
		}
	}
	for v, want := range map[string]float64{"1": 1, "0.8": 0.8, "-.5": -0.5, "+2": 2, "5.": 5, "5e-1": 0.5, "1E+1": 10, "-2.5e-1": -0.25} {
		path, st, err := splitLoRA("x.safetensors:"+v, "linux", func(string) bool { return false })
		if err != nil || path != "x.safetensors" || st != want {
			t.Errorf("splitLoRA(x.safetensors:%s) = %q, %g, %v; want x.safetensors, %g", v, path, st, err, want)
		}
	}
	for _, v := range []string{"e1", "1e", "1e+", ".", "-", "1_0e1", "0x10"} {
		if st, err := parseStrength(v); err == nil {
			t.Errorf("parseStrength(%q) = %g, want an error", v, st)
		}
	}
	// A whole value that names a file is that file, whatever follows its colon.
	exists := func(p string) bool { return p == "odd:1_0" }
	if path, st, err := splitLoRA("odd:1_0", "linux", exists); err != nil || path != "odd:1_0" || st != 1 {
		t.Errorf("splitLoRA(odd:1_0) with that file = %q, %g, %v", path, st, err)
	}
}

// TestHugeLoRAWeightsRefusedBeforeRun: a LoRA whose weights are finite but
// of a magnitude no LoRA has (1e30) is refused with the other LoRA checks,
// naming the file and the tensor, before any model loads — not found as a
// NaN latent at step 1 after the text encoder and the VAE ran — and
// `wan22 inspect` says it is no LoRA wan22 can apply, for that reason.
func TestHugeLoRAWeightsRefusedBeforeRun(t *testing.T) {
	args, out := i2vSetup(t)
	c := tinymodels.DiT()
	huge := filepath.Join(t.TempDir(), "huge.safetensors")
	v := make([]float32, 2*c.Dim)
	for i := range v {
		v[i] = 0.01
	}
	v[5] = 1e30
	key := "diffusion_model.blocks.0.self_attn.q.lora_"
	require.NoError(t, safetensors.Write(huge, []safetensors.Tensor{
		safetensors.FromFloat32(key+"down.weight", []int64{2, int64(c.Dim)}, v),
		safetensors.FromFloat32(key+"up.weight", []int64{int64(c.Dim), 2}, v),
	}, nil))
	want := "lora: " + huge + `: tensor "` + key + `down.weight" holds 1e+30, which no LoRA's weights come near`
	var stdout, stderr bytes.Buffer
	code := run(append(slices.Clone(args), "--out", filepath.Join(out, "v.avi"), "--lora", huge), &stdout, &stderr)
	require.Equal(t, 1, code, stderr.String())
	require.Contains(t, stderr.String(), want)
	require.NotContains(t, stderr.String(), "step 1")
	require.Empty(t, entries(t, out))
	_, report, _ := runCLI("inspect", huge)
	require.Contains(t, report, "LoRA: not one wan22 can apply: "+strings.TrimPrefix(want, "lora: "+huge+": "))
}
