package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

// The upright picture of the stored 3×2 image
//
//	a b c
//	d e f
//
// for every orientation, written out by hand (rows top to bottom).
var orientWant = map[Orientation][]string{
	OrientNone:       {"abc", "def"},
	OrientNormal:     {"abc", "def"},
	OrientFlipH:      {"cba", "fed"},
	OrientRotate180:  {"fed", "cba"},
	OrientFlipV:      {"def", "abc"},
	OrientTranspose:  {"ad", "be", "cf"},
	OrientRotate90:   {"da", "eb", "fc"},
	OrientTransverse: {"fc", "eb", "da"},
	OrientRotate270:  {"cf", "be", "ad"},
}

// letters3x2 returns the stored 3×2 test picture in several image types,
// each pixel's grey level (or palette index) the letter a…f, at bounds
// that do not start at (0, 0) where the type allows.
func letters3x2() map[string]image.Image {
	at := func(x, y int) uint8 { return "abcdef"[3*y+x] }
	r := image.Rect(5, 7, 8, 9) // 3×2 at (5, 7)
	gray, rgba, nrgba, nrgba64 := image.NewGray(r), image.NewRGBA(r), image.NewNRGBA(r), image.NewNRGBA64(r)
	cmyk, g16 := image.NewCMYK(r), image.NewGray16(r)
	var pal color.Palette
	for i := range 256 {
		pal = append(pal, color.Gray{uint8(i)})
	}
	paletted := image.NewPaletted(r, pal)
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio444)
	nycca := image.NewNYCbCrA(r, image.YCbCrSubsampleRatio444)
	// A sub-image of a larger one: its Pix does not start at its top-left.
	big := image.NewRGBA(image.Rect(0, 0, 10, 10))
	sub := big.SubImage(image.Rect(4, 3, 7, 5)).(*image.RGBA)
	for y := range 2 {
		for x := range 3 {
			v := at(x, y)
			gray.SetGray(r.Min.X+x, r.Min.Y+y, color.Gray{v})
			g16.SetGray16(r.Min.X+x, r.Min.Y+y, color.Gray16{uint16(v) * 0x101})
			rgba.SetRGBA(r.Min.X+x, r.Min.Y+y, color.RGBA{v, v, v, 255})
			nrgba.SetNRGBA(r.Min.X+x, r.Min.Y+y, color.NRGBA{v, v, v, 255})
			nrgba64.SetNRGBA64(r.Min.X+x, r.Min.Y+y, color.NRGBA64{uint16(v) * 0x101, uint16(v) * 0x101, uint16(v) * 0x101, 0xffff})
			cmyk.SetCMYK(r.Min.X+x, r.Min.Y+y, color.CMYK{0, 0, 0, 255 - v})
			paletted.SetColorIndex(r.Min.X+x, r.Min.Y+y, v)
			ycc.Y[ycc.YOffset(r.Min.X+x, r.Min.Y+y)] = v
			ycc.Cb[ycc.COffset(r.Min.X+x, r.Min.Y+y)], ycc.Cr[ycc.COffset(r.Min.X+x, r.Min.Y+y)] = 128, 128
			nycca.Y[nycca.YOffset(r.Min.X+x, r.Min.Y+y)] = v
			nycca.Cb[nycca.COffset(r.Min.X+x, r.Min.Y+y)], nycca.Cr[nycca.COffset(r.Min.X+x, r.Min.Y+y)] = 128, 128
			nycca.A[nycca.AOffset(r.Min.X+x, r.Min.Y+y)] = 255
			sub.SetRGBA(4+x, 3+y, color.RGBA{v, v, v, 255})
		}
	}
	return map[string]image.Image{
		"Gray": gray, "Gray16": g16, "RGBA": rgba, "NRGBA": nrgba, "NRGBA64": nrgba64, "CMYK": cmyk,
		"Paletted": paletted, "YCbCr": ycc, "NYCbCrA": nycca, "RGBA sub-image": sub,
		"other type": otherImage{gray},
	}
}

// otherImage hides an image's type, for Apply's generic path.
type otherImage struct{ image.Image }

