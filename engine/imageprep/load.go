// Package imageprep turns a user's image into the conditioning tensor of the
// WAN 2.2 image-to-video pipeline exactly as the official code does (spec §3),
// and holds the small image helpers the CLI needs around a run: the output size
// rule, the 4k+1 frame rule, a synthetic test image and latent previews.
//
// The official preprocessing, reproduced here:
//
//   - the image is read with PIL and converted to RGB: alpha is dropped without
//     compositing;
//   - pixels become float32 (v/255 − 0.5)/0.5 in [−1, 1];
//   - the output size comes from the max area and the image's aspect ratio in
//     multiples of 16 (Size); the image is stretched to it, never cropped;
//   - the resize is torch's bicubic (A = −0.75, align_corners=False, no
//     antialiasing, float32, unclamped, border-clamped taps) applied after the
//     normalisation (Tensor).
//
// One deliberate difference: Load applies the file's EXIF orientation
// (Orientation, read by OrientationOf) before anything else, as ComfyUI's
// LoadImage does (ImageOps.exif_transpose), so that a phone photo stored
// sideways becomes an upright video whose size follows the upright picture.
// The official code opens the image with PIL and does not, and would make
// that photo a sideways video; LoadWith with LoadOptions.IgnoreOrientation
// keeps the stored pixels as it does.
//
// Known differences from PIL: Go's JPEG decoder upsamples chroma without
// libjpeg's "fancy" smoothing (a few levels on chroma edges; use PNG input for
// bit-level comparisons), and 16-bit PNGs keep their high byte.
package imageprep

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG for image.Decode
	_ "image/png"  // registers PNG for image.Decode
	"io"
	"os"

	_ "golang.org/x/image/webp" // registers WebP for image.Decode

	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/internal/safetext"
)

// MaxSide is the largest accepted width or height of an input image in pixels.
// Larger images are refused from their header, before their pixels are decoded.
const MaxSide = 16384

// MaxPixels is the largest accepted pixel count (width × height) of an input
// image: 128 Mpx, 512 MiB once decoded as RGBA.
const MaxPixels = 128 << 20

// CheckImageSize checks the size of an input image against the limits
// Load applies to files: at least 1×1, at most MaxSide a side and
// MaxPixels in all. Tensor applies them too, so that an image of enormous
// bounds (an image.Uniform's are ±10⁹) is refused rather than allocated
// for. The error is a *SizeError worded to follow "the image": "is 20000×20
// pixels; …".
func CheckImageSize(w, h int) error {
	switch {
	case w <= 0 || h <= 0:
		return &SizeError{fmt.Sprintf("is %d×%d pixels; an image needs at least 1×1", w, h)}
	case w > MaxSide || h > MaxSide || w*h > MaxPixels: // w·h cannot overflow once both sides are ≤ MaxSide
		return &SizeError{fmt.Sprintf("is %d×%d pixels; images above %d pixels a side or %d Mpx are refused (the video is at most %d pixels a side: scale it down first)",
			w, h, MaxSide, MaxPixels>>20, pipeline.MaxSide)}
	}
	return nil
}

// LoadError is the error of Load: the file and what is wrong with it.
type LoadError struct {
	Path   string
	Reason string // what is wrong, for a person: "not a PNG, JPEG or WebP image"
	Err    error  // the underlying error, if any
}

