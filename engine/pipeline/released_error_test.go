package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
)

// releasing records the stages a run reports released (as the CUDA backend
// trims its pool, scratch and staging ring in Released).
type releasing struct {
	engine.VideoOps
	mu  sync.Mutex
	got []Stage
}

func (r *releasing) Released(s Stage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
	return nil
}

// TestReleasedOnError: a stage that fails or is stopped (a failing consumer,
// a failing Latent callback, a cancel) is reported Released to the backend
// as a finished one is, so that the CUDA backend frees what the stage left
// and trims its caches before the next run; it was skipped on every error
// path but the text encoder's. Each stage is released once.
func TestReleasedOnError(t *testing.T) {
	m := tinyModels(t)
	boom := errors.New("boom")
	for name, c := range map[string]struct {
		mod  func(*Options, context.CancelFunc)
		emit func(cancel context.CancelFunc) func([]float32, int) error
		want Stage
	}{
		"emit fails in decode": {func(*Options, context.CancelFunc) {}, func(context.CancelFunc) func([]float32, int) error {
			return func([]float32, int) error { return boom }
		}, VAEDecode},
		"latent fails in high-noise": {func(o *Options, _ context.CancelFunc) {
			o.Latent = func(int, int, []float32) error { return boom }
		}, nil, HighNoise},
		"cancel in high-noise": {func(o *Options, cancel context.CancelFunc) {
			o.Progress = func(ev Event) {
				if ev.Stage == HighNoise && ev.Step == 1 {
					cancel()
				}
			}
		}, nil, HighNoise},
		"cancel during vae encode": {func(o *Options, cancel context.CancelFunc) {
			o.Progress = func(ev Event) {
				if ev.Stage == VAEEncode && !ev.Done {
					cancel()
				}
			}
		}, nil, VAEEncode},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		o := baseOptions()
		c.mod(&o, cancel)
		emit := func([]float32, int) error { return nil }
		if c.emit != nil {
			emit = c.emit(cancel)
		}
		b := &releasing{VideoOps: cpu.New()}
		err := I2V(ctx, b, m, testImage(o), o, emit)
		cancel()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		found := false
		for _, s := range b.got {
			if s == c.want {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: stage %s failed (%v) and was never Released (released: %v): its backend's cached memory stays", name, c.want, err, b.got)
		}
		seen := map[Stage]bool{}
		for _, s := range b.got {
			if seen[s] {
				t.Errorf("%s: stage %s Released twice (%v)", name, s, b.got)
			}
			seen[s] = true
		}
	}
}

// TestReleasedOnceOnSuccess: a run that succeeds releases each of its five
// stages exactly once.
func TestReleasedOnceOnSuccess(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	b := &releasing{VideoOps: cpu.New()}
	if err := I2V(context.Background(), b, m, testImage(o), o, func([]float32, int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	count := map[Stage]int{}
	for _, s := range b.got {
		count[s]++
	}
	for _, s := range []Stage{VAEEncode, TextEncode, HighNoise, LowNoise, VAEDecode} {
		if count[s] != 1 {
			t.Errorf("stage %s released %d times (%v), want once", s, count[s], b.got)
		}
	}
}

// releaseFailing fails the Released call of one stage, as a CUDA backend
// that cannot free or trim what the stage left would.
type releaseFailing struct {
	engine.VideoOps
	at  Stage
	err error
}

func (r *releaseFailing) Released(s Stage) error {
	if s == r.at {
		return r.err
	}
	return nil
}

// TestReleaseErrorAfterStop: when a stopped stage's release fails too, the run
// returns its own error (the callback's, the cancel) and the release's error
// is logged as a warning naming the stage, not lost; a release failing after a
// stage that succeeded is the run's error.
func TestReleaseErrorAfterStop(t *testing.T) {
	m := tinyModels(t)
	freeErr := errors.New("cuMemFree: an illegal memory access")
	boom := errors.New("boom")
	for name, c := range map[string]struct {
		at      Stage
		mod     func(*Options, context.CancelFunc)
		want    error // errors.Is the run's error
		logged  bool  // the release's error logged as a warning
		wantLog string
	}{
		"latent fails in high-noise": {HighNoise, func(o *Options, _ context.CancelFunc) {
			o.Latent = func(int, int, []float32) error { return boom }
		}, boom, true, "stage=high-noise"},
		"cancel in low-noise": {LowNoise, func(o *Options, cancel context.CancelFunc) {
			o.Progress = func(ev Event) {
				if ev.Stage == LowNoise && ev.Step > 0 {
					cancel()
				}
			}
		}, context.Canceled, true, "stage=low-noise"},
		"vae encode finished": {VAEEncode, func(*Options, context.CancelFunc) {}, freeErr, false, ""},
	} {
		var log bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		o := baseOptions()
		o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c.mod(&o, cancel)
		b := &releaseFailing{VideoOps: cpu.New(), at: c.at, err: freeErr}
		err := I2V(ctx, b, m, testImage(o), o, func([]float32, int) error { return nil })
		cancel()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		got := log.String()
		if logged := strings.Contains(got, "could not release its memory"); logged != c.logged {
			t.Errorf("%s: release error logged %v, want %v:\n%s", name, logged, c.logged, got)
		}
		if c.logged && (!strings.Contains(got, c.wantLog) || !strings.Contains(got, freeErr.Error())) {
			t.Errorf("%s: the warning does not name %s and the release's error:\n%s", name, c.wantLog, got)
		}
	}
}
