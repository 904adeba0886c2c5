package imageprep

import (
	"image"
	"image/color"
	"strings"
	"testing"
)

// nilColour is an image whose At has no colour for one pixel.
type nilColour struct{ image.Rectangle }

func (nilColour) ColorModel() color.Model   { return color.RGBAModel }
func (m nilColour) Bounds() image.Rectangle { return m.Rectangle }
func (nilColour) At(x, y int) color.Color {
	if x == 3 && y == 2 {
		return nil
	}
	return color.Gray{Y: 7}
}

// TestTensorPixelsWithoutColour: a pixel that has no colour (an
// image.Paletted index its palette lacks, an empty palette, a nil palette
// entry, an At answering nil) is an error naming the pixel and the problem;
// reading it panicked with an index out of range (or a nil dereference).
func TestTensorPixelsWithoutColour(t *testing.T) {
	short := image.NewPaletted(image.Rect(2, 1, 8, 5), color.Palette{color.Black, color.White})
	short.SetColorIndex(5, 3, 9)
	single := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black})
	single.SetColorIndex(2, 1, 3)
	holed := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, nil})
	holed.SetColorIndex(1, 2, 1)
	for name, c := range map[string]struct {
		img  image.Image
		want string
	}{
		"index past the palette": {short, "pixel (5, 3) uses palette index 9, the palette has 2 colours"},
		"one colour":             {single, "pixel (2, 1) uses palette index 3, the palette has 1 colour"},
		"empty palette":          {image.NewPaletted(image.Rect(0, 0, 4, 4), nil), "pixel (0, 0) uses palette index 0, the palette has 0 colours"},
		"nil palette colour":     {holed, "pixel (1, 2) uses palette index 1, a nil colour"},
		"At returns nil":         {nilColour{image.Rect(0, 0, 6, 4)}, "pixel (3, 2) has no colour (At returned nil)"},
	} {
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s: Tensor panicked: %v", name, p)
				}
			}()
			_, err = Tensor(c.img, 4, 4)
		}()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "imageprep: Tensor: the image's pixel") {
			t.Errorf("%s: err = %v, want it to say %q", name, err, c.want)
		}
	}
	// A palette that has every index used reads as its colours.
	ok := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.Black, color.White})
	ok.SetColorIndex(1, 0, 1)
	got, err := Tensor(ok, 2, 1)
	if err != nil || got[0] != -1 || got[1] != 1 {
		t.Fatalf("Tensor of a well-formed palette = %v, %v; want [-1 1 …]", got, err)
	}
}
