// Package lora reads LoRA files for the WAN DiT: low-rank adapters
// (y = W·x + b + scale·B·(A·x)) and the full-weight deltas some WAN LoRAs
// carry, in every key style found for WAN, normalised to the DiT's own
// tensor names ("blocks.3.self_attn.q").
//
// # Key styles
//
// A key is a module path, then what the tensor is:
//
//	diffusion_model.blocks.0.self_attn.q.lora_down.weight   A [rank, in]    (ComfyUI / kohya)
//	diffusion_model.blocks.0.self_attn.q.lora_up.weight     B [out, rank]
//	diffusion_model.blocks.0.self_attn.q.alpha              scalar alpha
//	lora_unet_blocks_0_self_attn_q.lora_down.weight         kohya underscore names
//	lycoris_blocks_0_self_attn_q.lora_down.weight           LyCORIS (LoRA/LoCon), the same after lycoris_
//	transformer.blocks.0.attn1.to_q.lora_A.weight           A  (PEFT / diffusers)
//	transformer.blocks.0.attn1.to_q.lora_B.weight           B
//	transformer.blocks.0.attn1.to_q.lora.down.weight        A  (diffusers' older LoRAAttnProcessor)
//	transformer.blocks.0.attn1.to_q.lora.up.weight          B
//	transformer.blocks.0.attn1.to_q.lora_linear_layer.down.weight   A, and .lora_linear_layer.up.weight B
//	diffusion_model.blocks.0.norm3.diff                     ΔW, added to norm3.weight
//	diffusion_model.blocks.0.self_attn.q.diff_b             Δb, added to self_attn.q.bias
//	diffusion_model.blocks.0.modulation.diff                Δ of a bare parameter
//
// Module paths may carry the prefixes "diffusion_model.",
// "model.diffusion_model.", "transformer." and "base_model.model.", and use
// the official names (self_attn.q, ffn.0, norm3, modulation) or diffusers'
// (attn1.to_q, attn2.to_out.0, ffn.net.0.proj, ffn.net.2, norm2,
// scale_shift_table, condition_embedder.*, proj_out). A key that fits none of
// these is an error naming it: a file is never applied in part. LyCORIS
// variants (LoHa, LoKr, DoRA, LoCon's mid weight) and text-encoder keys
// (lora_te_…, text_encoder.…) are recognised and refused as such.
//
// A File says which model it fits (see Check and Describe): WAN 2.2 A14B
// (dim 5120, 40 blocks), Wan 2.1 1.3B (dim 1536) or the 5B (dim 3072) are
// told apart by the adapter shapes, Wan 2.1 I2V by its image
// cross-attention layers, t2v from i2v by patch_embedding when the file
// adapts it (otherwise their block shapes are identical).
package lora

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/internal/safetext"
	"github.com/wan22/wan22/safetensors"
)

// Adapter is one low-rank adapter: Up·Down added to a linear's weight.
type Adapter struct {
	// Module is the DiT module adapted, in the official naming: "blocks.3.self_attn.q".
	Module string
	// Down, Up and AlphaKey are the file's keys of A [Rank, In] (for the
	// patch embedding a Conv3d [Rank, in, 1, 2, 2]), of B [Out, Rank] (both
	// with trailing 1s allowed) and of alpha ("" when absent).
	Down, Up, AlphaKey string
	Rank, In, Out      int
	// Alpha is the file's alpha; HasAlpha is false when it has none.
	Alpha    float32
	HasAlpha bool
}

// Scale returns the factor the adapter's B·A is added with at strength:
// strength·alpha/rank, or strength when the file has no alpha.
func (a Adapter) Scale(strength float32) float32 {
	if !a.HasAlpha {
		return strength
	}
	return float32(float64(strength) * float64(a.Alpha) / float64(a.Rank))
}

// Diff is a full-tensor delta added to one of the DiT's tensors.
type Diff struct {
	// Param is the DiT tensor it is added to: "blocks.3.norm3.weight",
	// "blocks.3.self_attn.q.bias", "blocks.3.modulation".
	Param string
	Key   string  // the file's key
	Shape []int64 // the delta's shape in the file
}

// Style describes how a file spells its keys.
type Style struct {
	// Format is "lora_down/lora_up" (ComfyUI, kohya), "lora_A/lora_B"
	// (PEFT, diffusers), "lora.down/lora.up" (diffusers' older
	// LoRAAttnProcessor: .lora.down/.lora.up or
	// .lora_linear_layer.down/.up), "mixed" when more than one occurs, or
	// "" for a file of diffs only.
	Format     string
	Underscore bool // kohya's lora_unet_blocks_N_… names
	Lycoris    bool // LyCORIS's lycoris_blocks_N_… names (kohya's underscores after lycoris_)
	Diffusers  bool // diffusers module names (attn1.to_q, ffn.net.0.proj)
	Diffs      bool // full-weight deltas (.diff, .diff_b)
}

