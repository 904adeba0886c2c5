package vae

import (
	"fmt"
	"strings"

	"github.com/wan22/wan22/gguf"
)

// Device memory of the VAE stages, and the spatial tiling that keeps them
// within a budget.
//
// A streaming encode or decode holds, at its peak, the weights of its half,
// a fixed backend overhead, the causal caches of every tile (2 frames of the
// input of every 3-tap conv, float32; computed exactly from the structure)
// and the transient activations of one tile's chunk (the layers' inputs and
// outputs, the convs' padded copies and the activation pool's cached
// buffers), which grow with the tile's area. Neither grows with the frame
// count. The transient coefficients and the overhead are fitted to the peaks
// measured on the H100 with the CUDA backend (docs/BENCHMARKS.md, "VAE on
// CUDA", 2026-11-24; real Wan 2.1 structure, F32 weights, both halves
// loaded):
//
//	decode  81/161/241 frames 832×480 (latent 104×60)   9.63 GiB
//	decode  81 frames 1280×720       (latent 160×90)   20.34 GiB
//	encode  81 frames 832×480                           7.25 GiB
//
// The two decode sizes fix the decoder's overhead and transient slope; the
// encoder, measured at one size, is given the decoder's overhead. Weights are
// counted as F32 (what was measured; an upper bound for F16/BF16 files).
// Every estimate adds estimateMargin to the activation terms.
const (
	// overheadBytes is the fitted constant of the decode peaks beyond both
	// halves' weights (126.9 M parameters, 484 MiB as WeightBytes counts
	// them) and the per-pixel terms: activation-pool granularity and kernel
	// scratch, 0.97 GiB.
	overheadBytes = 1_038_618_000
	// decodeTransientPerDim is the decoder's transient activation bytes per
	// latent pixel per unit of Dim (803,968 B per latent pixel at Dim 96).
	decodeTransientPerDim = 8_375
	// encodeTransientPerDim is the encoder's (640,000 B per latent pixel at
	// Dim 96).
	encodeTransientPerDim = 6_671
	// estimateMargin scales the per-pixel terms: the fit goes through the
	// measured points, the margin covers the pool's rounding in between.
	estimateMargin = 1.05
)

// Tiles below MinTileSize latent pixels a side (128 output pixels) are not
// used: their seams would show. The overlap of a planned tiling is a quarter
// of the tile (TileOverlap).
const MinTileSize = 16

// TileOverlap is the overlap the planner gives tiles of size latent pixels:
// a quarter of the side, which keeps 2·Overlap < Size.
func TileOverlap(size int) int { return size / 4 }

// Grid returns the number of tile rows and columns of an h×w latent (1×1
// when tiling is off or the latent fits one tile).
func (t Tiling) Grid(h, w int) (rows, cols int) {
	if t.Size <= 0 {
		return 1, 1
	}
	return len(tileStarts(h, t.Size, t.Overlap)), len(tileStarts(w, t.Size, t.Overlap))
}

// String describes a tiling: "off", or "48×48 latent pixels, overlap 12"
// (followed by ", tile after tile" when Sequential).
func (t Tiling) String() string {
	if t.Size <= 0 {
		return "off"
	}
	s := fmt.Sprintf("%d×%d latent pixels, overlap %d", t.Size, t.Size, t.Overlap)
	if t.Sequential {
		s += ", tile after tile"
	}
	return s
}

// Half selects the encoder or the decoder.
type Half int

// The halves of the VAE.
const (
	Encoder Half = iota // encoder.*, conv1
	Decoder             // conv2, decoder.*
)

func (h Half) String() string {
	if h == Encoder {
		return "encode"
	}
	return "decode"
}

// WeightBytes is the device memory of one half's weights, counted as F32.
func WeightBytes(c Config, half Half) int64 {
	var n int64
	for _, t := range syntheticTensors(c, gguf.TypeF32) {
		enc := strings.HasPrefix(t.Name, "encoder.") || strings.HasPrefix(t.Name, "conv1.")
		if enc == (half == Encoder) {
			n += 4 * t.Elems()
		}
	}
	return n
}

// decodeCacheFloats is the float count of the decoder's causal caches per
// latent pixel once every cache holds its 2 frames: the inputs of every
// 3-tap conv, at the resolution each one runs at.
func decodeCacheFloats(c Config) int64 {
	top := int64(c.Dim * dimMult[len(dimMult)-1])
	res := func(in, out int64) int64 { return cacheT * (in + out) } // residual.2 and residual.6
	n := int64(cacheT*c.ZDim) + 2*res(top, top)                     // decoder.conv1, middle.0, middle.2
	dims := []int64{top}
	for i := len(dimMult) - 1; i >= 0; i-- {
		dims = append(dims, int64(c.Dim*dimMult[i]))
	}
	area := int64(1) // the stage's area in latent pixels
	for i := range len(dimMult) {
		in, out := dims[i], dims[i+1]
		if i > 0 {
			in /= 2
		}
		var f int64
		for range numResBlocks + 1 {
			f += res(in, out)
			in = out
		}
		if i < len(dimMult)-1 && temporalDownsample[len(temporalDownsample)-1-i] {
			f += cacheT * out // upsample3d's time_conv
		}
		n += f * area
		if i < len(dimMult)-1 {
			area *= 4
		}
	}
	return n + cacheT*dims[len(dims)-1]*area // head.2
}