// letter reads back the letter of a pixel of letters3x2 after Apply.
func letter(img image.Image, x, y int) byte {
	c := img.At(x, y)
	if p, ok := img.(*image.Paletted); ok {
		return byte(p.ColorIndexAt(x, y))
	}
	r, _, _, _ := color.NRGBA64Model.Convert(c).RGBA()
	return byte(r >> 8)
}

// TestOrientationApply checks every pixel of every orientation of a 3×2
// picture against the hand-written tables, for each image type Apply
// handles apart.
func TestOrientationApply(t *testing.T) {
	for name, img := range letters3x2() {
		for o, want := range orientWant {
			got := o.Apply(img)
			if !o.Changes() {
				if got != img {
					t.Errorf("%s, orientation %v: Apply returned a new image, want img itself", name, o)
				}
				continue
			}
			b := got.Bounds()
			if b.Min != (image.Point{}) || b.Dx() != len(want[0]) || b.Dy() != len(want) {
				t.Errorf("%s, orientation %v: bounds %v, want %d×%d at (0, 0)", name, o, b, len(want[0]), len(want))
				continue
			}
			var rows []string
			for y := range b.Dy() {
				var row []byte
				for x := range b.Dx() {
					row = append(row, letter(got, x, y))
				}
				rows = append(rows, string(row))
			}
			if strings.Join(rows, "/") != strings.Join(want, "/") {
				t.Errorf("%s, orientation %v: %s, want %s", name, o, strings.Join(rows, "/"), strings.Join(want, "/"))
			}
			if w, h := o.Size(3, 2); w != b.Dx() || h != b.Dy() {
				t.Errorf("orientation %v: Size(3, 2) = %d×%d, Apply gives %v", o, w, h, b)
			}
		}
	}
	// The decoders' types are kept; YCbCr and NYCbCrA become NRGBA.
	imgs := letters3x2()
	for name, want := range map[string]string{"Gray": "*image.Gray", "Gray16": "*image.Gray16", "Paletted": "*image.Paletted",
		"NRGBA": "*image.NRGBA", "CMYK": "*image.CMYK", "YCbCr": "*image.NRGBA", "NYCbCrA": "*image.NRGBA", "other type": "*image.NRGBA64"} {
		if got := fmt.Sprintf("%T", OrientRotate90.Apply(imgs[name])); got != want {
			t.Errorf("%s rotated is a %s, want %s", name, got, want)
		}
	}
	// Apply copies: the stored image is left as it was.
	g := imgs["Gray"].(*image.Gray)
	before := append([]byte(nil), g.Pix...)
	OrientRotate180.Apply(g).(*image.Gray).Pix[0] = 'z'
	if !bytes.Equal(g.Pix, before) {
		t.Error("Apply changed the stored image")
	}
	if OrientRotate90.Apply(nil) != nil {
		t.Error("Apply(nil) is not nil")
	}
	if e := OrientRotate90.Apply(image.NewGray(image.Rect(0, 0, 0, 5))); e.Bounds() != image.Rect(0, 0, 5, 0) {
		t.Errorf("an empty 0×5 image rotated: %v", e.Bounds())
	}
}

// Applying an orientation and then its inverse gives back the stored
// pixels, on a picture larger than the tables' (odd sizes).
func TestOrientationInverse(t *testing.T) {
	inverse := map[Orientation]Orientation{OrientFlipH: OrientFlipH, OrientRotate180: OrientRotate180, OrientFlipV: OrientFlipV,
		OrientTranspose: OrientTranspose, OrientRotate90: OrientRotate270, OrientTransverse: OrientTransverse, OrientRotate270: OrientRotate90}
	src := TestImage(37, 21)
	for o, inv := range inverse {
		back := inv.Apply(o.Apply(src)).(*image.RGBA)
		if back.Bounds() != src.Bounds() || !bytes.Equal(back.Pix, src.Pix) {
			t.Errorf("orientation %v then %v does not give back the stored pixels", o, inv)
		}
	}
}