func (s Style) String() string {
	var parts []string
	switch s.Format {
	case "lora_down/lora_up":
		parts = append(parts, "ComfyUI/kohya (lora_down/lora_up)")
	case "lora_A/lora_B":
		parts = append(parts, "PEFT/diffusers (lora_A/lora_B)")
	case "lora.down/lora.up":
		parts = append(parts, "older diffusers (lora.down/lora.up, lora_linear_layer.down/up)")
	case "mixed":
		parts = append(parts, "mixed key styles (lora_down/lora_up, lora_A/lora_B, lora.down/lora.up)")
	}
	if s.Underscore {
		parts = append(parts, "kohya underscore names (lora_unet_…)")
	}
	if s.Lycoris {
		parts = append(parts, "LyCORIS underscore names (lycoris_…)")
	}
	if s.Diffusers {
		parts = append(parts, "diffusers module names")
	}
	if s.Diffs {
		parts = append(parts, "full-weight deltas (.diff/.diff_b)")
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, ", ")
}

// File is an open LoRA file, checked and normalised. Its tensor data is read
// on demand (from a memory mapping for Open), so keep it open until the
// adapters are attached.
type File struct {
	// Name is the path (or the name given to NewFile), for messages,
	// which print it as it is, or Go-quoted when it holds a control
	// character or bytes that are not UTF-8 (safetext.Path).
	Name     string
	Style    Style
	Adapters []Adapter // sorted by Module
	Diffs    []Diff    // sorted by Param
	Metadata map[string]string

	src gguf.Source
}

// NotSafetensorsError reports a file given as a LoRA that is not a
// safetensors file at all: a GGUF model (a DiT expert given by mistake), a
// PyTorch checkpoint, an HTML page saved by a failed download, ….
type NotSafetensorsError struct {
	Path string
	GGUF bool   // a GGUF file
	What string // otherwise: what its first bytes look like
	// Model names the model a GGUF file holds ("umT5 encoder",
	// modelfile.Info.Name), "" when its tensors tell none.
	Model string
}

func (e *NotSafetensorsError) Error() string {
	if e.GGUF && e.Model != "" {
		return fmt.Sprintf("%s is a GGUF %s, not a LoRA: LoRAs are .safetensors files", safetext.Path(e.Path), e.Model)
	}
	if e.GGUF {
		return fmt.Sprintf("%s is a GGUF file (a WAN DiT expert?), not a LoRA: LoRAs are .safetensors files", safetext.Path(e.Path))
	}
	return fmt.Sprintf("%s is not a LoRA (%s): LoRAs are .safetensors files", safetext.Path(e.Path), e.What)
}

// sniffLen is how many leading bytes notSafetensors reads.
const sniffLen = 32

// notSafetensors says, after safetensors refused the file at path, whether
// it is another kind of file altogether: a *NotSafetensorsError then, nil
// when it looks like a (damaged) safetensors file or cannot be read, so the
// safetensors error stands.
func notSafetensors(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	head := make([]byte, sniffLen)
	n, _ := io.ReadFull(f, head)
	f.Close()
	format, _ := modelfile.Sniff(head[:n])
	switch {
	case format == modelfile.FormatGGUF: // (one that does not open: Open names the model of one that does)
		return &NotSafetensorsError{Path: path, GGUF: true}
	case format == modelfile.FormatUnknown && n > 8:
		// (8 bytes or fewer cannot show a safetensors header's start, its
		// length and '{': a cut file, which the safetensors error calls truncated)
		return &NotSafetensorsError{Path: path, What: modelfile.DescribeHead(head[:n])}
	}
	return nil
}

// tooShort returns, for a file at path of 1 to 8 bytes, the error that
// says it is too short to be a LoRA: it cannot even hold a safetensors
// header's length and its opening '{', and modelfile's words for it are a
// model file's ("a model file has at least 10 bytes", "unrecognised file
// format"). It returns nil for any other file (an empty one modelfile calls
// empty).
func tooShort(path string) error {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() == 0 || st.Size() > 8 {
		return nil
	}
	return &modelfile.TruncatedError{Path: path, Size: st.Size(), Detail: "too short to be a LoRA (.safetensors) file: it is damaged or was cut short"}
}

// modelName is the name of the model src holds (modelfile.Detect), or ""
// when its tensors are none that Detect knows.
func modelName(src gguf.Source) string {
	if info := modelfile.Detect(src); info.Kind != modelfile.KindUnknown {
		return info.Name()
	}
	return ""
}

