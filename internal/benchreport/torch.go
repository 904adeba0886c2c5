package benchreport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/wan22/wan22/gguf"
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
	if problem := torchProblem(b, &t); problem != "" {
		return nil, fmt.Errorf("%s: not the output of bench/torch/wan_e2e.py: %s: give the JSON it prints", path, problem)
	}
	switch {
	case t.Schema == "":
		return nil, fmt.Errorf("%s: not the output of bench/torch/wan_e2e.py (no \"schema\" field): give the JSON it prints", path)
	case strings.HasPrefix(t.Schema, "wan22-bench/"):
		return nil, fmt.Errorf("%s: a wan22 bench report, not the output of bench/torch/wan_e2e.py: give the JSON it prints (--compare compares with an earlier bench report)", path)
	case t.Schema != TorchSchema:
		return nil, fmt.Errorf("%s: schema %s, want %q (bench/torch/wan_e2e.py's output)", path, gguf.Quote(t.Schema), TorchSchema)
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

// torchProblem decodes b, a wan_e2e.py output, into t, and says in words
// what keeps it from being one ("" when nothing does): an empty file, text
// that is not JSON, JSON that is not one object, a file cut short, or a
// field of the wrong kind, by its JSON name, never the decoder's Go types.
func torchProblem(b []byte, t *Torch) string {
	text := bytes.TrimSpace(bytes.TrimPrefix(b, []byte(byteOrderMark)))
	if len(text) == 0 {
		return "the file is empty"
	}
	if text[0] != '{' {
		if !json.Valid(text) {
			return fmt.Sprintf("it is not JSON (it starts with %s)", firstChar(bufio.NewReader(bytes.NewReader(text[1:])), text[0]))
		}
		return fmt.Sprintf("it holds a JSON %s, and the output is one JSON object", jsonKind(text[0]))
	}
	err := json.Unmarshal(text, t)
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se) && strings.Contains(se.Error(), "unexpected end of JSON input"):
		return fmt.Sprintf("the file ends inside its JSON, after %d bytes: it was cut short", len(b))
	case errors.As(err, &se):
		return fmt.Sprintf("its JSON is invalid at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("%s is %s, want %s", te.Field, torchKind(te.Value), want(te.Type))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// torchKind names the JSON kind json.UnmarshalTypeError gives as its Value
// ("array", "number 1.5", "string"), with an article.
func torchKind(v string) string {
	if strings.HasPrefix(v, "array") || strings.HasPrefix(v, "object") {
		return "an " + v
	}
	return "a " + v
}