func TestOrientationNames(t *testing.T) {
	for o, want := range map[Orientation]string{0: "none", 1: "1 (upright)", 6: "6 (rotate 90° clockwise)",
		8: "8 (rotate 90° counter-clockwise)", 9: "9 (not an EXIF orientation)"} {
		if o.String() != want {
			t.Errorf("Orientation(%d).String() = %q, want %q", uint8(o), o.String(), want)
		}
	}
	for o := range Orientation(12) {
		if o.Valid() != (o >= 1 && o <= 8) || o.Changes() != (o >= 2 && o <= 8) || o.Swaps() != (o >= 5 && o <= 8) {
			t.Errorf("Orientation(%d): Valid %v, Changes %v, Swaps %v", uint8(o), o.Valid(), o.Changes(), o.Swaps())
		}
	}
}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiffEXIF is a TIFF structure in byte order bo whose IFD0 holds a Make
// entry and then Orientation v as one entry of type typ (3 SHORT, 4 LONG).
func tiffEXIF(bo byteOrder, typ uint16, v uint32) []byte {
	b := []byte("II*\x00")
	if bo == binary.BigEndian {
		b = []byte("MM\x00*")
	}
	b = bo.AppendUint32(b, 8)
	b = bo.AppendUint16(b, 2)
	// 0x010f Make, ASCII, 4 bytes inline: "Go!\0".
	b = bo.AppendUint16(b, 0x010f)
	b = bo.AppendUint16(b, 2)
	b = bo.AppendUint32(b, 4)
	b = append(b, "Go!\x00"...)
	b = bo.AppendUint16(b, 0x0112)
	b = bo.AppendUint16(b, typ)
	b = bo.AppendUint32(b, 1)
	if typ == 3 {
		b = bo.AppendUint16(b, uint16(v))
		b = append(b, 0, 0)
	} else {
		b = bo.AppendUint32(b, v)
	}
	return bo.AppendUint32(b, 0) // no IFD1
}

// jpegWithEXIF puts an APP1 "Exif\0\0" segment holding tiff after the SOI
// of the JPEG file jpg.
func jpegWithEXIF(jpg, tiff []byte) []byte {
	seg := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(2+len(exifPrefix)+len(tiff)))
	seg = append(append(seg, exifPrefix...), tiff...)
	return append(append(append([]byte(nil), jpg[:2]...), seg...), jpg[2:]...)
}

// pngChunk is a PNG chunk of type typ with data, its CRC correct.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(append(c, typ...), data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// pngWithEXIF puts an eXIf chunk holding tiff into the PNG file p: after
// IHDR, or just before IEND when late.
func pngWithEXIF(p, tiff []byte, late bool) []byte {
	at := 33 // signature 8, IHDR 25
	if late {
		at = len(p) - 12
	}
	return append(append(append([]byte(nil), p[:at]...), pngChunk("eXIf", tiff)...), p[at:]...)
}

