package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/internal/benchreport"
)

// i2vEstimate estimates the run's time from the user's bench history (the
// reports `wan22 bench` saved on this machine); ok is false when no bench
// of this device and of experts of this shape matches. The runs used had
// experts of the same pair of types as f's (a Q8_0 high-noise expert with a
// Q4_K low-noise one is not timed by a bench of two Q8_0 experts).
func i2vEstimate(backend, device string, s wan22.Settings, f i2vFlags) (seconds float64, basis string, ok bool) {
	hist, err := benchreport.LoadHistory()
	if err != nil || len(hist) == 0 {
		return 0, "", false
	}
	typ, shape, ok := expertOf(f.high)
	if !ok {
		return 0, "", false
	}
	typLow := typ
	if f.low != f.high {
		typLow, _, _ = expertOf(f.low) // "" when it cannot tell: any type matches
	}
	hist = sameShapeRuns(hist, shape)
	budget := f.vramBytes
	if device == wan22.DeviceCPU {
		budget = 0 // no device budget on the CPU
	}
	cfg := s.Guidance.High != 1 || s.Guidance.Low != 1
	return benchreport.EstimateExperts(hist, backend, s.Frames, s.Width, s.Height, s.Steps, cfg, budget, typ, typLow, string(f.att))
}

// expertOf reads an expert file's block weight type ("Q8_0", "" when it
// cannot tell) and shape; ok is false when the shape cannot be read.
func expertOf(path string) (typ string, shape dit.Config, ok bool) {
	src, _, err := modelfile.Open(path)
	if err != nil {
		return "", dit.Config{}, false
	}
	defer src.Close()
	shape, err = dit.ConfigFrom(src)
	return blockType(src), shape, err == nil
}

// sameShapeRuns keeps the bench runs whose experts had shape: a time
// measured on the tiny models says nothing of the A14B experts, nor the
// reverse. A report records its expert's shape (models.expert_shape); for
// a report of an older version, without it, the shape is the kind's (the
// tiny set's for "tiny", I2V-A14B's for "synthetic", which the bench
// writes in that shape) or, for "real", the expert file's own when the
// report names it by an absolute path that can still be read. A run whose
// shape cannot be told (a relative path, a file gone, no kind) is left out:
// an estimate from experts of another shape would be wrong.
func sameShapeRuns(hist []benchreport.Report, shape dit.Config) []benchreport.Report {
	want := shapeOf(shape)
	real := map[string]bool{} // expert path → it has shape
	matches := func(m benchreport.Models) bool {
		if m.ExpertShape != (benchreport.ExpertShape{}) {
			return m.ExpertShape == want
		}
		switch m.Kind {
		case "tiny":
			return shape == tinymodels.DiT()
		case "synthetic":
			return shape == dit.I2VA14B()
		case "real":
		default:
			return false
		}
		if !filepath.IsAbs(m.High) { // relative to a folder the report does not name
			return false
		}
		same, seen := real[m.High]
		if !seen {
			_, s, ok := expertOf(m.High)
			same = ok && s == shape
			real[m.High] = same
		}
		return same
	}
	var out []benchreport.Report
	for i := range hist {
		rep := hist[i]
		rep.Runs = nil
		for j := range hist[i].Runs {
			if run := &hist[i].Runs[j]; matches(hist[i].ModelsOf(run)) {
				rep.Runs = append(rep.Runs, *run)
			}
		}
		if len(rep.Runs) > 0 {
			out = append(out, rep)
		}
	}
	return out
}

// shapeOf is an expert configuration as a report records it.
func shapeOf(c dit.Config) benchreport.ExpertShape {
	return benchreport.ExpertShape{Layers: c.Layers, Dim: c.Dim, FFNDim: c.FFNDim, Heads: c.Heads,
		InDim: c.InDim, OutDim: c.OutDim, TextDim: c.TextDim, FreqDim: c.FreqDim}
}

// estimateText is the start line's estimate: "about 4m27s (from the bench
// of …)", or "under a second (…)" when it rounds to less than 1 s.
func estimateText(seconds float64, basis string) string {
	if seconds < 0.5 {
		return fmt.Sprintf("under a second (%s)", basis)
	}
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