// encodeCacheFloats is the float count of the encoder's causal caches per
// latent pixel (64 input pixels) once every cache is full.
func encodeCacheFloats(c Config) int64 {
	res := func(in, out int64) int64 { return cacheT * (in + out) }
	px := int64(Scale * Scale) // the stage's area per latent pixel
	n := cacheT * 3 * px       // encoder.conv1
	dims := []int64{int64(c.Dim)}
	for _, m := range dimMult {
		dims = append(dims, int64(c.Dim*m))
	}
	for i := range len(dimMult) {
		in, out := dims[i], dims[i+1]
		var f int64
		for range numResBlocks {
			f += res(in, out)
			in = out
		}
		n += f * px
		if i < len(dimMult)-1 {
			px /= 4
			if temporalDownsample[i] {
				n += out * px // downsample3d keeps the last downsampled frame
			}
		}
	}
	top := dims[len(dims)-1]
	return n + (2*res(top, top)+cacheT*top)*px // middle.0, middle.2, head.2
}

// tileAreas returns the area of one tile and the summed area of all tiles of
// an h×w latent under t, in latent pixels.
func tileAreas(h, w int, t Tiling) (one, all int64) {
	th, tw := h, w
	if t.Size > 0 {
		th, tw = min(t.Size, h), min(t.Size, w)
	}
	rows, cols := t.Grid(h, w)
	one = int64(th) * int64(tw)
	return one, one * int64(rows*cols)
}

// cacheArea is the area whose decoder caches are alive at once: every
// tile's in a frame-major decode, one tile's in a Sequential one.
func cacheArea(h, w int, t Tiling) int64 {
	one, all := tileAreas(h, w, t)
	if t.Sequential {
		return one
	}
	return all
}

// DecodePeak estimates the device memory of decoding an h×w latent (frames
// of 8h×8w, any number of frames) with the decoder only loaded, tiled as t
// (Tiling{} for whole frames): the decoder's weights, the overhead, the
// caches of every tile (frame-major) or of one (Sequential) and one tile's
// transient activations. See the calibration above.
func DecodePeak(c Config, h, w int, t Tiling) int64 {
	one, _ := tileAreas(h, w, t)
	act := float64(4*decodeCacheFloats(c)*cacheArea(h, w, t)) + float64(decodeTransientPerDim*int64(c.Dim)*one)
	return WeightBytes(c, Decoder) + overheadBytes + int64(estimateMargin*act)
}

// EncodePeak estimates the device memory of encoding video frames of
// 8h×8w (an h×w latent, any number of frames) with the encoder only loaded,
// tiled as t: tiles are encoded one after the other over the whole video, so
// only one tile's caches and activations are alive at a time.
func EncodePeak(c Config, h, w int, t Tiling) int64 {
	one, _ := tileAreas(h, w, t)
	act := float64(4*encodeCacheFloats(c)*one) + float64(encodeTransientPerDim*int64(c.Dim)*one)
	return WeightBytes(c, Encoder) + overheadBytes + int64(estimateMargin*act)
}

// Peak estimates the device memory of one half over an h×w latent tiled as
// t: DecodePeak or EncodePeak.
func Peak(c Config, half Half, h, w int, t Tiling) int64 {
	if half == Encoder {
		return EncodePeak(c, h, w, t)
	}
	return DecodePeak(c, h, w, t)
}

// BudgetError is a VAE stage that cannot fit the device budget even in the
// smallest tiles.
type BudgetError struct {
	Half          Half
	Width, Height int   // the frames' size in pixels
	Need          int64 // the smallest estimate of any tiling: the minimum budget
	Budget        int64 // the device bytes available
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("vae: %s at %dx%d needs at least %.2f GiB of device memory even in tiles (down to %d×%d pixels), but the budget leaves %.2f GiB: raise the VRAM budget to at least %.2f GiB or lower the resolution",
		e.Half, e.Width, e.Height, gib(e.Need), Scale*MinTileSize, Scale*MinTileSize, gib(e.Budget), gib(e.Need))
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// PlanTiling returns how one half should run on an h×w latent within budget
// device bytes (what is free before the half loads; its weights are part of
// the estimate; ≤ 0 means no limit): Tiling{} when whole frames fit; else
// the largest square tiles, overlapping by TileOverlap, whose estimate fits —
// for the decoder frame-major tiles first (frames stream out as they are
// decoded), then Sequential ones (only one tile's caches alive; the frames
// are gathered on the host first). When even MinTileSize tiles do not fit it
// returns a *BudgetError naming the smallest estimate of any tiling.
func PlanTiling(c Config, half Half, h, w int, budget int64) (Tiling, error) {
	if h <= 0 || w <= 0 || c.Dim <= 0 || c.ZDim <= 0 {
		return Tiling{}, fmt.Errorf("vae: planning a %s of a %d×%d latent with config %+v", half, h, w, c)
	}
	need := Peak(c, half, h, w, Tiling{})
	if budget <= 0 || need <= budget {
		return Tiling{}, nil
	}
	modes := []bool{false, true} // Sequential
	if half == Encoder {
		modes = modes[:1] // the encoder is always tile-major
	}
	for _, seq := range modes {
		for size := max(h, w) - 1; size >= MinTileSize; size-- {
			t := Tiling{Size: size, Overlap: TileOverlap(size), Sequential: seq}
			p := Peak(c, half, h, w, t)
			need = min(need, p)
			if p <= budget {
				return t, nil
			}
		}
	}
	return Tiling{}, &BudgetError{Half: half, Width: Scale * w, Height: Scale * h, Need: need, Budget: budget}
}
