package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/hostmem"
	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/engine/video"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/atomicfile"
	"github.com/wan22/wan22/internal/benchreport"
	"github.com/wan22/wan22/internal/fserr"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/scheduler"
)

const benchHelp = `Times image-to-video end to end, per stage, for each frame count, size and
VRAM budget, and reports it as a table, JSON (--json, docs/BENCH_SCHEMA.md) and
an HTML page (--html): the table, and charts of time and peak memory against
frames.

Each run measures --steps denoising steps per expert (with CFG; at most the
expert's share of the schedule, which the output then says) and
extrapolates the per-step time to the --schedule-steps schedule: the first
measured step of each expert counts once, the mean of the others for the
remaining steps of that expert (the output says how many were measured). A
schedule of at most 8 steps is measured whole, nothing extrapolated, and so
is a longer one when --steps is at least each expert's share of it (the
output says so).

Few-step runs take the settings of wan22 i2v: --solver distill runs the
step-distilled schedule of --timesteps (1000,750,500,250 by default: 4
steps) with guidance 1 unless --cfg is given; --switch-step N switches the
experts after N steps (1 to the schedule's steps − 1) instead of at --boundary. LoRAs are given as to i2v
(--lora-high, --lora-low, --lora FILE[:STRENGTH]); --synth-lora RANK adds a
synthetic LoRA of that rank per expert (random BF16, ComfyUI keys, on every
attention and FFN linear of every block), written next to the synthetic
models, so a 4-step run with a LoRA per expert needs no download:

  wan22 bench --solver distill --synth-lora 64 --vram-budget 32

Models: --high/--low/--text-encoder/--vae name real files; a role without a
file gets a synthetic one (random weights, real layout and size) written into
--synth-dir (default: a temporary folder removed afterwards unless
--keep-synth; files already there, complete (their size and header), are
reused, also one that another bench in the same folder finished first, and
a --json or --html report there may not take their names, synth-*.gguf and
synth-*.safetensors). The size
is checked against the free disk space and announced before writing; the
files given are checked first (each must exist and be of its role's kind),
and on the CPU an expert too large for the available memory is refused
before it is written. With
--same-expert (the default) one expert file serves both experts, which saves
15-29 GB of disk. --tiny, or --device cpu without model files, runs the tiny
model set (engine/tinymodels) at small sizes instead.

Video write: every run writes its frames as an MJPEG AVI (pure Go, so every
machine does the same work) into a temporary file deleted after the run, or
into --out-video DIR to keep them; the stage is timed either way, and VAE
decode is reported without it.

Attention: --attention int8 or fp8 times the opt-in 8-bit attention on the
GPU (slightly less accurate; faster only on GPUs without wgmma, not on Hopper)
instead of bf16 for the self-attention
(the cross-attention, at most 2048 keys, runs bf16 either way); the report
records it, and --compare against a bf16 report says the two differ in it.

Progress: on a terminal, one line of standard error shows the run going on,
its stage and step, and is erased when the run's result is printed.

A budget at which a size does not fit is recorded with the smallest budget
it needs, and the bench goes on; when no run completed the exit status is 1. Ctrl-C stops it: synthetic files being
written, temporary videos and the temporary folder are removed, and no JSON or
HTML is written (they are only ever written complete, through a rename). The
--json and --html files are reserved when the bench starts (each made new and
empty, so a second bench given the same file is refused then) and removed
again if it fails or stops.

Merging: --from-json A.json,B.json runs nothing. It reads the reports of
earlier benches on one machine and wan22 build (say one per expert type or
budget), prints their runs as one table and writes one --html chart (a line
per expert type, size and budget) and, with --json, one merged report;
--compare works as for a run. The reports must share the workflow (solver,
schedule, guidance, LoRAs, attention, …); only the models and the measured
steps may differ, and each run keeps its own. A merged report is not kept
for i2v's estimates (its runs are those of its parts).`

// benchFlags are bench's flags after parsing.
type benchFlags struct {
	frames, sizes, budgets             string
	high, low, textEncoder, vae        string
	synthDir                           string
	keepSynth, sameExpert, tiny        bool
	noHistory                          bool // --no-history: do not keep the report for i2v's estimates
	expertType                         string
	steps, scheduleSteps               int
	pinned                             float64
	solver                             string
	shift, boundary                    float64
	cfg                                string
	seed                               uint64
	device, attention                  string
	jsonPath, htmlPath, compare, torch string
	fromJSON                           string // --from-json: merge these reports instead of running
	outVideo                           string
	timestepList                       string
	switchStep, synthLoRA              int
	loras                              []wan22.LoRA
	loraMerge                          bool
	set                                map[string]bool
}

// benchPlan is what the flags ask for, checked.
type benchPlan struct {
	log           *slog.Logger // the library log of every run (benchLog); nil: none
	frames        []int
	sizes         [][2]int // width, height
	budgets       []int64  // bytes; 0: all free memory
	pinned        int64
	expertType    gguf.Type
	guidanceHigh  float64
	guidanceLow   float64
	scheduleHigh  int
	scheduleLow   int
	device        string // "cpu" or "cuda" (auto resolved)
	attention     wan22.AttentionPrecision
	tiny          bool
	compare       *benchreport.Report
	torch         *benchreport.Torch
	reports       *reportReservation // --json and --html, reserved at the start
	bar           *benchBar          // the progress line on a terminal; nil: none
	args          []string
	outVideoFiles bool
	loras         []wan22.LoRA // every LoRA of the runs, the synthetic ones included
	// timesteps is the distill solver's schedule (nil for the others).
	timesteps []int
	// scheduleTimesteps are the schedule's timesteps as the scheduler
	// gives them (0–1000, shift applied), for the report.
	scheduleTimesteps []float64
	// whole: the schedule is measured whole (at most wholeSchedule steps,
	// or --steps covers each expert's share), measuredHigh and measuredLow
	// steps; otherwise --steps per expert and extrapolated.
	whole                     bool
	measuredHigh, measuredLow int
	// The measured run's request: its steps, expert switch and distilled
	// timesteps.
	reqSteps, reqSwitch int
	reqTimesteps        []int
}

// wholeSchedule is the longest schedule the bench measures whole rather
// than extrapolating from a few steps: the few-step workflows (4 to 8
// steps).
const wholeSchedule = 8

func runBench(args []string, stdout, stderr io.Writer) int {
	ctx, stop := commandContext()
	defer stop()
	return bench(ctx, args, stdout, stderr)
}

// bench is runBench under a context that stops it.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f benchFlags
	fs := newFlagSet("bench", "wan22 bench [--frames 81,161,241] [--size 832x480,1280x720] [--vram-budget 32,24,16] [flags]", benchHelp, stderr)
	fs.StringVar(&f.frames, "frames", "81,161,241", "frame counts to run, each 4n+1 (tiny: 5,9)")
	fs.StringVar(&f.sizes, "size", "832x480", "sizes WxH to run, multiples of 16, comma-separated (tiny: 96x64)")
	fs.StringVar(&f.budgets, "vram-budget", "0", "GPU memory budgets in GiB, comma-separated; each runs every size and frame count (0: all free memory)")
	fs.Float64Var(&f.pinned, "pinned-budget", 0, "pinned host memory for block swapping in GiB (0: half of physical memory)")
	fs.StringVar(&f.high, "high", "", "high-noise expert file (default: synthetic)")
	fs.StringVar(&f.low, "low", "", "low-noise expert file (default: the high-noise one with --same-expert, else synthetic)")
	fs.StringVar(&f.textEncoder, "text-encoder", "", "umT5 encoder file with its tokenizer (default: synthetic Q8_0)")
	fs.StringVar(&f.vae, "vae", "", "WAN 2.1 VAE file (default: synthetic BF16)")
	fs.StringVar(&f.synthDir, "synth-dir", "", "folder for the synthetic models (default: a temporary folder, removed afterwards)")
	fs.BoolVar(&f.keepSynth, "keep-synth", false, "keep the temporary folder of synthetic models (full-size runs; the tiny set is always removed)")
	fs.BoolVar(&f.sameExpert, "same-expert", true, "one expert file serves as both experts (saves disk; the timing is the same)")
	fs.StringVar(&f.expertType, "expert-type", "Q8_0", "weight type of synthetic experts' blocks: "+typeList(synthKinds[0].types))
	fs.BoolVar(&f.tiny, "tiny", false, "run the tiny model set on small sizes (CI, laptops)")
	fs.BoolVar(&f.noHistory, "no-history", false, "do not keep the report in the user cache folder (wan22/bench), where i2v finds it for its time estimate")
	fs.IntVar(&f.steps, "steps", 2, "denoising steps measured per expert")
	fs.IntVar(&f.scheduleSteps, "schedule-steps", wan22.DefaultSteps, "the schedule the step times are extrapolated to")
	fs.StringVar(&f.solver, "solver", wan22.DefaultSolver, "unipc, dpm++, euler, or distill (the step-distilled schedule of --timesteps)")
	fs.StringVar(&f.timestepList, "timesteps", "", "the distill solver's steps, e.g. 1000,750,500,250 (the default)")
	fs.IntVar(&f.switchStep, "switch-step", 0, "switch experts after this many steps of the schedule instead of at --boundary: 1 to the schedule's steps − 1 (leave it out to switch at --boundary)")
	addLoRAFlags(fs, &f.loras)
	fs.IntVar(&f.synthLoRA, "synth-lora", 0, "add a synthetic LoRA of this rank to each expert (0: none)")
	fs.BoolVar(&f.loraMerge, "lora-merge", false, "merge the LoRAs into F16/BF16/F32 weights at load, as i2v --lora-merge")
	fs.Float64Var(&f.shift, "shift", wan22.DefaultShift, "sigma shift")
	fs.StringVar(&f.cfg, "cfg", "3.5", "guidance scale: one value for both experts, or HIGH,LOW (1 skips the unconditional pass; 1 by default for distill)")
	fs.Float64Var(&f.boundary, "boundary", wan22.DefaultBoundary, "expert switch of the extrapolated schedule, as a fraction of the 1000 timesteps")
	addSeedFlag(fs, &f.seed, maxSeed, "noise and synthetic-weight seed")
	fs.StringVar(&f.device, "device", "auto", "cpu, cuda, or auto")
	fs.StringVar(&f.attention, "attention", "bf16", attentionUsage)
	fs.StringVar(&f.jsonPath, "json", "", "write the report as JSON to this file (not \"-\": no standard output); must not exist")
	fs.StringVar(&f.htmlPath, "html", "", "write the chart as a self-contained HTML file; must not exist")
	fs.StringVar(&f.compare, "compare", "", "a previous --json report: print the ratios of this run to it")
	fs.StringVar(&f.torch, "torch-json", "", "output of bench/torch/wan_e2e.py: show PyTorch's times beside wan22's")
	fs.StringVar(&f.outVideo, "out-video", "", "keep each run's video in this existing folder (default: a temporary file, deleted)")
	fs.StringVar(&f.fromJSON, "from-json", "", "run nothing: merge these --json reports (comma-separated) of one machine into one table, --html chart and --json report")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(stderr, "bench", "unexpected arguments %q (every input is a flag)", fs.Args())
	}
	bar := newBenchBar(stderr) // the terminal itself, not a writer around it
	// Every message prints the input paths quoted where displayName
	// quotes them: the library's messages, and many of the bench's own,
	// print them raw.
	stdout, stderr = displayWriter(stdout, f.inputPaths()), displayWriter(stderr, f.inputPaths())
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if f.set["from-json"] {
		return benchFromJSON(f, args, stdout, stderr)
	}
	p, err := f.check()
	if err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	p.args = args
	if bar != nil {
		// Whatever else is printed clears the progress line first.
		p.bar = bar
		stdout, stderr = bar.clearing(stdout), bar.clearing(stderr)
	}
	if w := zeroStrengthWarning(f.loras); w != "" {
		fmt.Fprintln(stderr, "wan22 bench: warning:", w)
	}
	if w := untrainedLoRAWarning(f.loras); w != "" {
		fmt.Fprintln(stderr, "wan22 bench: warning:", w)
	}
	// The report files are reserved now, so that a bench started
	// meanwhile with the same --json or --html is refused at its start
	// rather than one report replacing the other at the end.
	if p.reports, err = reserveReports(f); err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	defer p.reports.release()
	rep, err := runBenchPlan(ctx, f, p, stdout, stderr)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "wan22 bench: interrupted;", interruptedCleanup(f), "and no report was written")
			if kept := keptBenchVideos(f.outVideo, p); len(kept) > 0 {
				fmt.Fprintf(stderr, "wan22 bench: the videos of the runs that finished stay in --out-video %s: %s (remove them before a bench into that folder)\n",
					f.outVideo, strings.Join(kept, ", "))
			}
			return exitInterrupted
		}
		fmt.Fprintln(stderr, "wan22 bench:", flagWords("bench", err.Error()))
		return 1
	}
	if !p.tiny && !f.noHistory {
		saveBenchHistory(rep, stdout, stderr)
	}
	completed, failed := false, 0
	for _, r := range rep.Runs {
		if r.Status == benchreport.StatusFailed {
			failed++
		}
		completed = completed || r.Status == benchreport.StatusOK
	}
	if failed > 0 {
		// Said on standard error too: with the table in a file, the exit
		// status alone said that something went wrong.
		fmt.Fprintf(stderr, "wan22 bench: %d of %s failed (the table says why)\n", failed, plural.Count(len(rep.Runs), "run"))
		return 1
	}
	if !completed {
		fmt.Fprintln(stderr, "wan22 bench: no run completed: none fits in this memory (the table says what each needs)")
		return 1
	}
	return 0
}

