package imageprep

import "image"

// TestImage returns a deterministic synthetic w×h opaque test image for demos
// and tests: a red/green gradient over a blue ramp, a filled disc, a bar of
// hard-edged colour blocks and a checkerboard corner. Only integer arithmetic
// is used, so it is identical on every platform. w and h must be positive.
func TestImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	if w <= 0 || h <= 0 {
		return img
	}
	cx, cy, r := w*2/3, h/2, min(w, h)/4
	for y := range h {
		for x := range w {
			red := uint8(255 * x / max(w-1, 1))
			green := uint8(255 * y / max(h-1, 1))
			blue := uint8(64 + 128*((x+y)%max(w/2, 1))/max(w/2, 1))
			dx, dy := x-cx, y-cy
			switch {
			case dx*dx+dy*dy <= r*r: // disc: warm yellow with a dark rim
				red, green, blue = 250, 210, 40
				if dx*dx+dy*dy > (r-max(r/8, 1))*(r-max(r/8, 1)) {
					red, green, blue = 60, 30, 10
				}
			case y >= h*3/4 && y < h*3/4+max(h/10, 1) && x >= w/16 && x < w*9/16: // colour bar
				bar := [6][3]uint8{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}, {0, 0, 0}, {0, 255, 255}}
				c := bar[(x-w/16)*6/max(w/2, 1)%6]
				red, green, blue = c[0], c[1], c[2]
			case x < w/4 && y < h/4: // checkerboard
				cell := max(min(w, h)/32, 1)
				if (x/cell+y/cell)%2 == 0 {
					red, green, blue = 240, 240, 240
				} else {
					red, green, blue = 20, 20, 20
				}
			}
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = red, green, blue, 255
		}
	}
	return img
}
