package main

import (
	"fmt"
	"io"
	"time"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/internal/benchreport"
)

// i2vEstimate estimates the run's time from the user's bench history (the
// reports `wan22 bench` saved on this machine); ok is false when no bench
// of this device matches.
func i2vEstimate(backend, device string, s wan22.Settings, f i2vFlags) (seconds float64, basis string, ok bool) {
	hist, err := benchreport.LoadHistory()
	if err != nil || len(hist) == 0 {
		return 0, "", false
	}
	budget := f.vramBytes
	if device == wan22.DeviceCPU {
		budget = 0 // no device budget on the CPU
	}
	cfg := s.Guidance.High != 1 || s.Guidance.Low != 1
	return benchreport.Estimate(hist, backend, s.Frames, s.Width, s.Height, s.Steps, cfg, budget, expertTypeOf(f.high), string(f.att))
}

// estimateText is the start line's estimate: "about 4m27s (from the bench
// of …)".
func estimateText(seconds float64, basis string) string {
	return fmt.Sprintf("about %s (%s)", time.Duration(seconds*float64(time.Second)).Round(time.Second), basis)
}

// saveBenchHistory keeps a finished bench's report in the user's bench
// history for i2v's estimates; a failure only warns.
func saveBenchHistory(rep *benchreport.Report, stdout, stderr io.Writer) {
	ok := false
	for _, r := range rep.Runs {
		ok = ok || r.Status == benchreport.StatusOK
	}
	if !ok {
		return
	}
	path, err := benchreport.SaveHistory(rep)
	switch {
	case err != nil && path == "":
		fmt.Fprintf(stderr, "wan22 bench: warning: the report was not kept for i2v's time estimates: %v\n", err)
	case err != nil:
		fmt.Fprintf(stderr, "wan22 bench: warning: kept the report as %s, but removing old ones failed: %v\n", path, err)
	default:
		fmt.Fprintf(stdout, "kept the report for i2v's time estimates as %s (--no-history skips this)\n", path)
	}
}
