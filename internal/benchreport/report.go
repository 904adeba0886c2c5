// Package benchreport holds the results of `wan22 bench`: the JSON schema
// (docs/BENCH_SCHEMA.md documents it field by field), the terminal tables,
// a self-contained HTML page of the same tables with charts (inline SVG, no
// scripts), the ratios between two reports (--compare), the machine the
// bench ran on, and the PyTorch reference numbers of bench/torch/wan_e2e.py
// shown beside wan22's.
//
// Times are in seconds and memory in bytes throughout the JSON.
package benchreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/internal/atomicfile"
)

// Schema identifies the JSON format; a change that removes or renames a
// field bumps the number.
const Schema = "wan22-bench/1"

// Report is the result of one `wan22 bench` invocation.
type Report struct {
	Schema   string    `json:"schema"` // Schema
	Created  time.Time `json:"created"`
	Command  []string  `json:"command"` // the arguments after `wan22 bench`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Runs     []Run     `json:"runs"`
	// Torch is the PyTorch reference read with --torch-json, if any.
	Torch *Torch `json:"torch,omitempty"`
	// Sources are, for a report merged with `wan22 bench --from-json`
	// (Merge), the reports it was made of, in the order of Runs; absent for
	// a report of one bench run.
	Sources []SourceInfo `json:"sources,omitempty"`
}

// Settings are what every run of a report shares.
type Settings struct {
	Device  string `json:"device"`  // "cpu" or "cuda"
	Backend string `json:"backend"` // the backend's name, "cuda:0 NVIDIA H100 80GB HBM3"
	Models  Models `json:"models"`
	// MeasuredSteps is --steps, the steps measured per expert of a run
	// extrapolated to ScheduleSteps (ScheduleHigh with the high-noise
	// expert, ScheduleLow with the low-noise one). For a schedule measured
	// whole it is the larger expert's count; Run.MeasuredHigh and
	// Run.MeasuredLow are exact.
	MeasuredSteps int `json:"measured_steps_per_expert"`
	ScheduleSteps int `json:"schedule_steps"`
	ScheduleHigh  int `json:"schedule_high_steps"`
	ScheduleLow   int `json:"schedule_low_steps"`
	// Timesteps are the ScheduleSteps timesteps of the schedule, on the
	// 0–1000 scale, as the scheduler gives them (shift applied); absent in
	// reports of older versions.
	Timesteps []float64 `json:"timesteps,omitempty"`
	// SwitchStep is --switch-step: the experts switch after this many steps
	// of the schedule; 0 (absent) switches at Boundary.
	SwitchStep   int     `json:"switch_step,omitempty"`
	Solver       string  `json:"solver"`
	Shift        float64 `json:"shift"`
	GuidanceHigh float64 `json:"guidance_high"`
	GuidanceLow  float64 `json:"guidance_low"`
	Boundary     float64 `json:"boundary"`
	Seed         uint64  `json:"seed"`
	PinnedBudget int64   `json:"pinned_budget"` // bytes; 0: the engine's default (half of RAM)
	// VideoFormat is the container the video-write stage wrote ("avi");
	// VideoKept says whether the videos were kept (--out-video).
	VideoFormat string `json:"video_format"`
	VideoKept   bool   `json:"video_kept"`
	// Attention is --attention, the DiT's attention precision on the GPU:
	// "bf16", "int8" or "fp8" (the CPU computes attention in f32 whatever
	// it says). Reports of older versions lack it: they ran bf16 (see
	// AttentionOrDefault).
	Attention string `json:"attention"`
	// LoRAs are the LoRAs of every run in the order they were attached,
	// the synthetic ones (--synth-lora) included.
	LoRAs []LoRA `json:"loras,omitempty"`
	// LoRAMerge is --lora-merge: the LoRAs were merged into the weights at
	// load instead of applied at run time (absent: at run time, as in
	// reports of older versions, which did not record it).
	LoRAMerge bool `json:"lora_merge,omitempty"`
}

// AttentionOrDefault is s.Attention, or "bf16" for a report of an older
// version, which ran bf16 attention and did not record it.
func (s Settings) AttentionOrDefault() string {
	if s.Attention == "" {
		return "bf16"
	}
	return s.Attention
}

// LoRA is a LoRA file attached at run time.
type LoRA struct {
	Path     string  `json:"path"`
	Strength float64 `json:"strength"`
	// Expert is "high", "low" or "both": the experts it is attached to.
	Expert string `json:"expert"`
	// Synthetic is set for a LoRA of random weights the bench wrote
	// (--synth-lora); Path names the file it wrote, which is gone unless
	// it went to --synth-dir or --keep-synth kept it.
	Synthetic bool `json:"synthetic,omitempty"`
	// Rank is a synthetic LoRA's rank (--synth-lora); absent for a file
	// given and in reports of older versions (see SyntheticRank).
	Rank int `json:"rank,omitempty"`
}

