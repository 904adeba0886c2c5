package main

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/safetensors"
)

// Synthetic LoRAs for bench --synth-lora: the adapters of a LoRA of one rank
// on every attention and FFN linear of every block, in ComfyUI's key style
// (diffusion_model.blocks.N.self_attn.q.lora_down.weight [rank, in],
// lora_up.weight [out, rank], alpha = rank so the scale is the strength), BF16
// random values. Every down matrix is a view of one tile of random values and
// every up matrix of another, each at an offset of its own, so a 1 GB file
// needs a few MB of memory and no per-element work.

// loraTileMargin is the extra length, in values, of a tile beyond its
// largest matrix: the range of offsets the matrices start at.
const loraTileMargin = 1 << 12

// loraModules lists the adapted linears of one block as [out, in].
func loraModules(c modelfile.DiTConfig) []struct {
	name    string
	out, in int64
} {
	d, f := int64(c.Dim), int64(c.FFNDim)
	type mod = struct {
		name    string
		out, in int64
	}
	var ms []mod
	for _, attn := range []string{"self_attn.", "cross_attn."} {
		for _, l := range []string{"q", "k", "v", "o"} {
			ms = append(ms, mod{attn + l, d, d})
		}
	}
	return append(ms, mod{"ffn.0", f, d}, mod{"ffn.2", d, f})
}

// bf16Tile returns n values of N(0, std²) in BF16, drawn from seed and
// stream.
func bf16Tile(n int64, std float64, seed int64, stream uint64) ([]byte, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), stream))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(std * rng.NormFloat64())
	}
	return gguf.Quantize(gguf.TypeBF16, v)
}

// synthLoRATensors returns the tensors of a synthetic LoRA of rank for an
// expert of shape c. Down matrices have standard deviation 1/√dim and up
// matrices 0.1/√rank, so that B·A is about a tenth of the size of the weight
// it adapts.
func synthLoRATensors(c modelfile.DiTConfig, rank int, seed int64) ([]safetensors.Tensor, error) {
	r := int64(rank)
	mods := loraModules(c)
	var largest int64
	for _, m := range mods {
		largest = max(largest, r*m.in, m.out*r)
	}
	down, err := bf16Tile(largest+loraTileMargin, 1/math.Sqrt(float64(c.Dim)), seed, 1)
	if err != nil {
		return nil, err
	}
	up, err := bf16Tile(largest+loraTileMargin, 0.1/math.Sqrt(float64(rank)), seed, 2)
	if err != nil {
		return nil, err
	}
	view := func(tile []byte, name string, n int64) []byte {
		h := fnv.New64a()
		h.Write([]byte(name))
		off := 2 * int64(h.Sum64()%(loraTileMargin+1))
		return tile[off : off+2*n : off+2*n]
	}
	alpha := safetensors.FromFloat32("", []int64{}, []float32{float32(rank)}).Data
	var ts []safetensors.Tensor
	for b := range c.Layers {
		p := "diffusion_model.blocks." + strconv.Itoa(b) + "."
		for _, m := range mods {
			k := p + m.name
			ts = append(ts,
				safetensors.Tensor{Name: k + ".lora_down.weight", Type: gguf.TypeBF16, Shape: []int64{r, m.in}, Data: view(down, k, r*m.in)},
				safetensors.Tensor{Name: k + ".lora_up.weight", Type: gguf.TypeBF16, Shape: []int64{m.out, r}, Data: view(up, k, m.out*r)},
				safetensors.Tensor{Name: k + ".alpha", Type: gguf.TypeF32, Shape: []int64{}, Data: alpha})
		}
	}
	return ts, nil
}

// byteCounter counts the bytes written to it.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// planSynthLoRA plans the synthetic LoRA of rank for the expert whose shape
// is c (expert names it: "high-noise"), with its exact size.
func planSynthLoRA(c modelfile.DiTConfig, rank int, expert string, seed int64) (synthJob, error) {
	if rank < 1 || rank > min(c.Dim, c.FFNDim) {
		return synthJob{}, &FlagRangeError{Flag: "--synth-lora", Value: strconv.Itoa(rank), Want: fmt.Sprintf("a rank from 1 to %d (the expert's width)", min(c.Dim, c.FFNDim))}
	}
	meta := map[string]string{"wan22.synthetic": fmt.Sprintf("rank %d LoRA for the %s expert, seed %d", rank, expert, seed)}
	ts, err := synthLoRATensors(c, rank, seed)
	if err != nil {
		return synthJob{}, err
	}
	var n byteCounter
	if err := safetensors.Encode(&n, ts, meta); err != nil {
		return synthJob{}, err
	}
	return synthJob{
		what: fmt.Sprintf("rank-%d BF16 LoRA (every attention and FFN linear of %s)", rank, plural.Count(c.Layers, "block")),
		size: int64(n),
		write: func(path string) error {
			// The tiles are drawn again here rather than kept from the plan:
			// the same seed gives the same bytes, and the plan holds none.
			ts, err := synthLoRATensors(c, rank, seed)
			if err != nil {
				return err
			}
			return safetensors.Write(path, ts, meta)
		},
	}, nil
}
