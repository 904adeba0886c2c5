package dit

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
)

// Fixed parts of the WAN 2.x DiT that no shape in the file varies.
const (
	// HeadDim is the attention head size of every WAN DiT.
	HeadDim = 128
	// TextLen is the number of context rows cross-attention sees: the text
	// encoder's valid tokens, zero-padded.
	TextLen = 512
	// Eps is the epsilon of every LayerNorm and RMSNorm in the DiT.
	Eps = 1e-6
	// ropeTheta is the base of the 3-D rotary embedding and of the
	// sinusoidal time embedding.
	ropeTheta = 10000.0
)

// Config is the shape of a WAN DiT, inferred from its tensors (WAN GGUF files
// carry almost no metadata). The patch size is always (1, 2, 2).
type Config struct {
	Dim     int // hidden size: 5120 for the A14B experts
	InDim   int // input channels: 36 for i2v (16 noise + 4 mask + 16 image latent), 16 for t2v
	OutDim  int // output channels: 16
	FFNDim  int // FFN hidden size: 13824
	TextDim int // context width: 4096 (umT5-XXL)
	FreqDim int // width of the sinusoidal time embedding: 256
	Layers  int // number of blocks: 40
	Heads   int // attention heads: Dim / HeadDim
}

// I2VA14B is the configuration of each expert of Wan2.2-I2V-A14B.
func I2VA14B() Config {
	return Config{Dim: 5120, InDim: 36, OutDim: 16, FFNDim: 13824, TextDim: 4096, FreqDim: 256, Layers: 40, Heads: 40}
}

// Variant names the task the input width implies: "i2v" for 36 channels,
// "t2v" when the input is the noise latent alone.
func (c Config) Variant() string {
	switch {
	case c.InDim == c.OutDim:
		return "t2v"
	case c.InDim == 2*c.OutDim+4:
		return "i2v"
	}
	return "in_dim " + strconv.Itoa(c.InDim)
}

func (c Config) String() string {
	return fmt.Sprintf("WAN DiT %s: dim %d, %s, %s, ffn %d, in %d, out %d, text %d, freq %d",
		c.Variant(), c.Dim, plural.Count(c.Layers, "layer"), plural.Count(c.Heads, "head"), c.FFNDim, c.InDim, c.OutDim, c.TextDim, c.FreqDim)
}

// Validate checks that the sizes describe a model this package can run.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"dim", c.Dim}, {"in_dim", c.InDim}, {"out_dim", c.OutDim}, {"ffn_dim", c.FFNDim},
		{"text_dim", c.TextDim}, {"freq_dim", c.FreqDim}, {"layers", c.Layers}, {"heads", c.Heads}} {
		if f.v <= 0 {
			return fmt.Errorf("dit: config %s is %d, must be positive", f.name, f.v)
		}
	}
	if c.Dim != c.Heads*HeadDim {
		return fmt.Errorf("dit: config dim %d with %s: the head size must be %d", c.Dim, plural.Count(c.Heads, "head"), HeadDim)
	}
	if c.FreqDim%2 != 0 {
		return fmt.Errorf("dit: config freq_dim %d must be even (cos and sin halves)", c.FreqDim)
	}
	return nil
}

// ConfigFrom infers the configuration from the tensor shapes of a WAN DiT
// file: dim and in_dim from patch_embedding.weight [dim, in, 1, 2, 2], the
// layer count from the highest blocks.N index, the FFN, text, time and output
// widths from the first matrix of each. Names may carry the
// "model.diffusion_model." prefix. Errors name the tensor at fault.
func ConfigFrom(src gguf.Source) (Config, error) {
	return configFrom(newView(src))
}

func configFrom(v *view) (Config, error) {
	var c Config
	pe, ok := v.Lookup("patch_embedding.weight")
	if !ok {
		return c, fmt.Errorf("dit: tensor %q is missing: not a WAN DiT file", "patch_embedding.weight")
	}
	s := pe.Shape
	if len(s) != 5 || s[2] != 1 || s[3] != 2 || s[4] != 2 {
		return c, fmt.Errorf("dit: tensor %q has shape %v, want [dim, in_dim, 1, 2, 2] (a Conv3d with patch (1, 2, 2))", pe.Name, s)
	}
	c.Dim, c.InDim = int(s[0]), int(s[1])
	if c.Dim%HeadDim != 0 {
		return c, fmt.Errorf("dit: tensor %q gives dim %d, not a multiple of the head size %d", pe.Name, c.Dim, HeadDim)
	}
	c.Heads = c.Dim / HeadDim
	if _, ok := v.Lookup("img_emb.proj.0.weight"); ok {
		return c, fmt.Errorf("dit: tensor %q present: this is a Wan 2.1 CLIP-conditioned model, which this engine does not run", "img_emb.proj.0.weight")
	}

	for _, ti := range v.Tensors() {
		rest, ok := strings.CutPrefix(ti.Name, "blocks.")
		if !ok {
			continue
		}
		num, _, ok := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 {
			return c, fmt.Errorf("dit: tensor %q: cannot read its block index", ti.Name)
		}
		c.Layers = max(c.Layers, n+1)
	}
	if c.Layers == 0 {
		return c, fmt.Errorf("dit: no blocks.N tensors in the file")
	}

	var err error
	if c.FFNDim, err = matrixRows(v, "blocks.0.ffn.0.weight", c.Dim); err != nil {
		return c, err
	}
	if c.TextDim, err = matrixCols(v, "text_embedding.0.weight", c.Dim); err != nil {
		return c, err
	}
	if c.FreqDim, err = matrixCols(v, "time_embedding.0.weight", c.Dim); err != nil {
		return c, err
	}
	out4, err := matrixRows(v, "head.head.weight", c.Dim)
	if err != nil {
		return c, err
	}
	if out4%4 != 0 {
		return c, fmt.Errorf("dit: tensor %q has %d rows, not out_dim·4 for patch (1, 2, 2)", "head.head.weight", out4)
	}
	c.OutDim = out4 / 4
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// matrix returns the [rows, cols] shape of a 2-D tensor.
func matrix(v *view, name string) (rows, cols int, err error) {
	ti, ok := v.Lookup(name)
	if !ok {
		return 0, 0, fmt.Errorf("dit: tensor %q is missing from the model file", name)
	}
	if len(ti.Shape) != 2 {
		return 0, 0, fmt.Errorf("dit: tensor %q has shape %v, want a matrix", name, ti.Shape)
	}
	return int(ti.Shape[0]), int(ti.Shape[1]), nil
}

// matrixRows returns the rows of a matrix [rows, dim].
func matrixRows(v *view, name string, dim int) (int, error) {
	r, c, err := matrix(v, name)
	if err == nil && c != dim {
		err = fmt.Errorf("dit: tensor %q has shape [%d %d], want [*, %d] (dim from patch_embedding.weight)", name, r, c, dim)
	}
	return r, err
}

// matrixCols returns the columns of a matrix [dim, cols].
func matrixCols(v *view, name string, dim int) (int, error) {
	r, c, err := matrix(v, name)
	if err == nil && r != dim {
		err = fmt.Errorf("dit: tensor %q has shape [%d %d], want [%d, *] (dim from patch_embedding.weight)", name, r, c, dim)
	}
	return c, err
}
