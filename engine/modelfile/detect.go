package modelfile

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
)

// Kind is the kind of model a file holds.
type Kind int

// Kinds Detect recognises.
const (
	KindUnknown Kind = iota
	KindWanDiT       // a WAN diffusion transformer (one expert of WAN 2.2 A14B, or a WAN 2.1/2.2 model)
	KindT5           // a (um)T5 text encoder
	KindWanVAE       // a WAN video VAE
)

func (k Kind) String() string {
	switch k {
	case KindWanDiT:
		return "WAN DiT"
	case KindT5:
		return "T5 encoder"
	case KindWanVAE:
		return "WAN VAE"
	}
	return "unknown"
}

// Info is what Detect found in a file.
type Info struct {
	Kind Kind
	// Prefix is the name prefix the model's tensors carry in this file
	// (for example "model.diffusion_model." or "first_stage_model."), or "".
	Prefix string
	DiT    *DiTConfig // set when Kind is KindWanDiT
	T5     *T5Config  // set when Kind is KindT5
	VAE    *VAEConfig // set when Kind is KindWanVAE

	// Adapter is set when Kind is KindUnknown and the tensor names are an
	// adapter's (a LoRA, .diff deltas or a LyCORIS kind; see AdapterKey):
	// a file that attaches to a model, not one.
	Adapter bool

	Tensors int   // tensor count
	Bytes   int64 // bytes of tensor data
	Params  int64 // elements over all tensors
	Types   []TypeTotal
}

// TypeTotal is the tensor count and data size of one ggml type in a file.
type TypeTotal struct {
	Type  gguf.Type
	Count int
	Bytes int64
}

// DiTConfig is the configuration of a WAN DiT, inferred from shapes.
type DiTConfig struct {
	// Variant is "i2v" (in_dim 36), "t2v" (16), "ti2v" (48, the 5B model),
	// "wan2.1-i2v" or "wan2.1-flf2v" (image-embedding branch, CLIP input),
	// or "in_dim N" for anything else.
	Variant string
	Dim     int
	Layers  int
	Heads   int // Dim / 128
	FFNDim  int
	InDim   int
	OutDim  int
	TextDim int
	FreqDim int
	Patch   [3]int // (t, h, w)
}

// HeadDim is the attention head width of every WAN model.
const HeadDim = 128

// T5Config is the configuration of a T5-family encoder, inferred from shapes.
type T5Config struct {
	// Naming is the tensor naming convention: "llama.cpp" (token_embd,
	// enc.blk.N.*), "Hugging Face" (shared, encoder.block.N.*) or "Wan"
	// (token_embedding, blocks.N.*, the official .pth layout).
	Naming  string
	Vocab   int
	Dim     int
	Layers  int
	Heads   int
	AttnDim int // heads × head width (the q projection's output)
	FFNDim  int
	Buckets int // relative-position buckets
	// PerLayerBias is true when every layer has its own relative position
	// bias: umT5. T5 shares layer 0's.
	PerLayerBias bool
	// ScaledFP8 marks ComfyUI "scaled fp8" files (F8_E4M3 weights with
	// *.scale_weight F32 scales, a scaled_fp8 marker tensor).
	ScaledFP8 bool
	// Tokenizer says where an embedded tokenizer is, or "".
	Tokenizer string
}

// VAEConfig is the configuration of a WAN VAE, inferred from shapes.
type VAEConfig struct {
	Version  string // "2.1" (3 input channels, used by the A14B models) or "2.2" (12: 2×2-patchified RGB, the TI2V-5B VAE)
	Dim      int    // base width (96 in the real model)
	ZDim     int    // latent channels
	InChans  int    // encoder.conv1 input channels
	Tensors  int    // tensors under the encoder/decoder/conv1/conv2 names
	HasConv1 bool   // the top-level conv1/conv2 1×1×1 convs are present
}