// SyntheticRank is the rank of a synthetic LoRA: Rank, or for a report of
// an older version, which lacks it, the rank in the name the bench gave the
// file ("synth-lora-r64-…"); 0 when neither tells.
func (l LoRA) SyntheticRank() int {
	if !l.Synthetic {
		return 0
	}
	if l.Rank > 0 {
		return l.Rank
	}
	var r int
	if _, err := fmt.Sscanf(filepath.Base(l.Path), "synth-lora-r%d-", &r); err == nil && r > 0 {
		return r
	}
	return 0
}

// Models describes the model files of a report.
type Models struct {
	High        string `json:"high"`
	Low         string `json:"low"`
	TextEncoder string `json:"text_encoder"`
	VAE         string `json:"vae"`
	// Kind is "real", "synthetic" (full-size random weights) or "tiny"
	// (engine/tinymodels).
	Kind string `json:"kind"`
	// ExpertType is the high-noise expert's block weight type: "Q8_0",
	// "F16", … ("" when unknown); ExpertTypeLow the low-noise expert's when
	// it differs (experts of two types), absent when it is the same, when
	// it is unknown, and in reports of older versions, which recorded the
	// high-noise expert's only. Read both with ExpertsLabel.
	ExpertType    string `json:"expert_type"`
	ExpertTypeLow string `json:"expert_type_low,omitempty"`
	SameExpert    bool   `json:"same_expert"` // one file served as both experts
	// ExpertShape is the high-noise expert's shape, read from its file's
	// header: what a time measured with it applies to (i2v's estimates);
	// absent in reports of older versions.
	ExpertShape ExpertShape `json:"expert_shape,omitzero"`
}

// ExpertsLabel names the experts' block types for the tables, the chart
// and run labels: "Q8_0", or "Q8_0 high/F16 low" for experts of two types;
// "" when unknown.
func (m Models) ExpertsLabel() string {
	if m.ExpertTypeLow == "" || m.ExpertTypeLow == m.ExpertType {
		return m.ExpertType
	}
	return orDash(m.ExpertType) + " high/" + m.ExpertTypeLow + " low"
}

// ExpertShape is the shape of a DiT expert, as its file's header gives it
// (the zero value: unknown).
type ExpertShape struct {
	Layers  int `json:"layers"`
	Dim     int `json:"dim"`
	FFNDim  int `json:"ffn_dim"`
	Heads   int `json:"heads"`
	InDim   int `json:"in_dim"`
	OutDim  int `json:"out_dim"`
	TextDim int `json:"text_dim"`
	FreqDim int `json:"freq_dim"`
}

// Run statuses.
const (
	StatusOK        = "ok"
	StatusNoFit     = "does-not-fit" // the run needs more memory than the budget; see Run.MinVRAM
	StatusFailed    = "failed"
	stageSwitchName = "switch"
)

// Stage names in Run.Stages, in order.
var StageNames = []string{"vae-encode", "text-encode", "high-noise", stageSwitchName, "low-noise", "vae-decode", "video-write"}

// Run is one generation: one size, frame count and VRAM budget.
type Run struct {
	Width  int `json:"width"`
	Height int `json:"height"`
	Frames int `json:"frames"`
	// Tokens is the DiT's sequence length: latent frames × (H/16) × (W/16).
	Tokens     int    `json:"tokens"`
	VRAMBudget int64  `json:"vram_budget"` // bytes; 0: all free device memory
	Status     string `json:"status"`      // StatusOK, StatusNoFit or StatusFailed
	// Models are the run's own models in a merged report whose parts ran
	// different models (see Merge); nil: Settings.Models. Read them with
	// Report.ModelsOf.
	Models *Models `json:"models,omitempty"`
	Error  string  `json:"error,omitempty"`
	// MinVRAM is, for StatusNoFit, the smallest budget the run needs (the
	// planner's minimum or the memory estimate), in bytes; 0 if unknown.
	MinVRAM int64 `json:"min_vram,omitempty"`

	// Stages are the measured stages in StageNames order (see
	// BENCH_SCHEMA.md for what each covers).
	Stages []Stage `json:"stages,omitempty"`
	// MeasuredHigh and MeasuredLow are the denoising steps the run
	// measured with each expert (absent for a run that did not complete);
	// Whole says that they were the whole schedule, so that nothing was
	// extrapolated.
	MeasuredHigh int  `json:"measured_high,omitempty"`
	MeasuredLow  int  `json:"measured_low,omitempty"`
	Whole        bool `json:"whole"`
	// HighSteps and LowSteps are the measured denoising steps' wall times.
	HighSteps []float64 `json:"high_steps,omitempty"`
	LowSteps  []float64 `json:"low_steps,omitempty"`
	// HighLoad and LowLoad are the experts' load times (LowLoad is the
	// switch stage).
	HighLoad float64 `json:"high_load"`
	LowLoad  float64 `json:"low_load"`
	// PerStepHigh and PerStepLow are the steady per-step times used for
	// the extrapolation: the mean of the measured steps after the first (the
	// first alone when only one was measured).
	PerStepHigh float64 `json:"per_step_high"`
	PerStepLow  float64 `json:"per_step_low"`
	// Measured is the wall time of the measured run; Denoise and Total are
	// the denoising time and the whole run extrapolated to the schedule.
	Measured float64 `json:"measured"`
	Denoise  float64 `json:"denoise_estimate"`
	Total    float64 `json:"total_estimate"`

	Peak     Memory `json:"peak"`
	PlanHigh string `json:"plan_high,omitempty"`
	PlanLow  string `json:"plan_low,omitempty"`
	// SwapHigh and SwapLow are the experts' block-swap counters at their
	// last step (absent when no block was swapped).
	SwapHigh *blockswap.Stats `json:"swap_high,omitempty"`
	SwapLow  *blockswap.Stats `json:"swap_low,omitempty"`
}