// Open opens and checks the LoRA file at path (safetensors). A file of
// another kind (a GGUF expert, a PyTorch checkpoint) gives a
// *NotSafetensorsError saying so.
func Open(path string) (*File, error) {
	src, format, err := modelfile.Open(path)
	if err != nil {
		// A folder, pipe or device, which modelfile refused unread (opening
		// one waits for a writer), is told to be a LoRA file instead; others
		// are looked at again (not a file modelfile took for a damaged or cut
		// safetensors one, which its error says to replace).
		if nr := (*modelfile.NotRegularError)(nil); errors.As(err, &nr) {
			nr.Want = "a LoRA file (.safetensors)"
		} else {
			if te := tooShort(path); te != nil {
				return nil, te
			}
			if format != modelfile.FormatSafetensors {
				if nse := notSafetensors(path); nse != nil {
					return nil, nse
				}
			}
		}
		// modelfile's error names the file once ("PATH: no such file or
		// directory") and, for an empty, cut or damaged one, says to
		// download or export it again, as for a model: it is returned as
		// it is, without a prefix of this package.
		return nil, err
	}
	st, ok := src.(*safetensors.File)
	if !ok { // a GGUF file
		e := &NotSafetensorsError{Path: path, GGUF: true, Model: modelName(src)}
		src.Close()
		return nil, e
	}
	f, err := newFile(st, st.Metadata(), path)
	if err != nil {
		st.Close()
		return nil, err
	}
	return f, nil
}

// NewFile reads a LoRA file (safetensors) from r; name is used in messages.
func NewFile(r io.ReaderAt, name string) (*File, error) {
	st, err := safetensors.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("lora: %s: %w", safetext.Path(name), err)
	}
	return newFile(st, st.Metadata(), name)
}

// Close releases the file.
func (f *File) Close() error { return f.src.Close() }

// part is what a key holds.
type part uint8

const (
	pDown part = iota
	pUp
	pAlpha
	pDiff
	pDiffB
)

// suffixes maps key endings to parts; style is the Format they imply.
var suffixes = []struct {
	s     string
	p     part
	style string
}{
	{".lora_down.weight", pDown, "lora_down/lora_up"},
	{".lora_up.weight", pUp, "lora_down/lora_up"},
	{".lora_A.default.weight", pDown, "lora_A/lora_B"},
	{".lora_B.default.weight", pUp, "lora_A/lora_B"},
	{".lora_A.weight", pDown, "lora_A/lora_B"},
	{".lora_B.weight", pUp, "lora_A/lora_B"},
	{".lora.down.weight", pDown, "lora.down/lora.up"},
	{".lora.up.weight", pUp, "lora.down/lora.up"},
	{".lora_linear_layer.down.weight", pDown, "lora.down/lora.up"},
	{".lora_linear_layer.up.weight", pUp, "lora.down/lora.up"},
	{".alpha", pAlpha, ""},
	{".diff_b", pDiffB, ""},
	{".diff", pDiff, ""},
}

// lycoris are key fragments of adapter kinds this package does not apply.
var lycoris = []struct{ frag, what string }{
	{".hada_", "LoHa (hada_*)"},
	{".lokr_", "LoKr (lokr_*)"},
	{".dora_scale", "DoRA (dora_scale)"},
	{".lora_mid.", "LoCon with a Tucker mid weight (lora_mid)"},
	{".oft_", "OFT (oft_*)"},
}

// floatTypes are the dtypes a LoRA tensor may have.
var floatTypes = []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeF64, gguf.TypeF8E4M3, gguf.TypeF8E5M2}

// intTypes are the further dtypes an alpha may have: torch.tensor(16) is an
// int64, which some scripts save as the alpha, and ComfyUI reads any
// scalar's value.
var intTypes = []gguf.Type{gguf.TypeI64, gguf.TypeI32, gguf.TypeI16, gguf.TypeI8}

