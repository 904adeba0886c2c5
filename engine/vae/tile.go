package vae

import (
	"context"
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
//
// By default a decode runs frame-major: every latent frame is decoded tile
// by tile and its frames are emitted at once, with the caches of all tiles
// alive. With Sequential, it runs tile-major: each tile is decoded over the
// whole video with one state that is freed before the next tile starts, so
// only one tile's caches are alive, and the blended frames are gathered on
// the host ([3, F, H, W] float32) and emitted once the last tile is done.
// Encoding is always tile-major (its latent is gathered anyway).
type Tiling struct {
	Size       int  // tile side in latent pixels; 0 disables tiling
	Overlap    int  // minimum overlap of neighbouring tiles in latent pixels, < Size/2
	Sequential bool // decode tile after tile over the whole video (see above)
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

// add accumulates a tile's output out [3, n, TH, TW], weighted, into frames
// [f0, f0+n) of acc [3, F, H, W].
func (tl *tile) add(acc []float32, F, f0 int, out []float32, n, H, W int) {
	TH, TW := len(tl.wy), len(tl.wx)
	for c := range 3 {
		for f := range n {
			for i, a := range tl.wy {
				src := out[((c*n+f)*TH+i)*TW : ((c*n+f)*TH+i+1)*TW]
				dst := acc[((c*F+f0+f)*H+Scale*tl.y0+i)*W+Scale*tl.x0:]
				for j, b := range tl.wx {
					dst[j] += a * b * src[j]
				}
			}
		}
	}
}

// decodeSequential is Decode with a Sequential v.Tiling: tile after tile,
// each over every latent frame with its own state (freed before the next
// tile starts), blended into the whole video on the host, which is then
// emitted in the usual groups (1 frame, then 4).
func (v *VAE) decodeSequential(ctx context.Context, z []float32, T, h, w int, emit EmitFunc) error {
	size, ov := v.Tiling.Size, v.Tiling.Overlap
	th, tw := min(size, h), min(size, w)
	F, H, W := 1+4*(T-1), Scale*h, Scale*w
	TH, TW := Scale*th, Scale*tw
	video := make([]float32, 3*F*H*W)
	wsum := make([]float32, H*W)
	for _, y0 := range tileStarts(h, size, ov) {
		for _, x0 := range tileStarts(w, size, ov) {
			tl := &tile{s: newState(ctx, v.ops), y0: y0, x0: x0,
				wy: ramp(TH, Scale*ov, y0 > 0, y0+th < h),
				wx: ramp(TW, Scale*ov, x0 > 0, x0+tw < w)}
			func() {
				defer tl.s.free()
				first := 0
				for t := range T {
					out, n := v.decodeFrame(tl.s, z, T, h, w, t, y0, x0, th, tw)
					if len(out) != 3*n*TH*TW || first+n > F {
						engine.Failf("vae", "tile at (%d, %d) decoded %d values at frame %d", y0, x0, len(out), first)
					}
					tl.add(video, F, first, out, n, H, W)
					first += n
				}
			}()
			for i, a := range tl.wy {
				row := wsum[(Scale*y0+i)*W+Scale*x0:]
				for j, b := range tl.wx {
					row[j] += a * b
				}
			}
		}
	}
	for p := range 3 * F {
		plane := video[p*H*W : (p+1)*H*W]
		for i := range plane {
			plane[i] /= wsum[i]
		}
	}
	clamp(video)
	for f0 := 0; f0 < F; {
		n := 4
		if f0 == 0 {
			n = 1
		}
		if err := emit(frames(video, 3, F, H*W, f0, n), f0); err != nil {
			return err
		}
		f0 += n
	}
	return nil
}

// decodeTiled is Decode with v.Tiling: every latent frame is decoded tile by
// tile, with one state per tile, and blended before it is emitted.
func (v *VAE) decodeTiled(ctx context.Context, z []float32, T, h, w int, emit EmitFunc) error {
	return blendTiles(ctx, v.ops, v.Tiling, T, h, w, func(tl *tile, t, th, tw int) ([]float32, int) {
		return v.decodeFrame(tl.s, z, T, h, w, t, tl.y0, tl.x0, th, tw)
	}, emit)
}

// blendTiles runs decode for every tile of every latent frame t < T of an
// h×w latent and emits the blended, clamped frames. decode returns a tile's
// frames [3, n, 8th, 8tw] and n.
func blendTiles(ctx context.Context, ops Ops, tiling Tiling, T, h, w int, decode func(tl *tile, t, th, tw int) ([]float32, int), emit EmitFunc) error {
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
			t := &tile{s: newState(ctx, ops), y0: y0, x0: x0,
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
			tl.add(acc, n, 0, out, n, H, W)
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

// encodeTiled is Encode with v.EncodeTiling: the video is encoded one
// spatial tile at a time, each over all its frames with its own state (so
// only one tile's caches are alive at once), and the tiles' latents are
// blended with weights that ramp over the overlap, in latent pixels. The
// normalization is affine per channel, so blending normalized latents is the
// same as normalizing the blend.
//
// video: [3, F, H, W] → [ZDim, T, H/8, W/8]
func (v *VAE) encodeTiled(ctx context.Context, video []float32, F, H, W int) []float32 {
	z, size, ov := v.Config.ZDim, v.EncodeTiling.Size, v.EncodeTiling.Overlap
	T, h, w := 1+(F-1)/4, H/Scale, W/Scale
	th, tw := min(size, h), min(size, w)
	TH, TW := Scale*th, Scale*tw
	latent := make([]float32, z*T*h*w)
	wsum := make([]float32, h*w)
	crop := make([]float32, 3*F*TH*TW)
	for _, y0 := range tileStarts(h, size, ov) {
		for _, x0 := range tileStarts(w, size, ov) {
			wy := ramp(th, ov, y0 > 0, y0+th < h)
			wx := ramp(tw, ov, x0 > 0, x0+tw < w)
			for p := range 3 * F { // [3·F, H, W] → [3·F, TH, TW] at (8y0, 8x0)
				for i := range TH {
					src := video[(p*H+Scale*y0+i)*W+Scale*x0:]
					copy(crop[(p*TH+i)*TW:(p*TH+i+1)*TW], src[:TW])
				}
			}
			part := v.encodeWhole(ctx, crop, F, TH, TW) // [z, T, th, tw]
			for p := range z * T {
				for i, a := range wy {
					src := part[(p*th+i)*tw : (p*th+i+1)*tw]
					dst := latent[(p*h+y0+i)*w+x0:]
					for j, b := range wx {
						dst[j] += a * b * src[j]
					}
				}
			}
			for i, a := range wy {
				row := wsum[(y0+i)*w+x0:]
				for j, b := range wx {
					row[j] += a * b
				}
			}
		}
	}
	for p := range z * T {
		plane := latent[p*h*w : (p+1)*h*w]
		for i := range plane {
			plane[i] /= wsum[i]
		}
	}
	return latent
}
