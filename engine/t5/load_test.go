package t5

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

// tinyCfg is the golden tiny encoder's shape.
var tinyCfg = Config{Vocab: 1000, Dim: 64, Inner: 64, Heads: 4, FFN: 160, Layers: 3}

func zeros(n int) []float32 { return make([]float32, n) }

// TestLoadErrors checks that wrong files fail at load with an error naming
// the offending tensor, and that nothing stays allocated after a failure.
func TestLoadErrors(t *testing.T) {
	base := randomModel(tinyCfg, 1)
	for _, tc := range []struct {
		name   string
		mutate func(s *memSource)
		want   []string // substrings of the error
	}{
		{"missing ffn_down", func(s *memSource) { s.drop("enc.blk.2.ffn_down.weight") }, []string{`"enc.blk.2.ffn_down.weight"`, "missing"}},
		{"missing final norm", func(s *memSource) { s.drop("enc.output_norm.weight") }, []string{`"enc.output_norm.weight"`, "missing"}},
		{"missing embedding", func(s *memSource) { s.drop("token_embd.weight") }, []string{`"token_embd.weight"`, "missing"}},
		{"missing block 1", func(s *memSource) {
			for _, ti := range s.Tensors() {
				if strings.HasPrefix(ti.Name, "enc.blk.1.") {
					s.drop(ti.Name)
				}
			}
		}, []string{`"enc.blk.1.attn_norm.weight"`, "missing"}},
		{"wrong q shape", func(s *memSource) { s.set("enc.blk.1.attn_q.weight", []int64{64, 63}, zeros(64*63)) }, []string{`"enc.blk.1.attn_q.weight"`, "[64 63]", "[64 64]"}},
		{"wrong o shape", func(s *memSource) { s.set("enc.blk.0.attn_o.weight", []int64{64, 32}, zeros(64*32)) }, []string{`"enc.blk.0.attn_o.weight"`, "[64 32]"}},
		{"wrong ffn_up width", func(s *memSource) { s.set("enc.blk.2.ffn_up.weight", []int64{128, 64}, zeros(128*64)) }, []string{`"enc.blk.2.ffn_up.weight"`, "[128 64]", "[160 64]"}},
		{"wrong norm shape", func(s *memSource) { s.set("enc.blk.0.ffn_norm.weight", []int64{32}, zeros(32)) }, []string{`"enc.blk.0.ffn_norm.weight"`}},
		{"1-D embedding", func(s *memSource) { s.set("token_embd.weight", []int64{64000}, zeros(64000)) }, []string{`"token_embd.weight"`, "2 dimensions"}},
		{"16 buckets", func(s *memSource) { s.set("enc.blk.0.attn_rel_b.weight", []int64{16, 4}, zeros(64)) }, []string{`"enc.blk.0.attn_rel_b.weight"`, "32 relative position buckets"}},
		{"heads do not divide width", func(s *memSource) { s.set("enc.blk.0.attn_rel_b.weight", []int64{32, 5}, zeros(160)) }, []string{`"enc.blk.0.attn_q.weight"`, "5 heads"}},
		{"other layer's rel bias", func(s *memSource) { s.set("enc.blk.2.attn_rel_b.weight", []int64{32, 8}, zeros(256)) }, []string{`"enc.blk.2.attn_rel_b.weight"`, "[32 8]", "[32 4]"}},
		{"block scale", func(s *memSource) {
			s.set("enc.blk.1.attn_k.scale_weight", []int64{2}, []float32{1, 2})
		}, []string{`"enc.blk.1.attn_k.scale_weight"`, "single number"}},
		{"zero scale", func(s *memSource) {
			s.set("enc.blk.1.attn_k.scale_weight", []int64{}, []float32{0})
		}, []string{`"enc.blk.1.attn_k.scale_weight"`, "not a usable number"}},
		{"truncated data", func(s *memSource) {
			for i := range s.ts {
				if s.ts[i].name == "enc.blk.0.attn_v.weight" {
					s.ts[i].data = s.ts[i].data[:100]
				}
			}
		}, []string{`"enc.blk.0.attn_v.weight"`}},
		{"not an encoder", func(s *memSource) { s.ts = nil; s.set("blocks.0.self_attn.q.weight", []int64{4, 4}, zeros(16)) },
			[]string{"no umT5 encoder tensors", `"enc.blk.0.attn_q.weight"`, `"encoder.block.0.layer.0.SelfAttention.q.weight"`}},
		{"absurd block index", func(s *memSource) { s.set("enc.blk.99999999.attn_q.weight", []int64{64, 64}, zeros(64*64)) }, []string{`"enc.blk.99999999.attn_q.weight"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := base.clone()
			tc.mutate(src)
			b := newTracking(cpu.New())
			enc, err := Load(b, src)
			if err == nil {
				enc.Free()
				t.Fatal("Load succeeded")
			}
			if enc != nil {
				t.Error("Load returned an encoder with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if len(b.live) != 0 {
				t.Errorf("%d tensors left allocated after the failed load", len(b.live))
			}
			t.Log(err)
		})
	}
}

// TestLoadNilAndEmpty: no panics on degenerate arguments.
func TestLoadNilAndEmpty(t *testing.T) {
	if _, err := Load(nil, &memSource{}); err == nil {
		t.Error("nil backend accepted")
	}
	if _, err := Load(cpu.New(), nil); err == nil {
		t.Error("nil source accepted")
	}
	if _, err := Load(cpu.New(), &memSource{}); err == nil {
		t.Error("empty source accepted")
	}
}

// TestInferConfig: the configuration comes from shapes, including an
// attention width different from the model width and a quantized file.
func TestInferConfig(t *testing.T) {
	cfg := Config{Vocab: 50, Dim: 32, Inner: 48, Heads: 3, FFN: 40, Layers: 5}
	enc, err := Load(cpu.New(), randomModel(cfg, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	if enc.Config != cfg || enc.HeadDim() != 16 || len(enc.Blocks) != 5 {
		t.Fatalf("config %+v (head dim %d, %d blocks), want %+v", enc.Config, enc.HeadDim(), len(enc.Blocks), cfg)
	}
	ids := []int32{5, 7, 1, 0, 0}
	out, n, err := enc.Encode(context.Background(), ids, []int32{1, 1, 1, 0, 0})
	if err != nil || n != 3 || len(out) != 3*cfg.Dim {
		t.Fatalf("Encode: %d rows, %d values, %v", n, len(out), err)
	}
}

// TestEncodeErrors: bad inputs are errors, never panics.
func TestEncodeErrors(t *testing.T) {
	enc, err := Load(cpu.New(), randomModel(tinyCfg, 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		ids, mask []int32
		want      string
	}{
		{"length mismatch", []int32{1, 2, 3}, []int32{1, 1}, "3 ids but 2 mask"},
		{"no valid tokens", []int32{0, 0}, []int32{0, 0}, "no valid tokens"},
		{"empty", nil, nil, "no valid tokens"},
		{"left padding", []int32{0, 5, 1}, []int32{0, 1, 1}, "mask[1]"},
		{"mask value 2", []int32{5, 1}, []int32{1, 2}, "mask[1] = 2"},
		{"id out of range", []int32{5, 1000, 1}, []int32{1, 1, 1}, "out of range"},
		{"negative id", []int32{-1, 1}, []int32{1, 1}, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := enc.Encode(context.Background(), tc.ids, tc.mask)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	var ee *engine.Error
	if _, _, err := enc.Encode(context.Background(), []int32{1000}, []int32{1}); !errors.As(err, &ee) {
		t.Errorf("an op failure should come back as *engine.Error, got %T", err)
	}
	enc.Free()
	enc.Free() // twice is fine
	if _, _, err := enc.Encode(context.Background(), []int32{1}, []int32{1}); err == nil {
		t.Error("Encode after Free succeeded")
	}
}

// TestFreeReleasesEverything: Encode frees its intermediates (the CUDA
// backend would leak device memory otherwise) and Free every weight and
// scale vector, so nothing of the encoder is left when the DiT loads.
func TestFreeReleasesEverything(t *testing.T) {
	src := randomModel(tinyCfg, 4).renamed(hfName)
	// One scaled fp8 weight, so the scale vectors are covered too.
	deq := src.clone()
	scaledFP8(t, src, deq, "encoder.block.1.layer.1.DenseReluDense.wi_1.weight")
	b := newTracking(cpu.New())
	enc, err := Load(b, src)
	if err != nil {
		t.Fatal(err)
	}
	weights := len(b.live)
	if want := 1 + 10*tinyCfg.Layers + 1 + 1; weights != want {
		t.Errorf("%d tensors after Load, want %d (weights and one scale vector)", weights, want)
	}
	for _, full := range []bool{false, true} {
		enc.FullLength = full
		if _, _, err := enc.Encode(context.Background(), []int32{4, 8, 15, 16, 23, 42, 1, 0, 0}, []int32{1, 1, 1, 1, 1, 1, 1, 0, 0}); err != nil {
			t.Fatal(err)
		}
		if len(b.live) != weights {
			var leaked []string
			for _, op := range b.live {
				if !strings.HasPrefix(op, "Weight ") && op != "FromHost" {
					leaked = append(leaked, op)
				}
			}
			t.Errorf("FullLength=%v: %d tensors live after Encode, %d after Load; leaked: %v", full, len(b.live), weights, leaked)
		}
	}
	enc.Free()
	if len(b.live) != 0 || len(b.bad) != 0 {
		t.Errorf("%d tensors live after Free, bad frees of %v", len(b.live), b.bad)
	}
}

// TestNoLeakOnFailure makes every op of an Encode fail in turn, as a device
// backend out of memory would, and checks that Encode returns the failure
// and leaves nothing live but the weights, freeing nothing twice. Every
// projection and the embedding are scaled fp8, so the scale
// multiplications fail too; both lengths run, FullLength slicing its output.
func TestNoLeakOnFailure(t *testing.T) {
	src := randomModel(tinyCfg, 4).renamed(hfName)
	deq := src.clone()
	for _, ti := range src.Tensors() {
		if len(ti.Shape) == 2 && !strings.Contains(ti.Name, "relative_attention_bias") {
			scaledFP8(t, src, deq, ti.Name)
		}
	}
	b := newTracking(cpu.New())
	enc, err := Load(b, src)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	weights := map[engine.Tensor]bool{}
	for x := range b.live {
		weights[x] = true
	}
	ids, mask := []int32{4, 8, 15, 16, 23, 42, 1, 0, 0}, []int32{1, 1, 1, 1, 1, 1, 1, 0, 0}
	for _, full := range []bool{false, true} {
		enc.FullLength = full
		b.ops = 0
		if _, _, err := enc.Encode(context.Background(), ids, mask); err != nil {
			t.Fatal(err)
		}
		ops := b.ops
		for n := 1; n <= ops; n++ {
			b.ops, b.failAt = 0, n
			_, _, err := enc.Encode(context.Background(), ids, mask)
			b.failAt = 0
			if !errors.Is(err, errInjected) {
				t.Fatalf("FullLength=%v, op %d of %d failing: err %v", full, n, ops, err)
			}
			if len(b.live) != len(weights) || len(b.bad) != 0 {
				t.Fatalf("FullLength=%v, op %d of %d failing: left live %v, bad frees of %v", full, n, ops, b.activations(weights), b.bad)
			}
		}
	}
}

// TestTrace: the trace hook sees every block's output.
func TestTrace(t *testing.T) {
	enc, err := Load(cpu.New(), randomModel(tinyCfg, 5))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	var seen []string
	enc.Trace = func(name string, x engine.Tensor) {
		seen = append(seen, fmt.Sprintf("%s%v", name, x.Shape()))
	}
	if _, _, err := enc.Encode(context.Background(), []int32{3, 4, 1, 0}, []int32{1, 1, 1, 0}); err != nil {
		t.Fatal(err)
	}
	want := "embed[3 64] block0.out[3 64] block1.out[3 64] block2.out[3 64] out[3 64]"
	if got := strings.Join(seen, " "); got != want {
		t.Errorf("trace %q, want %q", got, want)
	}
}

// TestQuantizedEmbedding: a quantized token table (as in city96's Q8_0
// files) is read row by row through Rows.
func TestQuantizedEmbedding(t *testing.T) {
	src := randomModel(tinyCfg, 6)
	name := "token_embd.weight"
	v := src.floats(t, name)
	// F16 stands in for any ggml type: Rows converts only the rows it needs.
	h := make([]byte, 2*len(v))
	for i, x := range v {
		u := gguf.F32ToF16(x)
		h[2*i], h[2*i+1] = byte(u), byte(u>>8)
		v[i] = gguf.F16ToF32(u)
	}
	f16 := src.clone()
	for i := range f16.ts {
		if f16.ts[i].name == name {
			f16.ts[i] = memTensor{name: name, typ: gguf.TypeF16, shape: f16.ts[i].shape, data: h}
		}
	}
	ref := src.clone().set(name, []int64{int64(tinyCfg.Vocab), int64(tinyCfg.Dim)}, v)
	ids, mask := []int32{9, 99, 999, 1}, []int32{1, 1, 1, 1}
	outs := make([][]float32, 2)
	for i, s := range []*memSource{f16, ref} {
		enc, err := Load(cpu.New(), s)
		if err != nil {
			t.Fatal(err)
		}
		if outs[i], _, err = enc.Encode(context.Background(), ids, mask); err != nil {
			t.Fatal(err)
		}
		enc.Free()
	}
	if e := golden.RelL2(outs[0], outs[1]); e > 1e-6 {
		t.Errorf("F16 embedding: rel L2 %.3g against the same values in F32", e)
	}
}
