package dit

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// TestConfigStringSingular: a config, and so a synthetic expert's
// general.name, counts one layer and one head in the singular, and more in
// the plural.
func TestConfigStringSingular(t *testing.T) {
	one := Config{Dim: HeadDim, InDim: 36, OutDim: 16, FFNDim: 32, TextDim: 16, FreqDim: 8, Layers: 1, Heads: 1}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{one, "dim 128, 1 layer, 1 head, ffn 32"},
		{I2VA14B(), "dim 5120, 40 layers, 40 heads, ffn 13824"},
	} {
		if s := c.cfg.String(); !strings.Contains(s, c.want) {
			t.Errorf("String() = %q, want it to contain %q", s, c.want)
		}
	}
	half := one
	half.Dim = HeadDim / 2
	if err := half.Validate(); err == nil || !strings.Contains(err.Error(), "dim 64 with 1 head:") {
		t.Errorf("Validate() = %v, want dim 64 with 1 head", err)
	}
	path := filepath.Join(t.TempDir(), "one.gguf")
	if err := WriteSynthetic(path, one, gguf.TypeF32, 1); err != nil {
		t.Fatal(err)
	}
	v, ok := openGGUF(t, path).Value("general.name")
	if !ok {
		t.Fatal("no general.name")
	}
	if name, err := v.Str(); err != nil || !strings.Contains(name, "1 layer, 1 head,") {
		t.Errorf("general.name %q (%v), want 1 layer, 1 head", name, err)
	}
}
