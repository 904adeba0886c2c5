package lora

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// fileWith builds a LoRA file in memory with the metadata meta.
func fileWith(t *testing.T, meta map[string]string, ts ...safetensors.Tensor) (*File, error) {
	t.Helper()
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return NewFile(bytes.NewReader(buf.Bytes()), "x.safetensors")
}

// TestSwappedDownUp: a file whose down (A) and up (B) matrices were
// exchanged — down [out, rank], up [rank, in] — is refused as such, naming
// both tensors and what probably wrote it, not opened as a LoRA of rank
// 5120 for "an unknown WAN model (hidden size 4)" (a square module) or
// refused as a rank mismatch (ffn.0); real adapters of small input
// (time_embedding.0, in 256) still open.
func TestSwappedDownUp(t *testing.T) {
	q, ffn := "diffusion_model.blocks.0.self_attn.q", "transformer.blocks.0.ffn.net.0.proj"
	for _, c := range []struct {
		name string
		meta map[string]string
		ts   []safetensors.Tensor
		want []string
	}{
		{"kohya square", map[string]string{"ss_network_module": "networks.lora_wan"},
			[]safetensors.Tensor{zeros(q+".lora_down.weight", 5120, 4), zeros(q+".lora_up.weight", 4, 5120)},
			[]string{`"` + q + `.lora_down.weight" [5120 4] and "` + q + `.lora_up.weight" [4 5120] look swapped`, "the rank 4", "musubi-tuner", "networks.lora_wan"}},
		{"PEFT ffn", nil,
			[]safetensors.Tensor{zeros(ffn+".lora_A.weight", 13824, 8), zeros(ffn+".lora_B.weight", 8, 5120)},
			[]string{"look swapped", "the rank 8", "PEFT (lora_A/lora_B)"}},
		{"ai-toolkit", map[string]string{"software": `{"name": "ai-toolkit", "version": "0.1"}`},
			[]safetensors.Tensor{zeros(q+".lora_A.weight", 5120, 16), zeros(q+".lora_B.weight", 16, 5120)},
			[]string{"look swapped", "ai-toolkit"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := fileWith(t, c.meta, c.ts...)
			if err == nil {
				err = f.Check(Known[0])
			}
			if err == nil {
				t.Fatal("opened and fits the A14B")
			}
			for _, w := range append(c.want, "lora: x.safetensors: ", "down (A) matrix is [rank, in] and its up (B) [out, rank]", "right way round") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "unknown WAN model") {
				t.Errorf("error %q", err)
			}
		})
	}
	te := "diffusion_model.time_embedding.0"
	if _, err := fileWith(t, nil, zeros(te+".lora_down.weight", 128, 256), zeros(te+".lora_up.weight", 5120, 128)); err != nil {
		t.Errorf("a rank-128 adapter of time_embedding.0 (in 256): %v", err)
	}
}

// TestLycorisKeys: LyCORIS's LoRA/LoCon files for WAN (lycoris_ and kohya's
// underscore module names) read as the same file with lora_unet_ keys does:
// the same modules, ranks and alphas, official and diffusers names, deltas
// too; the style says LyCORIS. Its LoHa and LoKr are refused by name.
func TestLycorisKeys(t *testing.T) {
	tensors := func(prefix string) []safetensors.Tensor {
		var ts []safetensors.Tensor
		for _, m := range []struct {
			name    string
			out, in int64
		}{{"blocks_0_self_attn_q", 5120, 5120}, {"blocks_0_ffn_0", 13824, 5120}, {"blocks_3_cross_attn_o", 5120, 5120}, {"blocks_12_attn1_to_q", 5120, 5120}} {
			ts = append(ts, zeros(prefix+m.name+".lora_down.weight", 4, m.in), zeros(prefix+m.name+".lora_up.weight", m.out, 4),
				safetensors.FromFloat32(prefix+m.name+".alpha", nil, []float32{2}))
		}
		return append(ts, zeros(prefix+"blocks_1_norm3.diff", 5120))
	}
	kohya, err := fileOf(t, "kohya.safetensors", tensors("lora_unet_")...)
	if err != nil {
		t.Fatal(err)
	}
	ly, err := fileOf(t, "lycoris.safetensors", tensors("lycoris_")...)
	if err != nil {
		t.Fatal(err)
	}
	if len(ly.Adapters) != 4 || len(ly.Diffs) != 1 || ly.Diffs[0].Param != kohya.Diffs[0].Param {
		t.Fatalf("%d adapters, diffs %+v; want 4 and the delta of %s", len(ly.Adapters), ly.Diffs, kohya.Diffs[0].Param)
	}
	for i, a := range ly.Adapters {
		k := kohya.Adapters[i]
		if a.Module != k.Module || a.Rank != k.Rank || a.In != k.In || a.Out != k.Out || a.Alpha != k.Alpha || !a.HasAlpha {
			t.Errorf("adapter %+v, want it as the lora_unet_ file's %+v", a, k)
		}
	}
	if want := (Style{Format: "lora_down/lora_up", Lycoris: true, Diffusers: true, Diffs: true}); ly.Style != want {
		t.Errorf("style %+v, want %+v", ly.Style, want)
	}
	if s := ly.Style.String(); !strings.Contains(s, "LyCORIS underscore names (lycoris_…)") || strings.Contains(s, "lora_unet_") {
		t.Errorf("style %q", s)
	}
	if err := ly.Check(Known[0]); err != nil {
		t.Errorf("Check against the A14B: %v", err)
	}
	for key, want := range map[string]string{
		"lycoris_blocks_0_self_attn_q.hada_w1_a": "is a LoHa (hada_*) adapter, which wan22 does not apply",
		"lycoris_blocks_0_self_attn_q.lokr_w1":   "is a LoKr (lokr_*) adapter, which wan22 does not apply",
	} {
		if _, err := fileOf(t, "x.safetensors", zeros(key, 4, 5120)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", key, err, want)
		}
	}
}

