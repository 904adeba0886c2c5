package t5

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

// streamPrompts are two prompts of different lengths, right-padded.
var streamPrompts = []Tokens{
	{IDs: []int32{4, 8, 15, 16, 23, 42, 1, 0, 0}, Mask: []int32{1, 1, 1, 1, 1, 1, 1, 0, 0}},
	{IDs: []int32{99, 7, 512, 1, 0, 0, 0, 0, 0}, Mask: []int32{1, 1, 1, 1, 0, 0, 0, 0, 0}},
}

// residentEncode runs Load + Encode on every prompt.
func residentEncode(t *testing.T, src gguf.Source, prompts []Tokens) ([][]float32, []int) {
	t.Helper()
	enc, err := Load(cpu.New(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	var out [][]float32
	var ns []int
	for _, p := range prompts {
		o, n, err := enc.Encode(context.Background(), p.IDs, p.Mask)
		if err != nil {
			t.Fatal(err)
		}
		out, ns = append(out, o), append(ns, n)
	}
	return out, ns
}

// TestEncodeStreamingMatches: streaming the encoder layer by layer gives the
// resident encoder's output (≤ 1e-6 relative L2; the ops are the same, so it
// is in fact exact) for the synthetic tiny umT5 in F32 and Q8_0 (llama.cpp
// names, GGUF file) and for a random model with Hugging Face names whose
// embedding and a projection are scaled fp8.
func TestEncodeStreamingMatches(t *testing.T) {
	type model struct {
		name string
		src  gguf.Source
	}
	var models []model
	for _, wt := range []gguf.Type{gguf.TypeF32, gguf.TypeQ8_0} {
		path := filepath.Join(t.TempDir(), "t5.gguf")
		if err := WriteSynthetic(path, Tiny(), wt, 3); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		models = append(models, model{"synthetic tiny " + wt.String(), f})
	}
	hf := randomModel(tinyCfg, 9).renamed(hfName)
	deq := hf.clone()
	scaledFP8(t, hf, deq, "shared.weight")
	scaledFP8(t, hf, deq, "encoder.block.2.layer.1.DenseReluDense.wo.weight")
	models = append(models, model{"HF names, scaled fp8", hf})

	for _, m := range models {
		want, wantN := residentEncode(t, m.src, streamPrompts)
		got, gotN, err := EncodeStreaming(context.Background(), cpu.New(), m.src, streamPrompts)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		for i := range want {
			if gotN[i] != wantN[i] || len(got[i]) != len(want[i]) {
				t.Fatalf("%s, prompt %d: %d rows (%d values), want %d (%d)", m.name, i, gotN[i], len(got[i]), wantN[i], len(want[i]))
			}
			if e := golden.RelL2(got[i], want[i]); e > 1e-6 {
				t.Errorf("%s, prompt %d: streamed differs from resident by %.3g relative L2", m.name, i, e)
			}
		}
	}
}

// peakWeights is tracking that also keeps the most weights alive at once.
type peakWeights struct {
	*tracking
	peak int
}

func (p *peakWeights) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	x := p.tracking.Weight(info, data)
	n := 0
	for _, op := range p.live {
		if strings.HasPrefix(op, "Weight ") {
			n++
		}
	}
	p.peak = max(p.peak, n)
	return x
}

// TestEncodeStreamingMemory: at most one block's 10 weights are alive at a
// time (the embedding never goes to the device), nothing is left after a
// run, and a failure of any op returns it and leaves nothing allocated,
// freeing nothing twice.
func TestEncodeStreamingMemory(t *testing.T) {
	src := randomModel(tinyCfg, 4)
	b := &peakWeights{tracking: newTracking(cpu.New())}
	if _, _, err := EncodeStreaming(context.Background(), b, src, streamPrompts); err != nil {
		t.Fatal(err)
	}
	if b.peak != 10 {
		t.Errorf("%d weights alive at once, want one block's 10", b.peak)
	}
	if len(b.live) != 0 || len(b.bad) != 0 {
		t.Fatalf("after a run: live %v, bad frees %v", b.activations(nil), b.bad)
	}
	ops := b.ops
	for n := 1; n <= ops; n++ {
		b.ops, b.failAt = 0, n
		_, _, err := EncodeStreaming(context.Background(), b, src, streamPrompts)
		b.failAt = 0
		if !errors.Is(err, errInjected) {
			t.Fatalf("op %d of %d failing: err %v", n, ops, err)
		}
		if len(b.live) != 0 || len(b.bad) != 0 {
			t.Fatalf("op %d of %d failing: left live %v, bad frees %v", n, ops, b.activations(nil), b.bad)
		}
	}
}

func TestEncodeStreamingErrors(t *testing.T) {
	src := randomModel(tinyCfg, 4)
	b := cpu.New()
	for _, c := range []struct {
		name    string
		b       engine.Backend
		src     gguf.Source
		prompts []Tokens
		want    string
	}{
		{"no backend", nil, src, streamPrompts, "needs a backend"},
		{"no prompts", b, src, nil, "no prompts"},
		{"bad mask", b, src, []Tokens{{IDs: []int32{1, 2}, Mask: []int32{0, 1}}}, "right padding"},
		{"id out of range", b, src, []Tokens{{IDs: []int32{5, 1000}, Mask: []int32{1, 1}}}, "out of range"},
		{"not an encoder", b, &memSource{}, streamPrompts, "no umT5 encoder tensors"},
		{"missing block tensor", b, src.clone().drop("enc.blk.1.ffn_up.weight"), streamPrompts, "enc.blk.1.ffn_up.weight"},
	} {
		_, _, err := EncodeStreaming(context.Background(), c.b, c.src, c.prompts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}
