package modelfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/safetensors"
)

func TestSniff(t *testing.T) {
	st := make([]byte, 9)
	binary.LittleEndian.PutUint64(st, 1234)
	st[8] = '{'
	cases := []struct {
		name string
		head []byte
		want Format
		msg  string // for errors: a substring of the message
	}{
		{"gguf", []byte("GGUF\x03\x00\x00\x00"), FormatGGUF, ""},
		{"safetensors", st, FormatSafetensors, ""},
		{"empty", nil, FormatUnknown, "empty"},
		{"short gguf", []byte("GG"), FormatUnknown, "truncated"},
		{"zip", []byte("PK\x03\x04rest-of-zip"), FormatUnknown, "PyTorch"},
		{"pickle", []byte{0x80, 0x02, 'c', 'x'}, FormatUnknown, "pickle"},
		{"lfs", []byte("version https://git-lfs.github.com/spec/v1\n"), FormatUnknown, "git lfs pull"},
		{"html", []byte("\n<!DOCTYPE html><html>"), FormatUnknown, "download"},
		{"ggjt", []byte("tjgg\x01\x00\x00\x00"), FormatUnknown, "GGUF"},
		{"huge st header", append([]byte{0, 0, 0, 0, 0, 0, 0, 0xff}, '{'), FormatUnknown, "starts with"},
		{"random", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, FormatUnknown, "01 02 03"},
		// ModelProto.pieces[0] = {piece "<pad>", score 0, type CONTROL}
		{"sentencepiece", []byte("\x0a\x0e\x0a\x05<pad>\x15\x00\x00\x00\x00\x18\x03\x0a\x0d\x0a\x04</s>"), FormatUnknown, "a SentencePiece tokenizer model"},
		{"sentencepiece, no score", []byte("\x0a\x09\x0a\x05<unk>\x18\x02\x0a"), FormatUnknown, "SentencePiece"},
		{"sentencepiece, piece only", []byte("\x0a\x07\x0a\x05<unk>\x0a"), FormatUnknown, "SentencePiece"},
		// Lengths that look like whitespace to the HTML check.
		{"sentencepiece, like html", []byte("\x0a\x0d\x0a\x09<unknown>\x18\x02\x0a"), FormatUnknown, "SentencePiece"},
		{"newlines", []byte("\n\n\n\nhello\n"), FormatUnknown, "starts with"},
		{"newline text", []byte("\nz\nAbcdefghijklmnopqrstuvwxyz0123456789"), FormatUnknown, "starts with"},
		{"piece past its message", []byte("\x0a\x05\x0a\x05<pad>\x15\x00\x00\x00\x00"), FormatUnknown, "starts with"},
		{"piece not UTF-8", []byte("\x0a\x09\x0a\x05<\xffd>\x18\x02"), FormatUnknown, "starts with"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Sniff(c.head)
			if got != c.want {
				t.Errorf("format %v, want %v", got, c.want)
			}
			if c.want != FormatUnknown {
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), "GGUF (.gguf) and safetensors") {
				t.Errorf("error %v, want one containing %q and the supported formats", err, c.msg)
			}
			// DescribeHead is the error's description of the bytes, alone.
			what := DescribeHead(c.head)
			if !strings.Contains(what, c.msg) || strings.Contains(what, "wan22 reads") {
				t.Errorf("DescribeHead = %q, want it to contain %q and not the supported formats", what, c.msg)
			}
			// A SentencePiece model is named first, as what the file is.
			want := "unrecognised file format (" + what + "); " + supported
			if strings.Contains(c.msg, "SentencePiece") {
				want = what + "; " + supported
			}
			if err != nil && err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, []safetensors.Tensor{safetensors.FromFloat32("a", []int64{4}, []float32{1, 2, 3, 4})}, nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	cases := []struct {
		name string
		path string
		want []string
	}{
		{"missing", filepath.Join(dir, "nope.gguf"), []string{"no such file"}},
		{"directory", dir, []string{"is a directory"}},
		{"garbage", write("garbage.bin", []byte("this is not a model file at all")), []string{"unrecognised file format", "safetensors"}},
		{"truncated safetensors", write("trunc.safetensors", good[:len(good)-3]), []string{"trunc.safetensors", "truncated", "download or export it again"}},
		{"truncated gguf", write("trunc.gguf", []byte("GGUF\x03\x00\x00\x00\x05\x00")), []string{"trunc.gguf", "download or export it again"}},
		{"safetensors JSON damaged", write("json.safetensors", stFile(`{"w":{"dtype":"F32",,"shape":[1]}}`, 4)),
			[]string{"json.safetensors: damaged safetensors header: ", "invalid character ','", "download or export it again"}},
		{"safetensors brace lost", write("brace.safetensors", stFile(`x"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4)),
			[]string{"brace.safetensors: damaged safetensors header: invalid JSON: invalid character 'x'", "(at byte 8)"}},
		{"safetensors header an array", write("array.safetensors", stFile(`["w", 1]`, 4)),
			[]string{"damaged safetensors header: the 8-byte JSON header is an array, not an object"}},
		{"safetensors header zeroed", write("zero.safetensors", stFile("\x00\x00\x00\x00\x00\x00", 4)),
			[]string{"zero.safetensors: damaged safetensors header: invalid JSON"}},
		{"safetensors header cut", write("cut.safetensors", stFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4)[:30]),
			[]string{"cut.safetensors: truncated safetensors file (30 bytes): its first 8 bytes announce a 54-byte JSON header, but 22 bytes follow; download or export it again"}},
		{"gguf damaged version", write("ver.gguf", []byte("GGUF\x09\x00\x00\x7f\x00\x00\x00\x00\x00\x00\x00\x00")),
			[]string{"ver.gguf: damaged GGUF header: version: ", "not a GGUF version", "download or export it again"}},
		{"gguf absurd tensor count", write("count.gguf", []byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")),
			[]string{"count.gguf", "tensor_count", "download or export it again"}},
		{"unsupported dtype", write("f4.safetensors", stFile(`{"w":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}`, 1)), []string{`"w"`, "F4", "not supported"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, _, err := Open(c.path)
			if err == nil {
				src.Close()
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, err := Inspect(c.path); err == nil {
				t.Error("Inspect gave no error")
			}
		})
	}
}

// TestOpenUnsupportedGGUF: a GGUF file of a version or byte order the
// reader does not read is not called damaged (downloading it again would
// give the same file); the error says what to do instead.
func TestOpenUnsupportedGGUF(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, head, want string }{
		{"v1.gguf", "GGUF\x01\x00\x00\x00", "convert it to GGUF v3"},
		{"v4.gguf", "GGUF\x04\x00\x00\x00", "GGUF version 4 is newer than this wan22 reads"},
		{"be.gguf", "GGUF\x00\x00\x00\x03", "convert it to a little-endian GGUF"},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(c.head+strings.Repeat("\x00", 32)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Inspect(p)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: error %q: want %q and no word of damage", c.name, err, c.want)
		}
	}
}

// stFile builds a safetensors file from a literal header and n zero bytes of data.
func stFile(header string, n int) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, n)...)
}

// fakeSource is a tensor list without data, for detection tests.
type fakeSource struct{ ts []gguf.TensorInfo }

func (f *fakeSource) Tensors() []gguf.TensorInfo { return f.ts }
func (f *fakeSource) Lookup(name string) (gguf.TensorInfo, bool) {
	for _, t := range f.ts {
		if t.Name == name {
			return t, true
		}
	}
	return gguf.TensorInfo{}, false
}
func (f *fakeSource) Data(name string) ([]byte, error) { return nil, errors.New("no data") }
func (f *fakeSource) Close() error                     { return nil }

func (f *fakeSource) add(name string, typ gguf.Type, shape ...int64) {
	ti := gguf.TensorInfo{Name: name, Type: typ, Shape: shape}
	ti.Size, _ = typ.RowBytes(ti.Elements())
	f.ts = append(f.ts, ti)
}

// fakeDiT builds the tensor list of a WAN DiT.
func fakeDiT(prefix string, dim, inDim, layers, ffn int64, extra func(f *fakeSource)) *fakeSource {
	f := &fakeSource{}
	p := prefix
	f.add(p+"patch_embedding.weight", gguf.TypeF32, dim, inDim, 1, 2, 2)
	f.add(p+"patch_embedding.bias", gguf.TypeF32, dim)
	f.add(p+"text_embedding.0.weight", gguf.TypeF16, dim, 4096)
	f.add(p+"time_embedding.0.weight", gguf.TypeF16, dim, 256)
	for i := int64(0); i < layers; i++ {
		b := fmt.Sprintf("%sblocks.%d.", p, i)
		f.add(b+"self_attn.q.weight", gguf.TypeQ4_K, dim, dim)
		f.add(b+"ffn.0.weight", gguf.TypeQ6_K, ffn, dim)
		f.add(b+"modulation", gguf.TypeF32, 1, 6, dim)
	}
	f.add(p+"head.head.weight", gguf.TypeF16, 64, dim)
	if extra != nil {
		extra(f)
	}
	return f
}

func TestDetectDiTVariants(t *testing.T) {
	cases := []struct {
		name    string
		src     *fakeSource
		variant string
		prefix  string
		title   string
		in      int
	}{
		{"a14b i2v", fakeDiT("", 5120, 36, 40, 13824, nil), "i2v", "", "WAN i2v DiT (14B)", 36},
		{"a14b t2v prefixed", fakeDiT("model.diffusion_model.", 5120, 16, 40, 13824, nil), "t2v", "model.diffusion_model.", "WAN t2v DiT (14B)", 16},
		{"ti2v 5b", fakeDiT("", 3072, 48, 30, 14336, nil), "ti2v", "", "WAN 2.2 ti2v DiT (5B)", 48},
		{"wan2.1 i2v", fakeDiT("", 5120, 36, 40, 13824, func(f *fakeSource) {
			f.add("blocks.0.cross_attn.k_img.weight", gguf.TypeQ8_0, 5120, 5120)
			f.add("img_emb.proj.1.weight", gguf.TypeF16, 1280, 1280)
		}), "wan2.1-i2v", "", "WAN 2.1 i2v DiT", 36},
		{"wan2.1 flf2v", fakeDiT("", 5120, 36, 40, 13824, func(f *fakeSource) {
			f.add("img_emb.emb_pos", gguf.TypeF32, 1, 514, 1280)
		}), "wan2.1-flf2v", "", "WAN 2.1 flf2v DiT", 36},
		{"sd.cpp 4-D patch embedding", func() *fakeSource {
			f := fakeDiT("", 5120, 36, 40, 13824, nil)
			f.ts[0].Shape = []int64{36 * 5120, 1, 2, 2}
			return f
		}(), "i2v", "", "WAN i2v DiT (14B)", 36},
		{"odd in_dim", fakeDiT("", 256, 20, 1, 512, nil), "in_dim 20", "", "WAN in_dim 20 DiT", 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := Detect(c.src)
			if info.Kind != KindWanDiT || info.DiT == nil {
				t.Fatalf("kind %v, want WAN DiT", info.Kind)
			}
			d := info.DiT
			if d.Variant != c.variant || info.Prefix != c.prefix || d.InDim != c.in {
				t.Errorf("variant %q prefix %q in %d, want %q %q %d", d.Variant, info.Prefix, d.InDim, c.variant, c.prefix, c.in)
			}
			if !strings.HasPrefix(info.Name(), c.title) {
				t.Errorf("name %q, want prefix %q", info.Name(), c.title)
			}
			if d.Heads != d.Dim/128 || d.OutDim != 16 || d.Patch != [3]int{1, 2, 2} || d.TextDim != 4096 || d.FreqDim != 256 {
				t.Errorf("config %+v", d)
			}
		})
	}
	// Layers and FFN of the 14B case, and per-type totals.
	info := Detect(cases[0].src)
	if info.DiT.Layers != 40 || info.DiT.FFNDim != 13824 || info.DiT.Dim != 5120 || info.DiT.Heads != 40 {
		t.Errorf("14B config %+v", info.DiT)
	}
	if info.Types[0].Type != gguf.TypeQ6_K || info.Types[0].Count != 40 || info.Types[1].Type != gguf.TypeQ4_K {
		t.Errorf("type totals %+v, want Q6_K (largest) then Q4_K", info.Types)
	}
	var sum int64
	for _, tt := range info.Types {
		sum += tt.Bytes
	}
	if sum != info.Bytes || info.Tensors != len(cases[0].src.ts) {
		t.Errorf("totals: %d bytes by type, %d in all; %d tensors", sum, info.Bytes, info.Tensors)
	}
}

func TestDetectT5Layouts(t *testing.T) {
	// ComfyUI's umt5_xxl_fp8_e4m3fn_scaled.safetensors layout (HF names).
	hf := &fakeSource{}
	hf.add("scaled_fp8", gguf.TypeF8E4M3, 0)
	hf.add("spiece_model", gguf.TypeU8, 4548313)
	hf.add("shared.weight", gguf.TypeBF16, 256384, 4096)
	for i := 0; i < 24; i++ {
		b := fmt.Sprintf("encoder.block.%d.", i)
		hf.add(b+"layer.0.SelfAttention.q.weight", gguf.TypeF8E4M3, 4096, 4096)
		hf.add(b+"layer.0.SelfAttention.q.scale_weight", gguf.TypeF32)
		hf.add(b+"layer.0.SelfAttention.relative_attention_bias.weight", gguf.TypeBF16, 32, 64)
		hf.add(b+"layer.1.DenseReluDense.wi_0.weight", gguf.TypeF8E4M3, 10240, 4096)
	}
	info := Detect(hf)
	want := T5Config{Naming: "Hugging Face", Vocab: 256384, Dim: 4096, Layers: 24, Heads: 64, AttnDim: 4096, FFNDim: 10240,
		Buckets: 32, PerLayerBias: true, ScaledFP8: true, Tokenizer: "spiece_model tensor"}
	if info.Kind != KindT5 || *info.T5 != want {
		t.Fatalf("got %v %+v, want %+v", info.Kind, info.T5, want)
	}
	if s := info.Summary(); !strings.Contains(s, "umT5 encoder") || !strings.Contains(s, "64 heads × 64") || !strings.Contains(s, "scaled fp8") {
		t.Errorf("summary %q", s)
	}

	// The official Wan .pth layout, prefixed, with a shared bias (plain T5).
	wan := &fakeSource{}
	wan.add("te.token_embedding.weight", gguf.TypeBF16, 1000, 64)
	for i := 0; i < 2; i++ {
		b := fmt.Sprintf("te.blocks.%d.", i)
		wan.add(b+"attn.q.weight", gguf.TypeBF16, 64, 64)
		wan.add(b+"ffn.fc1.weight", gguf.TypeBF16, 160, 64)
	}
	wan.add("te.blocks.0.pos_embedding.embedding.weight", gguf.TypeBF16, 32, 4)
	info = Detect(wan)
	if info.Kind != KindT5 || info.Prefix != "te." || info.T5.Naming != "Wan" || info.T5.Layers != 2 ||
		info.T5.Heads != 4 || info.T5.FFNDim != 160 || info.T5.PerLayerBias || info.Name() != "T5 encoder" {
		t.Errorf("got %v prefix %q %+v name %q", info.Kind, info.Prefix, info.T5, info.Name())
	}
}

// TestDetectAdapter: a LoRA or LyCORIS file is an unknown model marked
// Adapter, and its Name says it attaches to an expert, so that "is a %s,
// not a WAN 2.2 i2v DiT expert" reads right; another unknown file's Name
// fits after "a" too (it was "a unknown model").
func TestDetectAdapter(t *testing.T) {
	for _, key := range []string{
		"diffusion_model.blocks.0.self_attn.q.lora_down.weight",
		"transformer.blocks.0.attn1.to_q.lora_B.weight",
		"lora_unet_blocks_0_self_attn_q.alpha",
		"diffusion_model.blocks.0.self_attn.q.diff",
		"diffusion_model.blocks.0.self_attn.q.lokr_w1",
		"diffusion_model.blocks.0.ffn.0.oft_blocks",
	} {
		f := &fakeSource{}
		f.add(key, gguf.TypeF32, 4, 4)
		info := Detect(f)
		if info.Kind != KindUnknown || !info.Adapter || !strings.HasPrefix(info.Name(), "LoRA or other adapter file") ||
			!strings.Contains(info.Advice(), "--lora-high") {
			t.Errorf("%s: kind %v, adapter %v, name %q, advice %q", key, info.Kind, info.Adapter, info.Name(), info.Advice())
		}
	}
	f := &fakeSource{}
	f.add("encoder.layer.0.weight", gguf.TypeF32, 4, 4)
	f.add("encoder.alpha", gguf.TypeF32, 1)
	if info := Detect(f); info.Adapter || info.Name() != "model of no known kind (no WAN DiT, T5 encoder or WAN VAE tensor names)" || info.Advice() != "" {
		t.Errorf("adapter %v, name %q, advice %q", info.Adapter, info.Name(), info.Advice())
	}
}

func TestDetectVAEAndUnknown(t *testing.T) {
	v := &fakeSource{}
	v.add("first_stage_model.encoder.conv1.weight", gguf.TypeF32, 160, 12, 3, 3, 3)
	v.add("first_stage_model.decoder.conv1.weight", gguf.TypeF32, 1024, 48, 3, 3, 3)
	v.add("first_stage_model.conv1.weight", gguf.TypeF32, 96, 96, 1, 1, 1)
	v.add("first_stage_model.conv2.weight", gguf.TypeF32, 48, 48, 1, 1, 1)
	v.add("unrelated", gguf.TypeF32, 1)
	info := Detect(v)
	want := VAEConfig{Version: "2.2", Dim: 160, ZDim: 48, InChans: 12, Tensors: 4, HasConv1: true}
	if info.Kind != KindWanVAE || *info.VAE != want || info.Prefix != "first_stage_model." || info.Name() != "WAN 2.2 VAE" {
		t.Errorf("got %v %+v prefix %q name %q", info.Kind, info.VAE, info.Prefix, info.Name())
	}

	u := &fakeSource{}
	u.add("lora_unet_blocks_0.lora_down.weight", gguf.TypeF16, 16, 5120)
	u.add("x", gguf.TypeQ8_0, 64)
	info = Detect(u)
	if info.Kind != KindUnknown || info.Tensors != 2 || info.Bytes != 16*5120*2+68 || !strings.Contains(info.Summary(), "adapter") { // a LoRA key: an adapter
		t.Errorf("got %+v, summary %q", info, info.Summary())
	}
}

// TestDetectOddShapes feeds shapes a damaged or exotic file might have:
// detection must not panic or divide by zero.
func TestDetectOddShapes(t *testing.T) {
	shapes := [][]int64{nil, {}, {0}, {0, 0, 0, 0, 0}, {7, 0, 0, 0}, {1 << 40, 1 << 40, 1, 1, 1}, {3}}
	for _, s := range shapes {
		f := &fakeSource{}
		f.add("patch_embedding.weight", gguf.TypeF32, s...)
		f.add("patch_embedding.bias", gguf.TypeF32, s...)
		f.add("blocks.0.self_attn.q.weight", gguf.TypeF32, s...)
		f.add("blocks.99999999999999999999.x", gguf.TypeF32, s...)
		f.add("head.head.weight", gguf.TypeF32, s...)
		f.add("encoder.conv1.weight", gguf.TypeF32, s...)
		f.add("decoder.conv1.weight", gguf.TypeF32, s...)
		f.add("token_embd.weight", gguf.TypeF32, s...)
		f.add("enc.blk.0.attn_q.weight", gguf.TypeF32, s...)
		info := Detect(f)
		_ = info.Summary()
		if info.Kind != KindWanDiT {
			t.Errorf("shape %v: kind %v", s, info.Kind)
		}
	}
}

func TestDetectGolden(t *testing.T) {
	dir := golden.Dir(t)
	open := func(name string) (Info, Format) {
		t.Helper()
		src, format, err := Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		return Detect(src), format
	}
	for _, name := range []string{"dit_tiny_f32.gguf", "dit_tiny_q8_0.gguf"} {
		info, format := open(name)
		want := DiTConfig{Variant: "i2v", Dim: 256, Layers: 2, Heads: 2, FFNDim: 512, InDim: 36, OutDim: 16, TextDim: 128, FreqDim: 256, Patch: [3]int{1, 2, 2}}
		if format != FormatGGUF || info.Kind != KindWanDiT || *info.DiT != want || info.Tensors != 69 {
			t.Errorf("%s: %v %v %+v (%d tensors)", name, format, info.Kind, info.DiT, info.Tensors)
		}
	}
	info, _ := open("dit_tiny_q8_0.gguf")
	if len(info.Types) != 2 || info.Types[0].Type != gguf.TypeQ8_0 || info.Types[0].Count != 26 || info.Types[1].Count != 43 {
		t.Errorf("q8_0 type totals %+v", info.Types)
	}

	info, _ = open("t5_tiny_f32.gguf")
	wantT5 := T5Config{Naming: "llama.cpp", Vocab: 1000, Dim: 64, Layers: 3, Heads: 4, AttnDim: 64, FFNDim: 160, Buckets: 32,
		PerLayerBias: true, Tokenizer: "GGUF metadata (1000 tokens)"}
	if info.Kind != KindT5 || *info.T5 != wantT5 {
		t.Errorf("t5: %v %+v", info.Kind, info.T5)
	}

	info, format := open("vae_tiny.safetensors")
	wantVAE := VAEConfig{Version: "2.1", Dim: 16, ZDim: 16, InChans: 3, Tensors: 194, HasConv1: true}
	if format != FormatSafetensors || info.Kind != KindWanVAE || *info.VAE != wantVAE {
		t.Errorf("vae: %v %v %+v", format, info.Kind, info.VAE)
	}

	info, _ = open("scheduler_cases.safetensors")
	if info.Kind != KindUnknown || info.Tensors != 25 {
		t.Errorf("scheduler cases: %v, %d tensors", info.Kind, info.Tensors)
	}
}

func TestReportText(t *testing.T) {
	dir := golden.Dir(t)
	rep, err := Inspect(filepath.Join(dir, "t5_tiny_f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"format:        GGUF v3, 1.04 MiB (1088608 bytes)",
		"umT5 encoder: vocab 1000, dim 64, 3 layers, 4 heads × 16, ffn 160",
		"\n  GGUF arch:     t5encoder (general.architecture)\n",
		"tensors:       32,",
		"F32  32 tensors  824576 bytes",
		"tokenizer.ggml.tokens [ARRAY[1000] of STRING] = [\"<pad>\"",
		"(992 more)",
		"enc.blk.0.attn_rel_b.weight  F32  [32, 4]     512",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Long metadata values are cut.
	for _, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > 250 {
			t.Errorf("line of %d characters: %.80s…", len([]rune(line)), line)
		}
	}

	// safetensors metadata is listed, sorted, quoted.
	path := filepath.Join(t.TempDir(), "m.safetensors")
	long := strings.Repeat("x", 500)
	if err := safetensors.Write(path, []safetensors.Tensor{safetensors.FromFloat32("a", nil, []float32{1})},
		map[string]string{"z": "last", "format": "pt", "long": long}); err != nil {
		t.Fatal(err)
	}
	rep, err = Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Metadata) != 3 || rep.Metadata[0].Key != "format" || rep.Metadata[2].Value != `"last"` ||
		!strings.HasSuffix(rep.Metadata[1].Value, `x"… (500 characters)`) { // the string's characters, its quote closed
		t.Errorf("metadata %+v", rep.Metadata)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.00 KiB", 15400000000: "14.34 GiB", 1 << 62: "4.00 EiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSummaryCounts: one layer, one head, one tensor of a type read in the
// singular; JSON's "array" takes "an".
func TestSummaryCounts(t *testing.T) {
	info := Detect(fakeDiT("", 128, 36, 1, 256, nil))
	if s := info.Summary(); !strings.Contains(s, "dim 128, 1 layer, 1 head × 128, ffn 256") {
		t.Errorf("summary %q", s)
	}
	if s := Detect(fakeDiT("", 256, 36, 2, 512, nil)).Summary(); !strings.Contains(s, "2 layers, 2 heads × 128") {
		t.Errorf("summary %q", s)
	}
	for w, want := range map[string]string{"array": "an", "object": "an", "string": "a", "number": "a", "bool": "a"} {
		if got := article(w); got != want {
			t.Errorf("article(%q) = %q, want %q", w, got, want)
		}
	}
}

// TestReportTextSingular: a file of one 1-byte, one-element tensor reads
// "1 parameter" and "1 byte", not "1 parameters" and "1 bytes".
func TestReportTextSingular(t *testing.T) {
	w := gguf.NewWriter()
	if err := w.AddTensor("x", gguf.TypeI8, []int64{1}, []byte{7}); err != nil {
		t.Fatal(err)
	}
	out := writtenReport(t, w, false)
	for _, want := range []string{"tensors:       1, 1 byte of data, 1 parameter\n", "I8  1 tensor  1 byte  1 B"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, " 1 parameters") || strings.Contains(out, " 1 bytes") {
		t.Errorf("a plural for 1:\n%s", out)
	}
}

// TestSentencePieceModel: a SentencePiece tokenizer .model file is named as
// one, with where wan22 takes umT5's tokenizer from instead.
func TestSentencePieceModel(t *testing.T) {
	_, err := Inspect(golden.Path(t, "tokenizer_tiny.model"))
	if err == nil || !strings.Contains(err.Error(), "a SentencePiece tokenizer model") ||
		!strings.Contains(err.Error(), "which is not needed") || !strings.Contains(err.Error(), "spiece_model tensor") {
		t.Errorf("error %v, want a SentencePiece tokenizer model named", err)
	}
}