// TestOpenTooShort: a LoRA file of 1 to 8 bytes, whatever they are, is too
// short to be a LoRA (.safetensors) file, which the error says with what
// to do, not in a model file's words ("a model file has at least 10
// bytes", "unrecognised file format … model files", "a truncated GGUF
// file"); an empty file is called empty, and one of 9 bytes is sniffed.
func TestOpenTooShort(t *testing.T) {
	dir := t.TempDir()
	for i, content := range []string{"\x00", "\x10\x00\x00\x00", "abc\n", "GGUF", "<html>", "GGUF\x03\x00\x00\x00",
		"\x00\x00\x00\x00\x00\x00\x00\x00", "\x10\x00\x00\x00\x00\x00\x00\x00"} {
		path := filepath.Join(dir, fmt.Sprintf("short%d.safetensors", i))
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		if err == nil {
			t.Fatalf("%q opened", content)
		}
		msg := err.Error()
		unit := "bytes"
		if len(content) == 1 {
			unit = "byte"
		}
		want := fmt.Sprintf("%s: truncated file (%d %s): too short to be a LoRA (.safetensors) file: it is damaged or was cut short; download or export it again", path, len(content), unit)
		if msg != want {
			t.Errorf("%q: %q, want %q", content, msg, want)
		}
		if te := (*modelfile.TruncatedError)(nil); !errors.As(err, &te) {
			t.Errorf("%q: %T, want a *modelfile.TruncatedError", content, err)
		}
	}
	empty := filepath.Join(dir, "empty.safetensors")
	nine := filepath.Join(dir, "nine.safetensors")
	if os.WriteFile(empty, nil, 0o644) != nil || os.WriteFile(nine, make([]byte, 9), 0o644) != nil {
		t.Fatal("cannot write the files")
	}
	if _, err := Open(empty); err == nil || !strings.Contains(err.Error(), "the file is empty (0 bytes): download or export it again") {
		t.Errorf("an empty file: %v", err)
	}
	if _, err := Open(nine); err == nil || !strings.Contains(err.Error(), "is not a LoRA (it starts with 00") {
		t.Errorf("9 zero bytes: %v", err)
	}
}

