package imageprep

import (
	"fmt"
	"image"
	"image/color"

	"github.com/wan22/wan22/internal/plural"
)

// cubicA is the cubic convolution coefficient of torch's bicubic mode.
const cubicA = float32(-0.75)

// norm maps an 8-bit value v to float32 (v/255 − 0.5)/0.5 with the same float32
// operations as TF.to_tensor(img).sub_(0.5).div_(0.5).
var norm = func() (t [256]float32) {
	for v := range t {
		x := float32(v) / 255
		x -= 0.5
		t[v] = x / 0.5
	}
	return t
}()

// taps holds, for each output index along one axis, the 4 clamped source
// indices and their weights.
type taps struct {
	idx [][4]int
	w   [][4]float32
}

// cubicTaps computes torch's upsample_bicubic2d indices and weights for one
// axis (align_corners=False, no antialias), in float32 like
// compute_indices_weights_cubic: scale = in/out, src = scale·(i+0.5) − 0.5,
// i0 = min(floor(src), in−1), t = clamp(src − i0, 0, 1), taps i0−1 … i0+2
// clamped to [0, in−1]. Explicit float32 conversions keep the compiler from
// fusing multiply-adds, so results are the same on every architecture.
func cubicTaps(in, out int) taps {
	tp := taps{idx: make([][4]int, out), w: make([][4]float32, out)}
	scale := float32(in) / float32(out)
	for i := range out {
		src := float32(scale*(float32(i)+0.5)) - 0.5
		i0 := int(floor32(src))
		if i0 > in-1 {
			i0 = in - 1
		}
		t := src - float32(i0)
		t = min(max(t, 0), 1)
		tp.w[i] = cubicCoeffs(t)
		for k := range 4 {
			tp.idx[i][k] = min(max(i0-1+k, 0), in-1)
		}
	}
	return tp
}

// floor32 is floorf for the finite values used here.
func floor32(x float32) float32 {
	f := float32(int(x))
	if f > x {
		f--
	}
	return f
}

// cubicCoeffs returns the 4 weights for fractional offset t, as torch's
// get_cubic_upsample_coefficients.
func cubicCoeffs(t float32) [4]float32 {
	x2 := 1 - t
	return [4]float32{conv2(t + 1), conv1(t), conv1(x2), conv2(x2 + 1)}
}

// conv1 is ((A+2)x − (A+3))x² + 1, for |x| ≤ 1.
func conv1(x float32) float32 {
	p := float32((cubicA+2)*x) - (cubicA + 3)
	p = float32(p * x)
	p = float32(p * x)
	return p + 1
}

// conv2 is ((Ax − 5A)x + 8A)x − 4A, for 1 < |x| < 2.
func conv2(x float32) float32 {
	p := float32(cubicA*x) - 5*cubicA
	p = float32(p*x) + 8*cubicA
	p = float32(p * x)
	return p - 4*cubicA
}

// Tensor returns the conditioning image [3, h, w] (channel-major float32,
// nominally in [−1, 1], overshoot kept) for output size w×h: the image's 8-bit
// RGB is normalised to (v/255 − 0.5)/0.5 and then resized with torch's bicubic
// (see cubicTaps). The 16 taps of an output pixel are summed as torch's CPU
// kernel nests them: each of the 4 source rows is interpolated along x
// (x0·w0 + x1·w1 + x2·w2 + x3·w3, left to right), then those 4 along y.
// Alpha is ignored (straight colour, as PIL's convert("RGB")). The image
// must pass CheckImageSize (its memory goes by its width), and every pixel
// must have a colour: a pixel of an image.Paletted whose palette lacks its
// index (or an empty palette), or whose At returns nil, is an error naming
// the pixel, not a panic. Panics of the image's own methods are not caught.
func Tensor(img image.Image, w, h int) ([]float32, error) {
	if img == nil {
		return nil, fmt.Errorf("imageprep: Tensor: no image")
	}
	b := img.Bounds()
	inW, inH := b.Dx(), b.Dy()
	if err := CheckImageSize(inW, inH); err != nil {
		return nil, fmt.Errorf("imageprep: Tensor: the image %w", err)
	}
	if w <= 0 || h <= 0 || w > MaxSide || h > MaxSide {
		return nil, fmt.Errorf("imageprep: Tensor: output size %d×%d must be 1…%d a side", w, h, MaxSide)
	}
	tx, ty := cubicTaps(inW, w), cubicTaps(inH, h)

	// Horizontal pass over the source rows that some output row uses (without
	// antialiasing, a large downscale reads only ~4 rows per output row).
	slot := make(map[int]int)
	var rows []int
	for _, r := range ty.idx {
		for _, y := range r {
			if _, ok := slot[y]; !ok {
				slot[y] = len(rows)
				rows = append(rows, y)
			}
		}
	}
	// hor: [len(rows), 3, w]
	hor := make([]float32, len(rows)*3*w)
	rgb := make([]uint8, 3*inW)
	plane := make([]float32, inW)
	for s, y := range rows {
		if err := readRow(img, b.Min.Y+y, rgb); err != nil {
			return nil, fmt.Errorf("imageprep: Tensor: the image's %w", err)
		}
		for c := range 3 {
			for x := range inW {
				plane[x] = norm[rgb[3*x+c]]
			}
			dst := hor[(s*3+c)*w : (s*3+c+1)*w]
			for ox := range w {
				dst[ox] = dot4(plane, tx.idx[ox], tx.w[ox])
			}
		}
	}
	// Vertical pass: out [3, h, w].
	out := make([]float32, 3*h*w)
	var src [4][]float32
	for oy := range h {
		for c := range 3 {
			for k, y := range ty.idx[oy] {
				s := slot[y]
				src[k] = hor[(s*3+c)*w : (s*3+c+1)*w]
			}
			wt := ty.w[oy]
			dst := out[(c*h+oy)*w : (c*h+oy+1)*w]
			for ox := range w {
				acc := float32(src[0][ox] * wt[0])
				acc += float32(src[1][ox] * wt[1])
				acc += float32(src[2][ox] * wt[2])
				acc += float32(src[3][ox] * wt[3])
				dst[ox] = acc
			}
		}
	}
	return out, nil
}

