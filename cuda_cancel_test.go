//go:build cuda

package wan22

// A run stopped on the GPU (its context cancelled while an expert samples,
// or an Output failing) releases every stage it held: the CUDA backend is
// told Released for the stopped stage (engine/pipeline), frees what the stage
// left and checks the driver's free memory, which logs a warning when it did
// not come back. These tests run on a GPU only; elsewhere they skip.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/imageprep"
)

// cancelRequest is the request of the GPU cancel tests: the tiny models, 9
// frames of 96×64 (the demo's size), 4 steps of which the high-noise expert
// runs 2 and the low-noise expert 2, with guidance (both prompts run).
func cancelRequest() Request {
	return Request{Image: imageprep.TestImage(96, 64), Prompt: "A cat surfing a wave at sunset, cinematic lighting",
		Frames: 9, Width: 96, Height: 64, Steps: 4, SwitchStep: 2, Seed: 42}
}

// warnLog collects the warnings (and errors) a pipeline logs.
type warnLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *warnLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

// take returns the lines logged since the last take.
func (w *warnLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.TrimSpace(w.buf.String())
	w.buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// requireNoWarnings fails, listing them, when the pipeline logged a warning
// since the last check (during what).
func (w *warnLog) requireNoWarnings(t *testing.T, what string) {
	t.Helper()
	if ws := w.take(); len(ws) > 0 {
		require.Failf(t, "warnings logged", "%s logged %d warning(s):\n%s", what, len(ws), strings.Join(ws, "\n"))
	}
}

// openCUDA opens the tiny models on the GPU with its warnings logged into the
// returned log, or skips the test where there is no GPU. Both budgets are
// fixed, so that Resolve's Settings do not follow the memory free at the time.
func openCUDA(t *testing.T) (*Pipeline, *warnLog) {
	t.Helper()
	w := &warnLog{}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := Open(context.Background(), tiny, Options{Device: DeviceCUDA, VRAMBudget: 4 << 30, HostBudget: 16 << 30, Log: log})
	if errors.Is(err, cuda.ErrNoDevice) {
		t.Skipf("no usable CUDA GPU here, the GPU cancel tests run on one only: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	w.requireNoWarnings(t, "Open")
	return p, w
}

// deviceHeld is what a pipeline's CUDA backend holds: bytes per owner
// (owners that hold none are absent) and live allocations, of device and of
// pinned host memory.
type deviceHeld struct {
	Device, Pinned             map[string]int64
	DeviceAllocs, PinnedAllocs int
}

// held reads what p's CUDA backend holds now. The library reports only peaks
// (Event.Memory); the backend's accounts are read here, inside the package.
func held(t *testing.T, p *Pipeline) deviceHeld {
	t.Helper()
	cb, ok := p.b.(cudaBackend)
	require.True(t, ok, "the pipeline's backend is a %T, not the CUDA backend", p.b)
	d, h := cb.MemStats(), cb.PinnedStats()
	return deviceHeld{Device: d.ByOwner, Pinned: h.ByOwner, DeviceAllocs: d.Allocs, PinnedAllocs: h.Allocs}
}

// requireNoMoreThan fails when got holds more, for any owner, or more
// allocations, than idle.
func requireNoMoreThan(t *testing.T, got, idle deviceHeld, when string) {
	t.Helper()
	beyond := func(got, idle map[string]int64) []string {
		var over []string
		for _, o := range slices.Sorted(maps.Keys(got)) {
			if got[o] > idle[o] {
				over = append(over, o+": "+cuda.FormatBytes(got[o])+", idle "+cuda.FormatBytes(idle[o]))
			}
		}
		return over
	}
	require.Empty(t, beyond(got.Device, idle.Device), "%s: device memory held beyond an idle pipeline's (%+v)", when, got)
	require.Empty(t, beyond(got.Pinned, idle.Pinned), "%s: pinned memory held beyond an idle pipeline's (%+v)", when, got)
	require.LessOrEqual(t, got.DeviceAllocs, idle.DeviceAllocs, "%s: device allocations (%+v, idle %+v)", when, got, idle)
	require.LessOrEqual(t, got.PinnedAllocs, idle.PinnedAllocs, "%s: pinned allocations (%+v, idle %+v)", when, got, idle)
}

// gpuRun is what a Generate produced: the frames' bytes, the experts' block
// plans (Event.Plan) and the error.
type gpuRun struct {
	frames [][]byte
	plans  map[Stage]string
	err    error
}

// runGPU generates r on p, keeping the frames and the plans; out, when not
// nil, is given the run's Output to change (stop is the run's cancel).
func runGPU(p *Pipeline, r Request, out func(o *Output, stop context.CancelFunc)) gpuRun {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := gpuRun{plans: map[Stage]string{}}
	o := Output{
		Frame: func(_ int, img *image.RGBA) error {
			g.frames = append(g.frames, bytes.Clone(img.Pix))
			return nil
		},
		Progress: func(ev Event) {
			if ev.Plan != "" {
				g.plans[ev.Stage] = ev.Plan
			}
		},
	}
	if out != nil {
		out(&o, cancel)
	}
	g.err = p.Generate(ctx, r, o)
	return g
}

// gpuReference is a run of r on a freshly opened pipeline, and what that
// pipeline resolves and holds once the run is done.
type gpuReference struct {
	run      gpuRun
	settings Settings
	idle     deviceHeld
}

func freshReference(t *testing.T, r Request) gpuReference {
	t.Helper()
	p, w := openCUDA(t)
	s, err := p.Resolve(r)
	require.NoError(t, err)
	g := runGPU(p, r, nil)
	require.NoError(t, g.err, "the run on a fresh pipeline")
	require.Len(t, g.frames, r.Frames)
	w.requireNoWarnings(t, "the run on a fresh pipeline")
	ref := gpuReference{run: g, settings: s, idle: held(t, p)}
	require.NoError(t, p.Close())
	return ref
}

// sameFrames reports whether two runs' frames are the same bytes and, where
// they are not, where they first differ and how far apart they are.
func sameFrames(want, got [][]byte) (bool, string) {
	if len(want) != len(got) {
		return false, "frame counts differ"
	}
	for i := range want {
		if !bytes.Equal(want[i], got[i]) {
			psnr, mean, largest := frameDiff(bytes.Join(want, nil), bytes.Join(got, nil))
			return false, fmt.Sprintf("frame %d differs first; over all frames PSNR %.2f dB, mean |Δ| %.3f, max |Δ| %d", i, psnr, mean, largest)
		}
	}
	return true, ""
}

// stoppedRun is a run that a case stops: out sets up its Output (stop
// cancels the run's context), and check checks its error and that it stopped
// where the case stops it.
type stoppedRun struct {
	name  string
	out   func(o *Output, stop context.CancelFunc)
	check func(t *testing.T, err error)
}

// checkStoppedRuns runs each case on a freshly opened pipeline: the stopped
// run writes no frame and logs no warning, leaves the backend holding no
// more than an idle pipeline that has run r (whose lazily made workspaces,
// as cuBLASLt's, stay for the backend's life); the next run of r resolves
// the same Settings and makes the same frames, bit for bit, with the same
// expert plans as a fresh pipeline, and leaves the backend as it.
func checkStoppedRuns(t *testing.T, cases []stoppedRun) {
	// One cuBLASLt algorithm per GEMM shape, the heuristic's first, rather
	// than the fastest timed: two pipelines could time different ones.
	t.Setenv("WAN22_CUBLASLT_CANDIDATES", "1")
	r := cancelRequest()
	ref := freshReference(t, r)
	t.Logf("an idle pipeline after a run holds %+v", ref.idle)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, w := openCUDA(t)
			t.Logf("an idle pipeline after Open holds %+v", held(t, p))
			s, err := p.Resolve(r)
			require.NoError(t, err)
			require.Equal(t, ref.settings, s, "Resolve on a fresh pipeline")

			g := runGPU(p, r, c.out)
			c.check(t, g.err)
			require.Empty(t, g.frames, "the stopped run wrote frames")
			w.requireNoWarnings(t, "the stopped run")
			requireNoMoreThan(t, held(t, p), ref.idle, "after the stopped run")

			s, err = p.Resolve(r)
			require.NoError(t, err)
			require.Equal(t, ref.settings, s, "Resolve after the stopped run")
			again := runGPU(p, r, nil)
			require.NoError(t, again.err, "the run after the stopped one")
			w.requireNoWarnings(t, "the run after the stopped one")
			if same, how := sameFrames(ref.run.frames, again.frames); !same {
				// Tell a stopped run's leftovers from a GPU that is not
				// deterministic: do two fresh pipelines agree?
				fresh, _ := sameFrames(ref.run.frames, freshReference(t, r).run.frames)
				t.Fatalf("the run after the stopped one made other frames than a fresh pipeline: %s (two fresh pipelines agree: %v)", how, fresh)
			}
			require.Equal(t, ref.run.plans, again.plans, "the experts' block plans")
			require.Equal(t, ref.idle, held(t, p), "after the run that followed the stopped one")
		})
	}
}

