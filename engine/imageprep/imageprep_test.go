package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// refBicubic evaluates torch's bicubic formula directly in float64 with 16
// nested taps: the reference for Tensor. in: [3, inH, inW] normalised.
func refBicubic(in []float64, inW, inH, w, h int) []float64 {
	cub := func(x float64) float64 { // Keys kernel, A = −0.75
		const a = -0.75
		x = math.Abs(x)
		switch {
		case x <= 1:
			return ((a+2)*x-(a+3))*x*x + 1
		case x < 2:
			return ((a*x-5*a)*x+8*a)*x - 4*a
		}
		return 0
	}
	axis := func(i, n, out int) (idx [4]int, wt [4]float64) {
		// The source index is float32 in torch (opmath of float); the rest here is float64.
		scale := float32(n) / float32(out)
		src := float64(float32(scale*(float32(i)+0.5)) - 0.5)
		i0 := min(int(math.Floor(src)), n-1)
		t := src - float64(i0)
		for k := range 4 {
			idx[k] = min(max(i0-1+k, 0), n-1)
			wt[k] = cub(t - float64(k-1))
		}
		return
	}
	out := make([]float64, 3*h*w)
	for c := range 3 {
		for oy := range h {
			iy, wy := axis(oy, inH, h)
			for ox := range w {
				ix, wx := axis(ox, inW, w)
				var s float64
				for j := range 4 {
					for k := range 4 {
						s += wy[j] * wx[k] * in[(c*inH+iy[j])*inW+ix[k]]
					}
				}
				out[(c*h+oy)*w+ox] = s
			}
		}
	}
	return out
}

// noisyImage is a deterministic NRGBA image with full-range pixel noise.
func noisyImage(w, h int, seed uint32) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	s := seed
	for i := range img.Pix {
		s = s*1664525 + 1013904223
		img.Pix[i] = uint8(s >> 24)
	}
	return img
}

func TestTensorMatchesFloat64Formula(t *testing.T) {
	cases := [][4]int{ // inW, inH, w, h
		{7, 5, 13, 11},   // up, odd
		{13, 11, 5, 3},   // down, odd
		{9, 7, 9, 7},     // identity
		{17, 3, 6, 9},    // down x, up y
		{1, 1, 4, 3},     // single pixel
		{31, 29, 16, 48}, // mixed, non-integer ratios
	}
	for _, c := range cases {
		img := noisyImage(c[0], c[1], uint32(c[0]*100+c[1]))
		got, err := Tensor(img, c[2], c[3])
		if err != nil {
			t.Fatal(err)
		}
		in := make([]float64, 3*c[0]*c[1])
		for y := range c[1] {
			for x := range c[0] {
				for ch := range 3 {
					in[(ch*c[1]+y)*c[0]+x] = (float64(img.Pix[img.PixOffset(x, y)+ch])/255 - 0.5) / 0.5
				}
			}
		}
		want := refBicubic(in, c[0], c[1], c[2], c[3])
		var maxd float64
		for i := range want {
			maxd = max(maxd, math.Abs(float64(got[i])-want[i]))
		}
		if maxd > 1e-6 {
			t.Errorf("%dx%d -> %dx%d: max |float32 - float64| = %g", c[0], c[1], c[2], c[3], maxd)
		}
	}
}

func TestTensorIdentityIsExact(t *testing.T) {
	img := noisyImage(11, 9, 3)
	got, err := Tensor(img, 11, 9)
	if err != nil {
		t.Fatal(err)
	}
	for y := range 9 {
		for x := range 11 {
			for c := range 3 {
				if v, want := got[(c*9+y)*11+x], norm[img.Pix[img.PixOffset(x, y)+c]]; v != want {
					t.Fatalf("pixel (%d,%d,%d): %v, want %v", x, y, c, v, want)
				}
			}
		}
	}
}

