package imageprep

import (
	"fmt"
	"image"
	"image/color"
)

// Orientation is an EXIF orientation (TIFF tag 0x0112): how the pixels
// stored in a file must be turned or mirrored to show the picture upright.
// Phones store a portrait photo as landscape pixels with orientation 6.
// The values are those of the EXIF standard, 1 to 8; 0 means the file says
// nothing (no EXIF, no tag, or EXIF that cannot be read).
type Orientation uint8

// The EXIF orientations, named by the transform that displays the stored
// pixels upright.
const (
	OrientNone       Orientation = 0 // no orientation in the file: the stored pixels are upright
	OrientNormal     Orientation = 1 // stored upright
	OrientFlipH      Orientation = 2 // mirror left to right
	OrientRotate180  Orientation = 3 // rotate 180°
	OrientFlipV      Orientation = 4 // mirror top to bottom
	OrientTranspose  Orientation = 5 // mirror across the top-left to bottom-right diagonal
	OrientRotate90   Orientation = 6 // rotate 90° clockwise
	OrientTransverse Orientation = 7 // mirror across the top-right to bottom-left diagonal
	OrientRotate270  Orientation = 8 // rotate 270° clockwise (90° counter-clockwise)
)

var orientNames = [...]string{
	OrientNone:       "none",
	OrientNormal:     "1 (upright)",
	OrientFlipH:      "2 (mirror left to right)",
	OrientRotate180:  "3 (rotate 180°)",
	OrientFlipV:      "4 (mirror top to bottom)",
	OrientTranspose:  "5 (mirror across the main diagonal)",
	OrientRotate90:   "6 (rotate 90° clockwise)",
	OrientTransverse: "7 (mirror across the anti-diagonal)",
	OrientRotate270:  "8 (rotate 90° counter-clockwise)",
}

// String is the tag value and its transform, "6 (rotate 90° clockwise)",
// or "none" for 0.
func (o Orientation) String() string {
	if int(o) < len(orientNames) {
		return orientNames[o]
	}
	return fmt.Sprintf("%d (not an EXIF orientation)", uint8(o))
}

// Valid reports whether o is one of the EXIF values 1 to 8.
func (o Orientation) Valid() bool { return o >= OrientNormal && o <= OrientRotate270 }

// Changes reports whether applying o changes the pixels: a valid value
// other than 1.
func (o Orientation) Changes() bool { return o.Valid() && o != OrientNormal }

// Swaps reports whether o turns the picture a quarter (5 to 8): the
// upright width is the stored height and the other way round.
func (o Orientation) Swaps() bool { return o >= OrientTranspose && o <= OrientRotate270 }

// Size returns the upright size of a w×h stored image.
func (o Orientation) Size(w, h int) (int, int) {
	if o.Swaps() {
		return h, w
	}
	return w, h
}

// source returns the stored pixel (sx, sy), relative to the stored image's
// top-left, shown at (x, y) of the upright image; sw×sh is the stored size.
func (o Orientation) source(x, y, sw, sh int) (sx, sy int) {
	switch o {
	case OrientFlipH:
		return sw - 1 - x, y
	case OrientRotate180:
		return sw - 1 - x, sh - 1 - y
	case OrientFlipV:
		return x, sh - 1 - y
	case OrientTranspose:
		return y, x
	case OrientRotate90:
		return y, sh - 1 - x
	case OrientTransverse:
		return sw - 1 - y, sh - 1 - x
	case OrientRotate270:
		return sw - 1 - y, x
	}
	return x, y
}