// dot4 is ((v[i0]·w0 + v[i1]·w1) + v[i2]·w2) + v[i3]·w3 in float32, unfused.
func dot4(v []float32, idx [4]int, w [4]float32) float32 {
	acc := float32(v[idx[0]] * w[0])
	acc += float32(v[idx[1]] * w[1])
	acc += float32(v[idx[2]] * w[2])
	acc += float32(v[idx[3]] * w[3])
	return acc
}

// readRow writes row y (absolute) of img as 8-bit RGB into dst [3·width],
// dropping alpha without compositing (straight, not premultiplied, colour).
// A pixel without a colour is an error naming it: an image.Paletted pixel
// whose index its palette lacks (which image.Paletted.At would panic on, or
// answer nil for with an empty palette) or holds as nil, or an At that
// returns nil.
func readRow(img image.Image, y int, dst []uint8) error {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.NRGBA:
		p := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := range b.Dx() {
			dst[3*x], dst[3*x+1], dst[3*x+2] = p[4*x], p[4*x+1], p[4*x+2]
		}
		return nil
	case *image.RGBA:
		p := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := range b.Dx() {
			if p[4*x+3] != 0xff {
				c := color.NRGBAModel.Convert(m.RGBAAt(b.Min.X+x, y)).(color.NRGBA)
				dst[3*x], dst[3*x+1], dst[3*x+2] = c.R, c.G, c.B
				continue
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = p[4*x], p[4*x+1], p[4*x+2]
		}
		return nil
	case *image.YCbCr:
		for x := range b.Dx() {
			c := m.YCbCrAt(b.Min.X+x, y)
			dst[3*x], dst[3*x+1], dst[3*x+2] = color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
		}
		return nil
	case *image.NYCbCrA:
		for x := range b.Dx() {
			c := m.YCbCrAt(b.Min.X+x, y)
			dst[3*x], dst[3*x+1], dst[3*x+2] = color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
		}
		return nil
	case *image.NRGBA64:
		for x := range b.Dx() {
			c := m.NRGBA64At(b.Min.X+x, y)
			dst[3*x], dst[3*x+1], dst[3*x+2] = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
		}
		return nil
	case *image.Paletted:
		for x := range b.Dx() {
			i := m.ColorIndexAt(b.Min.X+x, y)
			if int(i) >= len(m.Palette) {
				return fmt.Errorf("pixel (%d, %d) uses palette index %d, the palette has %s", b.Min.X+x, y, i, plural.Count(len(m.Palette), "colour"))
			}
			if m.Palette[i] == nil {
				return fmt.Errorf("pixel (%d, %d) uses palette index %d, a nil colour", b.Min.X+x, y, i)
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = straightRGB(m.Palette[i])
		}
		return nil
	case *image.Gray:
		p := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := range b.Dx() {
			dst[3*x], dst[3*x+1], dst[3*x+2] = p[x], p[x], p[x]
		}
		return nil
	}
	for x := range b.Dx() {
		c := img.At(b.Min.X+x, y)
		if c == nil {
			return fmt.Errorf("pixel (%d, %d) has no colour (At returned nil)", b.Min.X+x, y)
		}
		dst[3*x], dst[3*x+1], dst[3*x+2] = straightRGB(c)
	}
	return nil
}

// straightRGB returns the 8-bit straight (not premultiplied) colour of c:
// the stored RGB of a non-premultiplied colour, else un-premultiplied.
func straightRGB(c color.Color) (r, g, b uint8) {
	switch v := c.(type) {
	case color.NRGBA:
		return v.R, v.G, v.B
	case color.NRGBA64:
		return uint8(v.R >> 8), uint8(v.G >> 8), uint8(v.B >> 8)
	}
	n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
	return uint8(n.R >> 8), uint8(n.G >> 8), uint8(n.B >> 8)
}