func TestTensorHandValues(t *testing.T) {
	// One row [0, 255, 0, 255] → [−1, 1, −1, 1], downscaled 4 → 2. Output 0:
	// src 0.5, t 0.5, weights (−0.09375, 0.59375, 0.59375, −0.09375) on taps
	// (0, 0, 1, 2): 0.5·(−1) + 0.59375·1 − 0.09375·(−1) = 0.1875. Output 1: src
	// 2.5, taps (1, 2, 3, 3): −0.09375 − 0.59375 + 0.59375 − 0.09375 = −0.1875.
	img := image.NewGray(image.Rect(0, 0, 4, 1))
	copy(img.Pix, []uint8{0, 255, 0, 255})
	got, err := Tensor(img, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		if got[2*c] != 0.1875 || got[2*c+1] != -0.1875 {
			t.Errorf("channel %d: %v, want [0.1875 -0.1875]", c, got[2*c:2*c+2])
		}
	}
	// Upscale 2 → 4 of [−1, 1]: output 0 has src −0.25, i0 −1, t 0.75, all taps
	// clamped to 0 or 1: w = (c2(1.75), c1(0.75), c1(0.25), c2(1.25)) on taps
	// (0, 0, 0, 1). Overshoot is kept (output 1 ≠ clamp).
	img2 := image.NewGray(image.Rect(0, 0, 2, 1))
	copy(img2.Pix, []uint8{0, 255})
	got2, err := Tensor(img2, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := [4]float64{-0.03515625, 0.26171875, 0.87890625, -0.10546875}
	want0 := -(w[0] + w[1] + w[2]) + w[3]
	if math.Abs(float64(got2[0])-want0) > 1e-7 {
		t.Errorf("upscale output 0: %v, want %v", got2[0], want0)
	}
	if got2[0] >= -1 {
		t.Errorf("upscale output 0 = %v: the overshoot below −1 must be kept", got2[0])
	}
}

func TestCubicCoefficients(t *testing.T) {
	// Hand values of the A = −0.75 kernel; they sum to 1.
	for _, c := range []struct {
		t    float32
		want [4]float32
	}{
		{0, [4]float32{0, 1, 0, 0}},
		{0.5, [4]float32{-0.09375, 0.59375, 0.59375, -0.09375}},
		{0.25, [4]float32{-0.10546875, 0.87890625, 0.26171875, -0.03515625}},
	} {
		if got := cubicCoeffs(c.t); got != c.want {
			t.Errorf("t=%v: %v, want %v", c.t, got, c.want)
		}
	}
}

func TestTensorAlphaDroppedNotComposited(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []uint8{255, 0, 0, 0}) // fully transparent red
	}
	got, err := Tensor(img, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 1 || got[4] != -1 || got[8] != -1 {
		t.Errorf("transparent red read as %v %v %v, want 1 -1 -1", got[0], got[4], got[8])
	}
	// A paletted image with a transparent entry keeps the entry's colour.
	p := image.NewPaletted(image.Rect(0, 0, 1, 1), color.Palette{color.NRGBA{0, 255, 0, 0}})
	got, _ = Tensor(p, 1, 1)
	if got[0] != -1 || got[1] != 1 {
		t.Errorf("transparent palette green read as %v", got)
	}
}

func TestSize(t *testing.T) {
	for _, c := range []struct{ iw, ih, area, w, h int }{
		{1280, 720, 921600, 1280, 720},
		// 399360·(480/832) is 230399.99999999997 in float64, so the official
		// code gives 464 rows here, not 480 (checked with Python).
		{832, 480, 399360, 832, 464},
		{480, 832, 399360, 480, 832}, // portrait: 399360/(832/480) rounds the other way
		{1000, 1000, 921600, 960, 960},
		{720, 1280, 921600, 720, 1280},
		{1920, 1080, 399360, 832, 464}, // sqrt(399360·0.5625)=474 → /8=59.25 → 59 → 58 → 464
	} {
		w, h, err := Size(c.iw, c.ih, c.area)
		if err != nil || w != c.w || h != c.h {
			t.Errorf("Size(%d, %d, %d) = %d×%d, %v; want %d×%d", c.iw, c.ih, c.area, w, h, err, c.w, c.h)
		}
		if w%16 != 0 || h%16 != 0 {
			t.Errorf("Size gave %d×%d, not multiples of 16", w, h)
		}
	}
	if _, _, err := Size(10000, 1, 921600); err == nil {
		t.Error("a 10000×1 image gave a size")
	}
	if _, _, err := Size(0, 10, 921600); err == nil {
		t.Error("a 0-wide image gave a size")
	}
	if _, _, err := Size(10, 10, 0); err == nil {
		t.Error("max area 0 gave a size")
	}
}

