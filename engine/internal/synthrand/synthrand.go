// Package synthrand writes model files with random weights in a real
// model's layout — the synthetic models of benchmarks, memory tests and the
// demo — as GGUF or safetensors, at disk speed and in little memory.
//
// Values are drawn once per (type, distribution) into a tile, encoded once,
// and every tensor of that kind is bytes of its tile taken from an offset of
// its own (derived from the tensor's name), so files need no per-element
// work. GGUF tensors are streamed from tiles of about a million values read
// circularly; a tile spans a prime number of blocks, so consecutive rows of
// a matrix are shifted copies rather than equal. safetensors tensors are
// views of a tile as long as the largest tensor of their kind plus a margin
// (the safetensors writer takes whole tensors), which suits the small models
// (the VAE) stored that way. The same seed gives the same bytes.
package synthrand

import (
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TileElems bounds the values generated per GGUF tile.
const TileElems = 1 << 20

// viewMargin is the extra length, in values, of a safetensors tile beyond
// its largest tensor: the range of offsets that tensor can start at.
const viewMargin = 1 << 12

// Dist is a normal distribution N(Mean, Std²).
type Dist struct{ Mean, Std float64 }

// Tensor is one tensor of a synthetic model.
type Tensor struct {
	Name  string
	Type  gguf.Type
	Shape []int64 // PyTorch order, outermost first
	Dist  Dist
}

// Elems returns the number of elements.
func (t Tensor) Elems() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes returns the encoded size of the tensor's data.
func (t Tensor) Bytes() (int64, error) {
	n, err := t.Type.RowBytes(t.Elems())
	if err != nil {
		return 0, fmt.Errorf("synthetic tensor %q: %w", t.Name, err)
	}
	return n, nil
}

// key identifies the tensors that share a tile.
type key struct {
	typ  gguf.Type
	dist Dist
}

// tile is the encoded bytes of a whole number of blocks of one key.
type tile struct {
	data       []byte
	blockBytes int
}

// makeTiles builds one tile per key of ts, each of size(largest tensor of
// the key) values.
func makeTiles(ts []Tensor, seed int64, size func(largest int64) int64) (map[key]*tile, error) {
	largest := map[key]int64{}
	for _, t := range ts {
		k := key{t.Type, t.Dist}
		largest[k] = max(largest[k], t.Elems())
	}
	tiles := map[key]*tile{}
	for k, n := range largest {
		tl, err := newTile(k, size(n), seed)
		if err != nil {
			return nil, err
		}
		tiles[k] = tl
	}
	return tiles, nil
}

// newTile draws about n values of k's distribution — a prime number of
// blocks when that spans more than two — and encodes them in k's type.
func newTile(k key, n, seed int64) (*tile, error) {
	bs := int64(k.typ.BlockSize())
	if bs == 0 {
		return nil, fmt.Errorf("synthetic weights: unknown type %v", k.typ)
	}
	blocks := prevPrime(max(1, (n+bs-1)/bs))
	h := fnv.New64a()
	fmt.Fprintf(h, "%v %v %v", k.typ, k.dist.Mean, k.dist.Std)
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	vals := make([]float32, blocks*bs)
	for i := range vals {
		vals[i] = float32(k.dist.Mean + k.dist.Std*rng.NormFloat64())
	}
	data, err := gguf.Quantize(k.typ, vals)
	if err != nil {
		return nil, fmt.Errorf("synthetic %v weights: %w", k.typ, err)
	}
	return &tile{data: data, blockBytes: k.typ.BlockBytes()}, nil
}

// offset returns a block-aligned byte offset in [0, span] derived from name.
func (tl *tile) offset(name string, span int64) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64()%uint64(span/int64(tl.blockBytes)+1)) * int64(tl.blockBytes)
}

