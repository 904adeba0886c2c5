package lora

import (
	"fmt"
	"math"
	"strings"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/safetext"
)

// Arch is the shape of a WAN DiT, as far as a LoRA can tell it.
type Arch struct {
	Name    string
	Dim     int // hidden size
	FFNDim  int
	InDim   int // patch_embedding input channels: 36 i2v, 16 t2v, 48 the 5B
	OutDim  int
	TextDim int
	FreqDim int
	Layers  int
	// ImageCrossAttn marks Wan 2.1 I2V's CLIP image branch in cross-attention.
	ImageCrossAttn bool
}

// Known lists the WAN models a LoRA is matched against.
var Known = []Arch{
	{Name: "Wan 2.2 I2V-A14B", Dim: 5120, FFNDim: 13824, InDim: 36, OutDim: 16, TextDim: 4096, FreqDim: 256, Layers: 40},
	{Name: "Wan 2.2 T2V-A14B / Wan 2.1 T2V-14B", Dim: 5120, FFNDim: 13824, InDim: 16, OutDim: 16, TextDim: 4096, FreqDim: 256, Layers: 40},
	{Name: "Wan 2.1 I2V-14B / FLF2V-14B", Dim: 5120, FFNDim: 13824, InDim: 36, OutDim: 16, TextDim: 4096, FreqDim: 256, Layers: 40, ImageCrossAttn: true},
	{Name: "Wan 2.1 T2V-1.3B", Dim: 1536, FFNDim: 8960, InDim: 16, OutDim: 16, TextDim: 4096, FreqDim: 256, Layers: 30},
	{Name: "Wan 2.2 TI2V-5B", Dim: 3072, FFNDim: 14336, InDim: 48, OutDim: 48, TextDim: 4096, FreqDim: 256, Layers: 30},
}

// Dims are the model sizes a file's shapes imply; 0 where no tensor tells.
type Dims struct {
	Dim, FFNDim, InDim, OutDim, TextDim, FreqDim int
	// Blocks is one more than the highest block index the file adapts.
	Blocks int
	// ImageCrossAttn is true when the file adapts Wan 2.1's image branch.
	ImageCrossAttn bool
	// from names, per size, the key that gave it ("dim" → key).
	from map[string]string
}

// sym names a model size a tensor dimension equals (times a factor).
type sym struct {
	name   string // "dim", "ffn", "text", "freq", "in", "out", "clip" (not checked), "" (none)
	factor int    // the dimension is factor × the size
}

var (
	sDim  = sym{"dim", 1}
	sFFN  = sym{"ffn", 1}
	sText = sym{"text", 1}
	sFreq = sym{"freq", 1}
	sClip = sym{"clip", 1}
)

// moduleShape gives the (out, in) sizes of a module's weight.
func moduleShape(name string) (out, in sym) {
	_, local := blockOf(name)
	switch local {
	case "ffn.0":
		return sFFN, sDim
	case "ffn.2":
		return sDim, sFFN
	case "text_embedding.0":
		return sDim, sText
	case "time_embedding.0":
		return sDim, sFreq
	case "time_projection.1":
		return sym{"dim", 6}, sDim
	case "head.head":
		return sym{"out", 4}, sDim
	case "patch_embedding":
		return sDim, sym{"in", 4}
	case "img_emb.proj.0", "img_emb.proj.1":
		return sClip, sClip
	case "img_emb.proj.3":
		return sDim, sClip
	}
	return sDim, sDim
}