// webpWithEXIF is a 3×2 lossless WebP (one colour) in the extended format:
// VP8X, an EXIF chunk holding tiff (padded to even), then VP8L.
func webpWithEXIF(tiff []byte) []byte {
	vp8x := []byte{'V', 'P', '8', 'X', 10, 0, 0, 0, 0x08, 0, 0, 0, 2, 0, 0, 1, 0, 0} // EXIF flag, canvas 3×2
	ex := binary.LittleEndian.AppendUint32([]byte("EXIF"), uint32(len(tiff)))
	ex = append(ex, tiff...)
	if len(tiff)%2 == 1 {
		ex = append(ex, 0)
	}
	vp8l := []byte{'V', 'P', '8', 'L', 13, 0, 0, 0, 0x2f, 0x02, 0x40, 0, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0}
	body := append(append(append([]byte("WEBP"), vp8x...), ex...), vp8l...)
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

// stored40x24 returns a 40×24 test picture encoded as PNG and as JPEG.
func stored40x24(t testing.TB) (pngFile, jpgFile []byte) {
	var p, j bytes.Buffer
	if err := png.Encode(&p, TestImage(40, 24)); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&j, TestImage(40, 24), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return p.Bytes(), j.Bytes()
}

// TestOrientationOfContainers reads each of the 8 values, in both byte
// orders, from each container, as SHORT and as LONG, with and without an
// "Exif\0\0" before the PNG's and WebP's TIFF structure.
func TestOrientationOfContainers(t *testing.T) {
	pngFile, jpgFile := stored40x24(t)
	for v := uint32(1); v <= 8; v++ {
		for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
			for _, typ := range []uint16{3, 4} {
				tiff := tiffEXIF(bo, typ, v)
				files := map[string][]byte{
					"jpeg":              jpegWithEXIF(jpgFile, tiff),
					"png":               pngWithEXIF(pngFile, tiff, false),
					"png, after IDAT":   pngWithEXIF(pngFile, tiff, true),
					"png, Exif prefix":  pngWithEXIF(pngFile, append([]byte(exifPrefix), tiff...), false),
					"webp":              webpWithEXIF(tiff),
					"webp, Exif prefix": webpWithEXIF(append([]byte(exifPrefix), tiff...)),
				}
				for name, f := range files {
					if got := OrientationOf(bytes.NewReader(f), int64(len(f))); got != Orientation(v) {
						t.Errorf("%s, %v, type %d, value %d: OrientationOf = %v", name, bo, typ, v, got)
					}
				}
			}
		}
	}
	// No EXIF at all; EXIF without the tag; an XMP APP1 before the EXIF one.
	xmp := append(binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, 2+29+4), "http://ns.adobe.com/xap/1.0/\x00<x/>"...)
	noTag := tiffEXIF(binary.LittleEndian, 3, 6)
	binary.LittleEndian.PutUint16(noTag[8+2+12:], 0x0113) // the second entry is no longer Orientation
	for name, c := range map[string]struct {
		f    []byte
		want Orientation
	}{
		"plain png":       {pngFile, OrientNone},
		"plain jpeg":      {jpgFile, OrientNone},
		"plain webp":      {tinyWebP, OrientNone},
		"png, no tag":     {pngWithEXIF(pngFile, noTag, false), OrientNone},
		"jpeg, XMP first": {append(append([]byte{0xff, 0xd8}, xmp...), jpegWithEXIF(jpgFile, tiffEXIF(binary.BigEndian, 3, 8))[2:]...), OrientRotate270},
		"gif":             {[]byte("GIF89a...."), OrientNone},
		"empty":           {nil, OrientNone},
	} {
		if got := OrientationOf(bytes.NewReader(c.f), int64(len(c.f))); got != c.want {
			t.Errorf("%s: OrientationOf = %v, want %v", name, got, c.want)
		}
	}
}