// keptBenchVideos lists the base names of the run videos in --out-video dir
// that a bench planned as p wrote before it stopped (the one being written
// is removed): complete videos, kept, which a later bench into dir refuses
// to replace. Nil without --out-video.
func keptBenchVideos(dir string, p benchPlan) []string {
	if dir == "" {
		return nil
	}
	var kept []string
	for c := range p.cells() {
		path := benchVideoPath(dir, c.size, c.frames, c.budget)
		if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
			kept = append(kept, filepath.Base(path))
		}
	}
	return kept
}

// benchCell is one run of a bench plan: a VRAM budget, a size and a frame count.
type benchCell struct {
	budget int64
	size   [2]int
	frames int
}

// cells yields the plan's runs in the order the bench runs them: by budget,
// then size, then frame count.
func (p benchPlan) cells() iter.Seq[benchCell] {
	return func(yield func(benchCell) bool) {
		for _, budget := range p.budgets {
			for _, size := range p.sizes {
				for _, frames := range p.frames {
					if !yield(benchCell{budget, size, frames}) {
						return
					}
				}
			}
		}
	}
}

// interruptedCleanup says what a bench stopped by Ctrl-C removed: the
// temporary files and the synthetic files, except the finished ones in
// --synth-dir (kept for reuse) or the --keep-synth folder.
func interruptedCleanup(f benchFlags) string {
	switch {
	case f.synthDir != "":
		return "the temporary files and any synthetic file being written were removed (the finished synthetic files stay in " + f.synthDir + " for reuse)"
	case f.keepSynth:
		return "the temporary files and any synthetic file being written were removed (the finished synthetic files stay in the folder kept for --keep-synth)"
	}
	return "the synthetic and temporary files were removed"
}

// check validates the flags on their own, before anything is read or written.
func (f *benchFlags) check() (benchPlan, error) {
	var p benchPlan
	var err error
	if err := f.checkTilde(); err != nil {
		return p, err
	}
	p.device = strings.ToLower(f.device)
	switch p.device {
	case "auto":
		p.device = wan22.DeviceCPU
		if cudaAvailable() {
			p.device = wan22.DeviceCUDA
		}
	default:
		if err := checkDevice(p.device); err != nil {
			return p, err
		}
	}
	// The device as given, as i2v checks it: auto in a binary without
	// CUDA is told so, not advised --device cuda.
	if p.attention, err = checkAttention(f.attention, strings.ToLower(f.device)); err != nil {
		return p, err
	}
	anyModel := f.high != "" || f.low != "" || f.textEncoder != "" || f.vae != ""
	p.tiny = f.tiny || (p.device == wan22.DeviceCPU && !anyModel)
	if f.tiny && anyModel {
		return p, errors.New("--tiny runs the tiny model set: give no model files with it")
	}
	if p.tiny {
		if err := f.checkTinySynth(); err != nil {
			return p, err
		}
		if !f.set["frames"] {
			f.frames = "5,9"
		}
		if !f.set["size"] {
			f.sizes = "96x64"
		}
	}
	if p.frames, err = parseFrames(f.frames); err != nil {
		return p, err
	}
	if p.sizes, err = parseSizes(f.sizes); err != nil {
		return p, err
	}
	if p.budgets, err = parseBudgets(f.budgets); err != nil {
		return p, err
	}
	// A budget for a run on the CPU (--device cpu, or auto in a binary
	// without CUDA) is refused as i2v and the demo refuse it.
	if i := slices.IndexFunc(p.budgets, func(b int64) bool { return b != 0 }); i >= 0 {
		if err := checkVRAMBudget("--", float64(p.budgets[i])/(1<<30), strings.ToLower(f.device)); err != nil {
			return p, err
		}
	}
	if err := checkGiB("--pinned-budget", f.pinned, 0); err != nil {
		return p, err
	}
	if err := checkPinnedBudget("--", f.pinned, strings.ToLower(f.device)); err != nil {
		return p, err
	}
	p.pinned = int64(f.pinned * (1 << 30))
	t, ok := gguf.TypeByName(strings.ToUpper(f.expertType))
	if !ok || !slices.Contains(synthKinds[0].types, t) {
		return p, fmt.Errorf("unknown --expert-type %q: want one of %s", f.expertType, typeList(synthKinds[0].types))
	}
	p.expertType = t
	if f.set["expert-type"] && (f.high != "" && (f.low != "" || f.sameExpert)) {
		return p, errors.New("--expert-type sets the synthetic experts' type; the expert files given are used in their own type")
	}
	if f.low != "" && f.high == "" {
		return p, errors.New("--low without --high: give the high-noise expert too")
	}
	// The model files given, before any synthetic one is written.
	if err := checkGivenModels(f); err != nil {
		return p, err
	}
	if err := p.schedule(f); err != nil {
		return p, err
	}
	if err := checkLoRAFiles(f.loras); err != nil {
		return p, err
	}
	if err := checkInt("--synth-lora", f.synthLoRA, 0, 1024, "the rank of the synthetic LoRAs; 0 for none"); err != nil {
		return p, err
	}
	if f.loraMerge && len(f.loras) == 0 && f.synthLoRA == 0 {
		return p, errors.New("--lora-merge merges the LoRAs given with --lora, --lora-high, --lora-low or --synth-lora, and there are none")
	}
	if err := f.checkReportOutputs(); err != nil {
		return p, err
	}
	if f.synthDir != "" {
		if err := checkSynthDir(f.synthDir); err != nil {
			return p, err
		}
	}
	if f.outVideo != "" {
		if err := checkExistingFolder("--out-video", f.outVideo, "the videos"); err != nil {
			return p, err
		}
		if err := checkWritable(f.outVideo); err != nil {
			return p, fmt.Errorf("--out-video %s: cannot write in the folder: %w", f.outVideo, err)
		}
		// Every run's video is a new file, as every other output.
		for c := range p.cells() {
			path := benchVideoPath(f.outVideo, c.size, c.frames, c.budget)
			if _, err := os.Lstat(path); err == nil {
				return p, fmt.Errorf("--out-video: %s exists (a video of an earlier bench?): remove it or give another folder", path)
			}
			// A report there would replace the video (or it the report).
			for _, o := range []struct{ flag, path string }{{"--json", f.jsonPath}, {"--html", f.htmlPath}} {
				if sameFile(o.path, path) {
					return p, fmt.Errorf("%s %s is the video file of the %dx%d, %d-frame run in --out-video %s: give the report another name",
						o.flag, o.path, c.size[0], c.size[1], c.frames, f.outVideo)
				}
			}
		}
	}
	if f.compare != "" {
		if p.compare, err = benchreport.ReadFile(f.compare); err != nil {
			return p, fmt.Errorf("--compare %w", err) // "--compare r.json does not exist: …"
		}
	}
	if f.torch != "" {
		if p.torch, err = benchreport.ReadTorch(f.torch); err != nil {
			return p, fmt.Errorf("--torch-json %w", err)
		}
	}
	return p, nil
}

// inputPaths are the paths the flags name to be read (the models, the
// LoRAs, the folders, the reports), for displayPaths. The report outputs
// need none: checkNameChars refuses the names it would quote.
func (f *benchFlags) inputPaths() []string {
	paths := []string{f.high, f.low, f.textEncoder, f.vae, f.synthDir, f.outVideo, f.compare, f.torch}
	for _, l := range f.loras {
		paths = append(paths, l.Path)
	}
	return append(paths, strings.Split(f.fromJSON, ",")...)
}

// displayWriter returns w, or, when one of paths is a name displayName
// quotes (a control character, bytes that are not UTF-8), a writer to w
// that writes each write's text through displayPaths: a message that
// prints such a path raw would drive the terminal (an ESC) or break a line.
func displayWriter(w io.Writer, paths []string) io.Writer {
	if !slices.ContainsFunc(paths, func(p string) bool { return nameProblem(p) != "" }) {
		return w
	}
	return &pathsWriter{w, paths}
}

// pathsWriter is displayWriter's writer.
type pathsWriter struct {
	w     io.Writer
	paths []string
}

