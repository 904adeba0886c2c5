package dit

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
)

// loraFusedCPU is the CPU backend with a LoRALinear fast path made of its own ops, recording which weights
// it was called with and whether with GELU.
type loraFusedCPU struct {
	*cpu.Backend
	calls map[engine.Tensor]bool // weight → gelu
}

func (f *loraFusedCPU) LinearLoRA(x, w, bias, down, up engine.Tensor, gelu bool) engine.Tensor {
	f.calls[w] = gelu
	y := f.Linear(x, w, bias)
	d := consume(f, f.Linear(x, down, nil), func(h engine.Tensor) engine.Tensor { return f.Linear(h, up, nil) })
	addGated(f, y, d, nil)
	if gelu {
		return consume(f, y, f.GELU)
	}
	return y
}

// TestLoRAFusedPath checks how the DiT uses a backend's LoRALinear: every linear with an adapter, inside
// and outside the blocks, runs through it (ffn.0 with the GELU, no other), none without an adapter does,
// the adapters are stored BF16 for it (F32 on a backend without it, for the same F32 LoRA file), and the
// forward still equals the merged model's within the bf16 rounding of the adapters.
func TestLoRAFusedPath(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	l := newTestLoRA(smallConfig, 4, 8, 41, allLinears...)
	path := filepath.Join(t.TempDir(), "lora.safetensors")
	l.write(t, path, keyStyles[0])

	fb := &loraFusedCPU{Backend: cpu.New(), calls: map[engine.Tensor]bool{}}
	m, err := Load(fb, openGGUF(t, base))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	defer m.DetachLoRAs()
	if err := m.AttachLoRA(openLoRA(t, path), 0.75); err != nil {
		t.Fatal(err)
	}
	got := forwardOf(t, m)

	plain := loadModel(t, base)
	if err := plain.AttachLoRA(openLoRA(t, path), 0.75); err != nil {
		t.Fatal(err)
	}
	targets, plainTargets := m.loraTargets(), plain.loraTargets()
	var adapted []string
	for name, tg := range targets {
		if tg.lin == nil || tg.param != nil {
			continue
		}
		gelu, called := fb.calls[tg.lin.weight]
		switch {
		case tg.lin.lora == nil && called:
			t.Errorf("%s has no LoRA but ran through LinearLoRA", name)
		case tg.lin.lora == nil:
		case !called:
			t.Errorf("%s has a LoRA but did not run through LinearLoRA", name)
		case gelu != strings.HasSuffix(name, ".ffn.0"):
			t.Errorf("%s ran through LinearLoRA with gelu = %v", name, gelu)
		}
		if tg.lin.lora != nil {
			adapted = append(adapted, name)
			if tg.lin.lora.typ != gguf.TypeBF16 || engine.WeightType(tg.lin.lora.down) != gguf.TypeBF16 {
				t.Errorf("%s: adapters stored %v for a backend with LoRALinear, want BF16", name, tg.lin.lora.typ)
			}
			if p := plainTargets[name].lin.lora; p == nil || p.typ != gguf.TypeF32 {
				t.Errorf("%s: adapters on the plain CPU backend are %+v, want F32 as the file", name, p)
			}
		}
	}
	if len(adapted) != len(allLinears) {
		t.Errorf("%d linears have a LoRA, want %d", len(adapted), len(allLinears))
	}

	acc := map[string][]float64{}
	l.deltas(acc, 0.75, keyStyles[0].alpha)
	merged := filepath.Join(t.TempDir(), "merged.gguf")
	writeMerged(t, base, merged, acc)
	want := forwardOf(t, loadModel(t, merged))
	// The adapters round once to bf16 (relative 2⁻⁹); the LoRA is a part of each output.
	if d := relDiff(got, want); d > 5e-3 || math.IsNaN(d) {
		t.Errorf("the fused path vs merged weights: relative difference %.3g, want ≤ 5e-3", d)
	}
	if d := relDiff(forwardOf(t, plain), want); d > loraTol {
		t.Errorf("the separate-op path vs merged weights: relative difference %.3g, want ≤ %g", d, loraTol)
	}
}