// TestCheckWeightsMagnitude: CheckWeights refuses, naming the file and the
// tensor, a weight of magnitude MaxWeight (2^14) or more in every stored
// type and at any place (past the first chunk, in a tail of fewer than 8
// bytes), which CheckValues (NaN and Inf only) lets pass and which B·A turns
// into a NaN latent at the first step; Matrices refuses it too. The largest
// values below the bound, real weights and a large alpha (a scale, not a
// weight) pass; NaN is still called damaged.
func TestCheckWeightsMagnitude(t *testing.T) {
	const in = 70000 // more than one chunk of checkValues' buffer
	q := "diffusion_model.blocks.0.self_attn.q"
	down, up := q+".lora_down.weight", q+".lora_up.weight"
	typed := func(name string, typ gguf.Type, shape []int64, bits []uint16) safetensors.Tensor {
		b := make([]byte, 2*len(bits))
		for i, v := range bits {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
		return safetensors.Tensor{Name: name, Type: typ, Shape: shape, Data: b}
	}
	at := func(n, i int, v, fill uint16) []uint16 {
		bits := make([]uint16, n)
		for j := range bits {
			bits[j] = fill
		}
		bits[i] = v
		return bits
	}
	r := rand.New(rand.NewPCG(1, 2))
	weights := make([]float32, 2*in)
	for i := range weights {
		weights[i] = float32(r.NormFloat64() * 0.05)
	}
	f32 := func(name string, shape []int64, i int, v float32) safetensors.Tensor {
		w := make([]float32, shape[0]*shape[1])
		copy(w, weights)
		w[i] = v
		return safetensors.FromFloat32(name, shape, w)
	}
	for _, c := range []struct {
		name string
		ts   []safetensors.Tensor
		want string // "" for a file that passes
	}{
		{"F32 1e30", []safetensors.Tensor{f32(down, []int64{2, in}, 7, 1e30), zeros(up, in, 2)}, `tensor "` + down + `" holds 1e+30, which no LoRA's weights come near`},
		{"F32 -2^14 late", []safetensors.Tensor{zeros(down, 2, in), f32(up, []int64{in, 2}, 2*in-1, -MaxWeight)}, "holds -16384"},
		{"F32 below", []safetensors.Tensor{f32(down, []int64{2, in}, 3, math.Nextafter32(MaxWeight, 0)), f32(up, []int64{in, 2}, 5, -math.Nextafter32(MaxWeight, 0))}, ""},
		{"F16 2^14", []safetensors.Tensor{typed(down, gguf.TypeF16, []int64{2, in}, at(2*in, 99999, 0x7400, 0x2e66)), zeros(up, in, 2)}, "holds 16384"},
		{"F16 largest", []safetensors.Tensor{typed(down, gguf.TypeF16, []int64{2, in}, at(2*in, 0, 0xfbff, 0)), zeros(up, in, 2)}, "holds -65504"},
		{"F16 below", []safetensors.Tensor{typed(down, gguf.TypeF16, []int64{2, in}, at(2*in, 1, 0x73ff, 0x2e66)), zeros(up, in, 2)}, ""},
		{"BF16 2^14 in a tail", []safetensors.Tensor{typed("diffusion_model.blocks.0.norm3.diff", gguf.TypeBF16, []int64{3}, []uint16{0x3c00, 0, 0x4680})}, "holds 16384"},
		{"BF16 largest", []safetensors.Tensor{zeros(down, 2, in), typed(up, gguf.TypeBF16, []int64{in, 2}, at(2*in, 12345, 0x7f7f, 0))}, "holds 3.3895"},
		{"BF16 below", []safetensors.Tensor{zeros(down, 2, in), typed(up, gguf.TypeBF16, []int64{in, 2}, at(2*in, 12345, 0xc67f, 0x3d4c))}, ""},
		{"F8_E5M2 57344", []safetensors.Tensor{zeros(down, 2, 64), {Name: up, Type: gguf.TypeF8E5M2, Shape: []int64{64, 2}, Data: append(make([]byte, 127), 0x7b)}}, "holds 57344"},
		{"large alpha", []safetensors.Tensor{zeros(down, 2, 64), zeros(up, 64, 2), safetensors.FromFloat32(q+".alpha", nil, []float32{20000})}, ""},
		{"NaN", []safetensors.Tensor{f32(down, []int64{2, in}, 9, float32(math.NaN())), zeros(up, in, 2)}, "holds NaN: the file is damaged"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := fileOf(t, "w.safetensors", c.ts...)
			if err != nil {
				t.Fatal(err)
			}
			err = f.CheckWeights()
			if c.want == "" {
				if err != nil {
					t.Errorf("CheckWeights: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckWeights passed it")
			}
			for _, w := range []string{"lora: w.safetensors: tensor ", c.want, "download or export it again"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckWeights: %q does not mention %q", err, w)
				}
			}
			if c.name == "NaN" {
				return
			}
			if !strings.Contains(err.Error(), "16384 and more") {
				t.Errorf("CheckWeights: %q does not give the bound", err)
			}
			if err := f.CheckValues(); err != nil {
				t.Errorf("CheckValues (NaN and Inf only): %v", err)
			}
			if len(f.Adapters) == 1 {
				if _, _, err := f.Matrices(f.Adapters[0]); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("Matrices: %v, want an error with %q", err, c.want)
				}
			}
		})
	}
}

// TestExponentAtLeast: CheckWeights' bit test flags F32, F16 and BF16 data
// exactly when a value is a NaN, an infinity or of magnitude limit or more
// (limit a power of two, or +Inf for NaN and Inf only), for random bit
// patterns of every exponent, the 8-byte words and the tail alike.
func TestExponentAtLeast(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16} {
		size := typ.BlockBytes()
		for _, limit := range []float32{MaxWeight, noLimit, 1, 0.5, 1 << 20} {
			for range 2000 {
				n := 1 + r.IntN(9)
				data := make([]byte, n*size)
				for i := range data {
					data[i] = byte(r.Uint32())
				}
				if r.IntN(2) == 0 { // mostly small values, as in a LoRA
					for i := 0; i < len(data); i += size {
						data[i+size-1] &= 0xbf
					}
				}
				v := make([]float32, n)
				if err := gguf.Dequantize(typ, data, v); err != nil {
					t.Fatal(err)
				}
				want := inRange("k", v, limit) != nil
				if hit, known := exponentAtLeast(typ, data, limit); !known || hit != want {
					t.Fatalf("%v limit %g: exponentAtLeast(% x) = %v, %v; want %v (values %v)", typ, limit, data, hit, known, want, v)
				}
			}
		}
	}
}
