package wan22

import (
	"context"
	"fmt"
	"image"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/hostmem"
	"github.com/wan22/wan22/engine/imageprep"
)

// TestEstimateBoundsMeasuredPeak runs the tiny pipeline on the CPU at two
// sizes and checks the host estimate against what the run used: the growth
// of the memory the Go runtime holds (runtime/metrics' total less what it
// released, sampled every millisecond) and of the peak resident set (VmHWM,
// reset before the run), which also counts the mapped model files' pages
// (page cache, which the estimate leaves out as reclaimable). The estimate
// must bound both and stay within twice the measured peak.
func TestEstimateBoundsMeasuredPeak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the tiny pipeline at two sizes; skipped with -short")
	}
	if raceDetector {
		t.Skip("the race detector's shadow memory multiplies the heap and resident set the estimate bounds")
	}
	if hostmem.PeakRSS() == 0 {
		t.Skip("no peak resident set on this platform (VmHWM in /proc/self/status)")
	}
	p := open(t, tiny)
	for _, size := range []struct{ w, h, frames int }{{64, 64, 5}, {128, 128, 5}} {
		t.Run(fmt.Sprintf("%dx%dx%d", size.w, size.h, size.frames), func(t *testing.T) {
			r := Request{Image: imageprep.TestImage(size.w, size.h), Prompt: "a boat", Frames: size.frames,
				Width: size.w, Height: size.h, Steps: 1, Seed: 3}
			s, err := p.Resolve(r)
			require.NoError(t, err)

			runtime.GC()
			debug.FreeOSMemory()
			held0 := goHeld()
			hostmem.ResetPeakRSS()
			rss0 := hostmem.PeakRSS() // the resident set now
			stop, held := sampleMax(goHeld)
			err = p.Generate(context.Background(), r, Output{Frame: func(int, *image.RGBA) error { return nil }})
			stop()
			require.NoError(t, err)
			rss := hostmem.PeakRSS()

			t.Logf("estimate %.1f MiB; peak RSS %.1f MiB (%.1f MiB before the run); Go runtime's memory +%.1f MiB at its peak",
				mib(s.Host), mib(rss), mib(rss0), mib(*held-held0))
			// The estimate counts the process before the run as
			// hostRuntimeBytes; the growth must fit the rest.
			require.LessOrEqual(t, *held-held0, s.Host-hostRuntimeBytes, "the Go runtime's memory grew beyond the estimate")
			require.LessOrEqual(t, rss-rss0, s.Host-hostRuntimeBytes+modelBytes(t, tiny), "the peak RSS grew beyond the estimate and the model files")
			require.LessOrEqual(t, s.Host, 2*rss, "the estimate is more than twice the measured peak")
		})
	}
}

// goHeld is the memory the Go runtime holds from the system: everything it
// mapped, less the heap pages it gave back.
func goHeld() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64()) - int64(s[1].Value.Uint64())
}

// sampleMax samples f every millisecond until stop is called and returns
// the largest value seen (valid after stop).
func sampleMax(f func() int64) (stop func(), peak *int64) {
	peak = new(int64)
	*peak = f()
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			*peak = max(*peak, f())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-finished }, peak
}

// modelBytes is the size of the model files of m: their mapped pages count
// in the resident set.
func modelBytes(t *testing.T, m Models) int64 {
	var n int64
	for _, f := range []string{m.High, m.Low, m.TextEncoder, m.VAE} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		n += st.Size()
	}
	return n
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
