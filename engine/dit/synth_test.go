package dit

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
)

// smallConfig is a 2-layer dim-256 i2v DiT: the synthetic generator's test size.
var smallConfig = Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: 128, FreqDim: 256, Layers: 2, Heads: 2}

func randValues(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func openGGUF(t *testing.T, path string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// runRandom loads path and runs Forward on random inputs over a 2×4×6 grid.
func runRandom(t *testing.T, path string) (*Model, []float32) {
	t.Helper()
	m, err := Load(cpu.New(), openGGUF(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Free)
	c, g := m.Config, Grid{T: 2, H: 4, W: 6}
	text, err := m.EmbedText(randValues(9*c.TextDim, 1), 9)
	if err != nil {
		t.Fatal(err)
	}
	defer text.Free()
	out, err := m.Forward(randValues(c.OutDim*g.Size(), 2), randValues((c.InDim-c.OutDim)*g.Size(), 3), g, 937, text, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m, out
}

func TestSyntheticRoundTrip(t *testing.T) {
	for _, wt := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeBF16} {
		t.Run(wt.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "synth.gguf")
			if err := WriteSynthetic(path, smallConfig, wt, 7); err != nil {
				t.Fatal(err)
			}
			f := openGGUF(t, path)
			if f.Architecture() != "wan" {
				t.Errorf("general.architecture %q, want wan", f.Architecture())
			}
			// The prefix is on every name in the file (the reader strips it).
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(raw, []byte(Prefix)); n != len(f.Tensors()) {
				t.Errorf("%d names carry %q, want all %d", n, Prefix, len(f.Tensors()))
			}
			big := gguf.TypeF16
			if wt == gguf.TypeBF16 {
				big = wt
			}
			for name, want := range map[string]gguf.Type{
				"blocks.1.self_attn.v.weight":  wt,
				"blocks.0.cross_attn.o.weight": wt,
				"blocks.1.ffn.2.weight":        wt,
				"blocks.0.ffn.0.bias":          gguf.TypeF32,
				"blocks.0.modulation":          gguf.TypeF32,
				"text_embedding.0.weight":      big,
				"time_projection.1.weight":     big,
				"head.head.weight":             big,
				"patch_embedding.weight":       gguf.TypeF32,
			} {
				ti, ok := f.Lookup(name)
				if !ok || ti.Type != want {
					t.Errorf("%s: type %v (present %v), want %v", name, ti.Type, ok, want)
				}
			}
			if ti, _ := f.Lookup("patch_embedding.weight"); !slices.Equal(ti.Shape, []int64{256, 36, 1, 2, 2}) {
				t.Errorf("patch_embedding.weight shape %v", ti.Shape)
			}
			if ti, _ := f.Lookup("blocks.0.modulation"); !slices.Equal(ti.Shape, []int64{1, 6, 256}) {
				t.Errorf("blocks.0.modulation shape %v", ti.Shape)
			}

			m, out := runRandom(t, path)
			if m.Config != smallConfig {
				t.Errorf("config %+v, want %+v", m.Config, smallConfig)
			}
			if err := finite(out); err != nil {
				t.Fatal(err)
			}
			var ss float64
			for _, v := range out {
				ss += float64(v) * float64(v)
			}
			if rms := math.Sqrt(ss / float64(len(out))); rms < 1e-2 || rms > 1e2 {
				t.Errorf("output RMS %.3g: weights are badly scaled", rms)
			}
		})
	}
}

func TestSyntheticDeterministic(t *testing.T) {
	cfg := smallConfig
	cfg.Layers = 1
	dir := t.TempDir()
	write := func(name string, seed int64) []byte {
		path := filepath.Join(dir, name)
		if err := WriteSynthetic(path, cfg, gguf.TypeQ8_0, seed); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := write("a", 1), write("b", 1), write("c", 2)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different files")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same file")
	}
	f := openGGUF(t, filepath.Join(dir, "a"))
	q, _, err := gguf.ReadFloat32(f, "blocks.0.self_attn.q.weight")
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := gguf.ReadFloat32(f, "blocks.0.self_attn.k.weight")
	if err != nil {
		t.Fatal(err)
	}
	D := cfg.Dim
	if slices.Equal(q, k) || slices.Equal(q[:D], q[D:2*D]) {
		t.Error("tensors of one shape, or rows of one matrix, repeat each other")
	}
}

func TestSyntheticErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.gguf")
	bad := smallConfig
	bad.Heads = 3
	if err := WriteSynthetic(path, bad, gguf.TypeQ8_0, 1); err == nil || !strings.Contains(err.Error(), "heads") {
		t.Errorf("bad config: err %v", err)
	}
	if err := WriteSynthetic(path, smallConfig, gguf.Type(999), 1); err == nil {
		t.Error("unknown weight type accepted")
	}
}

// BenchmarkForward times one Forward of the 2-layer dim-256 model on the
// golden case0 grid (72 tokens), by weight type.
func BenchmarkForward(b *testing.B) {
	for _, wt := range []gguf.Type{gguf.TypeF32, gguf.TypeQ8_0, gguf.TypeQ4_K} {
		b.Run(wt.String(), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "m.gguf")
			if err := WriteSynthetic(path, smallConfig, wt, 1); err != nil {
				b.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			m, err := Load(cpu.New(), f)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Free()
			c, g := m.Config, Grid{T: 3, H: 8, W: 12}
			text, err := m.EmbedText(randValues(7*c.TextDim, 1), 7)
			if err != nil {
				b.Fatal(err)
			}
			defer text.Free()
			x, y := randValues(c.OutDim*g.Size(), 2), randValues((c.InDim-c.OutDim)*g.Size(), 3)
			b.ResetTimer()
			for range b.N {
				if _, err := m.Forward(x, y, g, 937, text, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMixedTypes: a file mixing types per tensor as a Q4_K_M file does
// (Q6_K for v and ffn.2), with F16 and BF16 small tensors and 2-D
// modulations, loads with every tensor keeping its own type and runs.
func TestMixedTypes(t *testing.T) {
	ts := syntheticTensors(smallConfig, gguf.TypeQ4_K)
	for i := range ts {
		s := &ts[i]
		switch {
		case strings.HasSuffix(s.Name, ".v.weight") || strings.HasSuffix(s.Name, ".ffn.2.weight"):
			s.Type = gguf.TypeQ6_K
		case strings.HasSuffix(s.Name, ".bias"):
			s.Type = gguf.TypeBF16
		case strings.Contains(s.Name, "norm"):
			s.Type = gguf.TypeF16
		case strings.HasSuffix(s.Name, "modulation"):
			s.Shape = s.Shape[1:]
		}
	}
	path := filepath.Join(t.TempDir(), "mixed.gguf")
	if err := writeSynthetic(path, ts, 5, smallConfig); err != nil {
		t.Fatal(err)
	}
	m, out := runRandom(t, path)
	if err := finite(out); err != nil {
		t.Error(err)
	}
	blk := m.blocks[1]
	for _, c := range []struct {
		w    engine.Tensor
		want gguf.Type
	}{
		{blk.selfAttn.v.weight, gguf.TypeQ6_K}, {blk.ffn2.weight, gguf.TypeQ6_K}, {blk.ffn0.weight, gguf.TypeQ4_K},
		{blk.crossAttn.q.weight, gguf.TypeQ4_K}, {m.textEmbedding[0].weight, gguf.TypeF16},
	} {
		if got := engine.WeightType(c.w); got != c.want {
			t.Errorf("weight %v has type %v, want %v", c.w.Shape(), got, c.want)
		}
	}
}

// finite reports the first NaN or infinity of v.
func finite(v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("value %d is %v", i, x)
		}
	}
	return nil
}
