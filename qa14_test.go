package wan22

// The fourteenth QA pass over the library's front door: a Go program of a
// new user's, written against the public API.

import (
	"context"
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

// nilEmbedded is an image type of a caller's own that embeds a nil
// *image.RGBA: its Bounds (promoted from the nil pointer) panics.
type nilEmbedded struct{ *image.RGBA }

// TestImageBoundsPanic: an image whose Bounds panics (a caller's type
// embedding a nil *image.RGBA, which nilImage does not see as a nil
// pointer) is a *RequestError naming Image, holding a *PanicError, from
// Resolve and from Generate before any model work, as a panic of its At
// already was; the panic went through Resolve and Generate to the caller.
func TestImageBoundsPanic(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	r.Image = nilEmbedded{}
	for _, sized := range []bool{true, false} {
		if !sized {
			r.Width, r.Height = 0, 0 // the size then follows from the image's
		}
		var err error
		require.NotPanics(t, func() { _, err = p.Resolve(r) })
		var re *RequestError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "Image", re.Field)
		var pe *PanicError
		require.ErrorAs(t, err, &pe)
		require.ErrorContains(t, err, "panicked when asked its size (Bounds)")

		var stages []Stage
		out := noWork(&stages)
		out.Frame = frames
		require.NotPanics(t, func() { err = p.Generate(context.Background(), r, out) })
		require.ErrorAs(t, err, &re)
		require.Equal(t, "Image", re.Field)
		require.ErrorAs(t, err, &pe)
		require.Empty(t, stages, "refused before any stage")
	}
	// The Pipeline runs the next request.
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Frame: frames}))
}

// TestImagePixelErrorWording: an image with a pixel that has no colour (an
// image.Paletted index its palette lacks) is refused in the library's
// words, naming the request's image and the pixel, without the engine's
// "imageprep: Tensor: " inside "wan22: " (it read "wan22: imageprep:
// Tensor: the image's pixel (3, 0) uses palette index 5, …").
func TestImagePixelErrorWording(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	pal := image.NewPaletted(r.Image.Bounds(), color.Palette{color.Black})
	pal.Pix[3] = 5
	r.Image = pal
	err := p.Generate(context.Background(), r, Output{Frame: frames})
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "Image", re.Field)
	require.EqualError(t, err, "wan22: the request's image: pixel (3, 0) uses palette index 5, the palette has 1 colour: give a well-formed image (e.g. draw it into an image.RGBA)")
}

// keepWriter is a video writer of a caller's own that keeps the images it
// is handed, to encode them at Close (as an in-memory GIF would).
type keepWriter struct{ frames []image.Image }

func (w *keepWriter) WriteFrame(img image.Image) error { w.frames = append(w.frames, img); return nil }
func (w *keepWriter) Close() error                     { return nil }
func (w *keepWriter) Abort() error                     { return nil }

// TestVideoFrameReused pins what Output.Video's documentation now says (it
// said it for Frame only): the image handed to WriteFrame is reused for the
// next frame, the one Frame gets, so a writer that keeps it instead of
// encoding or copying it holds the last frame every time.
func TestVideoFrameReused(t *testing.T) {
	p := open(t, tiny)
	w := &keepWriter{}
	var seen []*image.RGBA
	err := p.Generate(context.Background(), tinyRequest(), Output{Video: w, Frame: func(_ int, img *image.RGBA) error {
		seen = append(seen, img)
		return nil
	}})
	require.NoError(t, err)
	require.Len(t, w.frames, 5)
	for i, img := range w.frames {
		require.Same(t, seen[i], img, "frame %d: Frame's image", i)
		require.Same(t, w.frames[0], img, "frame %d: one image, reused", i)
	}
}