// newFile checks src's keys and shapes and groups them into adapters and diffs.
func newFile(src gguf.Source, meta map[string]string, name string) (*File, error) {
	f := &File{Name: name, Metadata: meta, src: src}
	shown := safetext.Path(name) // name as the errors print it
	type group struct {
		down, up, alpha *gguf.TensorInfo
		res             resolved
	}
	groups := map[string]*group{}
	diffs := map[string]Diff{}
	formats := map[string]bool{}
	var unknown []string
	for _, ti := range src.Tensors() {
		ti := ti
		if !slices.Contains(floatTypes, ti.Type) && !(slices.Contains(intTypes, ti.Type) && strings.HasSuffix(ti.Name, ".alpha")) {
			return nil, fmt.Errorf("lora: %s: tensor %s is %v; LoRA tensors must be floating point (F32, F16, BF16)", shown, gguf.Quote(ti.Name), ti.Type)
		}
		for _, l := range lycoris {
			if strings.Contains(ti.Name, l.frag) {
				return nil, fmt.Errorf("lora: %s: tensor %s is a %s adapter, which wan22 does not apply; convert it to a plain LoRA (lora_down/lora_up)", shown, gguf.Quote(ti.Name), l.what)
			}
		}
		var p part
		path, found := "", false
		for _, s := range suffixes {
			if rest, ok := strings.CutSuffix(ti.Name, s.s); ok {
				path, p, found = rest, s.p, true
				if s.style != "" {
					formats[s.style] = true
				}
				break
			}
		}
		if !found {
			unknown = append(unknown, ti.Name)
			continue
		}
		// A diff may name the tensor itself ("….q.bias.diff") rather than the module.
		param := ""
		if p == pDiff {
			for _, tail := range []string{".weight", ".bias"} {
				if rest, ok := strings.CutSuffix(path, tail); ok {
					if r, ok := resolve(rest); ok && r.mod.kind != kParam {
						path, param = rest, tail
					}
				}
			}
		}
		r, ok := resolve(path)
		if !ok {
			unknown = append(unknown, ti.Name)
			continue
		}
		f.Style.Underscore = f.Style.Underscore || r.underscore
		f.Style.Lycoris = f.Style.Lycoris || r.lycoris
		f.Style.Diffusers = f.Style.Diffusers || r.diffusers
		switch p {
		case pDiff, pDiffB:
			f.Style.Diffs = true
			d, err := diffTarget(r, p, param)
			if err != nil {
				return nil, fmt.Errorf("lora: %s: tensor %s: %v", shown, gguf.Quote(ti.Name), err)
			}
			if prev, dup := diffs[d]; dup {
				return nil, fmt.Errorf("lora: %s: tensors %s and %s are both deltas of %s", shown, gguf.Quote(prev.Key), gguf.Quote(ti.Name), d)
			}
			diffs[d] = Diff{Param: d, Key: ti.Name, Shape: ti.Shape}
			continue
		}
		if r.mod.kind != kLinear {
			return nil, fmt.Errorf("lora: %s: tensor %s is a low-rank adapter of %s, which is not a linear layer", shown, gguf.Quote(ti.Name), r.name)
		}
		g := groups[r.name]
		if g == nil {
			g = &group{res: r}
			groups[r.name] = g
		}
		slot := map[part]**gguf.TensorInfo{pDown: &g.down, pUp: &g.up, pAlpha: &g.alpha}[p]
		if *slot != nil {
			return nil, fmt.Errorf("lora: %s: tensors %s and %s both adapt %s (the same module spelled two ways)", shown, gguf.Quote((*slot).Name), gguf.Quote(ti.Name), r.name)
		}
		*slot = &ti
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		if !slices.ContainsFunc(unknown, func(k string) bool { return !textEncoderKey(k) }) {
			if len(groups) > 0 || len(diffs) > 0 {
				return nil, fmt.Errorf("lora: %s: besides the DiT it also adapts the text encoder (%s: %s), which wan22 does not: a file is never applied in part; remove them to use its DiT part, as ComfyUI's LoraLoaderModelOnly leaves them out",
					shown, plural.Count(len(unknown), "tensor"), keyList(unknown))
			}
			return nil, fmt.Errorf("lora: %s: tensors %s adapt the text encoder, not the WAN DiT: wan22 attaches LoRAs to the DiT experts only; use a LoRA made for the WAN DiT", shown, keyList(unknown))
		}
		if len(groups) == 0 && len(diffs) == 0 {
			if model := modelName(src); model != "" {
				return nil, fmt.Errorf("lora: %s is a %s, not a LoRA: it holds no LoRA tensors (lora_down/lora_up or lora_A/lora_B pairs); give it where that model is wanted", shown, model)
			}
			if model, keys := otherModel(unknown); model != "" {
				return nil, &WrongModelError{Model: model, msg: fmt.Sprintf("lora: %s: a LoRA for %s, not for the WAN DiT (its keys %s): wan22 applies LoRAs made for WAN 2.2 A14B; the model a LoRA is for is on its download page", shown, model, keyList(keys))}
			}
		}
		return nil, fmt.Errorf("lora: %s: unknown keys %s: not a WAN DiT LoRA in a known key style (ComfyUI/kohya, LyCORIS, PEFT/diffusers)", shown, keyList(unknown))
	}
	if len(groups) == 0 && len(diffs) == 0 {
		return nil, fmt.Errorf("lora: %s: the file holds no LoRA tensors", shown)
	}
	switch len(formats) {
	case 1:
		for s := range formats {
			f.Style.Format = s
		}
	case 2:
		f.Style.Format = "mixed"
	}
	mods := make([]string, 0, len(groups))
	for mod := range groups {
		mods = append(mods, mod)
	}
	sort.Slice(mods, func(i, j int) bool { return lessName(mods[i], mods[j]) }) // (the first at fault is named, the same each time)
	for _, mod := range mods {
		g := groups[mod]
		a, err := adapterOf(f, mod, g.down, g.up, g.alpha)
		if err != nil {
			return nil, fmt.Errorf("lora: %s: %v", shown, err)
		}
		f.Adapters = append(f.Adapters, a)
	}
	for _, d := range diffs {
		f.Diffs = append(f.Diffs, d)
	}
	sort.Slice(f.Diffs, func(i, j int) bool { return lessName(f.Diffs[i].Param, f.Diffs[j].Param) })
	if _, err := f.dims(); err != nil {
		return nil, err
	}
	return f, nil
}