// Generate cancelled while an expert samples (from Progress, after the first
// denoising step of the high-noise expert, or of the low-noise one) returns
// context.Canceled and leaves the GPU as an idle pipeline's, with no
// warning; the next Generate makes the video a fresh pipeline makes.
func TestCUDACancelMidSampling(t *testing.T) {
	cancelAt := func(name string, stage Stage, step int) stoppedRun {
		cancelled := false
		return stoppedRun{name, func(o *Output, stop context.CancelFunc) {
			progress := o.Progress
			o.Progress = func(ev Event) {
				progress(ev)
				if ev.Stage == stage && ev.Step == step && !ev.Done {
					stop()
					cancelled = true
				}
			}
		}, func(t *testing.T, err error) {
			require.True(t, cancelled, "no %s event of step %d: the run was not cancelled (err: %v)", stage, step, err)
			require.ErrorIs(t, err, context.Canceled)
		}}
	}
	// Step counts over both experts: the low-noise expert's first step is
	// the switch step + 1.
	checkStoppedRuns(t, []stoppedRun{
		cancelAt("high-noise step 1", HighNoise, 1),
		cancelAt("low-noise step 1", LowNoise, cancelRequest().SwitchStep+1),
	})
}

// A stage that fails on the GPU because an Output fails (the video writer at
// the first frame, in VAE decode; the latent callback at the first step, in
// the high-noise expert) returns an *OutputError naming it and leaves the GPU
// as an idle pipeline's, with no warning; the next Generate makes the video a
// fresh pipeline makes.
func TestCUDACancelFailedStage(t *testing.T) {
	boom := errors.New("disk full")
	outputError := func(output string, frame, step int) func(t *testing.T, err error) {
		return func(t *testing.T, err error) {
			oe, ok := errors.AsType[*OutputError](err)
			require.True(t, ok, "%T %v", err, err)
			require.Equal(t, output, oe.Output)
			require.Equal(t, frame, oe.Frame)
			require.Equal(t, step, oe.Step)
			require.ErrorIs(t, err, boom)
		}
	}
	video := &failingWriter{failAt: 0, err: boom}
	checkStoppedRuns(t, []stoppedRun{
		{"video writer fails at frame 0", func(o *Output, _ context.CancelFunc) {
			o.Frame = nil // the writer is the only output of frames
			o.Video = video
		}, func(t *testing.T, err error) {
			outputError("Video", 0, -1)(t, err)
			require.Zero(t, video.written, "frames the failing writer took")
			require.False(t, video.closed || video.aborted, "Generate closed or aborted the caller's writer")
		}},
		{"latent fails at step 1", func(o *Output, _ context.CancelFunc) {
			o.Latent = func(int, int, []float32) error { return boom }
		}, outputError("Latent", -1, 1)},
	})
}