func (d *pathsWriter) Write(p []byte) (int, error) {
	s := displayPaths(string(p), d.paths)
	if s == string(p) {
		return d.w.Write(p)
	}
	if _, err := io.WriteString(d.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// checkTilde refuses, before anything is read or written, an input path of
// the bench (a model file, a LoRA, --synth-dir, --out-video, --compare,
// --torch-json, a --from-json report) that starts with a ~ no shell
// expanded to a home folder (tildeAdvice), as i2v refuses its inputs: the
// path is said not to exist with the spelling that works, where it said
// "does not exist: check the path", "no such file" or, for a folder,
// "create it first", which makes a folder named ~. An input file that is
// not there wrapped in quotes or with a variable's name in it is refused
// so too (missingInputAdvice), where it said "does not exist: check the
// path" or, on Windows, that the syntax is incorrect.
func (f *benchFlags) checkTilde() error {
	if err := f.checkEmptyPaths(); err != nil {
		return err
	}
	inputs := []struct{ flag, path, what string }{
		{"--high", f.high, "file"}, {"--low", f.low, "file"}, {"--text-encoder", f.textEncoder, "file"}, {"--vae", f.vae, "file"},
	}
	for _, l := range f.loras {
		inputs = append(inputs, struct{ flag, path, what string }{loraFlag(l.Expert), l.Path, "file"})
	}
	inputs = append(inputs, []struct{ flag, path, what string }{
		{"--synth-dir", f.synthDir, "folder"}, {"--out-video", f.outVideo, "folder"}, {"--compare", f.compare, "file"}, {"--torch-json", f.torch, "file"},
	}...)
	for i, in := range strings.Split(f.fromJSON, ",") {
		in = strings.TrimSpace(in)
		if i > 0 && tildeAdvice("--from-json", in, runtime.GOOS) != "" {
			// The shell expands no ~ after a comma: the full path is the
			// spelling that works.
			msg := fmt.Sprintf("--from-json %s: no such file: the shell expands ~ to a home folder only at the start of a word, not after a comma: write the full path", displayName(in))
			if full := homePath(in); full != "" {
				msg += " " + displayName(full)
			}
			return errors.New(msg)
		}
		inputs = append(inputs, struct{ flag, path, what string }{"--from-json", in, "file"})
	}
	for _, in := range inputs {
		if a := tildeAdvice(in.flag, in.path, runtime.GOOS); a != "" {
			return fmt.Errorf("%s %s: no such %s: %s", in.flag, displayName(in.path), in.what, a)
		}
		if in.what != "file" {
			continue // the folders are checkExistingFolder's
		}
		if a := missingInputAdvice(in.path, runtime.GOOS, os.Getenv); a != "" {
			return fmt.Errorf("%s %s: no such file: %s", in.flag, displayName(in.path), a)
		}
	}
	return nil
}

// checkEmptyPaths refuses a path flag given with an empty name
// (--high "$HIGH" with HIGH unset): the bench took it as left out, and ran
// synthetic models for --high "", or no report for --json "", without a
// word. --from-json's list says so of its empty items itself.
func (f *benchFlags) checkEmptyPaths() error {
	for _, p := range []struct {
		flag, path, without string
	}{
		{"high", f.high, "a synthetic expert"}, {"low", f.low, "the default low-noise expert"},
		{"text-encoder", f.textEncoder, "a synthetic encoder"}, {"vae", f.vae, "a synthetic VAE"},
		{"synth-dir", f.synthDir, "a temporary folder"}, {"out-video", f.outVideo, "no video kept"},
		{"json", f.jsonPath, "no JSON report"}, {"html", f.htmlPath, "no HTML page"},
		{"compare", f.compare, "no comparison"}, {"torch-json", f.torch, "no PyTorch times"},
	} {
		if f.set[p.flag] && strings.TrimSpace(p.path) == "" {
			return fmt.Errorf("--%s %q: the name is empty (an unset shell variable?): give a name, or leave --%s out for %s", p.flag, p.path, p.flag, p.without)
		}
	}
	return nil
}

// homePath is path, which starts with a ~ no shell expanded, with ~ as the
// home folder: "/home/ann/b.json" for "~/b.json"; "" for ~user or without a
// home folder.
func homePath(path string) string {
	if home, err := os.UserHomeDir(); err == nil && (path == "~" || strings.HasPrefix(path, "~/") || strings.HasPrefix(path, "~"+string(filepath.Separator))) {
		return filepath.Join(home, path[1:])
	}
	return ""
}

// checkGivenModels checks that each model file given exists and is of its
// role's kind (as wan22.Open will), so that a typo or a wrong file is
// refused before the bench writes gigabytes of synthetic models.
func checkGivenModels(f *benchFlags) error {
	for _, m := range []struct {
		flag, path string
		ok         func(modelfile.Info) bool
		want       string
	}{
		{"--high", f.high, isI2VExpert, "a WAN 2.2 i2v DiT expert"},
		{"--low", f.low, isI2VExpert, "a WAN 2.2 i2v DiT expert"},
		{"--text-encoder", f.textEncoder, func(i modelfile.Info) bool { return i.Kind == modelfile.KindT5 && i.T5.Tokenizer != "" },
			"a umT5 text encoder with its tokenizer"},
		{"--vae", f.vae, func(i modelfile.Info) bool { return i.Kind == modelfile.KindWanVAE && i.VAE.Version == "2.1" }, "the WAN 2.1 VAE"},
	} {
		if m.path == "" {
			continue
		}
		src, _, err := modelfile.Open(m.path)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s %s does not exist: check the path", m.flag, m.path)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m.flag, err)
		}
		info := modelfile.Detect(src)
		src.Close()
		if !m.ok(info) {
			return fmt.Errorf("%s %s is a %s, not %s%s", m.flag, m.path, info.Name(), m.want, adviceSuffix(info))
		}
	}
	return nil
}

// isI2VExpert reports whether a model file is an image-to-video DiT expert.
func isI2VExpert(i modelfile.Info) bool {
	return i.Kind == modelfile.KindWanDiT && i.DiT.Variant == "i2v"
}

// checkReportOutputs checks --json and --html: each can be written as a
// new file, not named as a synthetic model in --synth-dir, and they are not
// one file (the HTML would replace the JSON).
func (f *benchFlags) checkReportOutputs() error {
	if sameFile(f.jsonPath, f.htmlPath) {
		return fmt.Errorf("--json and --html name one file, %s: give each its own file", f.jsonPath)
	}
	for _, o := range []struct{ flag, path string }{{"--json", f.jsonPath}, {"--html", f.htmlPath}} {
		if o.path == "" {
			continue
		}
		if o.path == "-" {
			// The report is a file: the terminal gets the table, and a
			// file named "-" is what a user asking for standard output
			// does not want.
			return fmt.Errorf("%s -: the report is written to a file, not to standard output: give a file name (e.g. %s report%s)",
				o.flag, o.flag, map[string]string{"--json": ".json", "--html": ".html"}[o.flag])
		}
		if namedAsSynth(o.path, f.synthDir) {
			return fmt.Errorf("%s %s is named as the synthetic models the bench writes into --synth-dir %s (synth-*.gguf, synth-*.safetensors), and would replace one: give the report another name",
				o.flag, o.path, f.synthDir)
		}
		if err := checkOutFile(o.flag, o.path); err != nil {
			return err
		}
	}
	return nil
}

// namedAsSynth reports whether path, a report to write, is in synthDir
// (--synth-dir, "" for none) and named as the bench names the synthetic
// files it writes and reuses there: synth-….gguf (the experts, the
// encoder) or synth-….safetensors (the VAE, the LoRAs), in any case where
// the file system ignores it (foldCase). Such a report is refused whether
// or not the bench would write that very file in this run: one that is not
// there yet passes checkOutFile, and the bench would write a model there,
// run, and replace the model with the report; one that is there is a
// synthetic model, not a report to refuse as an earlier one.
func namedAsSynth(path, synthDir string) bool {
	if synthDir == "" {
		return false
	}
	name := filepath.Base(path)
	if foldCase {
		name = strings.ToLower(name)
	}
	if ext := filepath.Ext(name); !strings.HasPrefix(name, "synth-") || ext != ".gguf" && ext != ".safetensors" {
		return false
	}
	return sameFile(filepath.Dir(path), synthDir)
}

// checkTinySynth refuses the flags about synthetic full-size models that a
// tiny run would ignore: the tiny model set is written into a temporary
// folder of its own and always removed. --synth-dir still holds the
// synthetic LoRAs of --synth-lora. The message says why in the words of the
// command given (--tiny, --device cpu, or neither in a binary without CUDA)
// and how to get a full-size run: --device cuda only where the binary has
// it, model files only without --tiny, which refuses them.
func (f *benchFlags) checkTinySynth() error {
	why := "--tiny runs the tiny model set"
	switch {
	case f.tiny:
	case strings.ToLower(f.device) == wan22.DeviceCPU:
		why = "--device cpu without model files runs the tiny model set"
	default:
		why = "a bench on the CPU without model files (this binary has no CUDA) runs the tiny model set"
	}
	const removed = ", written to a temporary folder and always removed"
	fullSize := "model files"
	if cudaAvailable() {
		fullSize = "--device cuda or model files"
	}
	fullSize = "give " + fullSize + " for a full-size run"
	if f.tiny {
		fullSize = "leave --tiny out and " + fullSize
	}
	switch {
	case f.set["expert-type"]:
		return fmt.Errorf("--expert-type sets the type of synthetic full-size experts, and %s in its own types: leave --expert-type out, or %s", why, fullSize)
	case f.set["same-expert"]:
		return fmt.Errorf("--same-expert chooses between one and two synthetic full-size expert files, and %s, which has both experts: leave --same-expert out, or %s", why, fullSize)
	case f.keepSynth:
		return fmt.Errorf("--keep-synth keeps synthetic full-size models, and %s%s: leave --keep-synth out, or %s", why, removed, fullSize)
	case f.set["synth-dir"] && f.synthLoRA == 0:
		return fmt.Errorf("--synth-dir holds synthetic full-size models and --synth-lora LoRAs, and %s%s: leave --synth-dir out, or %s", why, removed, fullSize)
	}
	return nil
}

// schedule checks the solver flags and plans the schedule and the measured
// run: the schedule's split between the experts, and either the whole
// schedule (at most wholeSchedule steps) or --steps per expert.
func (p *benchPlan) schedule(f *benchFlags) error {
	var err error
	if f.solver, err = parseSolver(f.solver); err != nil {
		return err
	}
	if p.timesteps, err = distillTimesteps(f.solver, f.timestepList, f.set["timesteps"]); err != nil {
		return err
	}
	distill := p.timesteps != nil
	if distill {
		if f.set["schedule-steps"] && f.scheduleSteps != len(p.timesteps) {
			return fmt.Errorf("--schedule-steps %d: the distill solver's schedule is its --timesteps %s, %d steps: leave --schedule-steps out",
				f.scheduleSteps, scheduler.FormatTimesteps(p.timesteps), len(p.timesteps))
		}
		if len(p.timesteps) < 2 {
			// Neither --switch-step nor --boundary can give each expert a
			// step of one.
			return fmt.Errorf("--timesteps %s: the bench times both experts, and a 1-step schedule runs one of them: give at least 2 timesteps, such as 1000,500",
				scheduler.FormatTimesteps(p.timesteps))
		}
		f.scheduleSteps = len(p.timesteps)
		if !f.set["cfg"] {
			f.cfg = "1" // distilled models run without CFG
		}
	} else if err := checkInt("--schedule-steps", f.scheduleSteps, 2, scheduler.MaxSteps, "the official schedule has 40"); err != nil {
		return err
	}
	if p.guidanceHigh, p.guidanceLow, err = parseCFG(f.cfg); err != nil {
		return err
	}
	// A shift of 0 would reach the scheduler's error: refused here as i2v
	// refuses it.
	if err := checkPositive("--shift", f.shift, 100); err != nil {
		return err
	}
	if err := checkFloat("--boundary", f.boundary, 0, 1); err != nil {
		return err
	}
	if f.set["boundary"] && f.set["switch-step"] {
		return errors.New("give --boundary or --switch-step, not both")
	}
	n := f.scheduleSteps
	if err := checkSwitchStep(f.switchStep, n, f.set["switch-step"]); err != nil {
		return err
	}
	// The schedule's timesteps, and its split between the experts.
	var ts []float64
	if distill {
		d, err := scheduler.NewDistilled(p.timesteps, f.shift)
		if err != nil {
			return err
		}
		ts = d.Timesteps()
	} else {
		sol, err := scheduler.New(f.solver, n, f.shift)
		if err != nil {
			return err
		}
		for _, t := range sol.Timesteps() {
			ts = append(ts, float64(t))
		}
	}
	p.scheduleTimesteps = ts
	p.scheduleHigh = f.switchStep
	if !f.set["switch-step"] {
		g := scheduler.Guidance{Boundary: f.boundary}
		for _, t := range ts {
			if t >= g.Threshold() {
				p.scheduleHigh++
			}
		}
	}
	p.scheduleLow = n - p.scheduleHigh
	if p.scheduleHigh == 0 || p.scheduleLow == 0 {
		return fmt.Errorf("the %d-step %s schedule runs %d high-noise and %d low-noise steps at --boundary %g: the bench times both experts; use --switch-step or another --boundary",
			n, f.solver, p.scheduleHigh, p.scheduleLow, f.boundary)
	}
	if p.whole = n <= wholeSchedule; p.whole {
		if f.set["steps"] {
			return fmt.Errorf("--steps: a schedule of at most %d steps is measured whole (this one has %d): leave --steps out", wholeSchedule, n)
		}
		p.measuredHigh, p.measuredLow = p.scheduleHigh, p.scheduleLow
		p.reqSteps, p.reqSwitch, p.reqTimesteps = n, p.scheduleHigh, p.timesteps
		return nil
	}
	if err := checkInt("--steps", f.steps, 1, 50, "a few steps per expert are enough to extrapolate"); err != nil {
		return err
	}
	// --steps per expert, at most the expert's share of the schedule:
	// more would measure steps the schedule does not run.
	p.measuredHigh, p.measuredLow = min(f.steps, p.scheduleHigh), min(f.steps, p.scheduleLow)
	p.reqSteps, p.reqSwitch = p.measuredHigh+p.measuredLow, p.measuredHigh
	// --steps as many as each expert's share: the whole schedule is
	// measured, nothing extrapolated, as a short one is.
	p.whole = p.measuredHigh == p.scheduleHigh && p.measuredLow == p.scheduleLow
	if !distill {
		_, err := scheduler.New(f.solver, p.reqSteps, f.shift)
		return err
	}
	// The first measured timesteps of each expert's part of the list.
	p.reqTimesteps = append(slices.Clone(p.timesteps[:p.measuredHigh]), p.timesteps[p.scheduleHigh:p.scheduleHigh+p.measuredLow]...)
	return nil
}

// stepsCapped says, when --steps is more than an expert's share of the
// schedule, that the bench measures that share instead: "(--steps 20 is
// more than the high-noise expert's 4 steps of the schedule: 4 measured)";
// "" otherwise.
func (p *benchPlan) stepsCapped(steps int) string {
	var parts []string
	for _, e := range []struct {
		name              string
		measured, ofSched int
	}{{"high-noise", p.measuredHigh, p.scheduleHigh}, {"low-noise", p.measuredLow, p.scheduleLow}} {
		if steps > e.ofSched {
			parts = append(parts, fmt.Sprintf("the %s expert's %s of the schedule: %d measured", e.name, plural.Count(e.ofSched, "step"), e.measured))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf(" (--steps %d is more than %s)", steps, strings.Join(parts, ", and "))
}

// checkOutFile checks that a report can be written at path: its folder
// exists and is writable, and path does not exist (a report is never
// overwritten, as i2v, demo and synth never overwrite their outputs). An
// empty file there is most likely another bench's reservation
// (reserveReports), which the message says.
func checkOutFile(flagName, path string) error {
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
		return reservedError(flagName, path)
	}
	return checkOutputPath(flagName, path, newFile)
}

// reservedError refuses a report path that another bench has taken.
func reservedError(flagName, path string) error {
	return fmt.Errorf("%s %s already exists, empty: a bench running now reserves its report's file so when it starts: choose another name (or remove the file if no bench is running)",
		flagName, path)
}

// reportReservation is the --json and --html files of a bench, created
// new and empty when it starts (reserveReports) and replaced by the
// finished reports (written), or removed when the bench fails or stops
// (release).
type reportReservation struct {
	paths []string // reserved and not yet replaced by a report
}

// reserveReports creates each report file f names as a new, empty file
// (O_EXCL: it fails if the file is there, whoever made it, so of two
// benches given one --json only one gets it). A second Ctrl-C removes the
// reservations too (they are registered as temporary paths).
func reserveReports(f benchFlags) (*reportReservation, error) {
	r := &reportReservation{}
	for _, o := range []struct{ flag, path string }{{"--json", f.jsonPath}, {"--html", f.htmlPath}} {
		if o.path == "" {
			continue
		}
		file, err := os.OpenFile(o.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err != nil {
			r.release()
			if errors.Is(err, fs.ErrExist) { // made since the check
				return nil, reservedError(o.flag, o.path)
			}
			return nil, fmt.Errorf("%s %s: %w", o.flag, o.path, err)
		}
		file.Close()
		atomicfile.Register(o.path) // only once it is this bench's own
		r.paths = append(r.paths, o.path)
	}
	return r, nil
}

// written records that the report at path replaced its reservation: it
// stays.
func (r *reportReservation) written(path string) {
	if r == nil {
		return
	}
	if i := slices.Index(r.paths, path); i >= 0 {
		atomicfile.Forget(path)
		r.paths = slices.Delete(r.paths, i, i+1)
	}
}

// release removes the reservations no report replaced. A file that is no
// longer empty (replaced all the same) is left.
func (r *reportReservation) release() {
	if r == nil {
		return
	}
	for _, p := range r.paths {
		if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
			atomicfile.Remove(p)
		} else {
			atomicfile.Forget(p)
		}
	}
	r.paths = nil
}

// parseList splits a comma-separated flag value into its trimmed items.
func parseList(flagName, s string) ([]string, error) {
	var items []string
	for _, it := range strings.Split(s, ",") {
		it = strings.TrimSpace(it)
		if it == "" {
			return nil, fmt.Errorf("%s %q has an empty item: give values separated by commas", flagName, s)
		}
		if slices.Contains(items, it) {
			return nil, fmt.Errorf("%s %q lists %s twice", flagName, s, it)
		}
		items = append(items, it)
	}
	return items, nil
}

// sameValueTwice is the error of a list flag whose items a and b are
// spelled differently but mean one value (--frames 05,5; --size
// 832x480,832X480; --vram-budget 0,0.0): the bench would run it twice,
// and --compare could match only one of the two runs.
func sameValueTwice(flagName, list, a, b string) error {
	return fmt.Errorf("%s %q lists one value twice, as %s and %s: give each once", flagName, list, a, b)
}

// parseFrames parses --frames: counts 4n+1 up to pipeline.MaxFrames.
func parseFrames(s string) ([]int, error) {
	items, err := parseList("--frames", s)
	if err != nil {
		return nil, err
	}
	var frames []int
	for _, it := range items {
		n, err := strconv.Atoi(it)
		if errors.Is(err, strconv.ErrRange) {
			// A whole number beyond an int is out of range, as one within
			// it is: checkFrames says so of the limit, naming the item.
			var re *FlagRangeError
			if errors.As(checkFrames("--frames", math.MaxInt), &re) {
				re.Value = it
				return nil, re
			}
		}
		if err != nil {
			return nil, fmt.Errorf("--frames: %q is not a whole number", it)
		}
		if err := checkFrames("--frames", n); err != nil {
			return nil, err
		}
		if i := slices.Index(frames, n); i >= 0 {
			return nil, sameValueTwice("--frames", s, items[i], it)
		}
		frames = append(frames, n)
	}
	return frames, nil
}

// parseSizes parses --size: WxH items, multiples of 16.
func parseSizes(s string) ([][2]int, error) {
	items, err := parseList("--size", s)
	if err != nil {
		return nil, err
	}
	var sizes [][2]int
	for _, it := range items {
		w, h, ok := parseWxH(it)
		if !ok {
			return nil, fmt.Errorf("--size: %q is not WIDTHxHEIGHT, such as 832x480", it)
		}
		if err := checkSize("--size", w, h); err != nil {
			return nil, err
		}
		if i := slices.Index(sizes, [2]int{w, h}); i >= 0 {
			return nil, sameValueTwice("--size", s, items[i], it)
		}
		sizes = append(sizes, [2]int{w, h})
	}
	return sizes, nil
}

// parseBudgets parses --vram-budget: GiB values, 0 for all free memory.
func parseBudgets(s string) ([]int64, error) {
	items, err := parseList("--vram-budget", s)
	if err != nil {
		return nil, err
	}
	var budgets []int64
	for _, it := range items {
		v, err := strconv.ParseFloat(it, 64)
		if err != nil {
			return nil, fmt.Errorf("--vram-budget: %q is not a number of GiB", it)
		}
		if err := checkGiB("--vram-budget", v, 4096); err != nil {
			return nil, err
		}
		b := int64(v * (1 << 30))
		// Runs are told apart by their budget's label (2 decimals: the
		// report's run key, --compare's matching, the video's name), so 8
		// and 8.001 are one budget twice.
		if i := slices.IndexFunc(budgets, func(o int64) bool { return benchreport.BudgetLabel(o) == benchreport.BudgetLabel(b) }); i >= 0 {
			return nil, sameValueTwice("--vram-budget", s, items[i], it)
		}
		budgets = append(budgets, b)
	}
	return budgets, nil
}

// parseCFG parses --cfg: one scale, or HIGH,LOW.
func parseCFG(s string) (high, low float64, err error) {
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return 0, 0, fmt.Errorf("--cfg %q: give one scale or HIGH,LOW", s)
	}
	var v [2]float64
	for i, p := range parts {
		if v[i], err = strconv.ParseFloat(strings.TrimSpace(p), 64); err != nil {
			return 0, 0, fmt.Errorf("--cfg: %q is not a number", p)
		}
		if err := checkFloat("--cfg", v[i], 1, 100); err != nil {
			return 0, 0, err
		}
	}
	if len(parts) == 1 {
		v[1] = v[0]
	}
	return v[0], v[1], nil
}

// benchModels are the model files of a bench, its LoRAs, and how to remove
// the files it made.
type benchModels struct {
	m       wan22.Models
	info    benchreport.Models
	loras   []wan22.LoRA // --lora* and the synthetic ones
	dir     string       // the folder synthetic files go to ("" until needed)
	cleanup func()
	// synthetic holds the paths of the synthetic LoRAs (--synth-lora).
	synthetic map[string]bool
	bar       *benchBar // the progress line of the files written; nil: none
}

// benchSynthSizes overrides the synthetic models' sizes per synth -kind
// (tests make them small); nil writes the real models' sizes.
var benchSynthSizes map[string]map[string]int

// folder returns the folder synthetic files go to: --synth-dir, or a
// temporary folder made on first use and removed by cleanup (with
// --keep-synth only while it is empty).
func (bm *benchModels) folder(f benchFlags, stdout io.Writer) (string, error) {
	if bm.dir != "" {
		return bm.dir, nil
	}
	if f.synthDir != "" {
		if err := checkSynthDir(f.synthDir); err != nil { // gone since check
			return "", err
		}
		bm.dir = f.synthDir
		return bm.dir, nil
	}
	if f.keepSynth {
		dir, err := os.MkdirTemp("", "wan22-bench-synth-")
		if err != nil {
			return "", err
		}
		fmt.Fprintf(stdout, "synthetic files go to %s (kept: --keep-synth)\n", dir)
		// Kept with its files; a bench that stops before one is there
		// (a refusal, Ctrl-C during the first) leaves no empty folder.
		bm.cleanup = func() { os.Remove(dir) }
		bm.dir = dir
		return dir, nil
	}
	dir, err := atomicfile.MkdirTemp("", "wan22-bench-synth-") // registered: a second Ctrl-C removes it too
	if err != nil {
		return "", err
	}
	bm.cleanup = func() { atomicfile.Remove(dir) }
	bm.dir = dir
	return dir, nil
}

// checkSynthDir checks that --synth-dir is an existing folder. Whether the
// bench can write in it is checked when it has files to write there: a
// folder it cannot write in serves a bench that reuses all of its files.
func checkSynthDir(dir string) error {
	return checkExistingFolder("--synth-dir", dir, "the synthetic model files")
}

// checkExistingFolder checks that the folder flag names, in which the bench
// writes what (a plural), exists. A file of that name is said to be one:
// "create it first" cannot be done with the file in the way, nor for a
// folder that missingFolderAdvice explains.
func checkExistingFolder(flag, dir, what string) error {
	st, err := os.Stat(dir)
	if err == nil && !st.IsDir() {
		return fmt.Errorf("%s %s is a file, not a folder: give a folder for %s", flag, dir, what)
	}
	if err != nil {
		if a := missingFolderAdvice(dir, runtime.GOOS, dirExists, os.Getenv); a != "" {
			return fmt.Errorf("%s %s is not an existing folder: %s", flag, displayName(dir), a)
		}
		return fmt.Errorf("%s %s is not an existing folder: create it first", flag, dir)
	}
	return nil
}

// missingFolderAdvice says why the folder dir, given to a flag and not
// there, was most likely meant otherwise, as checkOutputPath says of an
// output's folder: it is wrapped in quotes that are part of it
// (wrappedQuotesAdvice), on Windows (goos) it ends in a quote from a
// backslash before the closing one (escapedQuoteAdvice: --out-video
// "C:\videos\" arrives as C:\videos"), its drive or network share is not
// there (missingVolumeAdvice, as exists finds it), or it holds a variable no
// shell expanded (envVarFolderAdvice, with getenv: dir itself may be one,
// --out-video %VIDEOS%). Told to create the folder,
// the user would make one with the quote or the variable's name in it, or
// could not. "" for any other folder.
func missingFolderAdvice(dir, goos string, exists func(string) bool, getenv func(string) string) string {
	if a := wrappedQuotesAdvice(dir); a != "" {
		return a
	}
	if goos == "windows" {
		if a := escapedQuoteAdvice(dir); a != "" {
			return a
		}
	}
	if a := missingVolumeAdvice(dir, goos, exists); a != "" {
		return a
	}
	return envVarFolderAdvice(dir, goos, getenv) // dir's last element is a folder too
}

// synthFile is a synthetic file the bench needs at path.
type synthFile struct {
	role string // "high-noise expert", "LoRA of the low-noise expert"
	path string
	kind modelfile.Kind // what its header reads as; KindUnknown: a LoRA (an adapter)
	synthJob
	bar *benchBar // shows the bytes written on a terminal; nil: not shown
}

// benchHostAvailable is the host memory available now (tests replace it).
var benchHostAvailable = hostmem.Available

// checkSynthHostMemory refuses, before they are written, synthetic experts
// that no CPU run can hold: the CPU backend keeps an expert's weights in
// host memory (wan22's estimate counts them with the activations and the
// collector's headroom, which only the opened models tell, at each run).
// On the GPU the weights stream from pinned memory and disk instead.
func checkSynthHostMemory(p benchPlan, files []synthFile) error {
	if p.device != wan22.DeviceCPU {
		return nil
	}
	avail := benchHostAvailable()
	for _, j := range files {
		if strings.HasSuffix(j.role, "expert") && avail >= 0 && j.size > avail { // avail -1: unknown
			// (Only a bench given some model files gets here: without any, the CPU runs the tiny set.)
			advice := "give both experts as smaller files (--high, --low), or leave out the model files for the tiny set"
			if cudaAvailable() {
				advice += ", or run on the GPU (--device cuda)"
			}
			return fmt.Errorf("the synthetic %s would be %s, and on the CPU its weights are held in host memory, of which %s is available: no run can fit; %s",
				j.role, formatGB(j.size), formatGB(avail), advice)
		}
	}
	return nil
}

// diskReserve is the disk space the bench leaves free when it writes
// synthetic files.
const diskReserve = 64 << 20

// materialize writes the files that are not there yet, after checking that
// they fit on the disk together. A file already at its path is reused when
// it is complete (synthReady), and refused otherwise. Benches sharing a
// --synth-dir may write one file at the same time: see writeSynthFile; and
// a file another bench put in place while this one wrote the files before
// it is reused, not written again.
func materialize(ctx context.Context, dir string, files []synthFile, advice string, stdout io.Writer) error {
	reuse := make([]bool, len(files))
	var total int64
	for i, j := range files {
		there, err := synthThere(j)
		if err != nil {
			return err
		}
		reuse[i] = there
		if !there {
			total += j.size
		}
	}
	if total > 0 {
		if err := checkWritable(dir); err != nil {
			return fmt.Errorf("cannot write the synthetic files in the folder %s: %w; give a --synth-dir you can write in", dir, err)
		}
		free, ok, err := freeBytes(dir)
		if err != nil {
			return fmt.Errorf("checking the free space in %s: %w", dir, err)
		}
		if ok && total > free-diskReserve {
			return fmt.Errorf("not enough disk space in %s for the synthetic files: they need %s, and %s are free of which %d MiB stay free for the system; %s",
				dir, formatGB(total), formatGB(free), diskReserve>>20, advice)
		}
	}
	for i, j := range files {
		if reuse[i] {
			fmt.Fprintf(stdout, "reusing the synthetic %s %s\n", j.role, j.path)
			continue
		}
		if there, err := synthThere(j); err != nil {
			return err
		} else if there { // put there since the look above
			fmt.Fprintf(stdout, "reusing the synthetic %s %s (another bench wrote it meanwhile)\n", j.role, j.path)
			continue
		}
		// The description ends in its own parenthesis ("… (40 layers, dim
		// 5120)"): it comes last, after the role and the path.
		fmt.Fprintf(stdout, "writing the synthetic %s to %s: %s, %s\n", j.role, j.path, formatGB(j.size), j.what)
		start := time.Now()
		theirs, err := writeSynthFile(ctx, dir, j)
		if what, note := diskFull(err); what != "" && ctx.Err() == nil {
			// The write's message names a temporary file that is gone.
			return fmt.Errorf("the synthetic %s was not written to %s: %s while writing it%s, and nothing was left behind; %s",
				j.role, dir, what, note, advice)
		}
		if err != nil {
			return err
		}
		if theirs {
			fmt.Fprintln(stdout, "  another bench wrote it meanwhile: reusing it")
			continue
		}
		fmt.Fprintf(stdout, "  written in %.1f s\n", time.Since(start).Seconds())
	}
	return nil
}

// synthThere reports whether a file is at j.path, and if so whether it is
// the synthetic file j, complete (synthReady's error when not).
func synthThere(j synthFile) (bool, error) {
	if _, err := os.Stat(j.path); err != nil {
		return false, nil
	}
	return true, synthReady(j)
}

// synthReady checks that the file at j.path is the synthetic file j,
// complete: a regular file of its exact planned size whose header reads as
// a model file of its kind. The error says what is there instead.
func synthReady(j synthFile) error {
	st, err := os.Stat(j.path)
	if err != nil {
		return err
	}
	notIt := func(why string) error {
		return fmt.Errorf("%s exists but is not the synthetic %s (%s): remove it or choose another --synth-dir", j.path, j.role, why)
	}
	if !st.Mode().IsRegular() || st.Size() != j.size {
		return notIt(fmt.Sprintf("%s, want %s", formatGB(st.Size()), formatGB(j.size)))
	}
	src, _, err := modelfile.Open(j.path)
	if err != nil {
		return notIt("of its size, but its header does not read as a model file")
	}
	info := modelfile.Detect(src)
	src.Close()
	if info.Kind != j.kind || (j.kind == modelfile.KindUnknown && !info.Adapter) {
		return notIt("of its size, but a " + info.Name())
	}
	return nil
}

// linkSynth makes a second name for a file, failing if the name is taken
// (a variable for the tests: a file system without hard links).
var linkSynth = os.Link

// writeSynthFile writes the synthetic file j into a private folder in dir
// and moves it to j.path only if no file is there, so that of benches
// sharing a --synth-dir the first to finish puts its file in place and the
// others reuse it (theirs is true) once it checks as complete, rather than
// replacing a file another bench may be running on. The move is a hard
// link, which fails where a file is (atomically); on a file system without
// hard links (FAT32, exFAT) it is a rename after a last look, made as
// writeAtomic's (moveFinished: retried while another program holds the
// file, and a finished file that still cannot be moved is kept, as the
// *atomicfile.KeptError says, not deleted). Nothing partial ever stands at
// j.path, and the private folder is removed, on Ctrl-C too (registered).
func writeSynthFile(ctx context.Context, dir string, j synthFile) (theirs bool, err error) {
	base := filepath.Base(j.path)
	tmp, err := atomicfile.MkdirTemp(dir, "."+base+".wan22-bench-")
	if err != nil {
		return false, err
	}
	moved := false // moveFinished disposed of tmp
	defer func() {
		if !moved {
			atomicfile.Remove(tmp)
		}
	}()
	own := filepath.Join(tmp, base)
	if err := writeAtomicProgress(ctx, own, j.write, j.bar.written(j.size)); err != nil {
		if ke, ok := errors.AsType[*atomicfile.KeptError](err); ok && inside(tmp, ke.Kept) {
			// Kept in the private folder, which goes: say so, not where.
			return false, fmt.Errorf("writing the synthetic %s: the finished file could not be moved into place (%v): run the bench again", j.role, ke.Err)
		}
		return false, err
	}
	err = linkSynth(own, j.path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		if _, serr := os.Lstat(j.path); serr != nil {
			moved = true
			return false, moveFinished(tmp, own, j.path)
		}
		err = fs.ErrExist
	}
	if errors.Is(err, fs.ErrExist) {
		return true, synthReady(j)
	}
	return false, err
}

// prepareModels finds or writes the model files and the synthetic LoRAs.
func prepareModels(ctx context.Context, f benchFlags, p benchPlan, stdout io.Writer) (bm benchModels, err error) {
	bm.cleanup = func() {}
	bm.bar = p.bar
	defer func() {
		if err != nil {
			bm.cleanup()
		}
	}()
	if err := prepareExperts(ctx, f, p, &bm, stdout); err != nil {
		return bm, err
	}
	bm.loras = slices.Clone(f.loras)
	if f.synthLoRA > 0 {
		err = addSynthLoRAs(ctx, f, &bm, stdout)
	}
	return bm, err
}

// benchSynthSeed is the seed of the bench's synthetic file i (0 the high-noise
// expert, the text encoder and the VAE, 1 the low-noise expert; the LoRAs'
// 0 and 1) for the --seed seed: seed+1+i, taken modulo 2^63. --seed is the
// noise seed, a uint64 from 0 to maxSeed as i2v's and wan22.Request.Seed
// are, so that a bench runs any seed a generation does; the synthetic
// weights take an int64, and synth's --seed, with which a file's
// "-seedN" name writes the same file again, goes from 0 to maxSynthSeed.
// int64(seed)+1+i made a negative seed from 2^63-1-i on; the modulo keeps
// every seed below that as it was, and the two experts' seeds apart.
func benchSynthSeed(seed uint64, i int) int64 {
	return int64((seed + 1 + uint64(i)) & maxSynthSeed)
}

// prepareExperts finds or writes the model files.
func prepareExperts(ctx context.Context, f benchFlags, p benchPlan, bm *benchModels, stdout io.Writer) error {
	if p.tiny {
		dir, err := atomicfile.MkdirTemp("", "wan22-bench-tiny-")
		if err != nil {
			return err
		}
		bm.cleanup = func() { atomicfile.Remove(dir) }
		t, err := tinymodels.Write(dir, benchSynthSeed(f.seed, 0))
		if err != nil {
			return err
		}
		if f.synthDir == "" {
			bm.dir = dir
		}
		bm.m = wan22.Models{High: t.High, Low: t.Low, TextEncoder: t.TextEncoder, VAE: t.VAE}
		bm.info = reportModels(bm.m, "tiny")
		return nil
	}
	bm.m = wan22.Models{High: f.high, Low: f.low, TextEncoder: f.textEncoder, VAE: f.vae}
	if bm.m.Low == "" && bm.m.High != "" && f.sameExpert {
		bm.m.Low = bm.m.High
	}
	type want struct {
		role, kind string
		path       *string
		typ        gguf.Type
		seed       int64
		name       string
		is         modelfile.Kind
	}
	seed, lowSeed := benchSynthSeed(f.seed, 0), benchSynthSeed(f.seed, 1)
	et := p.expertType
	var wants []want
	if bm.m.High == "" {
		wants = append(wants, want{"high-noise expert", "dit", &bm.m.High, et, seed, fmt.Sprintf("synth-dit-i2v-%v-seed%d.gguf", et, seed), modelfile.KindWanDiT})
	}
	sameSynth := bm.m.Low == "" && f.sameExpert
	if bm.m.Low == "" && !f.sameExpert {
		wants = append(wants, want{"low-noise expert", "dit", &bm.m.Low, et, lowSeed, fmt.Sprintf("synth-dit-i2v-%v-seed%d.gguf", et, lowSeed), modelfile.KindWanDiT})
	}
	if bm.m.TextEncoder == "" {
		wants = append(wants, want{"text encoder", "t5", &bm.m.TextEncoder, gguf.TypeQ8_0, seed, fmt.Sprintf("synth-umt5-Q8_0-seed%d.gguf", seed), modelfile.KindT5})
	}
	if bm.m.VAE == "" {
		wants = append(wants, want{"VAE", "vae", &bm.m.VAE, gguf.TypeBF16, seed, fmt.Sprintf("synth-vae-wan21-BF16-seed%d.safetensors", seed), modelfile.KindWanVAE})
	}
	synthetic := len(wants)
	kind := "mixed (synthetic where no file was given)"
	switch {
	case synthetic == 0:
		kind = "real"
	case synthetic == 4 || (synthetic == 3 && sameSynth && bm.m.High == ""):
		kind = "synthetic"
	}
	if synthetic > 0 {
		// The files given and the synthetic ones must fit together: a
		// mismatch found after writing gigabytes would waste them.
		if err := checkSynthFits(bm.m); err != nil {
			return err
		}
		dir, err := bm.folder(f, stdout)
		if err != nil {
			return err
		}
		// Plan every file, then check the disk for the ones to write.
		var files []synthFile
		for _, w := range wants {
			k := slices.IndexFunc(synthKinds, func(k synthKind) bool { return k.name == w.kind })
			sj, err := synthKinds[k].plan(benchSynthSizes[w.kind], w.typ, w.seed)
			if err != nil {
				return fmt.Errorf("planning the synthetic %s: %w", w.role, err)
			}
			*w.path = filepath.Join(dir, w.name)
			files = append(files, synthFile{role: w.role, path: *w.path, kind: w.is, synthJob: sj, bar: p.bar})
		}
		if err := checkSynthHostMemory(p, files); err != nil {
			return err
		}
		if err := materialize(ctx, dir, files, expertSpaceAdvice(f, p), stdout); err != nil {
			return err
		}
	}
	if sameSynth {
		bm.m.Low = bm.m.High
	}
	bm.info = reportModels(bm.m, kind)
	return nil
}

// reportModels describes the model files m for the report: their absolute
// paths (a report read from another folder still names them), the
// experts' block types (the low-noise one's where it differs) and the
// high-noise expert's shape from their headers, and kind.
func reportModels(m wan22.Models, kind string) benchreport.Models {
	info := benchreport.Models{High: absPath(m.High), Low: absPath(m.Low), TextEncoder: absPath(m.TextEncoder), VAE: absPath(m.VAE), Kind: kind}
	info.SameExpert = info.Low == info.High
	if !info.SameExpert {
		if src, _, err := modelfile.Open(m.Low); err == nil {
			info.ExpertTypeLow = blockType(src)
			src.Close()
		}
	}
	if src, _, err := modelfile.Open(m.High); err == nil {
		info.ExpertType = blockType(src)
		if d := modelfile.Detect(src); d.Kind == modelfile.KindWanDiT {
			c := d.DiT
			info.ExpertShape = benchreport.ExpertShape{Layers: c.Layers, Dim: c.Dim, FFNDim: c.FFNDim, Heads: c.Heads,
				InDim: c.InDim, OutDim: c.OutDim, TextDim: c.TextDim, FreqDim: c.FreqDim}
		}
		src.Close()
	}
	if info.ExpertTypeLow == info.ExpertType {
		info.ExpertTypeLow = "" // one type: the report says it once
	}
	return info
}

// absPath is path made absolute for a report, which names the files it
// ran wherever it is read (path as given when that fails).
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// addSynthLoRAs writes (or reuses) a synthetic LoRA of rank --synth-lora
// for each expert, shaped after the expert's file, and adds them to the
// bench's LoRAs.
func addSynthLoRAs(ctx context.Context, f benchFlags, bm *benchModels, stdout io.Writer) error {
	dir, err := bm.folder(f, stdout)
	if err != nil {
		return err
	}
	var files []synthFile
	for i, e := range []struct {
		expert wan22.LoRAExpert
		path   string
	}{{wan22.LoRAHigh, bm.m.High}, {wan22.LoRALow, bm.m.Low}} {
		info, err := detectExpert(e.path)
		if err != nil {
			return err
		}
		seed := benchSynthSeed(f.seed, i)
		sj, err := planSynthLoRA(*info, f.synthLoRA, e.expert.String()+"-noise", seed)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("synth-lora-r%d-dim%d-%dblocks-%s-seed%d.safetensors", f.synthLoRA, info.Dim, info.Layers, e.expert, seed)
		files = append(files, synthFile{role: "LoRA of the " + e.expert.String() + "-noise expert", path: filepath.Join(dir, name), synthJob: sj, bar: bm.bar})
		bm.loras = append(bm.loras, wan22.LoRA{Path: files[i].path, Strength: 1, Expert: e.expert})
		if bm.synthetic == nil {
			bm.synthetic = map[string]bool{}
		}
		bm.synthetic[files[i].path] = true
	}
	return materialize(ctx, dir, files, "free some space, give a --synth-dir elsewhere, or a smaller --synth-lora rank", stdout)
}

// expertSpaceAdvice is what to do when the synthetic models do
// not fit on the disk: only what would change something with these flags.
func expertSpaceAdvice(f benchFlags, p benchPlan) string {
	ways := []string{"free some space", "give real model files", "give a --synth-dir elsewhere"}
	if !f.sameExpert && f.low == "" && f.high == "" {
		ways = append(ways, "leave --same-expert on (one expert file for both)")
	}
	if f.high == "" && p.expertType != smallestExpertType {
		ways = append(ways, "--expert-type "+smallestExpertType.String()+" (a smaller expert)")
	}
	return strings.Join(ways[:len(ways)-1], ", ") + ", or " + ways[len(ways)-1]
}

// smallestExpertType is the synthetic experts' type of the smallest file.
const smallestExpertType = gguf.TypeQ4_K

// detectExpert returns the shape of the DiT expert in path.
func detectExpert(path string) (*modelfile.DiTConfig, error) {
	src, _, err := modelfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	info := modelfile.Detect(src)
	if info.Kind != modelfile.KindWanDiT {
		return nil, fmt.Errorf("%s is a %s, not a WAN DiT expert%s", path, info.Name(), adviceSuffix(info))
	}
	return info.DiT, nil
}

// synthSize is a size of the synthetic model of a synth kind: the test
// override in benchSynthSizes, else the real model's value def.
func synthSize(kind, name string, def int) int {
	if v, ok := benchSynthSizes[kind][name]; ok {
		return v
	}
	return def
}

// checkSynthFits checks, before any synthetic file is written, that the
// model files given in m fit the synthetic ones that will fill the empty
// roles: an i2v expert, and text of one width on both sides (the synthetic
// umT5 has umT5-XXL's width, the synthetic experts read it). The synthetic
// VAE is the WAN 2.1 one every i2v expert reads.
func checkSynthFits(m wan22.Models) error {
	textWidth := synthSize("t5", "dim", t5.UMT5XXL().Dim)
	what := "the synthetic umT5 encoder"
	if m.TextEncoder != "" {
		src, _, err := modelfile.Open(m.TextEncoder)
		if err != nil {
			return fmt.Errorf("--text-encoder: %w", err)
		}
		info := modelfile.Detect(src)
		src.Close()
		if info.Kind != modelfile.KindT5 {
			return fmt.Errorf("--text-encoder %s is a %s, not a umT5 text encoder", m.TextEncoder, info.Name())
		}
		textWidth, what = info.T5.Dim, "--text-encoder "+m.TextEncoder
	}
	for _, e := range []struct{ flag, path string }{{"--high", m.High}, {"--low", m.Low}} {
		if e.path == "" {
			if dim := synthSize("dit", "text-dim", dit.I2VA14B().TextDim); m.TextEncoder != "" && dim != textWidth {
				return fmt.Errorf("%s has width %d, and the synthetic experts (I2V-A14B's layout) read text of width %d: give expert files that match it, or leave --text-encoder out",
					what, textWidth, dim)
			}
			continue
		}
		c, err := detectExpert(e.path)
		if err != nil {
			return fmt.Errorf("%s: %w", e.flag, err)
		}
		if c.Variant != "i2v" {
			return fmt.Errorf("%s %s is a WAN %s expert, not an i2v one (input width 36): the bench runs image-to-video", e.flag, e.path, c.Variant)
		}
		if c.TextDim != textWidth {
			fix := fmt.Sprintf("give a --text-encoder of width %d (wan22 synth -kind t5 -dim %d writes one)", c.TextDim, c.TextDim)
			if m.TextEncoder != "" {
				fix = "give files of one model"
			}
			return fmt.Errorf("%s %s reads text of width %d, and %s has width %d: %s, or --tiny for the tiny model set",
				e.flag, e.path, c.TextDim, what, textWidth, fix)
		}
	}
	return nil
}

// blockType returns the weight type of an expert's first FFN matrix, or "".
func blockType(src gguf.Source) string {
	for _, t := range src.Tensors() {
		if strings.HasSuffix(t.Name, "blocks.0.ffn.0.weight") {
			return t.Type.String()
		}
	}
	return ""
}

// generator runs generations on one opened device: a *wan22.Pipeline
// (tests wrap it).
type generator interface {
	Backend() string
	Device() string
	Generate(ctx context.Context, r wan22.Request, out wan22.Output) error
	Close() error
}

// openGenerator opens the models on the device with a VRAM budget; tests
// replace it.
var openGenerator = func(ctx context.Context, m wan22.Models, o wan22.Options) (generator, error) {
	return wan22.Open(ctx, m, o)
}

// runBenchPlan prepares the models, runs every budget × size × frames and
// writes the report.
func runBenchPlan(ctx context.Context, f benchFlags, p benchPlan, stdout, stderr io.Writer) (*benchreport.Report, error) {
	bm, err := prepareModels(ctx, f, p, stdout)
	if err != nil {
		return nil, err
	}
	defer bm.cleanup()
	rep := &benchreport.Report{
		Schema: benchreport.Schema, Created: time.Now().UTC(), Command: p.args,
		Settings: benchreport.Settings{
			Device: p.device, Models: bm.info, MeasuredSteps: max(p.measuredHigh, p.measuredLow), ScheduleSteps: f.scheduleSteps,
			ScheduleHigh: p.scheduleHigh, ScheduleLow: p.scheduleLow, Timesteps: p.scheduleTimesteps, SwitchStep: f.switchStep,
			Solver: f.solver, Shift: f.shift, GuidanceHigh: p.guidanceHigh, GuidanceLow: p.guidanceLow, Boundary: f.boundary, Seed: f.seed,
			PinnedBudget: p.pinned, VideoFormat: "avi", VideoKept: f.outVideo != "", LoRAs: reportLoRAs(bm, f.synthLoRA), LoRAMerge: f.loraMerge, Attention: string(p.attention),
		},
		Torch: p.torch,
	}
	p.loras = bm.loras
	p.log = benchLog(stderr)
	if f.loraMerge {
		for i := range p.loras {
			p.loras[i].Merge = true
		}
	}
	// Every LoRA against its expert, once, rather than as a failure of each run.
	if err := pipeline.CheckLoRAs(pipeline.Models{High: bm.m.High, Low: bm.m.Low}, p.loras); err != nil {
		return nil, err
	}
	printSchedule(stdout, f, p)
	for c := range p.cells() {
		p.bar.show(fmt.Sprintf("%dx%d, %s, VRAM %s: opening the models", c.size[0], c.size[1], plural.Count(c.frames, "frame"), benchreport.BudgetLabel(c.budget)))
		run, backend, err := benchRun(ctx, f, p, bm.m, c.budget, c.size, c.frames, stdout)
		if err != nil {
			return nil, err
		}
		if rep.Settings.Backend == "" {
			rep.Settings.Backend = backend
		}
		rep.Runs = append(rep.Runs, run)
		fmt.Fprintf(stdout, "%dx%d, %s, VRAM %s: %s\n", c.size[0], c.size[1], plural.Count(c.frames, "frame"), benchreport.BudgetLabel(c.budget), runSummary(&run))
	}
	rep.Machine = benchreport.CollectMachine(rep.Settings.Backend, hostmem.Total())
	if err := writeBenchOutputs(ctx, rep, f, p.compare, p.reports, stdout); err != nil {
		return nil, err
	}
	return rep, nil
}

// writeBenchOutputs prints a finished report's table and, with --compare,
// its ratios to the old report, then writes --json and --html (unless ctx
// was cancelled), each through a temporary file renamed over its
// reservation in res.
func writeBenchOutputs(ctx context.Context, rep *benchreport.Report, f benchFlags, compare *benchreport.Report, res *reportReservation, stdout io.Writer) error {
	fmt.Fprintln(stdout)
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if compare != nil {
		fmt.Fprintln(stdout)
		if err := benchreport.WriteCompare(stdout, f.compare, compare, rep); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.jsonPath != "" {
		if err := rep.WriteFile(f.jsonPath); err != nil {
			return reportWriteError("--json", f.jsonPath, err)
		}
		res.written(f.jsonPath)
		fmt.Fprintln(stdout, "wrote", f.jsonPath)
	}
	if f.htmlPath != "" {
		if err := benchreport.WriteAtomic(f.htmlPath, rep.WriteHTML); err != nil {
			return reportWriteError("--html", f.htmlPath, err)
		}
		res.written(f.htmlPath)
		fmt.Fprintln(stdout, "wrote", f.htmlPath)
	}
	return nil
}

// reportWriteError is the error of a report (flagName, path) that could not
// be written: the write's reason without the temporary file it names (the
// report is written through one, which is gone), and for a full disk what
// to do. The table printed above holds the results either way.
func reportWriteError(flagName, path string, err error) error {
	if what, note := diskFull(err); what != "" {
		return fmt.Errorf("%s %s was not written: %s%s; the table above has the results: free some space, or write the report to another disk", flagName, path, what, note)
	}
	return fmt.Errorf("%s %s was not written: %w", flagName, path, fserr.WithoutPath(err))
}

// reportLoRAs lists the bench's LoRAs for the report, in order, by their
// absolute paths as the models are (--from-json compares them by path); the
// synthetic ones are of rank synthRank (--synth-lora).
func reportLoRAs(bm benchModels, synthRank int) []benchreport.LoRA {
	var ls []benchreport.LoRA
	for _, l := range bm.loras {
		rl := benchreport.LoRA{Path: absPath(l.Path), Strength: l.Strength, Expert: l.Expert.String(), Synthetic: bm.synthetic[l.Path]}
		if rl.Synthetic {
			rl.Rank = synthRank
		}
		ls = append(ls, rl)
	}
	return ls
}

// printSchedule says what each run measures: the steps and how they relate
// to the schedule, the solver and guidance, the expert switch and the LoRAs.
func printSchedule(w io.Writer, f benchFlags, p benchPlan) {
	if p.whole {
		capped := ""
		if f.scheduleSteps > wholeSchedule { // measured whole as --steps covers it
			capped = p.stepsCapped(f.steps)
		}
		fmt.Fprintf(w, "measuring the whole %d-step schedule in each run (%d high + %d low steps), nothing extrapolated%s\n",
			f.scheduleSteps, p.measuredHigh, p.measuredLow, capped)
	} else {
		fmt.Fprintf(w, "measuring %d high + %d low steps per run, extrapolated to %d (%d high + %d low)%s\n",
			p.measuredHigh, p.measuredLow, f.scheduleSteps, p.scheduleHigh, p.scheduleLow, p.stepsCapped(f.steps))
	}
	solver := f.solver
	if p.timesteps != nil {
		solver += " (timesteps " + scheduler.FormatTimesteps(p.timesteps) + ")"
	}
	cfg := fmt.Sprintf("guidance %g/%g", p.guidanceHigh, p.guidanceLow)
	if p.guidanceHigh == 1 && p.guidanceLow == 1 {
		cfg = "guidance 1 (no unconditional pass)"
	}
	switchAt := fmt.Sprintf("experts switch at boundary %g", f.boundary)
	if f.switchStep > 0 {
		switchAt = fmt.Sprintf("experts switch after step %d", f.switchStep)
	}
	attention := string(p.attention)
	if p.device == wan22.DeviceCPU {
		attention = "f32" // the CPU computes attention in f32 whatever --attention says
	}
	fmt.Fprintf(w, "solver %s, shift %g, %s, %s, %s attention\n", solver, f.shift, cfg, switchAt, attention)
	for _, l := range p.loras {
		fmt.Fprintf(w, "LoRA %s at strength %g on %s\n", l.Path, l.Strength, loraTarget(l.Expert))
	}
}

// runSummary is a one-line result of a run.
func runSummary(r *benchreport.Run) string {
	switch r.Status {
	case benchreport.StatusOK:
		if r.Whole { // nothing estimated
			return fmt.Sprintf("measured %.1f s for the whole schedule, %.2f + %.2f s/step", r.Measured, r.PerStepHigh, r.PerStepLow)
		}
		return fmt.Sprintf("measured %.1f s, %.2f + %.2f s/step, about %.1f s at the full schedule", r.Measured, r.PerStepHigh, r.PerStepLow, r.Total)
	case benchreport.StatusNoFit:
		if r.MinVRAM > 0 {
			return fmt.Sprintf("does not fit (needs at least %.2f GiB)", float64(r.MinVRAM)/(1<<30))
		}
		return "does not fit: " + r.Error
	}
	return "failed: " + r.Error
}

// benchProgress, when set (by tests), sees every progress event.
var benchProgress func(wan22.Event)

// benchRun runs one generation and measures it. Only a cancelled context
// or a device that cannot be opened is returned as an error; a run that
// fails is recorded as such.
func benchRun(ctx context.Context, f benchFlags, p benchPlan, m wan22.Models, budget int64, size [2]int, frames int, stdout io.Writer) (benchreport.Run, string, error) {
	w, h := size[0], size[1]
	g := pipeline.Options{Frames: frames, Width: w, Height: h}.Grid()
	run := benchreport.Run{Width: w, Height: h, Frames: frames, Tokens: g.Tokens(), VRAMBudget: budget}
	gen, err := openGenerator(ctx, m, wan22.Options{Device: p.device, VRAMBudget: budget, PinnedBudget: p.pinned, Attention: p.attention, AllowSameExpert: true, Log: p.log})
	if err != nil {
		if ctx.Err() != nil {
			return run, "", ctx.Err()
		}
		return run, "", fmt.Errorf("opening the models: %w", err)
	}
	defer gen.Close()
	backend := gen.Backend()
	hostmem.ResetPeakRSS()

	dir := f.outVideo
	if dir == "" {
		if dir, err = atomicfile.MkdirTemp("", "wan22-bench-video-"); err != nil {
			return run, backend, err
		}
		defer atomicfile.Remove(dir)
	}
	path := benchVideoPath(dir, size, frames, budget)
	// Never over an existing file: check refused those in --out-video, and
	// one made since is refused here (the run is recorded as failed).
	vw, err := video.Create(ctx, path, video.Options{Width: w, Height: h, Format: video.AVI})
	if err != nil {
		return run, backend, err
	}
	tw := &timedWriter{w: vw}
	rec := newRecorder()
	req := wan22.Request{
		Image: imageprep.TestImage(w, h), Prompt: "a red fox runs through fresh snow, morning light",
		Frames: frames, Width: w, Height: h, Steps: p.reqSteps, SwitchStep: p.reqSwitch, Timesteps: p.reqTimesteps,
		Shift: f.shift, Solver: f.solver, GuidanceHigh: p.guidanceHigh, GuidanceLow: p.guidanceLow, Boundary: f.boundary,
		LoRAs: p.loras, Seed: f.seed,
	}
	label := fmt.Sprintf("%dx%d, %s, VRAM %s", w, h, plural.Count(frames, "frame"), benchreport.BudgetLabel(budget))
	progress := func(ev wan22.Event) {
		rec.event(ev)
		p.bar.event(label, ev)
		if benchProgress != nil {
			benchProgress(ev)
		}
	}
	err = gen.Generate(ctx, req, wan22.Output{Video: tw, Progress: progress})
	if err == nil {
		start := time.Now()
		err = vw.Close()
		tw.d += time.Since(start)
	}
	measured := time.Since(rec.start)
	if err != nil {
		vw.Abort()
		if ctx.Err() != nil {
			return run, backend, ctx.Err()
		}
		run.Status, run.Error, run.MinVRAM = classify(withBenchBudgetAdvice(err, f, p, m, budget))
		if what, note := diskFull(err); what != "" {
			run.Error = videoDiskFull(f.outVideo, what, note)
		}
		return run, backend, nil
	}
	if f.outVideo == "" {
		os.Remove(path)
	}
	rec.finish(&run, tw.d, measured, p)
	return run, backend, nil
}

// videoDiskFull is the error of a run whose video found no room on the
// disk (what and note: diskFull's), in words with what to do, for the line
// of the run and the report. The write's own message named the video's
// temporary file ("write out/.bench-96x64-5f-all.avi.tmp-8381-3067255403:
// no space left on device"), which is gone.
func videoDiskFull(outVideo, what, note string) string {
	if outVideo == "" {
		return fmt.Sprintf("writing the run's video in the temporary folder %s, %s%s: free some space there, or set TMPDIR to a folder on another disk",
			os.TempDir(), what, note)
	}
	return fmt.Sprintf("writing the run's video in --out-video %s, %s%s: free some space there, or give --out-video a folder on another disk (or leave it out: the videos are then temporary files)",
		outVideo, what, note)
}

// benchVideoPath is the video file of a run in folder dir:
// "bench-832x480-81f-32GiB.avi".
func benchVideoPath(dir string, size [2]int, frames int, budget int64) string {
	return filepath.Join(dir, fmt.Sprintf("bench-%dx%d-%df-%s.avi", size[0], size[1], frames, strings.ReplaceAll(benchreport.BudgetLabel(budget), " ", "")))
}

// classify turns a failed run's error into its status, message (naming the
// bench's flags where the library names Options fields: flagWords) and, for a
// run that does not fit, the smallest VRAM budget it needs (0 if unknown).
func classify(err error) (status, msg string, need int64) {
	msg = flagWords("bench", err.Error())
	if need, ok := deviceNeed(err); ok {
		return benchreport.StatusNoFit, msg, need
	}
	var est *wan22.BudgetError
	if errors.As(err, &est) || errors.Is(err, cuda.ErrOutOfBudget) {
		return benchreport.StatusNoFit, msg, 0
	}
	return benchreport.StatusFailed, msg, 0
}

// deviceNeed reports whether err is (or wraps) a stage's refusal of the
// VRAM budget — the block planner's, the VAE's tiling or the text encoder's
// streaming — and the smallest budget that stage needs.
func deviceNeed(err error) (int64, bool) {
	var plan *blockswap.BudgetError
	var v *vae.BudgetError
	var te *t5.BudgetError
	switch {
	case errors.As(err, &plan):
		return plan.Need, true
	case errors.As(err, &v):
		return v.Need, true
	case errors.As(err, &te):
		return te.Need, true
	}
	return 0, false
}

// withBenchBudgetAdvice adds to err, when it is (or wraps) a memory
// refusal, what to change among the bench's flags for the run of m at
// budget (bytes of VRAM, 0 for all free memory), as withBudgetAdvice does for
// i2v: a stage's refusal of the VRAM budget (deviceNeed) gets --vram-budget
// when the run had one; the library's host-memory refusal,
// *wan22.BudgetError, which names no flag, gets the flags that shrink what
// did not fit. A flag is advised only where it would change the run. Other
// errors, and a refusal no flag can help, come back as they are.
func withBenchBudgetAdvice(err error, f benchFlags, p benchPlan, m wan22.Models, budget int64) error {
	if _, ok := deviceNeed(err); ok {
		if budget <= 0 {
			return err
		}
		return withAdvice(err, "bench", fmt.Sprintf("raise --vram-budget (%s in this run), or give 0 to use all free GPU memory", benchreport.BudgetLabel(budget)))
	}
	var be *wan22.BudgetError
	if !errors.As(err, &be) {
		return err
	}
	var advice []string
	switch {
	case !be.WeightsExceed():
		advice = append(advice, "use a smaller --size or fewer --frames")
	case be.WeightsIn == wan22.HighNoise: // the experts' stage
		advice = append(advice, expertAdvice(f, p, m)...)
	case be.WeightsIn == wan22.TextEncode && f.textEncoder != "":
		advice = append(advice, "give a smaller quantized --text-encoder file (Q8_0 or Q4_K_M GGUF)")
	}
	if len(advice) == 0 {
		return err
	}
	return withAdvice(err, "bench", strings.Join(advice, "; or "))
}

// expertAdvice is what shrinks the larger expert of m, whose weights alone
// do not fit: a smaller --expert-type when that expert is synthetic and not
// already of the smallest type, --same-expert when the low-noise expert is
// a synthetic file larger than the --high file that would replace it, and
// smaller --high/--low files when the larger expert is a file given.
func expertAdvice(f benchFlags, p benchPlan, m wan22.Models) []string {
	size := func(path string) int64 {
		if st, err := os.Stat(path); err == nil {
			return st.Size()
		}
		return 0
	}
	high, low := size(m.High), size(m.Low)
	synthHigh := f.high == ""
	synthLow := f.low == "" && (f.high == "" || !f.sameExpert)
	largerSynth := (synthHigh && high >= low) || (synthLow && low >= high)
	var advice []string
	if largerSynth && p.expertType != gguf.TypeQ4_K {
		advice = append(advice, fmt.Sprintf("give a smaller --expert-type, Q4_K (%v now)", p.expertType))
	}
	if f.high != "" && f.low == "" && !f.sameExpert && high < low {
		advice = append(advice, fmt.Sprintf("give --same-expert, so that --high %s serves as the low-noise expert too, not a synthetic %v one", f.high, p.expertType))
	}
	if !largerSynth {
		advice = append(advice, "give smaller quantized expert files (--high, --low: Q8_0 or Q4_K_M GGUF)")
	}
	return advice
}

// benchBar is the bench's progress line on a terminal: the run going on and
// its last progress event ("832x480, 81 frames, VRAM 32 GiB: high-noise 3/4,
// 6.20 s/step, ETA 1m10s, elapsed 2m3s"), drawn over itself on standard
// error and erased before anything else is printed, so that the run's
// result line and the table stay as they are without a terminal. A run
// takes minutes on the full-size models (the first includes loading 15 GB
// of experts), and the bench printed nothing from its start to its end.
// Without a terminal (a log, a pipe) there is no progress line: the result
// line of each run says what it did.
type benchBar struct {
	mu    sync.Mutex
	w     io.Writer // the terminal
	line  barLine
	drawn bool // a line is shown
}

// benchIsTerminal reports whether w is a terminal (a variable for the
// tests).
var benchIsTerminal = func(w io.Writer) bool { return isCharDevice(w) }

// newBenchBar returns the progress line on stderr, or nil when stderr is
// not a terminal.
func newBenchBar(stderr io.Writer) *benchBar {
	if !benchIsTerminal(stderr) {
		return nil
	}
	return &benchBar{w: stderr, line: barLine{vt: vtTerminal(stderr), width: func() int { return terminalWidth(stderr) }}}
}

// show draws text as the progress line.
func (b *benchBar) show(text string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	io.WriteString(b.w, b.line.draw(text))
	b.drawn = true
}

// event shows a run's progress event; label names the run.
func (b *benchBar) event(label string, ev wan22.Event) {
	if b == nil {
		return
	}
	text := label + ": " + ev.Stage.String()
	switch {
	case ev.Steps > 0 && ev.PerStep > 0:
		text += fmt.Sprintf(" %d/%d, %.2f s/step, ETA %s", ev.Step, ev.Steps, ev.PerStep.Seconds(), ev.ETA.Round(time.Second))
	case ev.Steps > 0:
		text += fmt.Sprintf(" %d/%d", ev.Step, ev.Steps)
	case ev.Done:
		text += " done"
	}
	b.show(text + fmt.Sprintf(", elapsed %s", ev.Elapsed.Round(time.Second)))
}

// written returns the progress function of a file of size bytes being
// written (writeAtomicProgress), which shows "  1.05 GB of 15.42 GB written
// (6%), 580 MB/s"; nil without a line.
func (b *benchBar) written(size int64) func(int64) {
	if b == nil {
		return nil
	}
	start := time.Now()
	return func(n int64) {
		secs := max(time.Since(start).Seconds(), 1e-3)
		b.show(fmt.Sprintf("  %s of %s written (%d%%), %.0f MB/s", formatGB(n), formatGB(size), n*100/max(size, 1), float64(n)/1e6/secs))
	}
}

// clear erases the progress line, if one is shown.
func (b *benchBar) clear() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		io.WriteString(b.w, b.line.draw("")+"\r")
		b.line.reset()
		b.drawn = false
	}
}