// writeCircular writes size bytes of the tile to w, starting at byte start
// and wrapping around.
func (tl *tile) writeCircular(w io.Writer, start, size int64) error {
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

// WriteGGUF writes a GGUF file at path (through a temporary file renamed on
// success, as gguf.Writer.WriteFile does): the metadata meta sets, then the
// tensors ts in order, their data streamed from tiles. Only the tiles are
// held in memory, never a tensor.
func WriteGGUF(path string, meta func(*gguf.Writer), ts []Tensor, seed int64) error {
	tiles, err := makeTiles(ts, seed, func(n int64) int64 { return min(n, TileElems) })
	if err != nil {
		return err
	}
	w := gguf.NewWriter()
	meta(w)
	for _, t := range ts {
		tl := tiles[key{t.Type, t.Dist}]
		size, err := t.Bytes()
		if err != nil {
			return err
		}
		start := tl.offset(t.Name, int64(len(tl.data)-tl.blockBytes))
		err = w.AddTensorFunc(t.Name, t.Type, t.Shape, func(out io.Writer) error {
			return tl.writeCircular(out, start, size)
		})
		if err != nil {
			return err
		}
	}
	return w.WriteFile(path)
}

// GGUFSize returns the exact size of the file WriteGGUF writes for the same
// meta and ts, without generating any data: the header is encoded by a
// gguf.Writer holding the same metadata and tensor records (a record's
// length does not depend on its dimensions, so each is given as zeros), and
// every tensor's data is padded to the default alignment (meta must not set
// general.alignment).
func GGUFSize(meta func(*gguf.Writer), ts []Tensor) (int64, error) {
	w := gguf.NewWriter()
	meta(w)
	const align = gguf.DefaultAlignment
	var data int64
	for _, t := range ts {
		size, err := t.Bytes()
		if err != nil {
			return 0, err
		}
		data += (size + align - 1) / align * align
		if err := w.AddTensor(t.Name, t.Type, make([]int64, len(t.Shape)), []byte{}); err != nil {
			return 0, err
		}
	}
	var c counter
	if _, err := w.WriteTo(&c); err != nil {
		return 0, err
	}
	return int64(c) + data, nil
}

// safetensorsList returns ts as safetensors tensors whose data are views of
// per-kind tiles (nil tiles: views of one zero buffer, for sizing).
func safetensorsList(ts []Tensor, tiles map[key]*tile) ([]safetensors.Tensor, error) {
	var zeros []byte
	if tiles == nil {
		var largest int64
		for _, t := range ts {
			n, err := t.Bytes()
			if err != nil {
				return nil, err
			}
			largest = max(largest, n)
		}
		zeros = make([]byte, largest)
	}
	out := make([]safetensors.Tensor, len(ts))
	for i, t := range ts {
		if t.Type.Quantized() {
			return nil, fmt.Errorf("synthetic tensor %q: safetensors has no %v type", t.Name, t.Type)
		}
		size, err := t.Bytes()
		if err != nil {
			return nil, err
		}
		data := zeros
		var start int64
		if tiles != nil {
			tl := tiles[key{t.Type, t.Dist}]
			data = tl.data
			if int64(len(data)) < size {
				return nil, fmt.Errorf("synthetic tensor %q: %d bytes, its tile only %d", t.Name, size, len(data))
			}
			start = tl.offset(t.Name, int64(len(data))-size)
		}
		out[i] = safetensors.Tensor{Name: t.Name, Type: t.Type, Shape: t.Shape, Data: data[start : start+size : start+size]}
	}
	return out, nil
}

// WriteSafetensors writes a safetensors file at path through
// safetensors.Write (a temporary file renamed on success). Every tensor's
// data is a view of its kind's tile, so memory holds one tile per kind (a
// little more than the largest tensor of the kind), not the model. Types
// must be unquantized (F32, F16, BF16).
func WriteSafetensors(path string, ts []Tensor, metadata map[string]string, seed int64) error {
	tiles, err := makeTiles(ts, seed, func(n int64) int64 { return n + viewMargin })
	if err != nil {
		return err
	}
	list, err := safetensorsList(ts, tiles)
	if err != nil {
		return err
	}
	return safetensors.Write(path, list, metadata)
}

// SafetensorsSize returns the exact size of the file WriteSafetensors writes
// for the same ts and metadata, without generating any data.
func SafetensorsSize(ts []Tensor, metadata map[string]string) (int64, error) {
	list, err := safetensorsList(ts, nil)
	if err != nil {
		return 0, err
	}
	var c counter
	if err := safetensors.Encode(&c, list, metadata); err != nil {
		return 0, err
	}
	return int64(c), nil
}

// counter is an io.Writer that counts bytes.
type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}
