package wan22

// Output writers and callbacks that fail or panic, and cancellation at
// every stage: each is an error naming what failed, with nothing left
// running and the Pipeline still usable.

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/engine/video"
)

// failingWriter is a video writer that fails (returns err, or panics with
// it when panics is set) at frame failAt, counting from 0.
type failingWriter struct {
	failAt, written int
	err             error
	panics          bool
	closed, aborted bool
}

func (w *failingWriter) WriteFrame(image.Image) error {
	if w.written == w.failAt {
		if w.panics {
			panic(w.err)
		}
		return w.err
	}
	w.written++
	return nil
}
func (w *failingWriter) Close() error { w.closed = true; return nil }
func (w *failingWriter) Abort() error { w.aborted = true; return nil }

// An Output that fails stops the run with an *OutputError naming the field
// (and the frame or step), which wraps what the writer or callback returned
// (errors.Is finds it) or, for a panic, a *PanicError with the value and the
// stack. Generate neither panics nor closes or aborts the video writer, and
// the Pipeline runs the next request.
func TestOutputFailures(t *testing.T) {
	p := open(t, tiny)
	boom := errors.New("disk full")
	for _, c := range []struct {
		name        string
		out         func(w *failingWriter) Output
		field       string
		frame, step int
		panics      bool
		want        string
	}{
		{"video error", func(w *failingWriter) Output { return Output{Video: w} }, "Video", 2, -1, false, "wan22: Output.Video failed at frame 2: disk full"},
		{"video panic", func(w *failingWriter) Output { w.panics = true; return Output{Video: w} }, "Video", 2, -1, true, "wan22: Output.Video panicked at frame 2: disk full"},
		{"frame error", func(w *failingWriter) Output {
			w.failAt = -1 // the writer does not fail
			return Output{Video: w, Frame: func(i int, _ *image.RGBA) error {
				if i == 3 {
					return boom
				}
				return nil
			}}
		}, "Frame", 3, -1, false, "wan22: Output.Frame failed at frame 3: disk full"},
		{"frame panic", func(w *failingWriter) Output {
			return Output{Frame: func(i int, img *image.RGBA) error {
				var m map[string]int
				m["x"] = i // a nil map: a runtime error
				return nil
			}}
		}, "Frame", 0, -1, true, "wan22: Output.Frame panicked at frame 0: assignment to entry in nil map"},
		{"latent error", func(w *failingWriter) Output {
			return Output{Frame: frames, Latent: func(step, _ int, _ []float32) error {
				if step == 2 {
					return boom
				}
				return nil
			}}
		}, "Latent", -1, 2, false, "wan22: Output.Latent failed at step 2: disk full"},
		{"latent panic", func(w *failingWriter) Output {
			return Output{Frame: frames, Latent: func(int, int, []float32) error { panic("preview broke") }}
		}, "Latent", -1, 1, true, "wan22: Output.Latent panicked at step 1: preview broke"},
		{"progress panic", func(w *failingWriter) Output {
			return Output{Frame: frames, Progress: func(ev Event) {
				if ev.Stage == LowNoise {
					panic(boom)
				}
			}}
		}, "Progress", -1, -1, true, "wan22: Output.Progress panicked: disk full"},
	} {
		before := runtime.NumGoroutine()
		w := &failingWriter{failAt: 2, err: boom}
		var err error
		require.NotPanics(t, func() { err = p.Generate(context.Background(), tinyRequest(), c.out(w)) }, c.name)
		require.EqualError(t, err, c.want, c.name)
		oe, ok := errors.AsType[*OutputError](err)
		require.True(t, ok, "%s: %T %v", c.name, err, err)
		require.Equal(t, c.field, oe.Output, c.name)
		require.Equal(t, c.frame, oe.Frame, c.name)
		require.Equal(t, c.step, oe.Step, c.name)
		pe, panicked := errors.AsType[*PanicError](err)
		require.Equal(t, c.panics, panicked, c.name)
		if panicked {
			require.NotNil(t, pe.Value, c.name)
			require.Contains(t, string(pe.Stack), "qa_outputs_test.go", "%s: the stack shows the callback", c.name)
		}
		if !c.panics || c.field == "Progress" || c.field == "Video" {
			require.ErrorIs(t, err, boom, c.name)
		}
		require.False(t, w.closed || w.aborted, "%s: Generate closed or aborted the writer", c.name)
		settled(t, before)
	}
	_, err := generate(t, p, context.Background(), tinyRequest())
	require.NoError(t, err, "the run after the failed ones")
}

// A cancelled context stops the run at every stage, the start and the end of
// each (the end of the last stages: the run may already be done): the error
// wraps context.Canceled, no event follows the cancel, no goroutine is left,
// and the next run on the Pipeline succeeds. A video file being written is
// the caller's: Abort leaves nothing in its folder.
func TestCancelAtEveryStage(t *testing.T) {
	p := open(t, tiny)
	dir := t.TempDir()
	for _, st := range pipeline.Stages {
		for _, done := range []bool{false, true} {
			before := runtime.NumGoroutine()
			w, err := video.Create(context.Background(), filepath.Join(dir, "v.avi"), video.Options{Width: 32, Height: 16, Format: video.AVI})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			var cancelled time.Time
			after := 0
			err = p.Generate(ctx, tinyRequest(), Output{Video: w, Progress: func(ev Event) {
				switch {
				case !cancelled.IsZero():
					after++
				case ev.Stage == st && ev.Done == done:
					cancel()
					cancelled = time.Now()
				}
			}})
			took := time.Since(cancelled)
			cancel()
			require.False(t, cancelled.IsZero(), "%s done=%v: no such event", st, done)
			if done && (st == VAEDecode || st == VideoWrite) {
				require.NoError(t, err, "%s done: the run was complete", st) // nothing left to stop
			} else {
				require.ErrorIs(t, err, context.Canceled, "%s done=%v", st, done)
				require.Zero(t, after, "%s done=%v: events after the cancel", st, done)
				require.Less(t, took, 2*time.Second, "%s done=%v: slow to stop", st, done)
			}
			require.NoError(t, w.Abort())
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "%s done=%v: files left", st, done)
			settled(t, before)
		}
	}
	_, err := generate(t, p, context.Background(), tinyRequest())
	require.NoError(t, err, "the run after the cancelled ones")
}