// keyList quotes the first 5 of the sorted keys, saying how many more there are.
func keyList(keys []string) string {
	more := ""
	if len(keys) > 5 {
		more = fmt.Sprintf(" and %d more", len(keys)-5)
		keys = keys[:5]
	}
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = gguf.Quote(k)
	}
	return strings.Join(q, ", ") + more
}

// otherModels are fragments of the keys of LoRAs for other diffusion
// models, which users keep beside their WAN ones, and what those models
// are; the first that a key holds names the model (an SD UNet's keys hold
// transformer_blocks too).
var otherModels = []struct {
	frags []string
	what  string
}{
	{[]string{"down_blocks", "up_blocks", "mid_block", "input_blocks", "output_blocks", "middle_block"}, "a Stable Diffusion UNet (SD 1.x, SD 2.x, SDXL)"},
	{[]string{"double_blocks", "single_blocks", "single_transformer_blocks"}, "FLUX or HunyuanVideo"},
	{[]string{"transformer_blocks"}, "another model's transformer (SD3, FLUX, LTX-Video, CogVideoX, …)"},
}

// otherModel names the model other than WAN that the unknown keys of a file
// without WAN adapters are for, with the keys that tell it (text-encoder
// keys left out), or "" when none tells.
func otherModel(unknown []string) (string, []string) {
	for _, m := range otherModels {
		var keys []string
		for _, k := range unknown {
			if !textEncoderKey(k) && slices.ContainsFunc(m.frags, func(f string) bool { return strings.Contains(k, f) }) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			return m.what, keys
		}
	}
	return "", nil
}

// textEncoderPrefixes start the keys of a text-encoder LoRA: kohya's
// lora_te_… (lora_te1_… for a second encoder), and the text_encoder.… and
// text_encoders.… of diffusers and ComfyUI.
var textEncoderPrefixes = []string{"lora_te_", "lora_te1_", "lora_te2_", "lora_te3_", "text_encoder.", "text_encoders.", "text_encoder_2."}

