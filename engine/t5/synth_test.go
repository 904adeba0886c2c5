package t5_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/gguf"
)

func writeSynth(t *testing.T, cfg t5.Config, wt gguf.Type, seed int64) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t5.gguf")
	if err := t5.WriteSynthetic(path, cfg, wt, seed); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	size, err := t5.SyntheticSize(cfg, wt)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(raw)) {
		t.Errorf("SyntheticSize %d, file has %d bytes", size, len(raw))
	}
	return path, raw
}

func open(t *testing.T, path string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// rms returns the root mean square of x, or an error naming the first
// value that is not finite.
func rms(x []float32) (float64, error) {
	var ss float64
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, fmt.Errorf("value %d is %v", i, v)
		}
		ss += float64(v) * float64(v)
	}
	return math.Sqrt(ss / float64(len(x))), nil
}

// encodeBoth loads the tokenizer and the encoder of path on the CPU backend
// and encodes an English prompt and the official negative prompt, checking
// that every block's residual stream stays finite and bounded.
func encodeBoth(t *testing.T, path string) [][]float32 {
	t.Helper()
	f := open(t, path)
	tok, err := t5.LoadTokenizer(f)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := t5.Load(cpu.New(), f)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	var worst float64
	enc.Trace = func(name string, x engine.Tensor) {
		r, err := rms(cpu.New().ToHost(x))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		worst = max(worst, r)
	}
	var outs [][]float32
	for _, prompt := range []string{"A cat surfing a wave at sunset, cinematic lighting", pipeline.DefaultNegative} {
		ids := tok.Encode(tokenizer.Clean(prompt))
		if slices.Contains(ids, tok.Unk()) {
			t.Errorf("%q: the synthetic tokenizer produced <unk>: %v", prompt, ids)
		}
		out, n, err := t5.EncodeText(context.Background(), tok, enc, prompt)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(ids) || len(out) != n*enc.Dim {
			t.Fatalf("%q: %d rows (%d values), want %d tokens", prompt, n, len(out), len(ids))
		}
		r, err := rms(out)
		if err != nil {
			t.Fatal(err)
		}
		if r < 0.5 || r > 2 {
			t.Errorf("%q: output RMS %.3g, want about 1 (the final norm)", prompt, r)
		}
		outs = append(outs, out)
	}
	t.Logf("largest residual stream RMS %.3g", worst)
	if worst > 50 {
		t.Errorf("residual stream RMS reaches %.3g: weights are badly scaled", worst)
	}
	return outs
}

func TestSyntheticTiny(t *testing.T) {
	cfg := t5.Tiny()
	path, raw := writeSynth(t, cfg, gguf.TypeF32, 5)
	_, again := writeSynth(t, cfg, gguf.TypeF32, 5)
	if !bytes.Equal(raw, again) {
		t.Error("two writes with the same seed differ")
	}
	if _, other := writeSynth(t, cfg, gguf.TypeF32, 6); bytes.Equal(raw, other) {
		t.Error("two seeds gave the same file")
	}
	f := open(t, path)
	if f.Architecture() != "t5encoder" {
		t.Errorf("general.architecture %q", f.Architecture())
	}
	first := encodeBoth(t, path)
	second := encodeBoth(t, path)
	for i := range first {
		if !slices.Equal(first[i], second[i]) {
			t.Errorf("prompt %d: two encodes differ", i)
		}
	}
	enc, err := t5.Load(cpu.New(), f)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	if enc.Config != cfg {
		t.Errorf("loaded config %+v, want %+v", enc.Config, cfg)
	}
}

// TestSyntheticDeep runs a narrow encoder as deep as umT5-XXL (24 layers,
// head width 64 as in the real model) in the quantized types of the real
// files, so the statistics are checked at full depth.
func TestSyntheticDeep(t *testing.T) {
	cfg := t5.Config{Vocab: 1536, Dim: 128, Inner: 128, Heads: 2, FFN: 320, Layers: 24}
	for _, wt := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeBF16} {
		t.Run(wt.String(), func(t *testing.T) {
			path, _ := writeSynth(t, cfg, wt, 1)
			f := open(t, path)
			for name, want := range map[string]gguf.Type{
				"token_embd.weight":           wt,
				"enc.blk.23.attn_q.weight":    wt,
				"enc.blk.0.ffn_down.weight":   wt,
				"enc.blk.5.attn_rel_b.weight": gguf.TypeF32,
				"enc.blk.5.ffn_norm.weight":   gguf.TypeF32,
				"enc.output_norm.weight":      gguf.TypeF32,
			} {
				if ti, ok := f.Lookup(name); !ok || ti.Type != want {
					t.Errorf("%s: type %v (present %v), want %v", name, ti.Type, ok, want)
				}
			}
			if ti, _ := f.Lookup("enc.blk.3.attn_rel_b.weight"); !slices.Equal(ti.Shape, []int64{32, 2}) {
				t.Errorf("attn_rel_b shape %v, want [32 2]", ti.Shape)
			}
			encodeBoth(t, path)
		})
	}
}

// TestSyntheticSizeXXL checks the full-size sizes against the tensor bytes:
// the header (a 256384-piece vocabulary) adds a few MB.
func TestSyntheticSizeXXL(t *testing.T) {
	cfg := t5.UMT5XXL()
	params := int64(cfg.Vocab*cfg.Dim) + int64(cfg.Layers)*int64(4*cfg.Dim*cfg.Inner+3*cfg.Dim*cfg.FFN)
	for _, c := range []struct {
		typ           gguf.Type
		bytesPerParam float64
	}{{gguf.TypeQ8_0, 34.0 / 32}, {gguf.TypeBF16, 2}, {gguf.TypeF16, 2}} {
		size, err := t5.SyntheticSize(cfg, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		data := int64(float64(params) * c.bytesPerParam)
		if size < data || size > data+16<<20 {
			t.Errorf("%v: SyntheticSize %d, tensors alone %d", c.typ, size, data)
		}
		t.Logf("umT5-XXL %v: %d bytes (%.2f GiB)", c.typ, size, float64(size)/(1<<30))
	}
}

func TestSyntheticBadInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t5.gguf")
	for _, c := range []struct {
		cfg  t5.Config
		typ  gguf.Type
		want string
	}{
		{t5.Config{Vocab: 2048, Dim: 64, Inner: 64, Heads: 5, FFN: 160, Layers: 1}, gguf.TypeF32, "multiple"},
		{t5.Config{Vocab: 100, Dim: 64, Inner: 64, Heads: 4, FFN: 160, Layers: 1}, gguf.TypeF32, "at least"},
		{t5.Config{Vocab: 2048, Dim: 64, Inner: 64, Heads: 4, FFN: 160, Layers: 1000000000}, gguf.TypeF32, "layers"},
		{t5.Config{Vocab: 2048, Dim: 0, Inner: 64, Heads: 4, FFN: 160, Layers: 1}, gguf.TypeF32, "dim"},
		{t5.Tiny(), gguf.TypeQ5_1, "not supported"},
	} {
		err := t5.WriteSynthetic(path, c.cfg, c.typ, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v %v: err %v, want one mentioning %q", c.cfg, c.typ, err, c.want)
		}
		if _, err := t5.SyntheticSize(c.cfg, c.typ); err == nil {
			t.Errorf("%+v %v: SyntheticSize accepted it", c.cfg, c.typ)
		}
	}
	if err := t5.WriteSynthetic(filepath.Join(dir, "missing", "t5.gguf"), t5.Tiny(), gguf.TypeF32, 1); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}