// Apply returns img as it is shown upright: the stored pixels turned
// and/or mirrored as o says, in a new image whose bounds start at (0, 0)
// (of size o.Size(w, h)). The pixel values are copied exactly; the type is
// kept for the image types of the decoders (Gray, Gray16, RGBA, RGBA64,
// NRGBA, NRGBA64, CMYK, Paletted, Alpha, Alpha16), a YCbCr or NYCbCrA
// image becomes an NRGBA (with color.YCbCrToRGB, the conversion Tensor
// makes too, so its tensor is unchanged) and any other an NRGBA64. When o
// changes nothing (0, 1 or not an EXIF value) img itself is returned.
func (o Orientation) Apply(img image.Image) image.Image {
	if img == nil || !o.Changes() {
		return img
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := o.Size(sw, sh)
	r := image.Rect(0, 0, dw, dh)
	if sw <= 0 || sh <= 0 {
		return image.NewRGBA(r)
	}
	// flat is the upright copy of the pixels of a Pix-and-Stride image type
	// whose pixels are bpp bytes each (rows bpp·dw bytes apart in the copy).
	flat := func(pix []byte, offset func(x, y int) int, stride, bpp int) []byte {
		return o.remap(pix[offset(b.Min.X, b.Min.Y):], stride, bpp, sw, sh)
	}
	switch m := img.(type) {
	case *image.Gray:
		return &image.Gray{Pix: flat(m.Pix, m.PixOffset, m.Stride, 1), Stride: dw, Rect: r}
	case *image.Gray16:
		return &image.Gray16{Pix: flat(m.Pix, m.PixOffset, m.Stride, 2), Stride: 2 * dw, Rect: r}
	case *image.Alpha:
		return &image.Alpha{Pix: flat(m.Pix, m.PixOffset, m.Stride, 1), Stride: dw, Rect: r}
	case *image.Alpha16:
		return &image.Alpha16{Pix: flat(m.Pix, m.PixOffset, m.Stride, 2), Stride: 2 * dw, Rect: r}
	case *image.RGBA:
		return &image.RGBA{Pix: flat(m.Pix, m.PixOffset, m.Stride, 4), Stride: 4 * dw, Rect: r}
	case *image.NRGBA:
		return &image.NRGBA{Pix: flat(m.Pix, m.PixOffset, m.Stride, 4), Stride: 4 * dw, Rect: r}
	case *image.RGBA64:
		return &image.RGBA64{Pix: flat(m.Pix, m.PixOffset, m.Stride, 8), Stride: 8 * dw, Rect: r}
	case *image.NRGBA64:
		return &image.NRGBA64{Pix: flat(m.Pix, m.PixOffset, m.Stride, 8), Stride: 8 * dw, Rect: r}
	case *image.CMYK:
		return &image.CMYK{Pix: flat(m.Pix, m.PixOffset, m.Stride, 4), Stride: 4 * dw, Rect: r}
	case *image.Paletted:
		return &image.Paletted{Pix: flat(m.Pix, m.PixOffset, m.Stride, 1), Stride: dw, Rect: r, Palette: append(color.Palette(nil), m.Palette...)}
	case *image.YCbCr:
		return o.fromYCbCr(m, nil)
	case *image.NYCbCrA:
		return o.fromYCbCr(&m.YCbCr, m)
	}
	d := image.NewNRGBA64(r)
	for y := range dh {
		for x := range dw {
			sx, sy := o.source(x, y, sw, sh)
			d.SetNRGBA64(x, y, color.NRGBA64Model.Convert(img.At(b.Min.X+sx, b.Min.Y+sy)).(color.NRGBA64))
		}
	}
	return d
}

// fromYCbCr returns the upright copy of a YCbCr image as an NRGBA, the
// colours converted as Tensor converts them (color.YCbCrToRGB) and the
// alpha taken straight from alpha (an NYCbCrA whose YCbCr ycc is) or opaque.
func (o Orientation) fromYCbCr(ycc *image.YCbCr, alpha *image.NYCbCrA) *image.NRGBA {
	b := ycc.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := o.Size(sw, sh)
	d := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		row := d.Pix[y*d.Stride:]
		for x := range dw {
			sx, sy := o.source(x, y, sw, sh)
			c := ycc.YCbCrAt(b.Min.X+sx, b.Min.Y+sy)
			row[4*x], row[4*x+1], row[4*x+2] = color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
			row[4*x+3] = 0xff
			if alpha != nil {
				row[4*x+3] = alpha.A[alpha.AOffset(b.Min.X+sx, b.Min.Y+sy)]
			}
		}
	}
	return d
}

// remap returns the upright copy of the stored sw×sh pixels src (rows
// srcStride bytes apart, bpp bytes a pixel, starting at the top-left
// pixel), its rows dw·bpp bytes apart for the upright width dw.
func (o Orientation) remap(src []byte, srcStride, bpp, sw, sh int) []byte {
	dw, dh := o.Size(sw, sh)
	dst := make([]byte, dw*dh*bpp)
	for y := range dh {
		row := dst[y*dw*bpp : (y+1)*dw*bpp]
		for x := range dw {
			sx, sy := o.source(x, y, sw, sh)
			i := sy*srcStride + sx*bpp
			copy(row[x*bpp:x*bpp+bpp], src[i:i+bpp])
		}
	}
	return dst
}