// Name is a short human name of the detected model, e.g. "WAN i2v DiT".
func (i Info) Name() string {
	switch i.Kind {
	case KindWanDiT:
		c := i.DiT
		name := "WAN " + c.Variant + " DiT"
		switch c.Variant {
		case "wan2.1-i2v":
			name = "WAN 2.1 i2v DiT (image-embedding branch; not a WAN 2.2 expert)"
		case "wan2.1-flf2v":
			name = "WAN 2.1 flf2v DiT (image-embedding branch; not a WAN 2.2 expert)"
		case "ti2v":
			name = "WAN 2.2 ti2v DiT"
		}
		if size := ditSize(c); size != "" {
			name += " (" + size + ")"
		}
		return name
	case KindT5:
		if i.T5.PerLayerBias {
			return "umT5 encoder"
		}
		return "T5 encoder"
	case KindWanVAE:
		switch i.VAE.Version {
		case "2.1":
			return "WAN 2.1 VAE"
		case "2.2":
			return "WAN 2.2 VAE"
		}
		return "WAN-style VAE"
	}
	if i.Adapter {
		return "LoRA or other adapter file (it attaches to a DiT expert at run time; it is not a model)"
	}
	return "model of no known kind (no WAN DiT, T5 encoder or WAN VAE tensor names)"
}

// Advice is what to do with a file given where a model is wanted, when its kind says where it goes instead
// (an adapter: as a LoRA), or "".
func (i Info) Advice() string {
	if i.Kind == KindUnknown && i.Adapter {
		return "attach it to an expert as a LoRA instead (wan22 i2v and bench: --lora-high, --lora-low or --lora FILE[:STRENGTH]; the library: Request.LoRAs)"
	}
	return ""
}

// adapterEndings and adapterFragments make a tensor name an adapter's:
// the key endings of the LoRA styles engine/lora applies and the key
// fragments of the LyCORIS kinds it refuses (its tests check that these
// lists hold all of them).
var (
	adapterEndings = []string{".lora_down.weight", ".lora_up.weight", ".lora_A.weight", ".lora_B.weight", ".lora_A.default.weight", ".lora_B.default.weight",
		".lora.down.weight", ".lora.up.weight", ".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight", ".diff", ".diff_b"}
	adapterFragments = []string{".hada_", ".lokr_", ".dora_scale", ".lora_mid.", ".oft_"}
)