// clearing returns a writer to w that erases the progress line before each
// write.
func (b *benchBar) clearing(w io.Writer) io.Writer { return &barClearing{w, b} }

// barClearing is benchBar.clearing's writer.
type barClearing struct {
	w io.Writer
	b *benchBar
}

func (c *barClearing) Write(p []byte) (int, error) {
	c.b.clear()
	return c.w.Write(p)
}

// timedWriter times a video writer's frame writes.
type timedWriter struct {
	w video.Writer
	d time.Duration
}

func (t *timedWriter) WriteFrame(img image.Image) error {
	start := time.Now()
	err := t.w.WriteFrame(img)
	t.d += time.Since(start)
	return err
}
func (t *timedWriter) Close() error { return t.w.Close() }
func (t *timedWriter) Abort() error { return t.w.Abort() }

// recorder turns progress events into stage times, step times and peaks.
type recorder struct {
	start    time.Time
	end      map[wan22.Stage]time.Duration // when the stage's Done event came
	loaded   map[wan22.Stage]time.Duration // when an expert's load ended
	last     time.Duration                 // the current expert's last event
	steps    map[wan22.Stage][]float64
	peak     benchreport.Memory
	stage    map[wan22.Stage]benchreport.Memory
	plan     map[wan22.Stage]string
	swap     map[wan22.Stage]*blockswap.Stats
	lastSeen wan22.Stage
}

