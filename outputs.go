package wan22

import (
	"context"
	"fmt"
	"runtime/debug"
)

// OutputError is a failure of an Output: its Video writer or one of its
// callbacks returned an error or panicked. Generate stops the run there,
// releases every model and returns it; the Pipeline runs the next request.
// The other outputs are left as they are: Generate never closes
// Output.Video, so Abort it.
type OutputError struct {
	// Output names the field at fault: "Video", "Frame", "Progress" or
	// "Latent".
	Output string
	// Frame is the frame being handed to Video or Frame (from 0), and Step
	// the denoising step handed to Latent (from 1); each is -1 where it does
	// not apply.
	Frame, Step int
	// Err is what the writer or callback returned, or a *PanicError when
	// it panicked. When the run's context had ended by the time it failed
	// (a writer that watches the context, whose ffmpeg the cancel killed),
	// Err wraps that error and the context's, so that errors.Is finds
	// context.Canceled or context.DeadlineExceeded as Generate promises.
	Err error
}

func (e *OutputError) Error() string {
	verb := "failed"
	cause := e.Err
	if c, ok := cause.(*cancelledError); ok {
		cause = c.err
	}
	if _, ok := cause.(*PanicError); ok {
		verb = "panicked"
	}
	at := ""
	switch {
	case e.Frame >= 0:
		at = fmt.Sprintf(" at frame %d", e.Frame)
	case e.Step >= 0:
		at = fmt.Sprintf(" at step %d", e.Step)
	}
	return fmt.Sprintf("wan22: Output.%s %s%s: %v", e.Output, verb, at, e.Err)
}

func (e *OutputError) Unwrap() error { return e.Err }

// PanicError is a panic of an Output's writer or callback. Generate
// recovers it, so that the run stops as on an error (every model released,
// the Pipeline usable) rather than unwinding through the engine, and
// returns it in an *OutputError.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack (runtime/debug.Stack), to find the fault
}

func (e *PanicError) Error() string { return fmt.Sprint(e.Value) }

// Unwrap returns the panic's value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// guard runs the Output of one Generate: every call of its writer or
// callbacks turns an error or a panic into an *OutputError. Progress
// returns nothing, so its failure is kept in failed and stops the run
// (stop). Once the run's context has ended (a cancel, Close, or that
// failure) no output is called any more. The pipeline calls the outputs on
// the goroutine of Generate, one at a time, so failed needs no lock.
type guard struct {
	ctx    context.Context // the caller's, which run derives from
	run    context.Context // the run's context
	stop   context.CancelCauseFunc
	failed error // the *OutputError of Progress
}

// call runs f, the Output field output handling frame or step (-1 where
// it does not apply), unless the run has ended: then it returns the run
// context's error. When f fails after the caller's context has ended (f
// watched it, or ran as it ended), the *OutputError wraps the context's
// error too: the output's own error ("signal: killed") need not. The
// caller's context is asked, not the run's: a cancel sets its error before
// its Done channel closes, and the run's only after, so an output that
// wakes on the caller's Done may return before the run has ended. (A run
// ended by Close or Progress's failure only returns ErrClosed or that
// failure.)
func (g *guard) call(output string, frame, step int, f func() error) error {
	if err := g.run.Err(); err != nil {
		return err
	}
	if err := catch(f); err != nil {
		if ended := g.ctx.Err(); ended != nil {
			err = &cancelledError{err: err, ctx: ended}
		}
		return &OutputError{Output: output, Frame: frame, Step: step, Err: err}
	}
	return nil
}

// cancelledError is the error of an output that failed once the run's
// context had ended: what the output returned, and the context's error.
type cancelledError struct {
	err, ctx error
}

func (e *cancelledError) Error() string {
	return fmt.Sprintf("%v (the run was cancelled: %v)", e.err, e.ctx)
}

func (e *cancelledError) Unwrap() []error { return []error{e.err, e.ctx} }

// catch runs f and returns its error, or a *PanicError when it panics.
func catch(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}

// progress wraps Output.Progress (nil stays nil).
func (g *guard) progress(f func(Event)) func(Event) {
	if f == nil {
		return nil
	}
	return func(ev Event) {
		if g.failed != nil || g.run.Err() != nil {
			return
		}
		if err := g.call("Progress", -1, -1, func() error { f(ev); return nil }); err != nil {
			g.failed = err
			g.stop(err)
		}
	}
}

// latent wraps Output.Latent (nil stays nil).
func (g *guard) latent(f func(step, steps int, latent []float32) error) func(int, int, []float32) error {
	if f == nil {
		return nil
	}
	return func(step, steps int, latent []float32) error {
		return g.call("Latent", -1, step, func() error { return f(step, steps, latent) })
	}
}
