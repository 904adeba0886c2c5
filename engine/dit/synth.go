package dit

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/wan22/wan22/gguf"
)

// Synthetic experts: random weights with a real model's names, shapes and
// per-tensor types, for benchmarks and memory tests without the 15–29 GB
// downloads. Values are drawn once per (type, distribution) into a tile of
// about a million elements, quantized once, and every tensor of that kind is
// the tile's blocks read circularly from an offset of its own. The tile
// length is a prime number of blocks, so consecutive rows of a matrix are
// shifted copies of each other rather than equal. A 15 GB Q8_0 file writes at
// disk speed and the generator holds a few tiles in memory, never the model.

// synthTileElems bounds the values generated (and quantized) per tile.
const synthTileElems = 1 << 20

// dist is a normal distribution N(mean, std²).
type dist struct{ mean, std float64 }

// synthTensor is one tensor of a synthetic model.
type synthTensor struct {
	name  string // without Prefix
	typ   gguf.Type
	shape []int64 // PyTorch order
	dist  dist
}

func (s synthTensor) elems() int64 {
	n := int64(1)
	for _, d := range s.shape {
		n *= d
	}
	return n
}

// WriteSynthetic writes a WAN DiT of shape cfg with random weights to path,
// laid out as a city96 GGUF with the "model.diffusion_model." name prefix
// and general.architecture "wan":
//   - the block linears (blocks.N.{self_attn,cross_attn}.{q,k,v,o}.weight,
//     blocks.N.ffn.{0,2}.weight) in weightType; a row length that is not a
//     whole number of weightType blocks falls back to F16, as city96's
//     quantizer does;
//   - the other matrices (text, time and head embeddings) in F16, or in
//     weightType when that is F32, F16 or BF16;
//   - biases, norms, modulations and tensors of at most 1024 elements in F32;
//   - patch_embedding.weight as a 5-D F32 tensor [dim, in, 1, 2, 2].
//
// Weights are N(0, 1/fan_in), biases N(0, 0.02²), norm weights N(1, 0.02²),
// modulations N(0, 1/dim), so activations stay O(1) through any depth. The
// same seed gives the same file. weightType must be one gguf.Quantize
// supports.
func WriteSynthetic(path string, cfg Config, weightType gguf.Type, seed int64) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !weightType.Known() {
		return fmt.Errorf("dit: synthetic weight type %v is unknown", weightType)
	}
	return writeSynthetic(path, syntheticTensors(cfg, weightType), seed, cfg)
}

// syntheticTensors lists the tensors of a WAN DiT of shape cfg in state-dict
// order, with the types city96's converter and quantizer give them.
func syntheticTensors(cfg Config, weightType gguf.Type) []synthTensor {
	big := gguf.TypeF16
	switch weightType {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
		big = weightType
	}
	d := int64(cfg.Dim)
	var ts []synthTensor
	add := func(name string, typ gguf.Type, ds dist, shape ...int64) {
		t := synthTensor{name: name, typ: typ, shape: shape, dist: ds}
		if t.elems() <= 1024 || len(shape) == 1 {
			t.typ = gguf.TypeF32
		}
		ts = append(ts, t)
	}
	bias := dist{0, 0.02}
	linear := func(name string, typ gguf.Type, out, in int64) {
		if bs := int64(typ.BlockSize()); bs > 1 && in%bs != 0 {
			typ = gguf.TypeF16
		}
		add(name+".weight", typ, dist{0, 1 / math.Sqrt(float64(in))}, out, in)
		add(name+".bias", gguf.TypeF32, bias, out)
	}
	in, text, freq, ffn := int64(cfg.InDim), int64(cfg.TextDim), int64(cfg.FreqDim), int64(cfg.FFNDim)

	add("patch_embedding.bias", gguf.TypeF32, bias, d)
	add("patch_embedding.weight", gguf.TypeF32, dist{0, 1 / math.Sqrt(float64(in*4))}, d, in, 1, 2, 2)
	linear("text_embedding.0", big, d, text)
	linear("text_embedding.2", big, d, d)
	linear("time_embedding.0", big, d, freq)
	linear("time_embedding.2", big, d, d)
	linear("time_projection.1", big, 6*d, d)
	modulation := dist{0, 1 / math.Sqrt(float64(d))}
	for i := range cfg.Layers {
		p := "blocks." + strconv.Itoa(i)
		add(p+".modulation", gguf.TypeF32, modulation, 1, 6, d)
		for _, attn := range []string{".self_attn", ".cross_attn"} {
			for _, n := range []string{".q", ".k", ".v", ".o"} {
				linear(p+attn+n, weightType, d, d)
			}
			add(p+attn+".norm_q.weight", gguf.TypeF32, dist{1, 0.02}, d)
			add(p+attn+".norm_k.weight", gguf.TypeF32, dist{1, 0.02}, d)
			if attn == ".self_attn" {
				add(p+".norm3.weight", gguf.TypeF32, dist{1, 0.02}, d)
				add(p+".norm3.bias", gguf.TypeF32, bias, d)
			}
		}
		linear(p+".ffn.0", weightType, ffn, d)
		linear(p+".ffn.2", weightType, d, ffn)
	}
	add("head.modulation", gguf.TypeF32, modulation, 1, 2, d)
	linear("head.head", big, int64(cfg.OutDim)*4, d)
	return ts
}