func TestCheckSizeAndFrames(t *testing.T) {
	if err := CheckSize(832, 480); err != nil {
		t.Error(err)
	}
	err := CheckSize(830, 480)
	if err == nil || !strings.Contains(err.Error(), "nearest are 816 and 832") {
		t.Errorf("CheckSize(830, 480) = %v", err)
	}
	if err := CheckSize(832, 8); err == nil || !strings.Contains(err.Error(), "height 8 is below 16") {
		t.Errorf("CheckSize(832, 8) = %v", err)
	}
	if err := CheckFrames(81); err != nil {
		t.Error(err)
	}
	if err := CheckFrames(1); err != nil {
		t.Error(err)
	}
	if err := CheckFrames(80); err == nil || err.Error() != "80 frames: the frame count must be 4k+1; nearest are 77 and 81" {
		t.Errorf("CheckFrames(80) = %v", err)
	}
	// The pipeline's limits, without overflow in the nearest values.
	if err := CheckSize(4096, 4112); err == nil || !strings.Contains(err.Error(), "height 4112 is above 4096") {
		t.Errorf("CheckSize(4096, 4112) = %v", err)
	}
	if err := CheckFrames(1025); err != nil {
		t.Errorf("CheckFrames(1025) = %v", err)
	}
	if err := CheckFrames(math.MaxInt); err == nil || strings.Contains(err.Error(), "-") || !strings.Contains(err.Error(), "at most 1025") {
		t.Errorf("CheckFrames(MaxInt) = %v", err)
	}
	if err := CheckFrames(0); err == nil {
		t.Error("0 frames accepted")
	}
	var se *SizeError
	if !errors.As(CheckFrames(2), &se) {
		t.Error("CheckFrames error is not a *SizeError")
	}
}

// boundsOnly is an image of any bounds whose pixels cost nothing: only a
// check of the bounds keeps Tensor from allocating by its width.
type boundsOnly image.Rectangle

func (b boundsOnly) ColorModel() color.Model { return color.RGBAModel }
func (b boundsOnly) Bounds() image.Rectangle { return image.Rectangle(b) }
func (b boundsOnly) At(int, int) color.Color { return color.White }

// Images given as values get Load's limits: CheckImageSize, applied by
// Tensor before it allocates (an image.Uniform's bounds are ±10⁹).
func TestImageSizeLimits(t *testing.T) {
	for _, c := range []struct {
		w, h int
		want string // "": accepted
	}{
		{1, 1, ""}, {MaxSide, 1, ""}, {1, MaxSide, ""}, {MaxPixels / MaxSide, MaxSide, ""},
		{0, 5, "is 0×5 pixels; an image needs at least 1×1"}, {5, -1, "at least 1×1"},
		{MaxSide + 1, 1, "is 16385×1 pixels; images above 16384 pixels a side or 128 Mpx are refused"},
		{1, MaxSide + 1, "above 16384 pixels a side"},
		{MaxPixels/MaxSide + 1, MaxSide, "128 Mpx"},
		{2e9, 2e9, "is 2000000000×2000000000 pixels"},
	} {
		err := CheckImageSize(c.w, c.h)
		if c.want == "" {
			if err != nil {
				t.Errorf("%d×%d: %v", c.w, c.h, err)
			}
			continue
		}
		var se *SizeError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d×%d: %v, want a *SizeError with %q", c.w, c.h, err, c.want)
		}
	}
	for name, img := range map[string]image.Image{
		"uniform":  image.NewUniform(color.White),
		"too wide": boundsOnly(image.Rect(-3, 0, MaxSide-2, 2)),
		"empty":    image.NewRGBA(image.Rect(4, 4, 4, 8)),
	} {
		_, err := Tensor(img, 32, 16)
		var se *SizeError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "imageprep: Tensor: the image is ") {
			t.Errorf("%s: Tensor = %v, want the image's size refused", name, err)
		}
	}
	// The widest accepted image is prepared.
	if v, err := Tensor(boundsOnly(image.Rect(-5, 0, MaxSide-5, 2)), 32, 16); err != nil || len(v) != 3*32*16 || v[0] != 1 {
		t.Errorf("a %d×2 white image: %v", MaxSide, err)
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFormats(t *testing.T) {
	src := TestImage(40, 24)
	var pngBuf, jpgBuf bytes.Buffer
	if err := png.Encode(&pngBuf, src); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpgBuf, src, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"a.png": pngBuf.Bytes(), "a.jpg": jpgBuf.Bytes(), "a.webp": tinyWebP} {
		img, err := Load(writeFile(t, name, data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if name == "a.png" {
			if b := img.Bounds(); b.Dx() != 40 || b.Dy() != 24 {
				t.Errorf("%s: %v", name, b)
			}
			if _, err := Tensor(img, 32, 16); err != nil {
				t.Error(err)
			}
		}
	}
}

// tinyWebP is a 1×1 lossless WebP (VP8L) image.
var tinyWebP = []byte{
	'R', 'I', 'F', 'F', 26, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L',
	13, 0, 0, 0, 0x2f, 0, 0, 0, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0,
}

func TestLoadBadInput(t *testing.T) {
	var pngBuf, gifBuf bytes.Buffer
	png.Encode(&pngBuf, TestImage(64, 64))
	gif.Encode(&gifBuf, TestImage(8, 8), nil)
	// A PNG header claiming 20000×20000: refused from the header.
	huge := append([]byte(nil), pngBuf.Bytes()[:33]...)
	copy(huge[16:24], []byte{0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20})
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	zero := append([]byte(nil), pngBuf.Bytes()...)
	copy(zero[16:24], make([]byte, 8))
	binary.BigEndian.PutUint32(zero[29:], crc32.ChecksumIEEE(zero[12:29]))
	dir := t.TempDir()
	for _, c := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.png"), "no such file"},
		{"directory", dir, "is a directory"},
		{"empty", writeFile(t, "e.png", nil), "empty"},
		{"text", writeFile(t, "t.png", []byte("hello, this is not an image")), "not a PNG, JPEG or WebP image"},
		{"gif", writeFile(t, "g.gif", gifBuf.Bytes()), "gif"},
		{"truncated", writeFile(t, "tr.png", pngBuf.Bytes()[:pngBuf.Len()/2]), "truncated"},
		{"huge", writeFile(t, "h.png", huge), "refused"},
		{"zero", writeFile(t, "z.png", zero), ""},
	} {
		_, err := Load(c.path)
		var le *LoadError
		if err == nil || !errors.As(err, &le) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: Load = %v; want a *LoadError naming the file and %q", c.name, err, c.want)
		}
	}
}