// AdapterKey reports whether a tensor name is one of an adapter file: a
// key of a LoRA style (lora_down/lora_up, lora_A/lora_B, lora.down/lora.up and
// lora_linear_layer's, .diff deltas; in
// any naming, kohya's lora_unet_… included) or of a LyCORIS kind (hada_,
// lokr_, dora_scale, lora_mid, oft_).
func AdapterKey(name string) bool {
	for _, e := range adapterEndings {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	for _, f := range adapterFragments {
		if strings.Contains(name, f) {
			return true
		}
	}
	return strings.HasPrefix(name, "lora_unet_")
}

// ditSize names the published model size a configuration matches.
func ditSize(c *DiTConfig) string {
	switch {
	case c.Dim == 5120 && c.Layers == 40:
		return "14B"
	case c.Dim == 3072 && c.Layers == 30:
		return "5B"
	case c.Dim == 1536 && c.Layers == 30:
		return "1.3B"
	}
	return ""
}

// article is "a" or "an" for the word w, as its first letter sounds in the
// words messages use (JSON's "array", "object"; "string", "number").
func article(w string) string {
	if w != "" && strings.ContainsRune("aeiouAEIOU", rune(w[0])) {
		return "an"
	}
	return "a"
}

// Summary is one line naming the model and its dimensions (an adapter file:
// naming it as one).
func (i Info) Summary() string {
	switch i.Kind {
	case KindWanDiT:
		c := i.DiT
		return fmt.Sprintf("%s: dim %d, %s, %s × %d, ffn %d, in_dim %d, out_dim %d, text_dim %d, freq_dim %d, patch %d×%d×%d",
			i.Name(), c.Dim, plural.Count(c.Layers, "layer"), plural.Count(c.Heads, "head"), HeadDim, c.FFNDim, c.InDim, c.OutDim, c.TextDim, c.FreqDim, c.Patch[0], c.Patch[1], c.Patch[2])
	case KindT5:
		c := i.T5
		s := fmt.Sprintf("%s: vocab %d, dim %d, %s, %s", i.Name(), c.Vocab, c.Dim, plural.Count(c.Layers, "layer"), plural.Count(c.Heads, "head"))
		if c.Heads > 0 && c.AttnDim%c.Heads == 0 {
			s += fmt.Sprintf(" × %d", c.AttnDim/c.Heads)
		}
		s += fmt.Sprintf(", ffn %d, %s, %s names", c.FFNDim, plural.Count(c.Buckets, "position bucket"), c.Naming)
		if c.ScaledFP8 {
			s += ", scaled fp8"
		}
		if c.Tokenizer != "" {
			s += ", tokenizer in " + c.Tokenizer
		}
		return s
	case KindWanVAE:
		c := i.VAE
		return fmt.Sprintf("%s: dim %d, z_dim %d, %d input channels", i.Name(), c.Dim, c.ZDim, c.InChans)
	}
	if i.Adapter {
		return i.Name()
	}
	return "unknown model (no WAN DiT, T5 encoder or WAN VAE tensor names found)"
}

// Detect works out which model src holds from its tensor names and shapes.
// It never fails: a file it does not recognise is KindUnknown, with the byte
// totals still filled in.
func Detect(src gguf.Source) Info {
	info := totals(src.Tensors())
	names := newNameSet(src)
	if c, prefix, ok := detectDiT(names); ok {
		info.Kind, info.DiT, info.Prefix = KindWanDiT, c, prefix
	} else if c, prefix, ok := detectT5(names); ok {
		info.Kind, info.T5, info.Prefix = KindT5, c, prefix
		if gf, ok := src.(*gguf.File); ok && c.Tokenizer == "" {
			if v, ok := gf.Value("tokenizer.ggml.tokens"); ok {
				c.Tokenizer = fmt.Sprintf("GGUF metadata (%s)", plural.Count(v.Len(), "token"))
			}
		}
	} else if c, prefix, ok := detectVAE(names); ok {
		info.Kind, info.VAE, info.Prefix = KindWanVAE, c, prefix
	} else {
		info.Adapter = slices.ContainsFunc(names.all, func(ti gguf.TensorInfo) bool { return AdapterKey(ti.Name) })
	}
	return info
}

// totals fills the counts and per-type byte totals.
func totals(ts []gguf.TensorInfo) Info {
	info := Info{Tensors: len(ts)}
	byType := map[gguf.Type]*TypeTotal{}
	for _, ti := range ts {
		info.Bytes += ti.Size
		info.Params += ti.Elements()
		tt := byType[ti.Type]
		if tt == nil {
			tt = &TypeTotal{Type: ti.Type}
			byType[ti.Type] = tt
		}
		tt.Count++
		tt.Bytes += ti.Size
	}
	for _, tt := range byType {
		info.Types = append(info.Types, *tt)
	}
	sort.Slice(info.Types, func(i, j int) bool {
		a, b := info.Types[i], info.Types[j]
		if a.Bytes != b.Bytes {
			return a.Bytes > b.Bytes
		}
		return a.Type < b.Type
	})
	return info
}

// nameSet indexes a source's tensors by name, for prefix-relative lookups.
type nameSet struct {
	src gguf.Source
	all []gguf.TensorInfo
}

func newNameSet(src gguf.Source) nameSet { return nameSet{src: src, all: src.Tensors()} }

// anchor finds the prefix under which a tensor named suffix exists: "" when
// the name itself exists, else the part before ".suffix" of the first name
// ending that way.
func (n nameSet) anchor(suffix string) (string, bool) {
	if _, ok := n.src.Lookup(suffix); ok {
		return "", true
	}
	for _, ti := range n.all {
		if strings.HasSuffix(ti.Name, "."+suffix) {
			return ti.Name[:len(ti.Name)-len(suffix)], true
		}
	}
	return "", false
}

// shape returns the shape of the named tensor, or nil.
func (n nameSet) shape(name string) []int64 {
	ti, ok := n.src.Lookup(name)
	if !ok {
		return nil
	}
	return ti.Shape
}

// dim returns dimension i of the named tensor's shape, or 0 when the tensor or
// the dimension is missing or does not fit an int.
func (n nameSet) dim(name string, i int) int {
	s := n.shape(name)
	if i < 0 || i >= len(s) || s[i] < 0 || s[i] > 1<<31 {
		return 0
	}
	return int(s[i])
}

// has reports whether a tensor exists.
func (n nameSet) has(name string) bool { _, ok := n.src.Lookup(name); return ok }

// hasPart reports whether any name under prefix contains part.
func (n nameSet) hasPart(prefix, part string) bool {
	for _, ti := range n.all {
		if strings.HasPrefix(ti.Name, prefix) && strings.Contains(ti.Name[len(prefix):], part) {
			return true
		}
	}
	return false
}

// blocks counts the numbered blocks under blockPrefix ("blocks." gives
// blocks.0., blocks.1., …): one more than the highest index seen.
func (n nameSet) blocks(blockPrefix string) int {
	highest := -1
	for _, ti := range n.all {
		rest, ok := strings.CutPrefix(ti.Name, blockPrefix)
		if !ok {
			continue
		}
		num, _, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		if k, err := strconv.Atoi(num); err == nil && k >= 0 && k < 1<<20 && k > highest {
			highest = k
		}
	}
	return highest + 1
}

// detectDiT recognises a WAN DiT by its patch embedding and blocks.
func detectDiT(n nameSet) (*DiTConfig, string, bool) {
	p, ok := n.anchor("patch_embedding.weight")
	if !ok || !n.has(p+"blocks.0.self_attn.q.weight") {
		return nil, "", false
	}
	c := &DiTConfig{Layers: n.blocks(p + "blocks.")}
	w := n.shape(p + "patch_embedding.weight")
	c.Dim = n.dim(p+"patch_embedding.bias", 0)
	switch len(w) {
	case 5: // [dim, in_dim, pt, ph, pw]
		if c.Dim == 0 {
			c.Dim = n.dim(p+"patch_embedding.weight", 0)
		}
		c.InDim = n.dim(p+"patch_embedding.weight", 1)
		c.Patch = [3]int{int(w[2]), int(w[3]), int(w[4])}
	case 4: // stable-diffusion.cpp folds out and in channels: [in_dim·dim, pt, ph, pw]
		if c.Dim > 0 && w[0]%int64(c.Dim) == 0 {
			c.InDim = int(w[0] / int64(c.Dim))
		}
		c.Patch = [3]int{int(w[1]), int(w[2]), int(w[3])}
	}
	c.Heads = c.Dim / HeadDim
	c.FFNDim = n.dim(p+"blocks.0.ffn.0.weight", 0)
	c.TextDim = n.dim(p+"text_embedding.0.weight", 1)
	c.FreqDim = n.dim(p+"time_embedding.0.weight", 1)
	if pe := c.Patch[0] * c.Patch[1] * c.Patch[2]; pe > 0 {
		c.OutDim = n.dim(p+"head.head.weight", 0) / pe
	}
	switch {
	case n.has(p + "img_emb.emb_pos"):
		c.Variant = "wan2.1-flf2v"
	case n.hasPart(p, "img_emb.") || n.hasPart(p, ".k_img."):
		c.Variant = "wan2.1-i2v"
	case c.InDim == 36:
		c.Variant = "i2v"
	case c.InDim == 16:
		c.Variant = "t2v"
	case c.InDim == 48:
		c.Variant = "ti2v"
	default:
		c.Variant = fmt.Sprintf("in_dim %d", c.InDim)
	}
	return c, p, true
}

// t5Layout is one naming convention of a T5 encoder's tensors.
type t5Layout struct {
	naming  string
	embed   string // token embedding [vocab, dim]
	block   string // prefix of block N, with %d
	q       string // attention q projection [attn_dim, dim], under a block
	relBias string // relative position bias [buckets, heads], under a block
	ffn     string // first FFN projection [ffn, dim], under a block
	ffnAlt  string // the non-gated T5 name, under a block
}

var t5Layouts = []t5Layout{
	{"llama.cpp", "token_embd.weight", "enc.blk.%d.", "attn_q.weight", "attn_rel_b.weight", "ffn_gate.weight", "ffn_up.weight"},
	{"Hugging Face", "shared.weight", "encoder.block.%d.", "layer.0.SelfAttention.q.weight",
		"layer.0.SelfAttention.relative_attention_bias.weight", "layer.1.DenseReluDense.wi_0.weight", "layer.1.DenseReluDense.wi.weight"},
	{"Hugging Face", "encoder.embed_tokens.weight", "encoder.block.%d.", "layer.0.SelfAttention.q.weight",
		"layer.0.SelfAttention.relative_attention_bias.weight", "layer.1.DenseReluDense.wi_0.weight", "layer.1.DenseReluDense.wi.weight"},
	{"Wan", "token_embedding.weight", "blocks.%d.", "attn.q.weight", "pos_embedding.embedding.weight", "ffn.fc1.weight", "ffn.gate.0.weight"},
}

// detectT5 recognises a T5-family encoder in any of the naming conventions.
func detectT5(n nameSet) (*T5Config, string, bool) {
	for _, l := range t5Layouts {
		block0 := fmt.Sprintf(l.block, 0)
		p, ok := n.anchor(block0 + l.q)
		if !ok || !n.has(p+l.embed) {
			continue
		}
		c := &T5Config{Naming: l.naming}
		c.Vocab = n.dim(p+l.embed, 0)
		c.Dim = n.dim(p+l.embed, 1)
		c.Layers = n.blocks(p + strings.TrimSuffix(l.block, "%d."))
		c.AttnDim = n.dim(p+block0+l.q, 0)
		c.Buckets = n.dim(p+block0+l.relBias, 0)
		c.Heads = n.dim(p+block0+l.relBias, 1)
		c.FFNDim = n.dim(p+block0+l.ffn, 0)
		if c.FFNDim == 0 {
			c.FFNDim = n.dim(p+block0+l.ffnAlt, 0)
		}
		c.PerLayerBias = c.Layers == 1 || n.has(p+fmt.Sprintf(l.block, 1)+l.relBias)
		c.ScaledFP8 = n.has("scaled_fp8") || n.hasPart(p, ".scale_weight")
		if n.has("spiece_model") {
			c.Tokenizer = "spiece_model tensor"
		}
		return c, p, true
	}
	return nil, "", false
}

// detectVAE recognises a WAN VAE by its causal-conv encoder and decoder.
func detectVAE(n nameSet) (*VAEConfig, string, bool) {
	p, ok := n.anchor("encoder.conv1.weight")
	if !ok || !n.has(p+"decoder.conv1.weight") || len(n.shape(p+"encoder.conv1.weight")) != 5 {
		return nil, "", false
	}
	c := &VAEConfig{
		Dim:      n.dim(p+"encoder.conv1.weight", 0),
		InChans:  n.dim(p+"encoder.conv1.weight", 1),
		ZDim:     n.dim(p+"decoder.conv1.weight", 1),
		HasConv1: n.has(p+"conv1.weight") && n.has(p+"conv2.weight"),
	}
	for _, ti := range n.all {
		rest, ok := strings.CutPrefix(ti.Name, p)
		if ok && (strings.HasPrefix(rest, "encoder.") || strings.HasPrefix(rest, "decoder.") ||
			strings.HasPrefix(rest, "conv1.") || strings.HasPrefix(rest, "conv2.")) {
			c.Tensors++
		}
	}
	switch c.InChans {
	case 3:
		c.Version = "2.1"
	case 12:
		c.Version = "2.2"
	}
	return c, p, true
}
