package vae

import (
	"fmt"

	"github.com/wan22/wan22/engine"
)

// Tiling configures spatially tiled decoding, for frames too large to
// decode whole. Tiles are squares of Size latent pixels (the last row and
// column of tiles are shifted to end at the border), spaced evenly so that
// neighbours overlap by at least Overlap latent pixels. Each tile keeps its
// own caches, so peak activation memory is that of one tile while the caches
// of all tiles together are about those of the whole frame.
//
// Within the overlap a tile's weight ramps linearly from the tile's inner
// edge, and the blended frame is the weighted mean of the tiles covering each
// pixel. Tiling is approximate: the middle attention block and the convs'
// receptive field see only their tile, so results differ from untiled
// decoding near seams; a larger Overlap reduces the difference.
type Tiling struct {
	Size    int // tile side in latent pixels; 0 disables tiling
	Overlap int // minimum overlap of neighbouring tiles in latent pixels, < Size/2
}

func (t Tiling) check() error {
	if t.Size < 0 || t.Overlap < 0 || (t.Size > 0 && 2*t.Overlap >= t.Size) {
		return fmt.Errorf("vae: tiling %+v: want Size ≥ 0 and 0 ≤ 2·Overlap < Size", t)
	}
	return nil
}

// tileStarts returns the start of each tile along a side of n latent pixels.
func tileStarts(n, size, overlap int) []int {
	if n <= size {
		return []int{0}
	}
	k := (n - overlap + size - overlap - 1) / (size - overlap) // ceil((n−overlap)/(size−overlap)) ≥ 2
	starts := make([]int, k)
	for i := range k {
		// floor(i·(n−size)/(k−1)): gaps are at most size−overlap.
		starts[i] = i * (n - size) / (k - 1)
	}
	return starts
}

// ramp returns the blending weight along one side of a tile of m output
// pixels: 1 inside, falling linearly to the edges that border another tile
// over r pixels.
func ramp(m, r int, before, after bool) []float32 {
	w := make([]float32, m)
	for i := range w {
		v := float32(1)
		if r > 0 && before {
			v = min(v, (float32(i)+0.5)/float32(r))
		}
		if r > 0 && after {
			v = min(v, (float32(m-i)-0.5)/float32(r))
		}
		w[i] = v
	}
	return w
}

type tile struct {
	s      *state
	y0, x0 int       // latent origin
	wy, wx []float32 // blending weights along rows and columns (output pixels)
}

// decodeTiled is Decode with v.Tiling: every latent frame is decoded tile by
// tile, with one state per tile, and blended before it is emitted.
func (v *VAE) decodeTiled(z []float32, T, h, w int, emit EmitFunc) error {
	return blendTiles(v.ops, v.Tiling, T, h, w, func(tl *tile, t, th, tw int) ([]float32, int) {
		return v.decodeFrame(tl.s, z, T, h, w, t, tl.y0, tl.x0, th, tw)
	}, emit)
}

// blendTiles runs decode for every tile of every latent frame t < T of an
// h×w latent and emits the blended, clamped frames. decode returns a tile's
// frames [3, n, 8th, 8tw] and n.
func blendTiles(ops Ops, tiling Tiling, T, h, w int, decode func(tl *tile, t, th, tw int) ([]float32, int), emit EmitFunc) error {
	size, ov := tiling.Size, tiling.Overlap
	th, tw := min(size, h), min(size, w)
	H, W := Scale*h, Scale*w
	TH, TW := Scale*th, Scale*tw
	var tiles []*tile
	defer func() {
		for _, t := range tiles {
			t.s.free()
		}
	}()
	wsum := make([]float32, H*W)
	for _, y0 := range tileStarts(h, size, ov) {
		for _, x0 := range tileStarts(w, size, ov) {
			t := &tile{s: newState(ops), y0: y0, x0: x0,
				wy: ramp(TH, Scale*ov, y0 > 0, y0+th < h),
				wx: ramp(TW, Scale*ov, x0 > 0, x0+tw < w)}
			tiles = append(tiles, t)
			for i, a := range t.wy {
				row := wsum[(Scale*y0+i)*W+Scale*x0:]
				for j, b := range t.wx {
					row[j] += a * b
				}
			}
		}
	}
	first := 0
	for t := range T {
		var acc []float32
		n := 0
		for _, tl := range tiles {
			out, m := decode(tl, t, th, tw)
			if acc == nil {
				n = m
				acc = make([]float32, 3*n*H*W)
			}
			if len(out) != 3*n*TH*TW {
				engine.Failf("vae", "tile at (%d, %d) decoded %d values, want %d", tl.y0, tl.x0, len(out), 3*n*TH*TW)
			}
			for p := range 3 * n {
				for i, a := range tl.wy {
					src := out[(p*TH+i)*TW : (p*TH+i+1)*TW]
					dst := acc[(p*H+Scale*tl.y0+i)*W+Scale*tl.x0:]
					for j, b := range tl.wx {
						dst[j] += a * b * src[j]
					}
				}
			}
		}
		for p := range 3 * n {
			plane := acc[p*H*W : (p+1)*H*W]
			for i := range plane {
				plane[i] /= wsum[i]
			}
		}
		clamp(acc)
		if err := emit(acc, first); err != nil {
			return err
		}
		first += n
	}
	return nil
}