func TestTestImageDeterministic(t *testing.T) {
	a, b := TestImage(96, 64), TestImage(96, 64)
	if !bytes.Equal(a.Pix, b.Pix) {
		t.Fatal("TestImage differs between calls")
	}
	colors := map[[3]uint8]bool{}
	for i := 0; i < len(a.Pix); i += 4 {
		colors[[3]uint8(a.Pix[i:i+3])] = true
		if a.Pix[i+3] != 255 {
			t.Fatal("TestImage is not opaque")
		}
	}
	if len(colors) < 100 {
		t.Errorf("TestImage has only %d colours", len(colors))
	}
}

func TestLatentPreview(t *testing.T) {
	T, h, w := 2, 3, 5
	lat := make([]float32, 16*T*h*w)
	// Frame 1, pixel (x=2, y=1): channel 2 = 1 → rgb = bias + row 2.
	lat[(2*T+1)*h*w+1*w+2] = 1
	lat[(0*T+1)*h*w] = float32(math.NaN())
	img, err := LatentPreview(lat, T, h, w, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 40 || b.Dy() != 24 {
		t.Fatalf("preview is %v, want 40×24", b)
	}
	px := func(v float32) uint8 { return uint8(min(max((v+1)/2, 0), 1) * 255) }
	for _, xy := range [][2]int{{16, 8}, {23, 15}} {
		got := img.RGBAAt(xy[0], xy[1])
		want := color.RGBA{px(-0.1835 + 0.3568), px(-0.0868 + 0.2548), px(-0.3360 + 0.1747), 255}
		if got != want {
			t.Errorf("(%d,%d) = %v, want %v", xy[0], xy[1], got, want)
		}
	}
	if got := img.RGBAAt(0, 0); got != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("a NaN latent shows as %v, want black", got)
	}
	if _, err := LatentPreview(lat[:10], T, h, w, 0); err == nil {
		t.Error("short latent accepted")
	}
	if _, err := LatentPreview(lat, T, h, w, 2); err == nil {
		t.Error("frame out of range accepted")
	}
}

func TestWritePNGAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "preview.png")
	for range 2 { // the second write replaces the first
		if err := WritePNGAtomic(p, TestImage(16, 8)); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only preview.png", len(ents))
	}
	f, _ := os.Open(p)
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() != 16 {
		t.Errorf("preview decodes as %v, %v", img, err)
	}
	if err := WritePNGAtomic(filepath.Join(dir, "missing", "x.png"), TestImage(4, 4)); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	if err := WritePNGAtomic(dir, TestImage(4, 4)); err == nil {
		t.Error("writing onto a directory succeeded")
	}
}
