package wan22

// The QA pass's defects of the library's front door: misuse of a Pipeline.

import (
	"context"
	"image"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/video"
)

// Misuse of the Pipeline is an error, never a panic.
func TestPipelineMisuse(t *testing.T) {
	_, err := Open(nil, tiny, Options{Device: "cpu"}) //nolint:staticcheck // a nil context is the misuse under test
	require.ErrorIs(t, err, ErrNilContext)
	require.ErrorContains(t, err, "Open")

	p, err := Open(context.Background(), tiny, Options{Device: "cpu"})
	require.NoError(t, err)
	frame := Output{Frame: func(int, *image.RGBA) error { return nil }}
	err = p.Generate(nil, tinyRequest(), frame) //nolint:staticcheck
	require.ErrorIs(t, err, ErrNilContext)
	require.ErrorContains(t, err, "Generate")

	require.NoError(t, p.Close())
	_, err = p.Resolve(tinyRequest())
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, err, p.Generate(context.Background(), tinyRequest(), frame), "Resolve and Generate after Close: the same error")
	require.NoError(t, p.Close(), "a second Close")

	var nilp *Pipeline
	require.ErrorIs(t, nilp.Close(), ErrNilPipeline)
	_, err = nilp.Resolve(tinyRequest())
	require.ErrorIs(t, err, ErrNilPipeline)
	require.ErrorIs(t, nilp.Generate(context.Background(), tinyRequest(), frame), ErrNilPipeline)
}

// TestLatentCallbackSeesACopy: the Latent callback gets the latent of every
// step, [16, T, h, w] with T = (Frames−1)/4 + 1, h = Height/8, w =
// Width/8, and what it does to the slice does not change the video.
func TestLatentCallbackSeesACopy(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	want, err := generate(t, p, context.Background(), r)
	require.NoError(t, err)
	var frames [][]uint8
	var steps []int
	err = p.Generate(context.Background(), r, Output{
		Frame: func(i int, img *image.RGBA) error {
			frames = append(frames, append([]uint8(nil), img.Pix...))
			return nil
		},
		Latent: func(step, n int, l []float32) error {
			require.Len(t, l, 16*((r.Frames-1)/4+1)*(r.Height/8)*(r.Width/8))
			steps = append(steps, step)
			for i := range l {
				l[i] = 1e30 // would make the video non-finite, were it the run's own latent
			}
			return nil
		},
	})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, steps)
	require.Equal(t, want, frames)
}

// TestNoNegative: NoNegative runs with an empty negative prompt, which a
// prompt of blanks also cleans to, not with DefaultNegative.
func TestNoNegative(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	official, err := generate(t, p, context.Background(), r)
	require.NoError(t, err)
	r.NoNegative = true
	none, err := generate(t, p, context.Background(), r)
	require.NoError(t, err)
	r.NoNegative, r.Negative = false, " \t "
	blank, err := generate(t, p, context.Background(), r)
	require.NoError(t, err)
	require.NotEqual(t, official, none, "NoNegative ran the official negative prompt")
	require.Equal(t, blank, none, "NoNegative is not the empty negative prompt")
}

// TestNilVideoFile: a nil *video.File as the writer (video.Create failed and
// its error went unchecked) is an error, not a panic.
func TestNilVideoFile(t *testing.T) {
	p := open(t, tiny)
	var f *video.File
	require.ErrorContains(t, p.Generate(context.Background(), tinyRequest(), Output{Video: f}), "Output.Video is a nil *video.File")
}

// TestRequestErrors: every request or output Resolve and Generate refuse
// before any work is a *RequestError naming the field at fault, whose
// message is the check's own and which still wraps the engine's error.
func TestRequestErrors(t *testing.T) {
	p := open(t, tiny)
	good := tinyRequest()
	for _, c := range []struct {
		field string
		edit  func(r *Request)
	}{
		{"Frames", func(r *Request) { r.Frames = 6 }},
		{"FPS", func(r *Request) { r.FPS = 5000 }},
		{"Image", func(r *Request) { r.Image = nil }},
		{"Width", func(r *Request) { r.Height = 0 }},
		{"Width", func(r *Request) { r.Width, r.Height = 33, 16 }},
		{"Shift", func(r *Request) { r.Shift = -1 }},
		{"Boundary", func(r *Request) { r.Boundary = nan() }},
		{"NoNegative", func(r *Request) { r.NoNegative, r.Negative = true, "blurry" }},
	} {
		re := resolveField(t, p, good, c.edit, c.field)
		require.Equal(t, re.Err.Error(), re.Error())
	}
	_, err := p.Resolve(func() Request { r := good; r.Width, r.Height = 33, 16; return r }())
	var se *imageprep.SizeError
	require.ErrorAs(t, err, &se, "the engine's own error is still reachable")
	var re *RequestError
	err = p.Generate(context.Background(), good, Output{})
	require.ErrorAs(t, err, &re)
	require.Equal(t, "Output", re.Field)
}

// resolveField resolves good changed by edit and requires a *RequestError
// naming field, which it returns.
func resolveField(t *testing.T, p *Pipeline, good Request, edit func(*Request), field string) *RequestError {
	t.Helper()
	r := good
	edit(&r)
	_, err := p.Resolve(r)
	var re *RequestError
	require.ErrorAs(t, err, &re, field)
	require.Equal(t, field, re.Field, err.Error())
	return re
}

// TestNilPipelineAccessors: Device, Attention and Backend of a nil Pipeline
// return "", and Backend still answers after Close; none panics.
func TestNilPipelineAccessors(t *testing.T) {
	var p *Pipeline
	require.Equal(t, "", p.Device())
	require.Equal(t, AttentionPrecision(""), p.Attention())
	require.Equal(t, "", p.Backend())
	q, err := Open(context.Background(), tiny, Options{Device: "cpu"})
	require.NoError(t, err)
	require.Equal(t, "cpu", q.Device())
	require.NoError(t, q.Close())
	require.NotPanics(t, func() { _ = q.Backend() })
}
