package dit

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/internal/synthrand"
	"github.com/wan22/wan22/gguf"
)

// tinyConfig is the smallest DiT this package runs (one head).
var tinyConfig = Config{Dim: 128, InDim: 36, OutDim: 16, FFNDim: 256, TextDim: 64, FreqDim: 32, Layers: 2, Heads: 1}

// writeModified writes tinyConfig's tensors, changed by edit, as an F32 GGUF.
func writeModified(t *testing.T, edit func([]synthrand.Tensor) []synthrand.Tensor) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.gguf")
	if err := writeSynthetic(path, edit(syntheticTensors(tinyConfig, gguf.TypeF32)), 1, tinyConfig); err != nil {
		t.Fatal(err)
	}
	return path
}

func without(name string) func([]synthrand.Tensor) []synthrand.Tensor {
	return func(ts []synthrand.Tensor) []synthrand.Tensor {
		return slices.DeleteFunc(ts, func(s synthrand.Tensor) bool { return s.Name == name })
	}
}

func reshaped(name string, shape ...int64) func([]synthrand.Tensor) []synthrand.Tensor {
	return func(ts []synthrand.Tensor) []synthrand.Tensor {
		for i := range ts {
			if ts[i].Name == name {
				ts[i].Shape = shape
			}
		}
		return ts
	}
}

func with(name string, shape ...int64) func([]synthrand.Tensor) []synthrand.Tensor {
	return func(ts []synthrand.Tensor) []synthrand.Tensor {
		return append(ts, synthrand.Tensor{Name: name, Type: gguf.TypeF32, Shape: shape, Dist: synthrand.Dist{Mean: 0, Std: 1}})
	}
}

func TestLoadErrors(t *testing.T) {
	d := int64(tinyConfig.Dim)
	for _, tc := range []struct {
		name string
		edit func([]synthrand.Tensor) []synthrand.Tensor
		want []string // substrings of the error
	}{
		{"missing", without("blocks.1.cross_attn.norm_k.weight"), []string{`"blocks.1.cross_attn.norm_k.weight"`, "missing"}},
		{"missing bias", without("head.head.bias"), []string{`"head.head.bias"`, "missing"}},
		{"wrong shape", reshaped("blocks.0.self_attn.o.weight", d, d/2), []string{`"blocks.0.self_attn.o.weight"`, "[128 64]"}},
		{"wrong modulation", reshaped("blocks.1.modulation", 1, 5, d), []string{`"blocks.1.modulation"`}},
		{"wrong ffn", reshaped("blocks.1.ffn.2.weight", d, 128), []string{`"blocks.1.ffn.2.weight"`}},
		{"extra", with("blocks.0.cross_attn.k_img.weight", d, d), []string{`"blocks.0.cross_attn.k_img.weight"`, "not part"}},
		{"wan2.1 clip", with("img_emb.proj.0.weight", 1280), []string{`"img_emb.proj.0.weight"`, "CLIP"}},
		{"no patch embedding", without("patch_embedding.weight"), []string{`"patch_embedding.weight"`, "not a WAN DiT"}},
		{"4-D patch embedding", reshaped("patch_embedding.weight", d, 36, 2, 2), []string{`"patch_embedding.weight"`, "[128 36 2 2]"}},
		{"odd dim", reshaped("patch_embedding.weight", 100, 36, 1, 2, 2), []string{`"patch_embedding.weight"`, "head size"}},
		{"text dim", reshaped("text_embedding.0.weight", d+1, 64), []string{`"text_embedding.0.weight"`}},
		{"head rows", reshaped("head.head.weight", 63, d), []string{`"head.head.weight"`, "out_dim"}},
		{"no ffn", without("blocks.0.ffn.0.weight"), []string{`"blocks.0.ffn.0.weight"`, "missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openGGUF(t, writeModified(t, tc.edit))
			m, err := Load(cpu.New(), f)
			if err == nil {
				m.Free()
				t.Fatal("loaded a broken file")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestLoadMissingBlock(t *testing.T) {
	// A file whose highest block is 1 but lacks all of block 0's tensors.
	f := openGGUF(t, writeModified(t, func(ts []synthrand.Tensor) []synthrand.Tensor {
		return slices.DeleteFunc(ts, func(s synthrand.Tensor) bool { return strings.HasPrefix(s.Name, "blocks.0.") })
	}))
	if _, err := Load(cpu.New(), f); err == nil || !strings.Contains(err.Error(), `"blocks.0.`) {
		t.Errorf("err %v, want one naming a blocks.0 tensor", err)
	}
}

func TestForwardInputErrors(t *testing.T) {
	path := writeModified(t, func(ts []synthrand.Tensor) []synthrand.Tensor { return ts })
	b := cpu.New()
	m, err := Load(b, openGGUF(t, path))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	other, err := Load(b, openGGUF(t, path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Free()
	c := m.Config
	if _, err := m.EmbedText(make([]float32, 513*c.TextDim), 513); err == nil {
		t.Error("513 context rows accepted")
	}
	if _, err := m.EmbedText(make([]float32, 10), 1); err == nil {
		t.Error("a short context accepted")
	}
	text, err := m.EmbedText(make([]float32, 3*c.TextDim), 3)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.EmbedText(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	g := Grid{T: 1, H: 2, W: 4}
	x, y := make([]float32, c.OutDim*g.Size()), make([]float32, (c.InDim-c.OutDim)*g.Size())
	for _, tc := range []struct {
		name string
		x, y []float32
		g    Grid
		text *Text
	}{
		{"odd grid", x, y, Grid{T: 1, H: 2, W: 3}, text},
		{"short y", x, y[1:], g, text},
		{"no y", x, nil, g, text},
		{"foreign text", x, y, g, foreign},
		{"nil text", x, y, g, nil},
	} {
		if _, err := m.Forward(tc.x, tc.y, tc.g, 1, tc.text, nil); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := m.Forward(x, y, g, 1, text, nil); err != nil {
		t.Errorf("valid input: %v", err)
	}
	text.Free()
	if _, err := m.Forward(x, y, g, 1, text, nil); err == nil {
		t.Error("a freed text accepted")
	}
}

func TestConfigVariants(t *testing.T) {
	if got := I2VA14B(); got.Variant() != "i2v" || got.Validate() != nil || got.Dim/got.Heads != HeadDim {
		t.Errorf("I2VA14B %v: variant %s, %v", got, got.Variant(), got.Validate())
	}
	t2v := I2VA14B()
	t2v.InDim = 16
	if t2v.Variant() != "t2v" {
		t.Errorf("in_dim 16 is %s", t2v.Variant())
	}
}