// dims infers the model sizes from every adapter and diff, and fails when
// two tensors disagree.
func (f *File) dims() (Dims, error) {
	d := Dims{from: map[string]string{}}
	vals := map[string]int{}
	see := func(s sym, v int64, key string) error {
		if s.name == "" || s.name == "clip" {
			return nil
		}
		if v%int64(s.factor) != 0 {
			return fmt.Errorf("lora: %s: tensor %s: %d is not a multiple of %d (%s·%d)", safetext.Path(f.Name), gguf.Quote(key), v, s.factor, s.name, s.factor)
		}
		n := int(v) / s.factor
		if prev, ok := vals[s.name]; ok && prev != n {
			return fmt.Errorf("lora: %s: tensors %s and %s disagree on the model's %s (%d and %d): the file mixes two models", safetext.Path(f.Name), gguf.Quote(d.from[s.name]), gguf.Quote(key), s.name, prev, n)
		}
		if _, ok := vals[s.name]; !ok {
			vals[s.name], d.from[s.name] = n, key
		}
		return nil
	}
	block := func(name string) {
		if b, _ := blockOf(name); b >= d.Blocks {
			d.Blocks = min(b, math.MaxInt-1) + 1 // (block MaxInt would wrap around to no block)
		}
		if r, ok := resolve(strings.TrimSuffix(strings.TrimSuffix(name, ".weight"), ".bias")); ok && r.mod.wan21 {
			d.ImageCrossAttn = true
		}
	}
	for _, a := range f.Adapters {
		out, in := moduleShape(a.Module)
		if err := see(out, int64(a.Out), a.Up); err != nil {
			return d, err
		}
		if err := see(in, int64(a.In), a.Down); err != nil {
			return d, err
		}
		block(a.Module)
	}
	for _, df := range f.Diffs {
		block(df.Param)
		mod, tensor := df.Param, ""
		if m, ok := strings.CutSuffix(df.Param, ".weight"); ok {
			mod, tensor = m, "weight"
		} else if m, ok := strings.CutSuffix(df.Param, ".bias"); ok {
			mod, tensor = m, "bias"
		}
		r, _ := resolve(mod)
		s := df.Shape
		if len(s) == 0 { // (a scalar: no size to take, and no tensor of the model is one)
			return d, fmt.Errorf("lora: %s: tensor %s is a scalar, want the delta of %s, shaped as that tensor", safetext.Path(f.Name), gguf.Quote(df.Key), df.Param)
		}
		if product(s) == 0 {
			// (its 0 would be read as a model size of 0, which Check takes as
			// unknown: the file would fit every model and fail as an expert loads)
			return d, fmt.Errorf("lora: %s: tensor %s has shape %v: a dimension of 0 leaves the delta of %s empty, which no LoRA's is: the file is damaged or was written wrong; download or export it again",
				safetext.Path(f.Name), gguf.Quote(df.Key), df.Shape, df.Param)
		}
		for len(s) > 1 && s[0] == 1 {
			s = s[1:]
		}
		shapeErr := func(want string) error {
			return fmt.Errorf("lora: %s: tensor %s has shape %v, want the %s delta of %s", safetext.Path(f.Name), gguf.Quote(df.Key), df.Shape, want, df.Param)
		}
		var err error
		switch {
		case r.mod.kind == kParam:
			rows := int64(6) // a block's modulation [1, 6, dim]; the head's is [1, 2, dim]
			if r.block < 0 {
				rows = 2
			}
			if len(s) < 2 || s[0] != rows {
				return d, shapeErr(fmt.Sprintf("[1, %d, dim]", rows))
			}
			err = see(sDim, product(s[1:]), df.Key)
		case r.mod.kind == kLinear && tensor == "weight":
			out, in := moduleShape(mod)
			if len(s) < 2 {
				return d, shapeErr("[out, in]")
			}
			if err = see(out, s[0], df.Key); err == nil {
				err = see(in, product(s[1:]), df.Key)
			}
		case len(s) != 1: // (a bias or a norm's weight is a vector, as engine/dit's attach checks)
			want := "[dim]"
			if r.mod.kind == kLinear {
				want = "[out]"
			}
			return d, shapeErr(want)
		case r.mod.kind == kLinear:
			out, _ := moduleShape(mod)
			err = see(out, s[0], df.Key)
		default: // norms
			err = see(sDim, s[0], df.Key)
		}
		if err != nil {
			return d, err
		}
	}
	d.Dim, d.FFNDim, d.TextDim, d.FreqDim, d.InDim, d.OutDim = vals["dim"], vals["ffn"], vals["text"], vals["freq"], vals["in"], vals["out"]
	return d, nil
}

// Dims returns the model sizes the file's shapes imply.
func (f *File) Dims() Dims {
	d, _ := f.dims() // checked by Open
	return d
}

// mismatch says why d cannot be a LoRA for a, or "" when it can.
func (d Dims) mismatch(a Arch) string {
	for _, c := range []struct {
		name      string
		got, want int
	}{{"dim", d.Dim, a.Dim}, {"ffn", d.FFNDim, a.FFNDim}, {"in", d.InDim, a.InDim}, {"out", d.OutDim, a.OutDim},
		{"text", d.TextDim, a.TextDim}, {"freq", d.FreqDim, a.FreqDim}} {
		if c.got != 0 && c.got != c.want {
			return fmt.Sprintf("its %s is %d (from tensor %s), the model's is %d", label(c.name), c.got, gguf.Quote(d.from[c.name]), c.want)
		}
	}
	if d.Blocks > a.Layers {
		return fmt.Sprintf("it adapts block %d, the model has %d blocks", d.Blocks-1, a.Layers)
	}
	if d.ImageCrossAttn && !a.ImageCrossAttn {
		// (Wan 2.1 I2V LoRAs, the 4-step distill ones above all, are used on
		// WAN 2.2 in ComfyUI, which skips these tensors with a "lora key not
		// loaded" line per tensor)
		return "it adapts the CLIP image cross-attention (k_img, v_img, img_emb) of Wan 2.1 I2V, which this model has not; ComfyUI skips those tensors, wan22 applies a file whole: to use the rest of it on this model, write it again without its tensors whose names hold k_img, v_img or img_emb"
	}
	return ""
}

func label(sym string) string {
	return map[string]string{"dim": "hidden size (dim)", "ffn": "ffn_dim", "in": "in_dim (patch_embedding channels)",
		"out": "out_dim", "text": "text_dim", "freq": "freq_dim"}[sym]
}

// Fits returns the names of the Known models the file's shapes allow.
func (f *File) Fits() []string {
	d := f.Dims()
	var names []string
	for _, a := range Known {
		if d.mismatch(a) == "" {
			names = append(names, a.Name)
		}
	}
	return names
}

// Check returns an error wrapping ErrWrongModel when the file cannot be a
// LoRA for a model of shape a; the message says which model it is for.
func (f *File) Check(a Arch) error {
	why := f.Dims().mismatch(a)
	if why == "" {
		return nil
	}
	is := "an unknown WAN model"
	if fits := f.Fits(); len(fits) > 0 {
		is = strings.Join(fits, " or ")
	}
	name := a.Name
	if name == "" {
		name = fmt.Sprintf("dim %d, %d blocks", a.Dim, a.Layers)
	}
	return fmt.Errorf("lora: %s is a LoRA for %s, not for this model (%s): %s: %w", safetext.Path(f.Name), is, name, why, ErrWrongModel)
}