// tileKey identifies the tensors that share a tile.
type tileKey struct {
	typ  gguf.Type
	dist dist
}

// tile is the encoded bytes of a whole number of blocks of one tileKey.
type tile struct {
	data       []byte
	blockBytes int
}

// writeSynthetic streams the tensors ts into a GGUF file at path.
func writeSynthetic(path string, ts []synthTensor, seed int64, cfg Config) error {
	// Tiles hold at most synthTileElems values, fewer when every tensor of
	// the key is smaller.
	largest := map[tileKey]int64{}
	for _, t := range ts {
		k := tileKey{t.typ, t.dist}
		largest[k] = max(largest[k], t.elems())
	}
	tiles := map[tileKey]*tile{}
	for k, n := range largest {
		tl, err := makeTile(k, min(n, synthTileElems), seed)
		if err != nil {
			return err
		}
		tiles[k] = tl
	}

	w := gguf.NewWriter()
	w.SetKV(gguf.KeyArchitecture, "wan")
	w.SetKV("general.name", "wan22 synthetic "+cfg.String())
	w.SetKV("wan22.synthetic.seed", seed)
	for _, t := range ts {
		tl := tiles[tileKey{t.typ, t.dist}]
		size, err := t.typ.RowBytes(t.elems())
		if err != nil {
			return fmt.Errorf("dit: synthetic tensor %q: %w", t.name, err)
		}
		h := fnv.New64a()
		h.Write([]byte(t.name))
		start := int(h.Sum64()%uint64(len(tl.data)/tl.blockBytes)) * tl.blockBytes
		err = w.AddTensorFunc(Prefix+t.name, t.typ, t.shape, func(out io.Writer) error {
			return tl.writeCircular(out, start, size)
		})
		if err != nil {
			return fmt.Errorf("dit: synthetic tensor %q: %w", t.name, err)
		}
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("dit: writing synthetic model: %w", err)
	}
	return nil
}

// writeCircular writes size bytes of the tile to w, starting at byte start
// and wrapping around.
func (tl *tile) writeCircular(w io.Writer, start int, size int64) error {
	for size > 0 {
		chunk := tl.data[start:]
		if int64(len(chunk)) > size {
			chunk = chunk[:size]
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		size -= int64(len(chunk))
		start = 0
	}
	return nil
}

// makeTile draws about n values of k's distribution — a prime number of
// blocks when n spans more than two — and encodes them in k's type.
func makeTile(k tileKey, n int64, seed int64) (*tile, error) {
	bs := int64(k.typ.BlockSize())
	blocks := prevPrime((n + bs - 1) / bs)
	h := fnv.New64a()
	fmt.Fprintf(h, "%v %v %v", k.typ, k.dist.mean, k.dist.std)
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	vals := make([]float32, blocks*bs)
	for i := range vals {
		vals[i] = float32(k.dist.mean + k.dist.std*rng.NormFloat64())
	}
	var data []byte
	if k.typ == gguf.TypeF32 {
		data = make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
	} else {
		var err error
		if data, err = gguf.Quantize(k.typ, vals); err != nil {
			return nil, fmt.Errorf("dit: synthetic %v weights: %w", k.typ, err)
		}
	}
	return &tile{data: data, blockBytes: k.typ.BlockBytes()}, nil
}

// prevPrime returns the largest prime ≤ n, or n itself when n < 3.
func prevPrime(n int64) int64 {
	if n < 3 {
		return n
	}
	for p := n; p > 2; p-- {
		prime := p%2 == 1
		for q := int64(3); prime && q*q <= p; q += 2 {
			prime = p%q != 0
		}
		if prime {
			return p
		}
	}
	return 2
}