// textEncoderKey reports whether a key adapts a text encoder.
func textEncoderKey(k string) bool {
	for _, p := range textEncoderPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// diffTarget names the tensor a delta applies to.
func diffTarget(r resolved, p part, param string) (string, error) {
	switch {
	case r.mod.kind == kParam:
		if p == pDiffB {
			return "", fmt.Errorf("%s is a bare parameter with no bias; use .diff", r.name)
		}
		return r.name, nil
	case p == pDiffB:
		if r.mod.kind == kNormW {
			return "", fmt.Errorf("%s (an RMSNorm) has no bias", r.name)
		}
		return r.name + ".bias", nil
	case param != "":
		if param == ".bias" && r.mod.kind == kNormW {
			return "", fmt.Errorf("%s (an RMSNorm) has no bias", r.name)
		}
		return r.name + param, nil
	}
	return r.name + ".weight", nil
}

// adapterOf checks one module's down, up and alpha tensors.
func adapterOf(f *File, mod string, down, up, alpha *gguf.TensorInfo) (Adapter, error) {
	switch {
	case down == nil && up != nil:
		return Adapter{}, fmt.Errorf("tensor %s has no matching down (A) matrix for %s", gguf.Quote(up.Name), mod)
	case up == nil && down != nil:
		return Adapter{}, fmt.Errorf("tensor %s has no matching up (B) matrix for %s", gguf.Quote(down.Name), mod)
	case up == nil:
		return Adapter{}, fmt.Errorf("tensor %s: an alpha for %s without its matrices", gguf.Quote(alpha.Name), mod)
	}
	a := Adapter{Module: mod, Down: down.Name, Up: up.Name}
	ds, us := down.Shape, up.Shape
	if len(ds) < 2 || len(us) < 2 {
		return a, fmt.Errorf("tensors %s %v and %s %v: a LoRA's matrices have at least 2 dimensions", gguf.Quote(down.Name), ds, gguf.Quote(up.Name), us)
	}
	if product(ds) == 0 || product(us) == 0 {
		return a, fmt.Errorf("tensors %s %v and %s %v: a dimension of 0 leaves the adapter empty, which no LoRA is: the file is damaged or was written wrong; download or export it again",
			gguf.Quote(down.Name), ds, gguf.Quote(up.Name), us)
	}
	if swappedShapes(ds, us) {
		return a, fmt.Errorf("tensors %s %v and %s %v look swapped: a LoRA's down (A) matrix is [rank, in] and its up (B) [out, rank], the rank the small dimension, but here the rank %d is on the other side of each: down and up were probably exchanged by %s; write the file again with them the right way round, or ask its author for a fixed one",
			gguf.Quote(down.Name), ds, gguf.Quote(up.Name), us, ds[1], writer(f.Metadata))
	}
	a.Rank, a.Out = int(ds[0]), int(us[0])
	a.In = int(product(ds[1:]))
	if a.Rank <= 0 || a.In <= 0 || a.Out <= 0 || product(us[2:]) != 1 || int(us[1]) != a.Rank {
		return a, fmt.Errorf("tensor %s has shape %v and %s %v: want down [rank, in…] and up [out, rank] with the same rank", gguf.Quote(down.Name), ds, gguf.Quote(up.Name), us)
	}
	if len(ds) > 2 && mod != "patch_embedding" && product(ds[2:]) != 1 { // (trailing 1s: a 1×1 conv's, read as [rank, in])
		return a, fmt.Errorf("tensor %s has shape %v: %s is a linear layer, want [rank, in]", gguf.Quote(down.Name), ds, mod)
	}
	if alpha != nil {
		if alpha.Elements() != 1 {
			return a, fmt.Errorf("tensor %s has shape %v, want a scalar alpha", gguf.Quote(alpha.Name), alpha.Shape)
		}
		v, err := f.values(alpha.Name, noLimit) // (not NaN or Inf: values refuses them)
		if err != nil {
			return a, err
		}
		if v[0] == 0 {
			// ComfyUI scales by alpha/rank, so the adapter adds nothing;
			// kohya's scripts take 0 for alpha = rank. Either is a guess.
			return a, fmt.Errorf("tensor %s: alpha is 0, which makes the adapter of %s add nothing (kohya's scripts read it as alpha = rank instead): set the alpha the LoRA was trained with, or remove the alpha tensors for scale = strength", gguf.Quote(alpha.Name), mod)
		}
		a.AlphaKey, a.Alpha, a.HasAlpha = alpha.Name, v[0], true
	}
	return a, nil
}

// swappedShapes reports whether down ds and up us are the shapes of an
// adapter whose matrices were exchanged: down [out, rank] and up [rank, in]
// (trailing 1s allowed), the rank they share smaller than the other
// dimension of each. A real adapter's shared dimension is the rank on the
// other side (down [rank, in], up [out, rank]), so this holds for one only
// if its rank exceeded both in and out, which no LoRA's does; for a square
// module (in = out) an exchanged pair would otherwise pass the shape check
// as one of rank dim, and the file be called a LoRA for a model of hidden
// size rank.
func swappedShapes(ds, us []int64) bool {
	if len(ds) < 2 || len(us) < 2 || product(ds[2:]) != 1 || product(us[2:]) != 1 {
		return false
	}
	r := ds[1]
	return r > 0 && r == us[0] && r < ds[0] && r < us[1]
}

// writer names what probably wrote a LoRA file, from its metadata: the
// "software" name ai-toolkit records, the ss_* keys of kohya's sd-scripts
// and musubi-tuner (with ss_network_module), or a conversion script when
// none tells.
func writer(meta map[string]string) string {
	var sw struct{ Name string }
	if json.Unmarshal([]byte(meta["software"]), &sw) == nil && sw.Name != "" {
		return fmt.Sprintf("the tool that wrote it (%s, says its metadata) or a script that converted it since", sw.Name)
	}
	kohya := "kohya's sd-scripts or musubi-tuner (its ss_* metadata)"
	if m := meta["ss_network_module"]; m != "" {
		kohya = fmt.Sprintf("kohya's sd-scripts or musubi-tuner (its metadata names the network module %s)", m)
	}
	for k := range meta {
		if strings.HasPrefix(k, "ss_") {
			return kohya + " or a script that converted it since"
		}
	}
	return "the script that wrote or converted it, most likely one between the PEFT (lora_A/lora_B) and the kohya (lora_down/lora_up) names"
}

func product(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

// lessName orders DiT names with block indices numerically.
func lessName(a, b string) bool {
	ba, ra := blockOf(a)
	bb, rb := blockOf(b)
	if ba != bb {
		return ba < bb
	}
	return ra < rb
}

// blockOf splits "blocks.3.rest" into 3 and "rest"; other names give -1.
func blockOf(name string) (int, string) {
	rest, ok := strings.CutPrefix(name, "blocks.")
	if !ok {
		return -1, name
	}
	num, local, _ := strings.Cut(rest, ".")
	n := 0
	for _, c := range num {
		n = 10*n + int(c-'0')
	}
	return n, local
}

// MaxWeight bounds the magnitude of a LoRA's weights: CheckWeights, Matrices
// and Values refuse a value of MaxWeight or more (an alpha is a scale, not a
// weight: only a NaN or an infinity is refused there). Trained adapters and
// deltas hold values below 10 or so; one of 1e4 and more is a damaged or
// wrongly written file, and B·A of such values swamps the expert's
// activations or overflows them (a NaN latent at the first step, after the
// text encoder and the VAE ran). 2^14 is above any real weight by three orders of
// magnitude, and a power of two, so that the check on F32/F16/BF16 data is
// one on the exponent bits, exact whatever the rounding; F16's and BF16's
// largest finite values (65504, 3.4e38) are above it, which in a LoRA are
// saturated overflows, not weights.
const MaxWeight = 1 << 14

// noLimit is the bound of values that only refuses NaNs and infinities.
var noLimit = float32(math.Inf(1))

// read returns a weight tensor of the file as float32 (values, bounded by
// MaxWeight, its errors naming the file).
func (f *File) read(key string) ([]float32, error) {
	v, err := f.values(key, MaxWeight)
	if err != nil {
		return nil, fmt.Errorf("lora: %s: %w", safetext.Path(f.Name), err)
	}
	return v, nil
}

// values returns a tensor of the file as float32, refusing a NaN, an
// infinity or a magnitude of limit or more (inRange); an error names the
// tensor, not the file (newFile's and read's callers add it once).
func (f *File) values(key string, limit float32) ([]float32, error) {
	ti, ok := f.src.Lookup(key)
	if !ok {
		return nil, fmt.Errorf("no tensor %s", gguf.Quote(key))
	}
	data, err := f.src.Data(key)
	if err != nil {
		return nil, err
	}
	out := make([]float32, ti.Elements())
	if err := gguf.Dequantize(ti.Type, data, out); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", gguf.Quote(key), err)
	}
	if err := inRange(key, out, limit); err != nil {
		return nil, err
	}
	return out, nil
}

// inRange fails, naming the tensor key, when v holds a NaN, an infinity or
// a value of magnitude limit or more.
func inRange(key string, v []float32, limit float32) error {
	for _, x := range v {
		switch {
		case math.IsNaN(float64(x)) || math.IsInf(float64(x), 0):
			return fmt.Errorf("tensor %s holds %v: the file is damaged; download or export it again", gguf.Quote(key), x)
		case x >= limit || -x >= limit:
			return fmt.Errorf("tensor %s holds %g, which no LoRA's weights come near (they stay below 10 or so; wan22 refuses %g and more, which overflow the model's activations): the file is damaged or was written wrong; download or export it again",
				gguf.Quote(key), x, limit)
		}
	}
	return nil
}

// exponentAtLeast reports, for the types whose bits it knows (F32, F16,
// BF16: known), whether data may hold a NaN, an infinity or a value of
// magnitude limit or more, without converting it: whether a value's
// exponent is at least that of limit (of the largest power of two not above
// it; all ones, a NaN's or an infinity's, for an infinite limit or one
// beyond the type), so that a value it flags is to be compared exactly and
// one it passes is in range. Eight bytes at a time: each lane's exponent
// bits plus the lane's top bit less the threshold reach the top bit exactly
// when the exponent is at least the threshold, and no lane carries into the
// next, since the exponent bits stop below the top (sign) bit.
func exponentAtLeast(t gguf.Type, data []byte, limit float32) (hit, known bool) {
	var mask, high, low uint64 // the exponent bits, the top bit and the lowest bit of every lane
	var shift, bias, inf int   // where the exponent starts, its bias, and its value for NaN and Inf
	switch t {
	case gguf.TypeF32:
		mask, high, low, shift, bias, inf = 0x7f800000_7f800000, 0x80000000_80000000, 0x00000001_00000001, 23, 127, 0xff
	case gguf.TypeF16:
		mask, high, low, shift, bias, inf = 0x7c00_7c00_7c00_7c00, 0x8000_8000_8000_8000, 0x0001_0001_0001_0001, 10, 15, 0x1f
	case gguf.TypeBF16:
		mask, high, low, shift, bias, inf = 0x7f80_7f80_7f80_7f80, 0x8000_8000_8000_8000, 0x0001_0001_0001_0001, 7, 127, 0xff
	default:
		return false, false
	}
	e := inf
	if !math.IsInf(float64(limit), 1) {
		_, exp := math.Frexp(float64(limit)) // limit = frac·2^exp, frac in [0.5, 1)
		e = max(1, min(inf, bias+exp-1))
	}
	add := high - uint64(e)<<shift*low // each lane's top bit less the threshold, at the exponent's place
	word := func(b []byte) bool {
		return (binary.LittleEndian.Uint64(b)&mask+add)&high != 0
	}
	n := len(data) &^ 7
	for i := 0; i < n; i += 8 {
		if word(data[i:]) {
			return true, true
		}
	}
	var tail [8]byte // the last values (fewer than 8 bytes), padded with zeros
	copy(tail[:], data[n:])
	return word(tail[:]), true
}

// checkChunk is how many values CheckValues converts at a time.
const checkChunk = 1 << 16

// CheckValues reads every tensor of the file and fails, naming the file and
// the first tensor that holds a NaN or an infinity, when one does. Open
// reads only the header; the adapters' values are otherwise read when the
// expert they adapt loads, after the text encoder (and, for the low-noise
// expert, the whole high-noise stage) ran: this finds a damaged file in the
// time it takes to read it. CheckWeights refuses magnitudes too.
func (f *File) CheckValues() error { return f.checkValues(false) }

// CheckWeights is CheckValues that refuses, in the same single read, a
// weight (any tensor but an alpha) of magnitude MaxWeight or more too, as
// Matrices and Values do: wan22 i2v's check before any model loads.
func (f *File) CheckWeights() error { return f.checkValues(true) }

// checkValues is CheckValues, and with bounded CheckWeights.
func (f *File) checkValues(bounded bool) error {
	alphas := map[string]bool{}
	for _, a := range f.Adapters {
		alphas[a.AlphaKey] = true
	}
	buf := make([]float32, checkChunk)
	for _, ti := range f.src.Tensors() {
		limit := noLimit
		if bounded && !alphas[ti.Name] {
			limit = MaxWeight
		}
		data, err := f.src.Data(ti.Name)
		if err != nil {
			return fmt.Errorf("lora: %s: %w", safetext.Path(f.Name), err)
		}
		if hit, known := exponentAtLeast(ti.Type, data, limit); known && !hit {
			continue
		}
		size := ti.Type.BlockBytes() // every LoRA type (floatTypes) is one value per block
		for len(data) >= size {
			n := min(len(data)/size, checkChunk)
			if err := gguf.Dequantize(ti.Type, data[:n*size], buf[:n]); err != nil {
				return fmt.Errorf("lora: %s: tensor %s: %w", safetext.Path(f.Name), gguf.Quote(ti.Name), err)
			}
			if err := inRange(ti.Name, buf[:n], limit); err != nil {
				return fmt.Errorf("lora: %s: %w", safetext.Path(f.Name), err)
			}
			data = data[n*size:]
		}
	}
	return nil
}

// Untrained reports whether the file changes nothing whatever its strength:
// it has adapters, every up matrix (B) is zero, and so is every delta, as
// a LoRA saved before training is (B starts at zero). wan22 warns of it;
// it is not refused. The stored bits are read, the read of a trained file
// stopping at its first non-zero value.
func (f *File) Untrained() (bool, error) {
	if len(f.Adapters) == 0 {
		return false, nil
	}
	keys := make([]string, 0, len(f.Adapters)+len(f.Diffs))
	for _, a := range f.Adapters {
		keys = append(keys, a.Up)
	}
	for _, d := range f.Diffs {
		keys = append(keys, d.Key)
	}
	for _, key := range keys {
		data, err := f.src.Data(key)
		if err != nil {
			return false, fmt.Errorf("lora: %s: %w", safetext.Path(f.Name), err)
		}
		if !zeroBits(data, f.Type(key).BlockBytes()) {
			return false, nil
		}
	}
	return true, nil
}

// zeroBits reports whether data, little-endian floats of size bytes each
// (F32, F16, BF16, F64, F8: sign in the top bit of the last byte), holds
// only +0 and -0.
func zeroBits(data []byte, size int) bool {
	for i, b := range data {
		if size > 0 && i%size == size-1 {
			b &= 0x7f
		}
		if b != 0 {
			return false
		}
	}
	return true
}

// Matrices returns an adapter's A [Rank, In] and B [Out, Rank] as row-major float32.
func (f *File) Matrices(a Adapter) (down, up []float32, err error) {
	if down, err = f.read(a.Down); err != nil {
		return nil, nil, err
	}
	if up, err = f.read(a.Up); err != nil {
		return nil, nil, err
	}
	return down, up, nil
}

// Values returns a delta's values as row-major float32.
func (f *File) Values(d Diff) ([]float32, error) { return f.read(d.Key) }

// Type returns the stored type of a key's tensor (F32, F16, BF16, …).
func (f *File) Type(key string) gguf.Type {
	ti, _ := f.src.Lookup(key)
	return ti.Type
}

// ErrWrongModel is wrapped by Check's errors when the file is for another
// model, and matches (errors.Is) Open's *WrongModelError.
var ErrWrongModel = errors.New("LoRA for another model")

// WrongModelError is Open's error (and so Load's and Inspect's) for a LoRA
// whose keys are another model's (an SDXL UNet's, FLUX's, HunyuanVideo's,
// …), not the WAN DiT's. errors.Is(err, ErrWrongModel) holds for it, and
// errors.As gives the model it is for.
type WrongModelError struct {
	Model string // the model the keys are for, as the message names it
	msg   string
}

func (e *WrongModelError) Error() string { return e.msg }

// Is reports whether target is ErrWrongModel.
func (e *WrongModelError) Is(target error) bool { return target == ErrWrongModel }
