package wan22

// The QA pass's defects of the library's front door: images of enormous bounds.

import (
	"context"
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/imageprep"
)

// hugeImage is an image of any bounds whose pixels cost nothing: only a
// check of the bounds keeps Tensor from allocating by its width.
type hugeImage struct{ r image.Rectangle }

func (h hugeImage) ColorModel() color.Model { return color.RGBAModel }
func (h hugeImage) Bounds() image.Rectangle { return h.r }
func (h hugeImage) At(int, int) color.Color { return color.White }

// An image of enormous bounds is refused by Resolve (and so by Generate)
// with the limits imageprep.Load applies to files.
func TestResolveRefusesHugeImages(t *testing.T) {
	p := open(t, tiny)
	for name, img := range map[string]image.Image{
		"uniform":     image.NewUniform(color.White), // bounds ±1e9
		"too wide":    hugeImage{image.Rect(0, 0, imageprep.MaxSide+1, 1)},
		"too tall":    hugeImage{image.Rect(5, 5, 6, 6+imageprep.MaxSide)},
		"too many px": hugeImage{image.Rect(0, 0, 16000, 16000)},
		"empty":       image.NewRGBA(image.Rect(3, 3, 3, 9)),
	} {
		for _, size := range [][2]int{{0, 0}, {32, 16}} {
			r := Request{Image: img, Width: size[0], Height: size[1], Frames: 5, Steps: 2}
			_, err := p.Resolve(r)
			require.Error(t, err, name)
			require.ErrorContains(t, err, "wan22: the request's image is ", name)
			var se *imageprep.SizeError
			require.ErrorAs(t, err, &se, name)
			if name == "uniform" {
				require.ErrorContains(t, err, "is 2000000000×2000000000 pixels; images above 16384 pixels a side")
				require.ErrorContains(t, err, "draw it into an image.RGBA")
			}
			started := false
			require.Error(t, p.Generate(context.Background(), r, Output{Frame: func(int, *image.RGBA) error { return nil }, Progress: func(Event) { started = true }}))
			require.False(t, started, "%s: refused before any stage", name)
		}
	}
	// The largest accepted side passes.
	_, err := p.Resolve(Request{Image: hugeImage{image.Rect(0, 0, imageprep.MaxSide, 4)}, Width: 32, Height: 16, Frames: 5, Steps: 2})
	require.NoError(t, err)
}