func (e *LoadError) Error() string {
	if e.Path == "" { // no path was given: there is none to name
		return "image: " + e.Reason
	}
	if e.Err != nil {
		return fmt.Sprintf("image %s: %s: %v", safetext.Path(e.Path), e.Reason, e.Err)
	}
	return fmt.Sprintf("image %s: %s", safetext.Path(e.Path), e.Reason)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load reads a PNG, JPEG or WebP image, upright: the file's EXIF
// orientation is applied (see LoadWith). The header is checked first:
// images of size 0 or above MaxSide a side or MaxPixels in all are refused
// before their pixels are decoded. Errors are *LoadError and name the file.
func Load(path string) (image.Image, error) {
	l, err := LoadWith(path, LoadOptions{})
	return l.Image, err
}

// LoadOptions change how LoadWith reads an image. The zero value is Load's
// behaviour.
type LoadOptions struct {
	// IgnoreOrientation keeps the pixels as the file stores them, without
	// applying its EXIF orientation: the official code's behaviour (PIL's
	// Image.open without ImageOps.exif_transpose), for comparisons with it.
	IgnoreOrientation bool
}

// Loaded is an image read by LoadWith, and what was done about the EXIF
// orientation of its file.
type Loaded struct {
	// Image is the picture: upright when Applied, else as stored. Its
	// bounds start at (0, 0) when Applied.
	Image image.Image
	// StoredWidth and StoredHeight are the size the file stores (its
	// header's); Image is that size, or its transpose when Applied and
	// Orientation.Swaps().
	StoredWidth, StoredHeight int
	// Orientation is the file's EXIF orientation: OrientNone when it has
	// none, or EXIF that cannot be read.
	Orientation Orientation
	// Applied says that Orientation changed Image (a value other than 1,
	// and LoadOptions.IgnoreOrientation not set).
	Applied bool
}

// OrientationNote says, for a person, what was done about a file's EXIF
// orientation that changes the picture: "EXIF orientation 6 (rotate 90°
// clockwise) applied: the 4032×3024 stored pixels are used upright, as
// 3024×4032", or "… ignored: the 4032×3024 stored pixels are used as
// stored". It is "" when the file has no orientation, or 1 (upright).
func (l *Loaded) OrientationNote() string {
	if !l.Orientation.Changes() {
		return ""
	}
	w, h := l.StoredWidth, l.StoredHeight
	if !l.Applied {
		return fmt.Sprintf("EXIF orientation %s ignored: the %d×%d stored pixels are used as stored", l.Orientation, w, h)
	}
	uw, uh := l.Orientation.Size(w, h)
	return fmt.Sprintf("EXIF orientation %s applied: the %d×%d stored pixels are used upright, as %d×%d", l.Orientation, w, h, uw, uh)
}

// LoadWith reads a PNG, JPEG or WebP image and its EXIF orientation
// (OrientationOf: the JPEG's EXIF APP1 segment, the PNG's eXIf chunk, the
// WebP's EXIF chunk), and applies it to the decoded pixels (Orientation.Apply)
// unless o.IgnoreOrientation. An orientation that cannot be read never fails
// the load: it reads as none. The header is checked first: images of size 0
// or above MaxSide a side or MaxPixels in all are refused before their
// pixels are decoded, the size named as the image shows (upright when the
// orientation is applied; the limits are the same either way). An animated
// WebP is refused as one (the decoder reads still images only). Decoded
// pixels take 4 bytes each (1.5 for a JPEG's YCbCr) and twice that while an
// orientation is applied. Errors are *LoadError and name the file.
func LoadWith(path string, o LoadOptions) (Loaded, error) {
	fail := func(reason string, err error) (Loaded, error) {
		return Loaded{}, &LoadError{Path: path, Reason: reason, Err: err}
	}
	if path == "" {
		return fail("no image path given: give the path of a PNG, JPEG or WebP image", nil)
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail("no such file", nil)
		}
		return fail("cannot read it", err)
	}
	if st.IsDir() {
		return fail("is a directory, not an image file", nil)
	}
	if !st.Mode().IsRegular() {
		// A named pipe or device would block or never end.
		return fail("is not a regular file (a pipe or device?); give an image file", nil)
	}
	if st.Size() == 0 {
		return fail("is empty (0 bytes)", nil)
	}
	f, err := os.Open(path)
	if err != nil {
		return fail("cannot open it", err)
	}
	defer f.Close()

	head := make([]byte, 32)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail("cannot read it", err)
	}
	if animatedWebP(head) {
		// The WebP decoder reads still images only, and says "invalid
		// format" of an animation, as of a damaged file.
		return fail("is an animated WebP, and only still images are read: save the frame to start from as a PNG or JPEG image", nil)
	}
	cfg, format, err := image.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return fail("not a PNG, JPEG or WebP image"+sniff(head), nil)
		}
		return fail(damaged(err), err)
	}
	if format != "png" && format != "jpeg" && format != "webp" {
		// Another package of the program registered this decoder.
		return fail(fmt.Sprintf("is a %s image; only PNG, JPEG and WebP are accepted: convert it to PNG", format), nil)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return fail(fmt.Sprintf("the %s header says %d×%d pixels; an image needs at least 1×1", format, cfg.Width, cfg.Height), nil)
	}
	l := Loaded{StoredWidth: cfg.Width, StoredHeight: cfg.Height, Orientation: OrientationOf(f, st.Size())}
	l.Applied = l.Orientation.Changes() && !o.IgnoreOrientation
	w, h := cfg.Width, cfg.Height
	if l.Applied {
		w, h = l.Orientation.Size(w, h)
	}
	if err := CheckImageSize(w, h); err != nil {
		return fail(err.Error(), nil)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail("cannot read it", err)
	}
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return fail(damaged(err), err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return fail(fmt.Sprintf("decoded as %d×%d but the header says %d×%d", b.Dx(), b.Dy(), cfg.Width, cfg.Height), nil)
	}
	l.Image = img
	if l.Applied {
		l.Image = l.Orientation.Apply(img)
	}
	return l, nil
}

// damaged words a decoder error for a person.
func damaged(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "truncated (the file ends early)"
	}
	return "damaged or truncated"
}

// animatedWebP reports whether head, a file's first bytes, starts a WebP
// whose VP8X chunk (the first, at offset 12) says it is an animation: bit 1
// of the flags byte at offset 20.
func animatedWebP(head []byte) bool {
	return len(head) > 20 && string(head[:4]) == "RIFF" && string(head[8:16]) == "WEBPVP8X" && head[20]&0x02 != 0
}

// sniff names a few common formats that are not accepted, from their magic.
func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("GIF8")):
		return " (it is a GIF: convert it to PNG)"
	case bytes.HasPrefix(head, []byte("BM")):
		return " (it looks like a BMP: convert it to PNG)"
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return " (it looks like a TIFF: convert it to PNG)"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		return " (it looks like HEIC/AVIF or a video: convert it to PNG or JPEG)"
	}
	return ""
}
