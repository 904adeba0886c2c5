package wan22

// The QA pass's defects of the library's front door: a video writer of another size or frame rate than the request.

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/video"
)

// noWork is an Output whose Progress records the stages that started: a
// request refused before any model work leaves it empty.
func noWork(stages *[]Stage) Output {
	return Output{Progress: func(ev Event) { *stages = append(*stages, ev.Stage) }}
}

// A video writer that reports its size and frame rate is checked against
// the request before any model work: a mismatch is refused naming both
// values, and matching ones run.
func TestGenerateChecksWriterSizeAndFPS(t *testing.T) {
	p := open(t, tiny)
	dir := t.TempDir()
	create := func(name string, o video.Options) *video.File {
		o.Format = video.AVI
		w, err := video.Create(context.Background(), filepath.Join(dir, name), o)
		require.NoError(t, err)
		t.Cleanup(func() { w.Abort() })
		return w
	}
	for name, c := range map[string]struct {
		fps  int // Request.FPS
		o    video.Options
		want []string
	}{
		"fps given, writer default":  {30, video.Options{Width: 32, Height: 16}, []string{"30 fps", "16 fps", "video.Options.FPS"}},
		"fps default, writer 30":     {0, video.Options{Width: 32, Height: 16, FPS: 30}, []string{"16 fps (the default)", "30 fps", "Request.FPS"}},
		"writer larger than request": {0, video.Options{Width: 64, Height: 64}, []string{"32×16", "64×64", "Settings.Width"}},
		"writer of swapped sides":    {0, video.Options{Width: 16, Height: 32}, []string{"32×16", "16×32"}},
	} {
		var stages []Stage
		out := noWork(&stages)
		out.Video = create(strings.ReplaceAll(name, " ", "_")+".avi", c.o)
		r := tinyRequest()
		r.FPS = c.fps
		err := p.Generate(context.Background(), r, out)
		require.Error(t, err, name)
		for _, w := range c.want {
			require.ErrorContains(t, err, w, name)
		}
		require.Empty(t, stages, "%s: refused before any stage", name)
		require.Zero(t, out.Video.(*video.File).Frames(), name)
	}

	// Matching size and rate: the run writes every frame.
	w := create("ok.avi", video.Options{Width: 32, Height: 16, FPS: 30})
	r := tinyRequest()
	r.FPS = 30
	require.NoError(t, p.Generate(context.Background(), r, Output{Video: w}))
	require.Equal(t, 5, w.Frames())
	require.NoError(t, w.Close())
}

// A video writer closed after one Generate is refused by a second before any
// model work, saying it is closed, instead of failing at its first frame once
// every stage has run; one kept open takes the second Generate's frames after
// the first's (clips chained into one video).
func TestGenerateRefusesUsedWriter(t *testing.T) {
	p := open(t, tiny)
	w, err := video.Create(context.Background(), filepath.Join(t.TempDir(), "one.avi"), video.Options{Width: 32, Height: 16, Format: video.AVI})
	require.NoError(t, err)
	t.Cleanup(func() { w.Abort() })
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Video: w}))
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Video: w}), "a second clip into the open writer")
	require.Equal(t, 10, w.Frames(), "both clips' frames")
	require.NoError(t, w.Close())
	var stages []Stage
	out := noWork(&stages)
	out.Video = w
	re := new(RequestError)
	require.ErrorAs(t, p.Generate(context.Background(), tinyRequest(), out), &re)
	require.Equal(t, "Output.Video", re.Field)
	require.ErrorContains(t, re, "takes no more frames")
	require.ErrorContains(t, re, "closed")
	require.Empty(t, stages, "refused before any stage")
}

// TestGenerateRefusesFinishedWriter: a video writer that takes no more
// frames (aborted, or closed without frames) is refused before any work,
// naming why; it failed at its first frame after all the model work.
func TestGenerateRefusesFinishedWriter(t *testing.T) {
	p := open(t, tiny)
	for name, finish := range map[string]func(*video.File){
		"aborted": func(w *video.File) { w.Abort() },
		"closed":  func(w *video.File) { _ = w.Close() }, // no frames: Close fails, and the File is done
	} {
		w, err := video.Create(context.Background(), filepath.Join(t.TempDir(), name+".avi"), video.Options{Width: 32, Height: 16, Format: video.AVI})
		require.NoError(t, err)
		finish(w)
		var stages []Stage
		out := noWork(&stages)
		out.Video = w
		re := new(RequestError)
		require.ErrorAs(t, p.Generate(context.Background(), tinyRequest(), out), &re, name)
		require.Equal(t, "Output.Video", re.Field, name)
		require.ErrorContains(t, re, "takes no more frames", name)
		require.Empty(t, stages, "%s: refused before any stage", name)
	}
}

// A Generate whose context has ended before it starts (Ctrl-C between
// video.Create and Generate) returns the context's error, not a
// *RequestError on Output.Video for the writer made with that context
// (which takes no more frames because of it) telling the caller to create
// a new one: a caller that reports a refused request before a cancellation
// told the user that their writer was wrong.
func TestGenerateCancelledBeforeStartIsNoWriterRefusal(t *testing.T) {
	p := open(t, tiny)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := video.Create(ctx, filepath.Join(t.TempDir(), "v.avi"), video.Options{Width: 32, Height: 16, Format: video.AVI})
	require.NoError(t, err)
	defer w.Abort()
	cancel()
	var stages []Stage
	out := noWork(&stages)
	out.Video = w
	err = p.Generate(ctx, tinyRequest(), out)
	require.ErrorIs(t, err, context.Canceled)
	_, refused := errors.AsType[*RequestError](err)
	require.False(t, refused, "%v", err)
	require.Empty(t, stages)
}