// TestEXIFMalformed: every kind of damage reads as no orientation.
func TestEXIFMalformed(t *testing.T) {
	le := binary.LittleEndian
	good := tiffEXIF(le, 3, 6)
	if exifOrientation(good) != OrientRotate90 {
		t.Fatal("the well-formed structure does not read as 6")
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string][]byte{
		"empty":                   nil,
		"header only":             good[:8],
		"bad byte order":          edit(func(b []byte) []byte { copy(b, "IM*\x00"); return b }),
		"wrong magic":             edit(func(b []byte) []byte { b[2] = 43; return b }),
		"big-endian mark, LE":     edit(func(b []byte) []byte { copy(b, "MM\x00*"); return b }),
		"IFD beyond the end":      edit(func(b []byte) []byte { le.PutUint32(b[4:], 1<<31); return b }),
		"IFD inside the header":   edit(func(b []byte) []byte { le.PutUint32(b[4:], 2); return b }),
		"IFD offset 2^32-1":       edit(func(b []byte) []byte { le.PutUint32(b[4:], 0xffffffff); return b }),
		"entry cut off":           good[:8+2+12+11],
		"count 0":                 edit(func(b []byte) []byte { le.PutUint16(b[8:], 0); return b }),
		"type ASCII":              edit(func(b []byte) []byte { le.PutUint16(b[8+2+12+2:], 2); return b }),
		"type RATIONAL":           edit(func(b []byte) []byte { le.PutUint16(b[8+2+12+2:], 5); return b }),
		"count 2":                 edit(func(b []byte) []byte { le.PutUint32(b[8+2+12+4:], 2); return b }),
		"value 0":                 edit(func(b []byte) []byte { le.PutUint16(b[8+2+12+8:], 0); return b }),
		"value 9":                 edit(func(b []byte) []byte { le.PutUint16(b[8+2+12+8:], 9); return b }),
		"value 0x106 (6 mod 256)": edit(func(b []byte) []byte { le.PutUint16(b[8+2+12+8:], 0x106); return b }),
		"LONG 0x10006":            tiffEXIF(le, 4, 0x10006),
		"Exif prefix only":        []byte(exifPrefix),
	}
	for name, b := range cases {
		if got := exifOrientation(b); got != OrientNone {
			t.Errorf("%s: %v, want none", name, got)
		}
	}

	// Damaged containers around a good structure.
	pngFile, jpgFile := stored40x24(t)
	jpg := jpegWithEXIF(jpgFile, good)
	p := pngWithEXIF(pngFile, good, false)
	w := webpWithEXIF(good)
	files := map[string][]byte{
		"jpeg cut in the EXIF":        jpg[:30],
		"jpeg APP1 longer than file":  append(append([]byte{0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff}, exifPrefix...), good...),
		"jpeg APP1 length 1":          {0xff, 0xd8, 0xff, 0xe1, 0, 1, 'E', 'x', 'i', 'f', 0, 0},
		"jpeg APP1 without prefix":    append([]byte{0xff, 0xd8, 0xff, 0xe1, 0, byte(2 + len(good))}, good...),
		"jpeg EXIF after SOS":         append([]byte{0xff, 0xd8, 0xff, 0xda, 0, 2}, jpg[2:]...),
		"jpeg no marker after SOI":    append([]byte{0xff, 0xd8, 0x00}, jpg[2:]...),
		"jpeg fill bytes only":        append([]byte{0xff, 0xd8}, bytes.Repeat([]byte{0xff}, 1000)...),
		"png cut in the eXIf":         p[:33+8+10],
		"png eXIf length 2^32-1":      append(append(append([]byte(nil), p[:33]...), 0xff, 0xff, 0xff, 0xff), p[37:]...),
		"png IEND before eXIf":        append(append(append([]byte(nil), pngFile[:33]...), pngChunk("IEND", nil)...), p[33:]...),
		"png chunk length runs away":  append(append(append([]byte(nil), pngFile[:33]...), 0x7f, 0, 0, 0, 'a', 'b', 'c', 'd'), p[33:]...),
		"webp RIFF size ends earlier": append(append(append([]byte(nil), w[:4]...), 20, 0, 0, 0), w[8:]...),
		"webp cut in the EXIF":        w[:12+18+8+10],
		"webp chunk size 2^32-1":      append(append(append([]byte(nil), w[:12+18+4]...), 0xff, 0xff, 0xff, 0xff), w[12+18+8:]...),
	}
	for name, f := range files {
		if got := OrientationOf(bytes.NewReader(f), int64(len(f))); got != OrientNone {
			t.Errorf("%s: OrientationOf = %v, want none", name, got)
		}
	}
}

// FuzzEXIFOrientation: any bytes as the TIFF structure read as none or a
// valid value, never a panic, and the same value from each container that
// holds them.
func FuzzEXIFOrientation(f *testing.F) {
	for v := uint32(0); v <= 9; v++ {
		f.Add(tiffEXIF(binary.LittleEndian, 3, v))
		f.Add(tiffEXIF(binary.BigEndian, 3, v))
		f.Add(tiffEXIF(binary.BigEndian, 4, v))
	}
	f.Add([]byte("II*\x00\xff\xff\xff\xff"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\xff\xff"))
	f.Add([]byte(exifPrefix + "II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00"))
	f.Add([]byte{})
	pngFile, jpgFile := stored40x24(f)
	f.Fuzz(func(t *testing.T, tiff []byte) {
		o := exifOrientation(tiff)
		if o != OrientNone && !o.Valid() {
			t.Fatalf("exifOrientation = %d", o)
		}
		files := map[string][]byte{"png": pngWithEXIF(pngFile, tiff, false), "webp": webpWithEXIF(tiff)}
		if len(tiff) <= 0xffff-2-len(exifPrefix) {
			files["jpeg"] = jpegWithEXIF(jpgFile, tiff)
		}
		for name, file := range files {
			if got := OrientationOf(bytes.NewReader(file), int64(len(file))); got != o {
				t.Fatalf("%s: OrientationOf = %v, the structure itself reads %v", name, got, o)
			}
		}
	})
}

// FuzzOrientationOf: any file reads as none or a valid orientation, never
// a panic.
func FuzzOrientationOf(f *testing.F) {
	pngFile, jpgFile := stored40x24(f)
	for _, v := range []uint32{1, 6, 8} {
		tiff := tiffEXIF(binary.BigEndian, 3, v)
		for _, file := range [][]byte{jpegWithEXIF(jpgFile[:200], tiff), pngWithEXIF(pngFile[:33], tiff, false), webpWithEXIF(tiff)} {
			f.Add(file)
			f.Add(file[:len(file)/2])
		}
	}
	f.Add(tinyWebP)
	f.Add([]byte{0xff, 0xd8, 0xff})
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x04eXIf"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPEXIF"))
	f.Fuzz(func(t *testing.T, file []byte) {
		if o := OrientationOf(bytes.NewReader(file), int64(len(file))); o != OrientNone && !o.Valid() {
			t.Fatalf("OrientationOf = %d", o)
		}
	})
}

