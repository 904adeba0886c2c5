package wan22

// The front-door review's defects: what a Go program embedding wan22 (a GUI,
// a server) runs into.

import (
	"context"
	"image"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// sizedWriter is a video writer that reports its frame size (and so is
// checked before the run); a nil *sizedWriter panics there, as would a
// writer whose FrameSize is broken.
type sizedWriter struct{ w, h int }

func (w *sizedWriter) WriteFrame(image.Image) error { return nil }
func (w *sizedWriter) Close() error                 { return nil }
func (w *sizedWriter) Abort() error                 { return nil }
func (w *sizedWriter) FrameSize() (int, int)        { return w.w, w.h }

// TestGenerateRecoversWriterCheckPanics: a video writer that panics when
// Generate asks its size, rate or state before the run (a typed nil of the
// caller's own writer type, a broken FrameSize) makes Generate return an
// *OutputError holding a *PanicError, as a panic in WriteFrame does, before
// any model work; the panic went through Generate to its caller.
func TestGenerateRecoversWriterCheckPanics(t *testing.T) {
	p := open(t, tiny)
	for name, w := range map[string]*sizedWriter{"nil *sizedWriter": nil} {
		var stages []Stage
		out := noWork(&stages)
		out.Video = w
		var err error
		require.NotPanics(t, func() { err = p.Generate(context.Background(), tinyRequest(), out) }, name)
		var oe *OutputError
		require.ErrorAs(t, err, &oe, name)
		require.Equal(t, "Video", oe.Output)
		require.Equal(t, -1, oe.Frame)
		require.Equal(t, -1, oe.Step)
		var pe *PanicError
		require.ErrorAs(t, err, &pe, name)
		require.NotEmpty(t, pe.Stack)
		require.ErrorContains(t, err, "Output.Video panicked")
		require.Empty(t, stages, "%s: refused before any stage", name)
	}
	// The Pipeline runs the next request.
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Frame: frames}))
}

// TestGenerateRecoversImagePanics: an image whose pixels cannot be read (an
// image.Paletted with an empty palette, whose At the standard library
// answers with nil) is a *RequestError naming Image, holding a *PanicError,
// returned before any model work; the panic of reading it went through
// Generate.
func TestGenerateRecoversImagePanics(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	r.Image = image.NewPaletted(r.Image.Bounds(), nil)
	var stages []Stage
	out := noWork(&stages)
	out.Frame = frames
	var err error
	require.NotPanics(t, func() { err = p.Generate(context.Background(), r, out) })
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "Image", re.Field)
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	require.Empty(t, stages, "refused before any stage")
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Frame: frames}))
}

// TestGuidanceBeyondFloat32: a guidance scale too large for the float32 the
// experts compute in (1e39; a finite float64) is a *RequestError naming its
// field and the value given; it was refused with Field "" as an infinite
// scale the request did not hold ("got (low 3.5, high +Inf)").
func TestGuidanceBeyondFloat32(t *testing.T) {
	p := open(t, tiny)
	for _, c := range []struct {
		field string
		edit  func(r *Request)
	}{
		{"GuidanceHigh", func(r *Request) { r.GuidanceHigh = 1e39 }},
		{"GuidanceLow", func(r *Request) { r.GuidanceLow = 1e300 }},
	} {
		re := resolveField(t, p, tinyRequest(), c.edit, c.field)
		require.NotContains(t, re.Error(), "Inf", c.field)
		require.ErrorContains(t, re, "e+", c.field)
	}
	r := tinyRequest()
	r.GuidanceHigh, r.GuidanceLow = math.MaxFloat32, 1
	_, err := p.Resolve(r)
	require.NoError(t, err, "the largest float32 is a scale")
}
