package wan22

// The fourteenth QA pass over the library's front door: a Go program of a
// new user's, written against the public API.

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/imageprep"
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

// vmRSS is the process's resident set in bytes (VmRSS in
// /proc/self/status), or 0 where it cannot be read.
func vmRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil && len(f) == 2 {
				return kb << 10
			}
		}
	}
	return 0
}

// needResidentSet skips a test that measures freed heap by the resident
// set where that cannot be read, or where the race detector's shadow memory
// of the freed heap stays resident.
func needResidentSet(t *testing.T) {
	t.Helper()
	if vmRSS() == 0 {
		t.Skip("no /proc/self/status to read the resident set from")
	}
	if raceDetector {
		t.Skip("the race detector's shadow memory of the freed heap stays resident")
	}
}

// garbage is what a run left: memory the heap has used and dropped.
var garbage [][]float32

// TestBudgetCountsOwnFreedHeap: the host memory available, which the
// system lowers by this process's resident heap, is read again after the
// heap's unused memory is returned before a request is refused. A program
// that makes several videos kept its first run's freed models (up to that
// run's peak) resident, as the Go runtime returns memory slowly, and the
// next request that fits the machine was refused with a *BudgetError, "more
// than the … of host memory available: … free memory". Here a machine whose
// available memory is what this process does not hold resident has room for
// the request and a margin; a run's garbage, 512 MiB, is dropped before it
// resolves.
func TestBudgetCountsOwnFreedHeap(t *testing.T) {
	needResidentSet(t)
	p := open(t, tiny)
	s, err := p.Resolve(tinyRequest())
	require.NoError(t, err)
	debug.FreeOSMemory()
	machine := vmRSS() + s.Host + 128<<20 // what the process holds now, the request and a margin
	old := availableMemory
	availableMemory = func() int64 { return max(machine-vmRSS(), 1) } // less than 0 reads as unknown, 0 as none left
	t.Cleanup(func() { availableMemory = old })

	for range 4 {
		g := make([]float32, 32<<20) // 128 MiB, touched so that it is resident
		for i := range g {
			g[i] = 1
		}
		garbage = append(garbage, g)
	}
	garbage = nil
	require.Less(t, availableMemory(), s.Host, "the dropped heap is still resident")
	s, err = p.Resolve(tinyRequest())
	require.NoError(t, err)
	require.GreaterOrEqual(t, s.Budget, s.Host)
	runtime.KeepAlive(garbage)

	// A request that does not fit the machine is still refused.
	availableMemory = func() int64 { return s.Host / 2 }
	_, err = p.Resolve(tinyRequest())
	var be *BudgetError
	require.ErrorAs(t, err, &be)
	require.False(t, be.BudgetGiven)
	require.Equal(t, s.Host/2, be.Budget)
}

// TestTensorOfAnotherScale: a prepared Tensor of pixels in 0–255 (or any
// value beyond ±4) is a *RequestError on Tensor before any model work,
// naming the value and the scale wanted; it ran to the end and made a video
// of noise. imageprep.Tensor's own output of the harshest image, whose
// bicubic resize overshoots [−1, 1] most, stays within the bound, and runs.
func TestTensorOfAnotherScale(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	r.Image = nil
	r.Tensor = make([]float32, 3*16*32)
	for i := range r.Tensor {
		r.Tensor[i] = float32(i % 256) // 0–255
	}
	var stages []Stage
	out := noWork(&stages)
	out.Frame = frames
	err := p.Generate(context.Background(), r, out)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "Tensor", re.Field)
	require.ErrorContains(t, err, "the Tensor holds 5 at index 5, far outside the [−1, 1] of a prepared image")
	require.Empty(t, stages, "refused before any stage")

	// The harshest image for the bicubic resize: halving a pattern whose
	// signs match the taps' weights (−, +, +, − across and down) sums
	// their absolute values, 1.375 a pass.
	harsh := image.NewGray(image.Rect(0, 0, 64, 32))
	sign := func(v int) int { return 1 - 2*(v%4/2) } // + + − −
	for y := range 32 {
		for x := range 64 {
			if sign(x)*sign(y) > 0 {
				harsh.Pix[y*harsh.Stride+x] = 255
			}
		}
	}
	tensor, err := imageprep.Tensor(harsh, 32, 16)
	require.NoError(t, err)
	var most float64
	for _, v := range tensor {
		most = max(most, math.Abs(float64(v)))
	}
	require.InDelta(t, 1.375*1.375, most, 1e-5, "the largest overshoot")
	require.Less(t, most, float64(tensorBound))
	r.Tensor = tensor
	require.NoError(t, p.Generate(context.Background(), r, Output{Frame: frames}))
}