// TestLoadOrientation: Load turns a sideways PNG, JPEG or WebP upright,
// pixel for pixel the stored image turned; LoadOptions.IgnoreOrientation
// keeps the stored pixels; the note says which.
func TestLoadOrientation(t *testing.T) {
	pngFile, jpgFile := stored40x24(t)
	stored, err := jpeg.Decode(bytes.NewReader(jpgFile))
	if err != nil {
		t.Fatal(err)
	}
	for v := OrientNormal; v <= OrientRotate270; v++ {
		tiff := tiffEXIF(binary.BigEndian, 3, uint32(v))
		for name, c := range map[string]struct {
			file   []byte
			stored image.Image
		}{
			"a.png":  {pngWithEXIF(pngFile, tiff, false), TestImage(40, 24)},
			"a.jpg":  {jpegWithEXIF(jpgFile, tiff), stored},
			"a.webp": {webpWithEXIF(tiff), nil},
		} {
			path := writeFile(t, name, c.file)
			img, err := Load(path)
			if err != nil {
				t.Fatalf("%s, orientation %v: %v", name, v, err)
			}
			sw, sh := 40, 24
			if c.stored == nil {
				sw, sh = 3, 2
			}
			if w, h := v.Size(sw, sh); img.Bounds() != image.Rect(0, 0, w, h) {
				t.Errorf("%s, orientation %v: Load gives %v, want %d×%d", name, v, img.Bounds(), w, h)
			}
			if c.stored != nil {
				requireSamePixels(t, name+", orientation "+v.String(), img, v.Apply(c.stored))
			}
			l, err := LoadWith(path, LoadOptions{IgnoreOrientation: true})
			if err != nil {
				t.Fatal(err)
			}
			if l.Image.Bounds() != image.Rect(0, 0, sw, sh) || l.Applied || l.Orientation != v || l.StoredWidth != sw || l.StoredHeight != sh {
				t.Errorf("%s, orientation %v ignored: %v, applied %v, orientation %v, stored %d×%d", name, v, l.Image.Bounds(), l.Applied, l.Orientation, l.StoredWidth, l.StoredHeight)
			}
			if c.stored != nil {
				requireSamePixels(t, name+" ignored", l.Image, c.stored)
			}
		}
	}
	// The notes, for a person.
	l, err := LoadWith(writeFile(t, "p.png", pngWithEXIF(pngFile, tiffEXIF(binary.LittleEndian, 3, 6), true)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "EXIF orientation 6 (rotate 90° clockwise) applied: the 40×24 stored pixels are used upright, as 24×40"; l.OrientationNote() != want || !l.Applied {
		t.Errorf("note %q, want %q", l.OrientationNote(), want)
	}
	l.Applied = false
	if want := "EXIF orientation 6 (rotate 90° clockwise) ignored: the 40×24 stored pixels are used as stored"; l.OrientationNote() != want {
		t.Errorf("note %q, want %q", l.OrientationNote(), want)
	}
	for _, o := range []Orientation{OrientNone, OrientNormal} {
		if n := (&Loaded{Orientation: o, StoredWidth: 4, StoredHeight: 2}).OrientationNote(); n != "" {
			t.Errorf("orientation %v: note %q, want none", o, n)
		}
	}
}

func requireSamePixels(t *testing.T, what string, got, want image.Image) {
	t.Helper()
	if got.Bounds().Size() != want.Bounds().Size() {
		t.Errorf("%s: %v, want %v", what, got.Bounds(), want.Bounds())
		return
	}
	gb, wb := got.Bounds(), want.Bounds()
	for y := range gb.Dy() {
		for x := range gb.Dx() {
			r1, g1, b1, a1 := got.At(gb.Min.X+x, gb.Min.Y+y).RGBA()
			r2, g2, b2, a2 := want.At(wb.Min.X+x, wb.Min.Y+y).RGBA()
			if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 || a1>>8 != a2>>8 {
				t.Errorf("%s: pixel (%d, %d) differs", what, x, y)
				return
			}
		}
	}
}

// TestLoadOrientationMalformed: a damaged EXIF never fails the load; the
// image is used as stored.
func TestLoadOrientationMalformed(t *testing.T) {
	pngFile, jpgFile := stored40x24(t)
	bad := tiffEXIF(binary.LittleEndian, 3, 6)
	binary.LittleEndian.PutUint32(bad[4:], 0xfffffff0)
	for name, f := range map[string][]byte{
		"a.jpg": jpegWithEXIF(jpgFile, bad),
		"b.jpg": jpegWithEXIF(jpgFile, []byte("II*\x00garbage")),
		"a.png": pngWithEXIF(pngFile, bad[:13], false),
	} {
		l, err := LoadWith(writeFile(t, name, f), LoadOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if l.Orientation != OrientNone || l.Applied || l.Image.Bounds() != image.Rect(0, 0, 40, 24) {
			t.Errorf("%s: orientation %v, applied %v, %v", name, l.Orientation, l.Applied, l.Image.Bounds())
		}
	}
}

// TestLoadOrientationSizeLimits: the header's size is checked before any
// pixel is decoded, against the same limits either way round; the message
// names the size as the picture shows.
func TestLoadOrientationSizeLimits(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, TestImage(8, 8)); err != nil {
		t.Fatal(err)
	}
	// A PNG whose header claims 20000×20, with orientation 6.
	huge := append([]byte(nil), buf.Bytes()[:33]...)
	binary.BigEndian.PutUint32(huge[16:], 20000)
	binary.BigEndian.PutUint32(huge[20:], 20)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	path := writeFile(t, "h.png", pngWithEXIF(append(huge, pngChunk("IEND", nil)...), tiffEXIF(binary.BigEndian, 3, 6), false))
	for _, c := range []struct {
		ignore bool
		want   string
	}{{false, "is 20×20000 pixels; images above 16384 pixels a side"}, {true, "is 20000×20 pixels; images above 16384 pixels a side"}} {
		_, err := LoadWith(path, LoadOptions{IgnoreOrientation: c.ignore})
		var le *LoadError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("ignore %v: %v, want a *LoadError with %q", c.ignore, err, c.want)
		}
	}
}

// TestOrientationTensor: the conditioning tensor of an upright image, at
// its own size (an exact resize), is the stored image's tensor with every
// pixel moved as the tables say, for a decoded JPEG (YCbCr, 4:2:0) too.
func TestOrientationTensor(t *testing.T) {
	_, jpgFile := stored40x24(t)
	ycc, err := jpeg.Decode(bytes.NewReader(jpgFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ycc.(*image.YCbCr); !ok {
		t.Fatalf("the JPEG decodes as %T, want *image.YCbCr", ycc)
	}
	for name, img := range map[string]image.Image{"YCbCr": ycc, "RGBA": TestImage(40, 24)} {
		stored, err := Tensor(img, 40, 24)
		if err != nil {
			t.Fatal(err)
		}
		for o := OrientFlipH; o <= OrientRotate270; o++ {
			w, h := o.Size(40, 24)
			up, err := Tensor(o.Apply(img), w, h)
			if err != nil {
				t.Fatal(err)
			}
			for c := range 3 {
				for y := range h {
					for x := range w {
						sx, sy := o.source(x, y, 40, 24)
						if got, want := up[(c*h+y)*w+x], stored[(c*24+sy)*40+sx]; got != want {
							t.Fatalf("%s, orientation %v: channel %d at (%d, %d) is %v, the stored (%d, %d) %v", name, o, c, x, y, got, sx, sy, want)
						}
					}
				}
			}
		}
	}
}