// Stage is one stage of a run.
type Stage struct {
	Name    string  `json:"name"` // one of StageNames
	Seconds float64 `json:"seconds"`
	// Peak is the run's peak memory when the stage ended (the peaks so far:
	// the stage that raises a figure is the one that set it).
	Peak Memory `json:"peak"`
}

// Memory is peak memory in bytes (0: not known on this device or system).
type Memory struct {
	VRAM   int64 `json:"vram"`
	Pinned int64 `json:"pinned"`
	RSS    int64 `json:"rss"`
}

// Stage returns the named stage of r and whether it is there.
func (r *Run) Stage(name string) (Stage, bool) {
	for _, s := range r.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}

// MeasuredSteps returns the steps r measured with each expert: MeasuredHigh and
// MeasuredLow, or for a report of an older version, which lacks them, the
// number of step times it holds.
func (r *Run) MeasuredSteps() (high, low int) {
	if r.MeasuredHigh > 0 || r.MeasuredLow > 0 {
		return r.MeasuredHigh, r.MeasuredLow
	}
	return len(r.HighSteps), len(r.LowSteps)
}

// Key identifies a run across reports: size, frames and budget.
func (r *Run) Key() string {
	return fmt.Sprintf("%dx%d/%d/%s", r.Width, r.Height, r.Frames, BudgetLabel(r.VRAMBudget))
}

// createdLabel dates r for the page and --compare, in UTC as the bench
// records it and with the zone named: "2026-12-06 10:00 UTC".
func createdLabel(r *Report) string {
	return r.Created.UTC().Format("2006-01-02 15:04 MST")
}

// BudgetLabel writes a VRAM budget: "32 GiB", or "all" for 0.
func BudgetLabel(b int64) string {
	if b == 0 {
		return "all"
	}
	return trimFloat(float64(b)/(1<<30)) + " GiB"
}

// trimFloat writes v with at most two decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// Encode writes r as indented JSON.
func (r *Report) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Decode reads a report: one JSON object of the schema (Schema), with
// every field it requires, no field it lacks and values of its types, runs
// of known status, each once. A file that is not such a report is a
// *FormatError saying where and what is wrong.
func Decode(rd io.Reader) (*Report, error) {
	return decodeStrict(rd)
}

// ReadFile reads a report written by WriteFile. Its errors are for the
// user: each names path once and says what to do.
func ReadFile(path string) (*Report, error) {
	f, err := openInput(path, giveReport)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// inputError is a file that cannot be read, in words that name it once
// (the system's error, which names it too, is kept for errors.Is).
type inputError struct {
	msg string
	err error
}

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return e.err }

// openInput opens the file at path to read: a report, or a PyTorch
// reference. A missing file, a folder and a file the system will not open
// are errors that name path once and say what to do (give: what file to
// give instead of a folder).
func openInput(path, give string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		cause := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			cause = pe.Err // the path is said once, in the message
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &inputError{path + " does not exist: check the path", err}
		}
		return nil, &inputError{fmt.Sprintf("%s cannot be opened: %v", path, cause), err}
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a folder: %s", path, give)
	}
	return f, nil
}

// WriteAtomic writes a file through a temporary file in the same folder
// that is renamed to path only when write and the close succeeded: path is
// either the complete new file or untouched.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("moving the finished file into place: %w", err)
	}
	return nil
}

// WriteFile writes r as JSON to path atomically.
func (r *Report) WriteFile(path string) error {
	if r.Schema == "" {
		return errors.New("the report has no schema")
	}
	return WriteAtomic(path, r.Encode)
}
