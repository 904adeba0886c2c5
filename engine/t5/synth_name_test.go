package t5_test

import (
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/gguf"
)

// TestSyntheticNameSingular: a synthetic encoder's general.name counts one
// layer and one head in the singular, and more in the plural.
func TestSyntheticNameSingular(t *testing.T) {
	for _, c := range []struct {
		cfg  t5.Config
		want string
	}{
		{t5.Config{Vocab: 2048, Dim: 64, Inner: 64, Heads: 1, FFN: 160, Layers: 1}, "dim 64, 1 layer, 1 head, ffn 160"},
		{t5.Tiny(), "dim 64, 3 layers, 4 heads, ffn 160"},
	} {
		path, _ := writeSynth(t, c.cfg, gguf.TypeF32, 1)
		v, ok := open(t, path).Value("general.name")
		if !ok {
			t.Fatal("no general.name")
		}
		name, err := v.Str()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(name, c.want) {
			t.Errorf("general.name %q, want it to end in %q", name, c.want)
		}
	}
}