func newRecorder() *recorder {
	return &recorder{
		start: time.Now(), end: map[wan22.Stage]time.Duration{}, loaded: map[wan22.Stage]time.Duration{},
		steps: map[wan22.Stage][]float64{}, stage: map[wan22.Stage]benchreport.Memory{},
		plan: map[wan22.Stage]string{}, swap: map[wan22.Stage]*blockswap.Stats{},
	}
}

func (r *recorder) event(ev wan22.Event) {
	t := time.Since(r.start)
	r.peak.VRAM = max(r.peak.VRAM, ev.Memory.PeakVRAM)
	r.peak.Pinned = max(r.peak.Pinned, ev.Memory.PeakPinned)
	r.peak.RSS = max(r.peak.RSS, ev.Memory.PeakRSS)
	if ev.Swap != nil {
		st := *ev.Swap
		r.swap[ev.Stage] = &st
	}
	switch {
	case ev.Done:
		r.end[ev.Stage] = t
		r.stage[ev.Stage] = r.peak
	case ev.Stage != wan22.HighNoise && ev.Stage != wan22.LowNoise:
	case ev.Plan != "": // the expert is loaded
		r.loaded[ev.Stage], r.last, r.plan[ev.Stage] = t, t, ev.Plan
	case ev.Step > 0:
		r.steps[ev.Stage] = append(r.steps[ev.Stage], (t - r.last).Seconds())
		r.last = t
	}
}

