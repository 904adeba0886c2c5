package lora

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TestBadAlphaNamesFileOnce: a NaN alpha is reported with the file named
// once ("lora: x.safetensors: tensor … holds NaN"), not "lora: x: lora: x: …".
func TestBadAlphaNamesFileOnce(t *testing.T) {
	_, err := fileOf(t, "x.safetensors",
		zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.alpha", nil, []float32{float32(math.NaN())}))
	if err == nil {
		t.Fatal("a NaN alpha was accepted")
	}
	if n := strings.Count(err.Error(), "x.safetensors"); n != 1 || !strings.HasPrefix(err.Error(), "lora: x.safetensors: tensor ") || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("error %q: want it to start \"lora: x.safetensors: tensor \", name the file once (%d times) and say NaN", err, n)
	}
}

// TestCheckValues: CheckValues reads every tensor and names the first one
// holding a NaN or an infinity, in any stored type, past the first chunk of
// a large tensor too; a finite file passes.
func TestCheckValues(t *testing.T) {
	const in = 70000 // more than one chunk of CheckValues' buffer
	down := "diffusion_model.blocks.0.self_attn.q.lora_down.weight"
	up := "diffusion_model.blocks.0.self_attn.q.lora_up.weight"
	good := func() []safetensors.Tensor {
		return []safetensors.Tensor{zeros(down, 2, in), zeros(up, in, 2)}
	}
	f, err := fileOf(t, "good.safetensors", good()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckValues(); err != nil {
		t.Errorf("a finite LoRA: %v", err)
	}
	bf16 := func(name string, n int, bad uint16, at int) safetensors.Tensor {
		b := make([]byte, 2*2*n)
		binary.LittleEndian.PutUint16(b[2*at:], bad)
		return safetensors.Tensor{Name: name, Type: gguf.TypeBF16, Shape: []int64{int64(n), 2}, Data: b}
	}
	f16 := func(name string, n int, bad uint16, at int) safetensors.Tensor {
		t := bf16(name, n, bad, at)
		t.Type = gguf.TypeF16
		return t
	}
	// The largest finite values and negative ones are not taken for infinities.
	edge := bf16(up, in, 0xff7f, 1)
	binary.LittleEndian.PutUint16(edge.Data[2*in:], 0x7f7f)
	half := f16(down, in, 0xfbff, 0)
	half.Shape = []int64{2, in}
	binary.LittleEndian.PutUint16(half.Data[10:], 0x7bff)
	f, err = fileOf(t, "edge.safetensors", half, edge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckValues(); err != nil {
		t.Errorf("a LoRA of the largest finite BF16 and F16 values: %v", err)
	}
	for _, c := range []struct {
		name string
		ts   []safetensors.Tensor
		want string
	}{
		{"F32 NaN late", func() []safetensors.Tensor {
			ts := good()
			v := make([]float32, 2*in)
			v[2*in-1] = float32(math.NaN())
			ts[1] = safetensors.FromFloat32(up, []int64{in, 2}, v)
			return ts
		}(), "NaN"},
		{"BF16 +Inf", []safetensors.Tensor{zeros(down, 2, in), bf16(up, in, 0x7f80, 3)}, "+Inf"},
		{"F16 Inf in the tail", []safetensors.Tensor{func() safetensors.Tensor { // 6 bytes: a tail only
			d := f16("diffusion_model.blocks.0.norm3.diff", 2, 0x7c00, 2)
			d.Shape, d.Data = []int64{3}, d.Data[:6]
			return d
		}()}, "+Inf"},
		{"F16 NaN", []safetensors.Tensor{zeros(down, 2, in), f16(up, in, 0xfe00, 9)}, "NaN"},
		{"F32 delta -Inf", []safetensors.Tensor{safetensors.FromFloat32("diffusion_model.blocks.0.norm3.diff", []int64{4}, []float32{0, 0, float32(math.Inf(-1)), 0})}, "-Inf"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := fileOf(t, "bad.safetensors", c.ts...)
			if err != nil {
				t.Fatal(err)
			}
			err = f.CheckValues()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range []string{"lora: bad.safetensors: tensor ", c.want, "damaged", "download"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestHugeBlockIndex: a LoRA on block 9223372036854775807 (the largest int)
// is one for a model with more blocks than any, refused by Check, not one
// whose block count wrapped around to 0, which every model passed.
func TestHugeBlockIndex(t *testing.T) {
	for _, p := range []string{"diffusion_model.blocks.9223372036854775807.self_attn.q", "lora_unet_blocks_9223372036854775807_self_attn_q"} {
		f, err := fileOf(t, "deep.safetensors", zeros(p+".lora_down.weight", 2, 5120), zeros(p+".lora_up.weight", 5120, 2))
		if err != nil {
			t.Fatal(err)
		}
		if d := f.Dims(); d.Blocks <= 0 {
			t.Errorf("%s: Dims().Blocks = %d, want a positive count", p, d.Blocks)
		}
		if err := f.Check(Known[0]); err == nil || !strings.Contains(err.Error(), "the model has 40 blocks") {
			t.Errorf("%s: Check against the A14B: %v, want an error saying the model has 40 blocks", p, err)
		}
		if fits := f.Fits(); len(fits) != 0 {
			t.Errorf("%s fits %q, want none", p, fits)
		}
	}
}

// TestTextEncoderKeys: a LoRA of the text encoder (kohya's lora_te_…, or
// text_encoder.… keys), alone or beside a DiT LoRA in one file, is refused
// saying that it adapts the text encoder, which wan22 does not, and what
// to do — not as keys in no known style.
func TestTextEncoderKeys(t *testing.T) {
	dit := []safetensors.Tensor{zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2)}
	te := []safetensors.Tensor{zeros("lora_te_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight", 2, 32),
		zeros("lora_te_encoder_block_0_layer_0_SelfAttention_q.lora_up.weight", 32, 2),
		safetensors.FromFloat32("lora_te_encoder_block_0_layer_0_SelfAttention_q.alpha", nil, []float32{2})}
	dotted := []safetensors.Tensor{zeros("text_encoder.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight", 2, 32),
		zeros("text_encoder.encoder.block.0.layer.0.SelfAttention.q.lora_B.weight", 32, 2)}
	for _, c := range []struct {
		name string
		ts   []safetensors.Tensor
		want []string
	}{
		{"kohya", te, []string{`"lora_te_encoder_block_0_layer_0_SelfAttention_q.alpha"`, "adapt the text encoder", "the DiT experts only", "a LoRA made for the WAN DiT"}},
		{"dotted", dotted, []string{`"text_encoder.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight"`, "adapt the text encoder"}},
		{"DiT and text encoder", append(append([]safetensors.Tensor{}, dit...), te...), []string{"also adapts the text encoder", "3 tensors", "remove them"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := fileOf(t, "te.safetensors", c.ts...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(c.want, "lora: te.safetensors: ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "unknown keys") {
				t.Errorf("error %q: the keys are known, as the text encoder's", err)
			}
		})
	}
}

// TestZeroAlpha: an alpha of 0 makes the adapter add nothing (ComfyUI's
// reading: scale alpha/rank) or, in kohya's scripts, means alpha = rank: it
// is refused, naming the tensor, rather than run as a LoRA that silently
// changes nothing.
func TestZeroAlpha(t *testing.T) {
	_, err := fileOf(t, "zero.safetensors",
		zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.alpha", nil, []float32{0}))
	if err == nil {
		t.Fatal("an alpha of 0 was accepted")
	}
	for _, w := range []string{"lora: zero.safetensors: ", `"diffusion_model.blocks.0.self_attn.q.alpha"`, "alpha is 0", "nothing"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	// A negative alpha is a LoRA subtracted, as a negative strength is.
	if _, err := fileOf(t, "neg.safetensors",
		zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.alpha", nil, []float32{-2})); err != nil {
		t.Errorf("a negative alpha: %v", err)
	}
}

// TestDescribeNoBlock: a LoRA adapting no block (only the text embedding,
// or only Wan 2.1's image embedding, whose sizes are not checked) is not
// described as "at least 0 blocks", nor with an empty list of sizes.
func TestDescribeNoBlock(t *testing.T) {
	text, err := fileOf(t, "text.safetensors", zeros("diffusion_model.text_embedding.0.lora_down.weight", 4, 4096), zeros("diffusion_model.text_embedding.0.lora_up.weight", 5120, 4))
	if err != nil {
		t.Fatal(err)
	}
	img, err := fileOf(t, "img.safetensors", zeros("diffusion_model.img_emb.proj.1.lora_down.weight", 4, 1280), zeros("diffusion_model.img_emb.proj.1.lora_up.weight", 1280, 4))
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[*File]string{text: "  model sizes from its shapes: dim 5120, text 4096, adapts no block\n", img: "  model sizes from its shapes: none, adapts no block\n"} {
		if s := f.Describe().String(); !strings.Contains(s, want) || strings.Contains(s, "0 blocks") {
			t.Errorf("%s:\n%s\nwant the line %q", f.Name, s, want)
		}
	}
}

// TestLinearDownTrailingOnes: a linear's down matrix stored with trailing
// 1s ([rank, in, 1, 1], as LoRAs extracted from 1×1 convolutions are, and
// as ComfyUI flattens them) is read as [rank, in], as the up matrix's
// trailing 1s already were; other extra dimensions are still refused.
func TestLinearDownTrailingOnes(t *testing.T) {
	p := "diffusion_model.blocks.0.self_attn.q"
	f, err := fileOf(t, "conv.safetensors", zeros(p+".lora_down.weight", 2, 64, 1, 1), zeros(p+".lora_up.weight", 64, 2, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if a := f.Adapters[0]; a.Rank != 2 || a.In != 64 || a.Out != 64 {
		t.Errorf("adapter %+v, want rank 2, in 64, out 64", a)
	}
	_, err = fileOf(t, "conv.safetensors", zeros(p+".lora_down.weight", 2, 32, 2), zeros(p+".lora_up.weight", 64, 2))
	if err == nil || !strings.Contains(err.Error(), "want [rank, in]") {
		t.Errorf("down [2 32 2]: %v, want it refused", err)
	}
}

// TestInspectDamagedValues: Inspect (wan22 inspect) reports a LoRA whose
// weights hold a NaN as the damaged file i2v refuses, not as a good LoRA.
func TestInspectDamagedValues(t *testing.T) {
	v := make([]float32, 2*64)
	v[7] = float32(math.NaN())
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	if err := safetensors.Write(path, []safetensors.Tensor{zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", []int64{64, 2}, v)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(path); err == nil || !strings.Contains(err.Error(), `"diffusion_model.blocks.0.self_attn.q.lora_up.weight" holds NaN`) {
		t.Errorf("Inspect: %v, want an error naming the NaN tensor", err)
	}
}

// TestOpenDamagedSaysWhatToDo: an empty, cut or damaged LoRA file is
// reported as the same file given as a model is (modelfile.Open's words),
// saying to download or export it again, and naming the file once.
func TestOpenDamagedSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := safetensors.Write(good, []safetensors.Tensor{zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64),
		zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2)}, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		content []byte
		want    string
	}{
		"empty.safetensors":  {nil, "the file is empty (0 bytes)"},
		"four.safetensors":   {data[:4], "truncated file (4 bytes)"},
		"cut.safetensors":    {data[:len(data)-100], "truncated"},
		"broken.safetensors": {[]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": broken json}"), "damaged safetensors header"},
		// a plausible header length, but byte 8 is no '{': damaged too, not "another kind of file"
		"nobrace.safetensors": {[]byte("\x10\x00\x00\x00\x00\x00\x00\x00xxxxxxxxxxxxxxxxxxxxxxxx"), "damaged safetensors header"},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, c.content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		if err == nil {
			t.Fatalf("%s opened", name)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, path+": ") || strings.Count(msg, path) != 1 || !strings.Contains(msg, c.want) ||
			!strings.Contains(msg, "download or export it again") {
			t.Errorf("%s: %q, want \"%s: …%s…\" saying to download or export it again", name, msg, path, c.want)
		}
	}
}
