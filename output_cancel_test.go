package wan22

// An output that fails because the run was cancelled, with an error of its
// own that does not wrap the context's (a writer whose ffmpeg the cancel
// killed: "signal: killed"), still gives an error that wraps the context's,
// as Generate promises for a cancelled run, in an *OutputError naming it.

import (
	"context"
	"errors"
	"image"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// expiring is a context whose deadline passes when expire is called: at a
// chosen moment of the run, not of the clock. It is not one of the context
// package's, so a context made from it ends only after it does, as with any
// context of a caller's own.
type expiring struct {
	context.Context // Background: no deadline, no values
	done            chan struct{}
	once            sync.Once
}

func newExpiring() *expiring {
	return &expiring{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiring) Done() <-chan struct{} { return c.done }

func (c *expiring) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *expiring) expire() { c.once.Do(func() { close(c.done) }) }

// killedWriter is a video writer that, at its first frame, ends the run's
// context (end) and waits for it, as a writer whose ffmpeg the cancel
// kills, then fails with err.
type killedWriter struct {
	ctx context.Context
	end func()
	err error
}

func (w *killedWriter) WriteFrame(image.Image) error {
	go w.end()
	<-w.ctx.Done()
	return w.err
}
func (w *killedWriter) Close() error { return nil }
func (w *killedWriter) Abort() error { return nil }

func TestOutputFailsAsTheRunIsCancelled(t *testing.T) {
	p := open(t, tiny)
	killed := errors.New("signal: killed")
	for _, c := range []struct {
		name   string
		ctx    func() (context.Context, func())
		out    func(ctx context.Context, end func()) Output
		field  string
		ended  error
		panics bool
		want   string
	}{
		{"video, cancelled", func() (context.Context, func()) { return context.WithCancel(context.Background()) },
			func(ctx context.Context, end func()) Output {
				return Output{Video: &killedWriter{ctx: ctx, end: end, err: killed}}
			}, "Video", context.Canceled, false,
			"wan22: Output.Video failed at frame 0: signal: killed (the run was cancelled: context canceled)"},
		{"frame, deadline", func() (context.Context, func()) { c := newExpiring(); return c, c.expire },
			func(ctx context.Context, end func()) Output {
				return Output{Frame: func(int, *image.RGBA) error { go end(); <-ctx.Done(); return killed }}
			}, "Frame", context.DeadlineExceeded, false,
			"wan22: Output.Frame failed at frame 0: signal: killed (the run was cancelled: context deadline exceeded)"},
		{"frame panic, cancelled", func() (context.Context, func()) { return context.WithCancel(context.Background()) },
			func(ctx context.Context, end func()) Output {
				return Output{Frame: func(int, *image.RGBA) error { go end(); <-ctx.Done(); panic(killed) }}
			}, "Frame", context.Canceled, true,
			"wan22: Output.Frame panicked at frame 0: signal: killed (the run was cancelled: context canceled)"},
	} {
		ctx, end := c.ctx()
		err := p.Generate(ctx, tinyRequest(), c.out(ctx, end))
		end()
		require.ErrorIs(t, err, c.ended, c.name)
		require.ErrorIs(t, err, killed, c.name)
		oe, ok := err.(*OutputError)
		require.True(t, ok, "%s: %T %v", c.name, err, err)
		require.Equal(t, c.field, oe.Output, c.name)
		require.Equal(t, 0, oe.Frame, c.name)
		require.Equal(t, -1, oe.Step, c.name)
		require.EqualError(t, err, c.want, c.name)
		_, panicked := errors.AsType[*PanicError](err)
		require.Equal(t, c.panics, panicked, c.name)
	}
	// The same failure on a live context says nothing of a cancel.
	err := p.Generate(context.Background(), tinyRequest(), Output{Frame: func(int, *image.RGBA) error { return killed }})
	require.EqualError(t, err, "wan22: Output.Frame failed at frame 0: signal: killed")
	require.NotErrorIs(t, err, context.Canceled)
	// The Pipeline runs the next request.
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Frame: frames}))
}