// TestGenerateReturnsMemory: when Generate returns, the memory its run
// used is back with the system, as "an open Pipeline holds no model
// memory" says: the models and activations freed in the Go heap stayed
// resident until the runtime's own collection and scavenging, minutes
// later (a program idle after a CPU run held up to the run's peak, tens of
// GB with the real models). Here a run of 64×64, 9 frames left about 40
// MiB resident that a collection gave back.
func TestGenerateReturnsMemory(t *testing.T) {
	needResidentSet(t)
	p := open(t, tiny)
	r := tinyRequest()
	r.Width, r.Height, r.Frames = 64, 64, 9
	debug.FreeOSMemory()
	before := vmRSS()
	require.NoError(t, p.Generate(context.Background(), r, Output{Frame: frames}))
	after := vmRSS()
	debug.FreeOSMemory()
	held := after - vmRSS()
	t.Logf("resident: %d MiB before the run, %d MiB after it, of which %d MiB freed heap", before>>20, after>>20, held>>20)
	require.Less(t, held, int64(8<<20), "the run's freed heap is still resident when Generate returns")
}

// TestGenerateRefusesWithoutWaiting: a request that cannot run (a frame
// count that is not 4k+1, no image) is refused while another Generate
// runs, without waiting for it: Generate waited for the
// running one to return (a whole video, minutes to hours) before it checked
// anything, so a GUI or a web service learnt of a typo only then, and
// Resolve, which answers at once, may refuse a sound request for the memory
// the running one holds. A sound request still waits its turn.
func TestGenerateRefusesWithoutWaiting(t *testing.T) {
	p := open(t, tiny)
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		var once bool
		first <- p.Generate(context.Background(), tinyRequest(), Output{Frame: frames, Progress: func(Event) {
			if !once {
				once = true
				close(started)
				<-release // holds the turn
			}
		}})
	}()
	<-started
	bad := tinyRequest()
	bad.Frames = 6
	noImage := tinyRequest()
	noImage.Image = nil
	for name, c := range map[string]struct {
		r     Request
		field string
	}{
		"frames":   {bad, "Frames"},
		"no image": {noImage, "Image"},
	} {
		done := make(chan error, 1)
		go func() { done <- p.Generate(context.Background(), c.r, Output{Frame: frames}) }()
		select {
		case err := <-done:
			var re *RequestError
			require.ErrorAs(t, err, &re, name)
			require.Equal(t, c.field, re.Field, name)
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatalf("%s: Generate waited for the running one to return before it refused the request", name)
		}
	}
	// A sound request waits for its turn.
	second := make(chan error, 1)
	go func() { second <- p.Generate(context.Background(), tinyRequest(), Output{Frame: frames}) }()
	select {
	case err := <-second:
		t.Fatalf("a sound request ran while another held the turn: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-first)
	require.NoError(t, <-second)
}

// copyWriter is a video writer that keeps a copy of every frame's pixels.
type copyWriter struct{ frames [][]uint8 }

func (w *copyWriter) WriteFrame(img image.Image) error {
	w.frames = append(w.frames, slices.Clone(img.(*image.RGBA).Pix))
	return nil
}
func (w *copyWriter) Close() error { return nil }
func (w *copyWriter) Abort() error { return nil }

// TestFrameDrawingSparesVideo: a Frame callback that draws on its image
// (an overlay on a preview: the image is the caller's until the next
// frame) leaves the video as it was: Frame was called before Video with
// the one image, and the video got the overlay.
func TestFrameDrawingSparesVideo(t *testing.T) {
	p := open(t, tiny)
	plain := &copyWriter{}
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Video: plain}))
	drawn := &copyWriter{}
	var shown int
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Video: drawn, Frame: func(_ int, img *image.RGBA) error {
		draw.Draw(img, image.Rect(0, 0, 8, 8), image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
		shown++
		return nil
	}}))
	require.Equal(t, 5, shown)
	require.Len(t, plain.frames, 5)
	require.Equal(t, plain.frames, drawn.frames, "the overlay reached the video")
}
