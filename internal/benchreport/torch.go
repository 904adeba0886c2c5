package benchreport

import (
	"encoding/json"
	"fmt"
	"io"
)

// TorchSchema identifies the JSON that bench/torch/wan_e2e.py prints.
const TorchSchema = "wan22-torch-e2e/1"

// Torch is the output of bench/torch/wan_e2e.py: one 14B DiT block timed
// in PyTorch at the token counts of the bench's sizes, scaled to the whole
// model and the schedule.
type Torch struct {
	Schema        string       `json:"schema"` // TorchSchema
	GPU           string       `json:"gpu"`
	Torch         string       `json:"torch"` // PyTorch version
	Blocks        int          `json:"blocks"`
	ScheduleSteps int          `json:"schedule_steps"`
	Entries       []TorchEntry `json:"entries"`
}

// TorchEntry is one measured configuration.
type TorchEntry struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Frames int    `json:"frames"`
	Tokens int    `json:"tokens"`
	Mode   string `json:"mode"` // "eager" or "compiled" (max-autotune-no-cudagraphs)
	CFG    bool   `json:"cfg"`  // two forwards per step (conditional and unconditional)
	// BlockMS is the median time of one block (two with CFG) in ms; Step is
	// that times Blocks, in seconds, and Schedule that times ScheduleSteps.
	BlockMS  float64 `json:"block_ms"`
	Step     float64 `json:"step_seconds"`
	Schedule float64 `json:"schedule_seconds"`
	Peak     int64   `json:"peak_bytes"` // torch.cuda.max_memory_allocated
}

// ReadTorch reads and checks a wan_e2e.py output file.
func ReadTorch(path string) (*Torch, error) {
	f, err := openInput(path, "give the output of bench/torch/wan_e2e.py")
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var t Torch
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: not the output of bench/torch/wan_e2e.py: %w", path, err)
	}
	if t.Schema != TorchSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q (bench/torch/wan_e2e.py's output)", path, t.Schema, TorchSchema)
	}
	for i, e := range t.Entries {
		if e.Width <= 0 || e.Height <= 0 || e.Frames <= 0 || !(e.Schedule > 0) {
			return nil, fmt.Errorf("%s: entry %d is incomplete (size %dx%d, %d frames, %g s)", path, i, e.Width, e.Height, e.Frames, e.Schedule)
		}
	}
	return &t, nil
}

// Find returns the entry of a size, frame count, mode and CFG setting.
func (t *Torch) Find(w, h, frames int, mode string, cfg bool) (TorchEntry, bool) {
	if t == nil {
		return TorchEntry{}, false
	}
	for _, e := range t.Entries {
		if e.Width == w && e.Height == h && e.Frames == frames && e.Mode == mode && e.CFG == cfg {
			return e, true
		}
	}
	return TorchEntry{}, false
}
