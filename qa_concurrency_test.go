package wan22

// The front door as a program embedding the library uses it: one Pipeline
// shared by goroutines (a GUI, a web service), Close while a run goes on,
// and Output callbacks that fail, panic or are slow. Run with -race.

import (
	"context"
	"errors"
	"image"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// frames is an Output.Frame that keeps nothing.
func frames(int, *image.RGBA) error { return nil }

// settled waits for the goroutines of finished runs to end and requires
// that no more than before remain.
func settled(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left running")
}

// Two Generates on one Pipeline run one after the other: the second starts
// (its first event) only after the first has returned, and both succeed
// with the video a lone run makes.
func TestConcurrentGenerateSerialized(t *testing.T) {
	p := open(t, tiny)
	want, err := generate(t, p, context.Background(), tinyRequest())
	require.NoError(t, err)

	var mu sync.Mutex
	var log []int // the run (0, 1) of each event, and 10+run when a Generate returned
	add := func(v int) { mu.Lock(); log = append(log, v); mu.Unlock() }
	firstBlocked := make(chan struct{})
	secondStarted := make(chan struct{}, 1)
	out := func(run int, got *[][]uint8) Output {
		var once sync.Once
		return Output{
			Frame: func(i int, img *image.RGBA) error {
				*got = append(*got, append([]uint8(nil), img.Pix...))
				return nil
			},
			Progress: func(ev Event) {
				add(run)
				if run == 1 {
					select {
					case secondStarted <- struct{}{}:
					default:
					}
				}
				if run == 0 && ev.Stage == HighNoise && ev.Step == 1 {
					once.Do(func() {
						close(firstBlocked)
						// Give the second Generate the time to start, were it not to wait.
						select {
						case <-secondStarted:
						case <-time.After(300 * time.Millisecond):
						}
					})
				}
			},
		}
	}
	var wg sync.WaitGroup
	got := make([][][]uint8, 2)
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = p.Generate(context.Background(), tinyRequest(), out(0, &got[0]))
		add(10)
	}()
	<-firstBlocked
	go func() {
		defer wg.Done()
		errs[1] = p.Generate(context.Background(), tinyRequest(), out(1, &got[1]))
		add(11)
	}()
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, want, got[0])
	require.Equal(t, want, got[1])
	returned := -1
	for i, v := range log {
		if v == 10 {
			returned = i
		}
	}
	for i, v := range log {
		if v == 1 {
			require.Greater(t, i, returned, "the second Generate ran while the first was running: %v", log)
			break
		}
	}
}

// A Generate waiting for the running one returns when its own context ends
// (with the context's error) or when the Pipeline is closed (ErrClosed),
// without ever starting.
func TestWaitingGenerateStops(t *testing.T) {
	p, err := Open(context.Background(), tiny, Options{Device: "cpu"})
	require.NoError(t, err)
	release := make(chan struct{})
	running := make(chan struct{})
	first := make(chan error, 1)
	var once sync.Once
	go func() {
		first <- p.Generate(context.Background(), tinyRequest(), Output{Frame: frames, Progress: func(Event) {
			once.Do(func() { close(running); <-release })
		}})
	}()
	<-running

	var started atomic.Bool
	waiter := Output{Frame: frames, Progress: func(Event) { started.Store(true) }}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = p.Generate(ctx, tinyRequest(), waiter)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "waiting for the running Generate")

	second := make(chan error, 1)
	go func() { second <- p.Generate(context.Background(), tinyRequest(), waiter) }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, p.Close())
	select {
	case err := <-second:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("a Generate waiting for the running one did not return after Close")
	}
	close(release)
	require.ErrorIs(t, <-first, ErrClosed, "the running Generate, stopped by Close")
	require.False(t, started.Load(), "a waiting Generate ran")
}

// Close while a Generate runs (from another goroutine, or from one of its
// callbacks) returns at once without deadlock; the run stops at its next
// check with an error wrapping ErrClosed, and the device is released once,
// after the run has stopped using it.
func TestCloseDuringGenerate(t *testing.T) {
	for _, fromCallback := range []bool{false, true} {
		before := runtime.NumGoroutine()
		p, err := Open(context.Background(), tiny, Options{Device: "cpu"})
		require.NoError(t, err)
		inCallback := make(chan struct{})
		closeReturned := make(chan struct{})
		// inClose is set while the caller's Close runs: the run is still
		// going then, and must not lose its device.
		var inClose atomic.Bool
		var closes, closedWhileRunning atomic.Int32
		release := p.close
		p.close = func() error {
			closes.Add(1)
			if inClose.Load() {
				closedWhileRunning.Add(1)
			}
			return release()
		}
		closeNow := func() {
			inClose.Store(true)
			if err := p.Close(); err != nil {
				t.Error("Close:", err)
			}
			inClose.Store(false)
			close(closeReturned)
		}
		var once sync.Once
		var after atomic.Int32 // events after Close returned
		if !fromCallback {
			go func() {
				<-inCallback
				closeNow()
			}()
		}
		err = p.Generate(context.Background(), tinyRequest(), Output{Frame: frames, Progress: func(ev Event) {
			select {
			case <-closeReturned:
				after.Add(1)
				return
			default:
			}
			if ev.Stage == HighNoise && ev.Step == 1 {
				once.Do(func() {
					if fromCallback {
						closeNow()
						return
					}
					close(inCallback)
					select {
					case <-closeReturned:
					case <-time.After(5 * time.Second):
						t.Error("Close waited for the running Generate")
					}
				})
			}
		}})
		require.ErrorIs(t, err, ErrClosed, "from callback %v", fromCallback)
		require.ErrorContains(t, err, "Close stopped")
		require.NotErrorIs(t, err, context.Canceled, "the caller cancelled nothing")
		require.Zero(t, after.Load(), "events after Close")
		require.Equal(t, int32(1), closes.Load(), "the device is released once")
		require.Zero(t, closedWhileRunning.Load(), "the device was released while the run used it")
		require.NoError(t, p.Close(), "a second Close")
		_, err = p.Resolve(tinyRequest())
		require.ErrorIs(t, err, ErrClosed)
		settled(t, before)
	}
}

// Every method may be called from any goroutine at any time, Close
// included, while a Generate runs: with -race this finds unguarded state.
// Each call returns a result or ErrClosed, never panics.
func TestMethodsConcurrentWithClose(t *testing.T) {
	p, err := Open(context.Background(), tiny, Options{Device: "cpu"})
	require.NoError(t, err)
	started := make(chan struct{})
	var once sync.Once
	gen := make(chan error, 1)
	go func() {
		gen <- p.Generate(context.Background(), tinyRequest(), Output{Frame: frames, Progress: func(Event) { once.Do(func() { close(started) }) }})
	}()
	<-started
	var wg sync.WaitGroup
	var calls atomic.Int32
	for range 3 {
		wg.Go(func() {
			for {
				_, err := p.Resolve(tinyRequest())
				_, _, _ = p.Device(), p.Backend(), p.Attention()
				calls.Add(1)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error("Resolve:", err)
					return
				}
			}
		})
	}
	for calls.Load() < 6 {
		time.Sleep(time.Millisecond)
	}
	wg.Go(func() {
		if err := p.Close(); err != nil {
			t.Error("Close:", err)
		}
	})
	wg.Wait()
	err = <-gen
	if err != nil {
		require.ErrorIs(t, err, ErrClosed)
	}
	_, err = p.Resolve(tinyRequest())
	require.ErrorIs(t, err, ErrClosed)
}
