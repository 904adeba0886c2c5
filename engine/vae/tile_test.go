package vae

import (
	"context"
	"math"
	"testing"
)

func TestTileStarts(t *testing.T) {
	for n := 1; n <= 60; n++ {
		for size := 3; size <= 20; size++ {
			for ov := 0; 2*ov < size; ov++ {
				starts := tileStarts(n, size, ov)
				if starts[0] != 0 || starts[len(starts)-1] != max(0, n-size) {
					t.Fatalf("n=%d size=%d ov=%d: starts %v do not span the side", n, size, ov, starts)
				}
				for i := 1; i < len(starts); i++ {
					if gap := starts[i] - starts[i-1]; gap <= 0 || gap > size-ov {
						t.Fatalf("n=%d size=%d ov=%d: starts %v: gap %d", n, size, ov, starts, gap)
					}
				}
			}
		}
	}
}

// TestBlendTiles checks the tile placement, weighting and frame grouping
// with a fake decoder that renders crops of one global video: every tile
// agrees on the overlaps, so the blend must reproduce the video exactly.
func TestBlendTiles(t *testing.T) {
	const T, h, w = 3, 7, 11
	H, W := Scale*h, Scale*w
	pixel := func(c, f, y, x int) float32 { // in (−1, 1): no clamping
		return float32(0.9 * math.Sin(float64(c*1000+f*100+y*7+x*3)/17))
	}
	for _, tiling := range []Tiling{{Size: 4, Overlap: 1}, {Size: 5, Overlap: 2}, {Size: 3}, {Size: 20, Overlap: 3}} {
		decode := func(tl *tile, lt, th, tw int) ([]float32, int) {
			n, f0 := 4, 1+4*(lt-1)
			if lt == 0 {
				n, f0 = 1, 0
			}
			TH, TW := Scale*th, Scale*tw
			out := make([]float32, 3*n*TH*TW)
			for c := range 3 {
				for f := range n {
					for y := range TH {
						for x := range TW {
							out[((c*n+f)*TH+y)*TW+x] = pixel(c, f0+f, Scale*tl.y0+y, Scale*tl.x0+x)
						}
					}
				}
			}
			return out, n
		}
		next := 0
		err := blendTiles(context.Background(), nil, tiling, T, h, w, decode, func(frames []float32, first int) error {
			n := len(frames) / (3 * H * W)
			if first != next {
				t.Fatalf("%+v: frames at %d, want %d", tiling, first, next)
			}
			for c := range 3 {
				for f := range n {
					for y := range H {
						for x := range W {
							got, want := frames[((c*n+f)*H+y)*W+x], pixel(c, first+f, y, x)
							if math.Abs(float64(got-want)) > 1e-6 {
								t.Fatalf("%+v: pixel (%d, %d, %d, %d) = %g, want %g", tiling, c, first+f, y, x, got, want)
							}
						}
					}
				}
			}
			next += n
			return nil
		})
		if err != nil || next != 1+4*(T-1) {
			t.Fatalf("%+v: %v after %d frames", tiling, err, next)
		}
	}
}