// finish fills in a completed run: write is the video writer's time.
func (r *recorder) finish(run *benchreport.Run, write, measured time.Duration, p benchPlan) {
	run.Status = benchreport.StatusOK
	e := r.end
	mem := func(s wan22.Stage) benchreport.Memory { return r.stage[s] }
	decode := e[wan22.VAEDecode] - e[wan22.LowNoise] - write
	run.Stages = []benchreport.Stage{
		{Name: "vae-encode", Seconds: e[wan22.VAEEncode].Seconds(), Peak: mem(wan22.VAEEncode)},
		{Name: "text-encode", Seconds: (e[wan22.TextEncode] - e[wan22.VAEEncode]).Seconds(), Peak: mem(wan22.TextEncode)},
		{Name: "high-noise", Seconds: (e[wan22.HighNoise] - e[wan22.TextEncode]).Seconds(), Peak: mem(wan22.HighNoise)},
		{Name: "switch", Seconds: (r.loaded[wan22.LowNoise] - e[wan22.HighNoise]).Seconds(), Peak: mem(wan22.HighNoise)},
		{Name: "low-noise", Seconds: (e[wan22.LowNoise] - r.loaded[wan22.LowNoise]).Seconds(), Peak: mem(wan22.LowNoise)},
		{Name: "vae-decode", Seconds: decode.Seconds(), Peak: mem(wan22.VAEDecode)},
		{Name: "video-write", Seconds: write.Seconds(), Peak: r.peak},
	}
	run.HighLoad = (r.loaded[wan22.HighNoise] - e[wan22.TextEncode]).Seconds()
	run.LowLoad = (r.loaded[wan22.LowNoise] - e[wan22.HighNoise]).Seconds()
	run.HighSteps, run.LowSteps = r.steps[wan22.HighNoise], r.steps[wan22.LowNoise]
	run.MeasuredHigh, run.MeasuredLow, run.Whole = len(run.HighSteps), len(run.LowSteps), p.whole
	var estHigh, estLow float64
	run.PerStepHigh, estHigh = extrapolate(run.HighSteps, p.scheduleHigh)
	run.PerStepLow, estLow = extrapolate(run.LowSteps, p.scheduleLow)
	run.Measured = measured.Seconds()
	run.Denoise = estHigh + estLow
	run.Total = run.Measured - sum(run.HighSteps) - sum(run.LowSteps) + run.Denoise
	if p.whole { // measured, not estimated
		run.Denoise = sum(run.HighSteps) + sum(run.LowSteps)
		run.Total = run.Measured
	}
	run.Peak = r.peak
	run.PlanHigh, run.PlanLow = r.plan[wan22.HighNoise], r.plan[wan22.LowNoise]
	run.SwapHigh, run.SwapLow = r.swap[wan22.HighNoise], r.swap[wan22.LowNoise]
}

// extrapolate returns the steady per-step time of measured steps (the mean
// after the first; the first alone if it is the only one) and the time of n
// such steps: the first measured step once, then n−1 steady ones.
func extrapolate(steps []float64, n int) (per, total float64) {
	switch {
	case len(steps) == 0 || n == 0:
		return 0, 0
	case len(steps) == 1:
		return steps[0], float64(n) * steps[0]
	}
	per = sum(steps[1:]) / float64(len(steps)-1)
	return per, steps[0] + float64(n-1)*per
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

// adviceSuffix is ": " and what to do with a file of info's kind given as a model (modelfile.Info.Advice), or "".
// The advice is in bench's words (flagWords): for a LoRA it names the
// commands' flags and then the library's Request.LoRAs, which a refusal of
// bench's own, printed before any run, would show as it is.
func adviceSuffix(info modelfile.Info) string {
	if a := info.Advice(); a != "" {
		return ": " + flagWords("bench", a)
	}
	return ""
}
