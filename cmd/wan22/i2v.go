package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/engine/video"
	"github.com/wan22/wan22/internal/atomicfile"
	"github.com/wan22/wan22/internal/fserr"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/scheduler"
)

const i2vHelp = `Generates a video from an image and a prompt with WAN 2.2 I2V-A14B.

Every flag left out takes the official default: 81 frames at 16 fps, the size
from --max-area 921600 (1280×720) and the image's aspect ratio, 40 UniPC steps,
shift 5, guidance 3.5 for both experts, expert boundary 0.9, the official
negative prompt. Models may be GGUF or safetensors files.

The image (PNG, JPEG or WebP) is resized bicubically to the output size;
--image - reads it from standard input (a pipe, or < photo.png).
Its EXIF orientation is applied first, as ComfyUI's LoadImage does: a phone
photo stored sideways makes an upright video, its size from the upright
picture, and a line says so. With --ignore-exif-orientation the
EXIF orientation is NOT applied, as in the official code: the pixels are
used as stored.

The video goes to --out (MP4 through ffmpeg; a pure-Go MJPEG .avi when ffmpeg
is missing, or when --out ends in .avi) and/or PNG frames to --frames-dir. It
is written to a temporary file renamed at the end: a failed or interrupted run
(Ctrl-C) leaves nothing partial behind, not even the --preview image; when one
of --out and --frames-dir fails at the end, the other, complete, is kept. A
preview that cannot be written is a warning, not a failure. A disk without
room for the outputs is refused before any model loads, and one with less
than they typically take is warned of. Progress goes to
stderr (a bar on a terminal), or as JSON objects one per line on stdout with
--json.

LoRAs (safetensors, ComfyUI/kohya or PEFT/diffusers keys) are applied at run
time, the model files untouched: --lora-high FILE[:STRENGTH] for the
high-noise expert, --lora-low for the low-noise one, --lora for both; each may
be repeated, the strength defaults to 1. Every LoRA is checked against its
expert before anything loads (see wan22 inspect LORA). --lora-merge merges
the LoRAs into F16/BF16/F32 weights at load instead: no run-time cost and no
extra GPU memory (each matrix is rewritten in turn), but merging takes host
time; quantized weights, and the blocks swapped to host memory, keep the
run-time path.

Few-step workflows: the 4-step distillation LoRAs (LightX2V's and others')
run with --solver distill (timesteps 1000,750,500,250 of the shifted training
schedule unless --timesteps says otherwise, guidance 1 unless --cfg is given),
one LoRA per expert, and optionally --switch-step 2; --solver euler or unipc
with --steps 4 to 8 and --cfg 1 work too. Guidance 1 skips the unconditional
pass, halving the time per step.

Attention runs in bf16 by default. --attention int8 or fp8 opts in to 8-bit
attention on the GPU (SageAttention-style: INT8 Q·Kᵀ with K smoothed,
P·V in INT8 or, on sm_89 and newer, FP8): less accurate than bf16 (int8
about 1e-2 relative, fp8 about 2.7e-2), a little faster for self-attention
on GPUs without wgmma (not on Hopper, whose bf16 kernel is faster); it
applies to the self-attention only: the cross-attention (at most 2048 keys)
runs bf16 either way, where 8 bits would be slower;
it needs the CUDA backend and is refused on the CPU, which computes attention
in f32. The start line says which attention runs.`

// i2vFlags are the parsed flags of wan22 i2v.
type i2vFlags struct {
	image, prompt, negative        string
	high, low, textEncoder, vae    string
	frames, maxArea, steps, fps    int
	size, cfg, solver, device      string
	attention                      string                   // --attention as given
	att                            wan22.AttentionPrecision // --attention, checked
	timestepList                   string
	timesteps                      []int
	loras                          []wan22.LoRA
	loraMerge                      bool
	ignoreOrientation              bool // --ignore-exif-orientation
	shift, boundary                float64
	switchStep                     int
	seed                           uint64
	vram, pinned, host             float64
	out, framesDir, preview        string
	demo                           bool // the demo's flags: named -flag in messages, not --flag
	json                           bool
	set                            map[string]bool
	width, height                  int
	guidanceHigh, guidanceLow      float64
	vramBytes, pinnedBytes, host64 int64
}

func runI2V(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseI2V(args, stdout, stderr)
	if !ok {
		return code
	}
	ctx, stop := commandContext()
	defer stop()
	if err := i2v(ctx, f, stdout, stderr); err != nil {
		return runFailed(ctx, "i2v", displayPathsErr(withBudgetAdvice(err, &f), f.inputPaths()), f.json, stdout, stderr)
	}
	return 0
}

// runFailed reports the error of a run that had started (i2v, demo) and
// returns the exit status: exitInterrupted when ctx was cancelled (Ctrl-C),
// else 1. The message goes to stderr and, with --json (asJSON), also as
// the last JSON object on stdout, in cmd's words: the flags where the
// library's message names the Options fields they set (flagWords).
func runFailed(ctx context.Context, cmd string, err error, asJSON bool, stdout, stderr io.Writer) int {
	// The library's errors start with its package's name, as Go's do
	// ("wan22: opening the GPU: …"), which the line's own "wan22 CMD:" says.
	msg, code := strings.TrimPrefix(err.Error(), "wan22: "), 1
	if ctx.Err() != nil {
		msg, code = "interrupted; nothing was written", exitInterrupted
		if keptOutputs(err) {
			msg = "interrupted; " + err.Error()
		}
	}
	msg = flagWords(cmd, msg) // the command's flags where the library names its Options fields
	fmt.Fprintf(stderr, "wan22 %s: %s\n", cmd, msg)
	if asJSON {
		emitJSONError(stdout, msg, code)
	}
	return code
}

// keptOutputs reports whether err, a run's error, leaves outputs behind on
// purpose: complete outputs written while another failed (*outputsError),
// or a finished one kept under another name (*video.KeptError).
func keptOutputs(err error) bool {
	if oe, ok := errors.AsType[*outputsError](err); ok && len(oe.written) > 0 {
		return true
	}
	_, ok := errors.AsType[*video.KeptError](err)
	return ok
}

// emitJSONError prints the JSON object that ends a --json stream after a
// failure, on one line: {"type":"error","message":"…","exit_code":N}. Like
// every --json object it has a "type"; readers go by the keys, not their
// order (the start, summary, done, note and warning objects are maps,
// whose keys encoding/json sorts).
func emitJSONError(stdout io.Writer, msg string, code int) {
	b, err := json.Marshal(struct {
		Type     string `json:"type"`
		Message  string `json:"message"`
		ExitCode int    `json:"exit_code"`
	}{"error", msg, code})
	if err == nil {
		fmt.Fprintln(stdout, string(b))
	}
}

// jsonUsageError reports a usage error of cmd (i2v) found once the
// flags parsed: "wan22 CMD: err" on stderr and, with --json (asJSON), the
// error object on stdout, so that every failure ends a --json stream with
// one. It returns 2, the status of a usage error.
func jsonUsageError(stdout, stderr io.Writer, cmd string, asJSON bool, err error) int {
	fmt.Fprintf(stderr, "wan22 %s: %v\n", cmd, err)
	if asJSON {
		emitJSONError(stdout, err.Error(), 2)
	}
	return 2
}

// parseI2V parses and checks wan22 i2v's arguments. When ok is false the
// command exits with code: 0 after -h, 2 after a usage error (reported on
// stderr and, when the arguments ask for --json, as a JSON error object on
// stdout, even when the flags fail to parse).
func parseI2V(args []string, stdout, stderr io.Writer) (f i2vFlags, code int, ok bool) {
	fs := newFlagSet("i2v", "wan22 i2v --image IMG --prompt TEXT --high F --low F --text-encoder F --vae F --out FILE [flags]", i2vHelp, stderr)
	fs.StringVar(&f.image, "image", "", "the first frame: a PNG, JPEG or WebP image (- reads it from standard input), turned upright by its EXIF orientation")
	fs.BoolVar(&f.ignoreOrientation, "ignore-exif-orientation", false, "use the --image pixels as stored, without applying its EXIF orientation (as the official code)")
	fs.StringVar(&f.prompt, "prompt", "", "what the video shows (required; --prompt \"\" runs without one)")
	fs.StringVar(&f.negative, "negative", "", "negative prompt (default: the official one; --negative \"\" runs without one)")
	fs.StringVar(&f.high, "high", "", "high-noise expert (I2V-A14B), GGUF or safetensors")
	fs.StringVar(&f.low, "low", "", "low-noise expert (I2V-A14B), GGUF or safetensors")
	fs.StringVar(&f.textEncoder, "text-encoder", "", "umT5-XXL encoder with its tokenizer: GGUF (tokenizer.ggml.* metadata) or ComfyUI safetensors (spiece_model tensor)")
	fs.StringVar(&f.vae, "vae", "", "WAN 2.1 VAE")
	fs.IntVar(&f.frames, "frames", wan22.DefaultFrames, "frames, 4n+1")
	fs.StringVar(&f.size, "size", "", "output size WxH, multiples of 16 (default: from --max-area and the image)")
	fs.IntVar(&f.maxArea, "max-area", wan22.DefaultMaxArea, "output area in pixels when --size is not given (399360 = 832×480)")
	fs.IntVar(&f.steps, "steps", wan22.DefaultSteps, "sampling steps")
	fs.Float64Var(&f.shift, "shift", wan22.DefaultShift, "sigma shift")
	fs.StringVar(&f.cfg, "cfg", "3.5", "guidance scale: one value for both experts, or HIGH,LOW")
	fs.Float64Var(&f.boundary, "boundary", wan22.DefaultBoundary, "expert switch as a fraction of the 1000 timesteps")
	fs.IntVar(&f.switchStep, "switch-step", 0, "switch experts after this many steps instead of at --boundary: 1 to --steps − 1 (leave it out to switch at --boundary)")
	fs.StringVar(&f.solver, "solver", wan22.DefaultSolver, "unipc, dpm++, euler, or distill (the step-distilled schedule of --timesteps)")
	fs.StringVar(&f.timestepList, "timesteps", "", "the distill solver's steps, e.g. 1000,750,500,250 (the default)")
	addLoRAFlags(fs, &f.loras)
	fs.BoolVar(&f.loraMerge, "lora-merge", false, "merge LoRAs into F16/BF16/F32 weights at load: no run-time cost; quantized weights keep the run-time path")
	addSeedFlag(fs, &f.seed, maxSeed, "noise seed")
	fs.StringVar(&f.device, "device", "auto", "cpu, cuda, or auto (the GPU when this binary has CUDA and one is present)")
	fs.StringVar(&f.attention, "attention", "bf16", attentionUsage)
	fs.Float64Var(&f.vram, "vram-budget", 0, "GPU memory budget in GiB (0: all free memory; 32 runs as on an RTX 5090)")
	fs.Float64Var(&f.pinned, "pinned-budget", 0, "pinned host memory for block swapping in GiB (0: half of physical memory)")
	fs.Float64Var(&f.host, "host-budget", 0, "host memory budget in GiB for the memory check (0: the memory available now)")
	fs.StringVar(&f.out, "out", "", "video file to write (.mp4, or .avi for MJPEG); must not exist")
	fs.IntVar(&f.fps, "fps", wan22.DefaultFPS, "frames per second of the video")
	fs.StringVar(&f.framesDir, "frames-dir", "", "also (or instead) write the frames as PNG files into this new folder")
	fs.StringVar(&f.preview, "preview", "", "write a PNG of the current latent to this file, whose name ends in .png, after every step (an earlier preview there is replaced; never an input, another output or a file that is not a PNG)")
	fs.BoolVar(&f.json, "json", false, "print progress as JSON objects, one per line, on stdout; a failure ends with an object of type \"error\"")
	if code, ok := parseFlagsJSON(fs, args, stdout); !ok {
		return f, code, false
	}
	if fs.NArg() != 0 {
		return f, jsonUsageError(stdout, stderr, "i2v", f.json, fmt.Errorf("unexpected arguments %q (every input is a flag)", fs.Args())), false
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if err := f.check(); err != nil {
		return f, jsonUsageError(stdout, stderr, "i2v", f.json, displayPathsErr(err, f.inputPaths())), false
	}
	return f, 0, true
}

// check validates the flags on their own, before any file is read.
func (f *i2vFlags) check() error {
	for _, req := range []struct{ name, v string }{
		{"--image", f.image}, {"--high", f.high}, {"--low", f.low}, {"--text-encoder", f.textEncoder}, {"--vae", f.vae},
	} {
		if req.v == "" {
			return fmt.Errorf("%s is required", req.name)
		}
	}
	inputs := []namedPath{{"--image", f.image, ""}, {"--high", f.high, ""}, {"--low", f.low, ""}, {"--text-encoder", f.textEncoder, ""}, {"--vae", f.vae, ""}}
	for _, l := range f.loras {
		inputs = append(inputs, namedPath{loraFlag(l.Expert), l.Path, ""})
	}
	for _, in := range inputs {
		if a := tildeAdvice(in.flag, in.path, runtime.GOOS); a != "" {
			return fmt.Errorf("%s: no such file: %s", in, a)
		}
		if a := missingInputAdvice(in.path, runtime.GOOS, os.Getenv); a != "" {
			return fmt.Errorf("%s: no such file: %s", in, a)
		}
		if lower := strings.ToLower(in.path); (strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://")) && !fileExists(in.path) {
			return fmt.Errorf("%s: a web address; wan22 reads local files only: download it first and give the file's path", in)
		}
	}
	if f.image == "-" {
		if err := checkImageStdin(); err != nil {
			return err
		}
	}
	if !f.set["prompt"] {
		return errors.New(`--prompt is required: say what the video shows (--prompt "" runs without a prompt)`)
	}
	for _, t := range []struct{ name, v string }{{"--prompt", f.prompt}, {"--negative", f.negative}} {
		if err := checkText(t.name, t.v); err != nil {
			return err
		}
	}
	if f.out == "" && f.framesDir == "" {
		return errors.New("--out (a video file) or --frames-dir (a folder for PNG frames) is required")
	}
	if f.set["size"] && f.set["max-area"] {
		return errors.New("give --size or --max-area, not both")
	}
	if f.set["boundary"] && f.set["switch-step"] {
		return errors.New("give --boundary or --switch-step, not both")
	}
	if f.size != "" {
		var ok bool
		if f.width, f.height, ok = parseWxH(f.size); !ok {
			return fmt.Errorf("--size %q: want WIDTHxHEIGHT, e.g. 1280x720", f.size)
		}
		if err := checkSize("--size", f.width, f.height); err != nil {
			return err
		}
	}
	if err := checkFrames("--frames", f.frames); err != nil {
		return err
	}
	var err error
	if f.solver, err = parseSolver(f.solver); err != nil {
		return err
	}
	if err := f.checkSolver(); err != nil {
		return err
	}
	if err := checkLoRAFiles(f.loras); err != nil {
		return err
	}
	if f.loraMerge {
		if len(f.loras) == 0 {
			return fmt.Errorf("--lora-merge merges the LoRAs given with --lora, --lora-high or --lora-low, and there are none")
		}
		for i := range f.loras {
			f.loras[i].Merge = true
		}
	}
	parts := strings.Split(f.cfg, ",")
	if len(parts) > 2 {
		return fmt.Errorf("--cfg %q: one value, or HIGH,LOW", f.cfg)
	}
	var gs []float64
	for _, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return fmt.Errorf("--cfg %q: %q is not a number", f.cfg, p)
		}
		if err := checkFloat("--cfg", v, 0.01, 100); err != nil {
			return err
		}
		gs = append(gs, v)
	}
	if f.set["cfg"] {
		f.guidanceHigh, f.guidanceLow = gs[0], gs[len(gs)-1]
	}
	checks := []error{
		checkInt("--max-area", f.maxArea, 256, pipeline.MaxSide*pipeline.MaxSide, ""),
		checkInt("--steps", f.steps, 1, scheduler.MaxSteps, "the official setting is 40"),
		checkPositive("--shift", f.shift, 100),
		checkFloat("--boundary", f.boundary, 0.001, 1),
		checkSwitchStep(f.switchStep, f.steps, f.set["switch-step"]),
		checkInt("--fps", f.fps, 1, 1000, ""),
		checkGiB(f.flag("vram-budget"), f.vram, 0),
		checkGiB("--pinned-budget", f.pinned, 0),
		checkGiB("--host-budget", f.host, 0),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	dash := f.flag("")
	if err := checkDeviceIn(dash, f.device); err != nil {
		return err
	}
	if err := checkVRAMBudget(dash, f.vram, f.device); err != nil {
		return err
	}
	if err := checkPinnedBudget(dash, f.pinned, f.device); err != nil {
		return err
	}
	if f.att, err = checkAttentionIn(dash, f.attention, f.device); err != nil {
		return err
	}
	f.vramBytes, f.pinnedBytes, f.host64 = int64(f.vram*(1<<30)), int64(f.pinned*(1<<30)), int64(f.host*(1<<30))
	// Every output is checked here, before any model loads: a preview in a
	// missing folder would otherwise fail only after the first step.
	outFlag := f.outName()
	outputs := []struct {
		flag, path string
		kind       outputKind
		is, name   string // what the output is, and a name to give it, for - (checkOutputDash)
	}{
		{outFlag, f.out, newFile, "the video is written to a file", "a file name, such as " + outFlag + " video.mp4"},
		{"--frames-dir", f.framesDir, newFolder, "the frames are PNG files written into a new folder", "a folder name, such as --frames-dir frames"},
		{"--preview", f.preview, replacedFile, "the preview is a PNG file replaced after every step", "a file name, such as --preview preview.png"},
	}
	for _, p := range outputs {
		if err := checkOutputDash(p.flag, p.path, p.is, p.name); err != nil {
			return err
		}
		// First: every later message prints the names raw.
		if err := checkNameChars(p.flag, p.path); err != nil {
			return err
		}
	}
	if err := checkVideoExt(outFlag, f.out); err != nil {
		return err
	}
	for _, p := range outputs {
		if p.path == "" {
			continue
		}
		if err := checkOutputPath(p.flag, p.path, p.kind); err != nil {
			return err
		}
	}
	if err := checkVideoTarget(outFlag, f.out); err != nil {
		return err
	}
	videos := []namedPath{{outFlag, f.out, ""}}
	if format, _ := video.FormatOf(f.out); format == video.MP4 {
		// Without ffmpeg (even one removed while the models load) the
		// video goes to the .avi instead.
		fb := video.FallbackPath(f.out)
		videos = append(videos, namedPath{outFlag, fb, fmt.Sprintf("%s, the MJPEG AVI that %s %s is written as when ffmpeg is missing", fb, outFlag, f.out)})
	}
	for _, v := range videos {
		// Both are new, so nothing on disk refuses the pair: one of them
		// would fail only after the whole run.
		if sameFile(f.framesDir, v.path) {
			return fmt.Errorf("--frames-dir %s is the same path as %s: the video is a file and the frames a folder; give each a name of its own", f.framesDir, v)
		}
	}
	if f.preview != "" {
		others := append([]namedPath{{"--image", f.image, ""}, {"--high", f.high, ""}, {"--low", f.low, ""},
			{"--text-encoder", f.textEncoder, ""}, {"--vae", f.vae, ""}, {"--frames-dir", f.framesDir, ""}}, videos...)
		for _, l := range f.loras {
			others = append(others, namedPath{loraFlag(l.Expert), l.Path, ""})
		}
		if err := checkPreviewPath(f.preview, others); err != nil {
			return err
		}
	}
	return nil
}

// inputPaths are the files the flags name to be read (--image, the
// models, the LoRAs), for displayPaths: the messages of the library print
// them raw.
func (f *i2vFlags) inputPaths() []string {
	paths := []string{f.image, f.high, f.low, f.textEncoder, f.vae}
	for _, l := range f.loras {
		paths = append(paths, l.Path)
	}
	return paths
}

// cmd is the command the flags are of: i2v, or demo.
func (f *i2vFlags) cmd() string {
	if f.demo {
		return "demo"
	}
	return "i2v"
}

// flag is the flag name (without dashes) as the command spells it in
// messages: --name for i2v, -name for the demo.
func (f *i2vFlags) flag(name string) string {
	if f.demo {
		return "-" + name
	}
	return "--" + name
}

// outName is the name of --out in messages: --out, or demo's -out.
func (f *i2vFlags) outName() string { return f.flag("out") }

// missingInputAdvice says why the input file path (a model, an image, a
// LoRA) cannot be opened when it is not there and was most likely meant
// otherwise: it is wrapped in quotes that reached wan22 as part of it
// (wrappedQuotesAdvice: "C:\m\high.gguf" quoted twice, 'x.gguf' in cmd.exe,
// typographic quotes), which Windows refuses as a name where it would say
// only that the syntax is incorrect, or its folder holds a variable no
// shell expanded (envVarAdvice: %USERPROFILE% in PowerShell, $HOME in single
// quotes). "" for a path that is there (a file really named so is read) or
// holds neither. goos is runtime.GOOS; getenv is os.Getenv.
func missingInputAdvice(path, goos string, getenv func(string) string) string {
	if path == "" || path == "-" {
		return ""
	}
	if _, err := os.Stat(path); err == nil {
		return ""
	}
	if a := wrappedQuotesAdvice(path); a != "" {
		return a
	}
	return envVarAdvice(path, goos, getenv)
}

// checkVideoExt checks the extension of the video file path (flagName, "" when
// not given) as video.Create will: .mp4 or .avi in any case, before anything
// loads. A path that names a folder (one that exists, or a name ending in a
// separator) is said to be one, with a file name in it to give instead:
// "no extension: end it in .mp4" would put the video beside the folder.
// A path wrapped in quotes that are part of it ("v.mp4" quoted twice) is
// left to checkOutputPath, which says so (wrappedQuotesAdvice): its
// extension is no video's only because of the closing quote. So is a name
// that is wholly a variable no shell expanded (--out %VIDEO% in
// PowerShell, '$OUT'), which checkOutputPath says holds the variable's name
// (wholeVarNameAdvice), where "no extension" would have the user add one
// to the variable's name.
func checkVideoExt(flagName, path string) error {
	if path == "" || wrappedQuotesAdvice(path) != "" || wholeVarNameAdvice(path, runtime.GOOS, os.Getenv) != "" {
		return nil
	}
	example := filepath.Join(path, "video.mp4")
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s is a folder: give a file name in it, such as %s", flagName, path, example)
	}
	if last := path[len(path)-1]; os.IsPathSeparator(last) {
		return fmt.Errorf("%s %s ends in %c, which names a folder: give a file name, such as %s", flagName, path, last, example)
	}
	_, err := video.FormatOf(path)
	var ee *video.ExtensionError
	if !errors.As(err, &ee) {
		return err // nil: a video extension
	}
	if ee.Ext == "" {
		return fmt.Errorf("%s %s: the file name has no extension: end it in .mp4 (H.264 through ffmpeg) or .avi (MJPEG)", flagName, path)
	}
	if name := strings.TrimRight(path, ". "); name != path {
		// "v.mp4 " (a stray space from a script) or "v.mp4.": Windows
		// would drop the end and write another name.
		if _, err := video.FormatOf(name); err == nil {
			tail := fmt.Sprintf("%q", path[len(name):])
			switch tail {
			case `" "`:
				tail = "a space"
			case `"."`:
				tail = "a dot"
			}
			// In checkTrailingSpace's words: the name quoted, so that the
			// space shows, and given as it should be.
			return fmt.Errorf("%s %q: the name ends in %s after its extension %s: name the file %s", flagName, path, tail, filepath.Ext(name), name)
		}
	}
	frames := ""
	if flagName == "--out" { // i2v's; the demo has no --frames-dir
		frames = "; --frames-dir writes PNG frames"
	}
	return fmt.Errorf("%s %s: unknown video extension %q: use .mp4 (H.264 through ffmpeg) or .avi (MJPEG)%s", flagName, path, ee.Ext, frames)
}

// checkSolver reads --timesteps for --solver distill, whose step count is the
// list's length.
func (f *i2vFlags) checkSolver() error {
	var err error
	if f.timesteps, err = distillTimesteps(f.solver, f.timestepList, f.set["timesteps"]); err != nil || f.timesteps == nil {
		return err
	}
	if !f.set["steps"] {
		f.steps = len(f.timesteps)
	} else if f.steps != len(f.timesteps) {
		return fmt.Errorf("--steps %d: the distill solver runs one step per timestep, and --timesteps %s has %d: leave --steps out",
			f.steps, scheduler.FormatTimesteps(f.timesteps), len(f.timesteps))
	}
	return nil
}

// i2v runs the generation.
func i2v(ctx context.Context, f i2vFlags, stdout, stderr io.Writer) error {
	models := wan22.Models{High: f.high, Low: f.low, TextEncoder: f.textEncoder, VAE: f.vae}
	rep := newReporter(stdout, stderr, f.json)
	rep.prefix = "wan22 " + f.cmd() + ":"
	rep.inputs = f.inputPaths()
	if w := zeroStrengthWarning(f.loras); w != "" {
		rep.warn(w)
	}
	if w := untrainedLoRAWarning(f.loras); w != "" {
		rep.warn(w)
	}
	p, err := wan22.Open(ctx, models, wan22.Options{Device: f.device, VRAMBudget: f.vramBytes, PinnedBudget: f.pinnedBytes, HostBudget: f.host64, Attention: f.att, Log: reporterLog(rep)})
	if err != nil {
		return err
	}
	defer p.Close()
	img, err := loadImage(f.image, imageprep.LoadOptions{IgnoreOrientation: f.ignoreOrientation})
	if err != nil {
		return err
	}
	req := wan22.Request{
		Image: img.Image, Prompt: f.prompt, Negative: f.negative, NoNegative: f.set["negative"] && f.negative == "", Frames: f.frames,
		Width: f.width, Height: f.height, MaxArea: f.maxArea, Steps: f.steps, Shift: f.shift, Solver: f.solver,
		GuidanceHigh: f.guidanceHigh, GuidanceLow: f.guidanceLow, Boundary: f.boundary, SwitchStep: f.switchStep,
		Timesteps: f.timesteps, LoRAs: f.loras, Seed: f.seed, FPS: f.fps,
	}
	if f.set["switch-step"] {
		req.Boundary = 0
	}
	s, err := p.Resolve(req)
	if err != nil {
		return err
	}
	rep.start(p, s, f)
	if note := img.OrientationNote(); note != "" {
		how := " (--ignore-exif-orientation keeps them as stored)"
		if !img.Applied {
			how = " (--ignore-exif-orientation)"
		}
		rep.note(fmt.Sprintf("--image %s: %s%s", displayName(f.image), note, how))
	}
	return generateTo(ctx, p, req, s, f.outName(), f.out, f.framesDir, f.preview, rep)
}

// imageStdin is the standard input that --image - reads (a variable for
// the tests).
var imageStdin io.Reader = os.Stdin

// maxStdinImage is the most --image - reads from standard input: more than
// any image wan22 takes is likely to be, as a file, and a bound on what an
// endless stream (a device, a program gone wrong) fills the temporary
// folder with. A variable for the tests.
var maxStdinImage int64 = 1e9

// stdinImageName names the image of --image - in messages, where a file's
// path would be.
const stdinImageName = "(standard input)"

// checkImageStdin refuses --image - before anything loads when standard
// input is a terminal (or another character device): nothing was piped in,
// and the run would wait, after loading, for an image to be typed.
func checkImageStdin() error {
	if isCharDevice(imageStdin) {
		return errors.New("--image -: standard input is a terminal (or another device), not a pipe or a file: pipe the image in (wan22 i2v --image - … < photo.png) or give the image file's path")
	}
	return nil
}

// loadImage reads the image of --image (path) as imageprep.LoadWith does,
// from standard input when path is "-": read whole (at most maxStdinImage
// bytes) into a registered temporary folder, which a Ctrl-C removes too,
// it is loaded from there with every check a file gets, and its errors
// name it "(standard input)", never the temporary file, which the user
// did not name.
func loadImage(path string, o imageprep.LoadOptions) (imageprep.Loaded, error) {
	if path != "-" {
		return imageprep.LoadWith(path, o)
	}
	const failed = "--image -: reading the image from standard input failed: %w"
	dir, err := atomicfile.MkdirTemp("", "wan22-stdin-*")
	if err != nil {
		return imageprep.Loaded{}, fmt.Errorf(failed, tempSaveError(err))
	}
	defer atomicfile.Remove(dir)
	tmp := filepath.Join(dir, "image")
	switch n, err := copyStdin(tmp, maxStdinImage+1); {
	case err != nil:
		return imageprep.Loaded{}, fmt.Errorf(failed, err)
	case n > maxStdinImage:
		return imageprep.Loaded{}, fmt.Errorf("--image -: standard input gave more than %s, more than wan22 reads from it: save the image to a file and give its path", formatGB(maxStdinImage))
	}
	img, err := imageprep.LoadWith(tmp, o)
	if le, ok := errors.AsType[*imageprep.LoadError](err); ok {
		le.Path = stdinImageName
		if pe, ok := le.Err.(*os.PathError); ok {
			le.Err = pe.Err // not "read /tmp/wan22-stdin-…/image: …"
		}
	}
	return img, err
}

// copyStdin writes what standard input gives, to its end or to its first
// limit bytes, to the new file path, and returns how many bytes it wrote.
// Its errors, for loadImage's message, never name path: a read's is the
// system's reason ("input/output error"), a write's says that the image
// could not be saved in the temporary folder (tempSaveError).
func copyStdin(path string, limit int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, tempSaveError(err)
	}
	src := &readErrors{r: io.LimitReader(imageStdin, limit)}
	n, err := io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case src.err != nil:
		return n, fserr.WithoutPath(src.err) // "read /dev/stdin: …"
	case err != nil:
		return n, tempSaveError(err)
	}
	return n, nil
}

// tempSaveError says that the image from standard input could not be
// saved in the system's temporary folder, and the system's reason, without
// the temporary file's name.
func tempSaveError(err error) error {
	return fmt.Errorf("it could not be saved in the temporary folder %s: %w", displayName(os.TempDir()), fserr.WithoutPath(err))
}

// readErrors is r, keeping the error of its reads other than io.EOF: tells
// a failed read from a failed write in io.Copy.
type readErrors struct {
	r   io.Reader
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// generateTo runs req on p into the video file out (given by the flag
// outFlag, for messages) and/or the PNG folder framesDir, writing a latent
// preview to preview when set (see previewWriter). Every output, the
// preview included, is removed when the run fails or is cancelled — except
// the outputs that finish when another fails to (multiWriter.Close).
func generateTo(ctx context.Context, p *wan22.Pipeline, req wan22.Request, s wan22.Settings, outFlag, out, framesDir, preview string, rep *reporter) (err error) {
	var writers multiWriter
	var pw *previewWriter // nil without a preview
	defer func() {
		previewed := pw != nil && pw.written // registered with atomicfile: a second Ctrl-C removes it too
		if err != nil {
			writers.Abort()
			if previewed {
				atomicfile.Remove(preview)
			}
		} else if previewed {
			atomicfile.Forget(preview)
		}
	}()
	// Before any model loads: a disk without room fails only at the end.
	warning, err := checkOutputSpace(s, outFlag, out, framesDir)
	if err != nil {
		return err
	}
	if warning != "" {
		rep.warn(warning)
	}
	for _, o := range []struct {
		path   string
		format video.Format
	}{{out, video.Auto}, {framesDir, video.PNGDir}} {
		if o.path == "" {
			continue
		}
		if o.format == video.Auto {
			// Checked before loading too; a file made there meanwhile
			// is refused in the CLI's words, not the library's.
			if err := checkVideoTarget(outFlag, o.path); err != nil {
				return err
			}
		}
		w, err := video.Create(ctx, o.path, video.Options{Width: s.Width, Height: s.Height, FPS: s.FPS, Format: o.format})
		if err != nil {
			return err
		}
		writers = append(writers, w)
		if fb := w.Fallback(); fb != "" {
			rep.note(fb)
		}
	}
	output := wan22.Output{Video: writers, Progress: rep.event}
	if preview != "" {
		pw = &previewWriter{path: preview, rep: rep, T: (s.Frames-1)/4 + 1, h: s.Height / 8, w: s.Width / 8}
		output.Latent = pw.write
	}
	start := time.Now()
	if err := p.Generate(ctx, req, output); err != nil {
		return explainWriteError(err)
	}
	if err := writers.Close(); err != nil {
		if oe, ok := errors.AsType[*outputsError](err); ok && len(oe.written) > 0 {
			rep.done(oe.written, time.Since(start)) // the outputs that are complete, as after a success
		}
		return explainWriteError(err)
	}
	rep.done(writers, time.Since(start))
	return nil
}

// outputFree is freeBytes, the space left on the disk of a folder (a
// variable for the tests, which cannot fill a disk).
var outputFree = freeBytes

// spaceNeed is the disk space one output of a run takes: at least least
// (the smallest such an output can be: a run with less free fails for
// sure, and only at its end) and typically typical (a real video's).
type spaceNeed struct {
	what           string // "the MP4 video (--out v.mp4)"
	folder         string // where it is written
	least, typical int64
}

// outputNeeds is the space each output of a run of s takes: the video
// file out (flagName; as the MJPEG AVI when it is an .mp4 and ffmpeg is
// missing) and the PNG frames in framesDir. least is sound for any
// picture: deflate compresses at most 1032:1 and a JPEG spends some bits
// on every 8×8 block, plus each file's headers; an H.264 MP4 of a still
// picture is almost nothing. typical is about what WAN's videos take: PNG
// frames 2 bytes a pixel, an MJPEG AVI at quality 90 0.15 (10 MiB for 81
// frames of 1280×720), an MP4 at CRF 18 0.1. The MP4 needs no room for a
// second copy: ffmpeg's +faststart moves the moov atom to the front by
// shifting the data within the same file (libavformat's movenc reopens it
// for reading and rewrites it in place, buffering twice the moov's size in
// memory), so the file never grows past its final size; and each output is
// written under a temporary name in its own folder and renamed, not copied.
func outputNeeds(s wan22.Settings, flagName, out, framesDir string) []spaceNeed {
	px, n := int64(s.Width)*int64(s.Height), int64(s.Frames)
	var needs []spaceNeed
	if out != "" {
		target, fellBack := videoTarget(out)
		format, _ := video.FormatOf(target)
		what := fmt.Sprintf("the %s video (%s %s)", format, flagName, out)
		if fellBack {
			what = fmt.Sprintf("the %s video %s (%s %s without ffmpeg)", format, target, flagName, out)
		}
		need := spaceNeed{what: what, folder: filepath.Dir(target), least: 1024 + 16*n, typical: 16<<10 + px*n/10}
		if format == video.AVI {
			need.least, need.typical = 1024+n*(px/256+600), 16<<10+px*n*3/20
		}
		needs = append(needs, need)
	}
	if framesDir != "" {
		needs = append(needs, spaceNeed{what: fmt.Sprintf("the %d PNG frames (--frames-dir %s)", n, framesDir),
			folder: filepath.Dir(filepath.Clean(framesDir)), least: n * (px/344 + 70), typical: n * (2*px + 4096)})
	}
	return needs
}

// checkOutputSpace checks, before any model loads, that the disks the
// outputs of a run of s go to (outputNeeds) have room for them: less free
// space than they take at least is an error, which says how much they
// need; less than they typically take is a warning that the run may fail
// at its end. Outputs in one folder add up. A disk whose free space
// cannot be read is not checked.
func checkOutputSpace(s wan22.Settings, flagName, out, framesDir string) (warning string, err error) {
	needs := outputNeeds(s, flagName, out, framesDir)
	var warnings []string
	for i, n := range needs {
		if n.folder == "" {
			continue // counted with an earlier output in the same folder
		}
		whats := []string{n.what}
		for j := i + 1; j < len(needs); j++ {
			if needs[j].folder != "" && sameFile(needs[j].folder, n.folder) {
				whats = append(whats, needs[j].what)
				n.least += needs[j].least
				n.typical += needs[j].typical
				needs[j].folder = ""
			}
		}
		free, ok, err := outputFree(n.folder)
		if err != nil || !ok || free >= n.typical {
			continue
		}
		what := strings.Join(whats, " and ")
		if abs, err := filepath.Abs(n.folder); err == nil {
			n.folder = abs // not "the disk holding ."
		}
		if free < n.least {
			return "", fmt.Errorf("not enough disk space: the disk holding %s has %s free, and writing %s needs at least %s (typically about %s): free some space there or write to another disk",
				n.folder, formatGB(max(free, 0)), what, formatGB(n.least), formatGB(n.typical))
		}
		warnings = append(warnings, fmt.Sprintf("the disk holding %s has %s free, and writing %s typically needs about %s: the run may fail at its end for want of space; free some space there first",
			n.folder, formatGB(free), what, formatGB(n.typical)))
	}
	return strings.Join(warnings, "; "), nil
}

// explainWriteError is the error of a run whose outputs failed, for the
// user: a video writer's failure that the library wraps (a
// *wan22.OutputError: "wan22: Output.Video failed at frame 4: …") reads as
// the writer's own error, which names the output, and a full disk or an
// exceeded quota (diskFull) is said first, with what to do. A panic keeps
// the library's words, and any other error is err itself. errors.Is and
// errors.As see err whole.
func explainWriteError(err error) error {
	msg := err.Error()
	if oe, ok := errors.AsType[*wan22.OutputError](err); ok && oe.Output == "Video" {
		if _, panicked := errors.AsType[*wan22.PanicError](oe.Err); !panicked {
			msg = oe.Err.Error()
		}
	}
	if what, note := diskFull(err); what != "" {
		format := "%s while the outputs were written%s: free some space there or write them to another disk, and run again (%s)"
		if strings.Contains(msg, "\n") { // an *outputsError's lines: one per failure, then the outputs kept
			format = "%s while the outputs were written%s: free some space there or write them to another disk, and run again:\n%s"
		}
		msg = fmt.Sprintf(format, what, note, msg)
	}
	if msg == err.Error() {
		return err
	}
	return &writeError{msg: msg, err: err}
}

// writeError is explainWriteError's error: its message, and the error it
// explains.
type writeError struct {
	msg string
	err error
}

func (e *writeError) Error() string { return e.msg }
func (e *writeError) Unwrap() error { return e.err }

// diskFull says what err, a write's, reports when the file system had no
// room for it, and a note to follow "while …": "the disk became full" and
// " (another program may have filled it)", or "the disk quota was
// exceeded"; "" for any other error. Windows says a full disk with its own
// codes (ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL), which Go's
// syscall.ENOSPC is not.
func diskFull(err error) (what, note string) {
	switch {
	case errors.Is(err, syscall.ENOSPC),
		runtime.GOOS == "windows" && (errors.Is(err, syscall.Errno(112)) || errors.Is(err, syscall.Errno(39))):
		return "the disk became full", " (another program may have filled it)"
	case errors.Is(err, syscall.EDQUOT):
		return "the disk quota was exceeded", ""
	}
	return "", ""
}

// output is one of a run's outputs as multiWriter drives it: a
// *video.File, or a fake in the tests (Close failing in ways that cannot be
// made on Linux).
type output interface {
	video.Writer
	Path() string         // where Close puts the output
	Format() video.Format // the format written
	Frames() int          // the frames written so far
}

// writePNG writes the preview (a variable for the tests: the failures of
// Windows, another program holding the file, cannot be made on Linux).
var writePNG = imageprep.WritePNGAtomic

// previewWriter is the Latent callback of --preview. A preview is a
// convenience: when one cannot be written the generation goes on, with one
// warning for the run, and the next step tries again. The file at path
// becomes this run's output once a write has replaced it (written): then
// it is registered with atomicfile, so that a failed run (and a second
// Ctrl-C) removes it. Before, it may be an earlier preview the user keeps,
// which a failed write (or a quit while one is written) leaves alone.
type previewWriter struct {
	path    string
	rep     *reporter
	T, h, w int  // the latent's frames, height and width
	written bool // a preview of this run is at path
	warned  bool // the warning was printed
}

// write writes the preview of the latent [16, T, h, w] after step of steps.
// It returns no error: a failed preview must not end the run.
func (p *previewWriter) write(step, steps int, latent []float32) error {
	img, err := imageprep.LatentPreview(latent, p.T, p.h, p.w, p.T/2)
	if err == nil {
		err = writePNG(p.path, img)
	}
	if err != nil {
		// WritePNGAtomic drops a preview another program keeps from being
		// renamed (Windows) after one short retry, so that a held preview
		// costs the run no time. A writer that keeps such a finished
		// preview (a *KeptError) leaves a stray file beside the user's,
		// which the next preview replaces anyway: remove it. Registered,
		// so that main tries again at exit if it cannot be removed now
		// (removeLeftovers).
		if ke, ok := errors.AsType[*atomicfile.KeptError](err); ok && ke.Kept != p.path {
			atomicfile.Register(ke.Kept)
			atomicfile.Remove(ke.Kept)
		}
		if !p.warned {
			p.warned = true
			p.rep.warn(fmt.Sprintf("--preview %s: the preview after step %d of %d could not be written (%v); generating on, trying again after each step", p.path, step, steps, err))
		}
		return nil
	}
	if !p.written {
		atomicfile.Register(p.path)
		p.written = true
	}
	return nil
}

// multiWriter writes every frame to several outputs.
type multiWriter []output

func (m multiWriter) WriteFrame(img image.Image) error {
	for _, w := range m {
		if err := w.WriteFrame(img); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every output, the rest too after one fails: each that
// closes is complete at its path and is kept — a finished video is not a
// partial file, and may be hours of work — and one that fails removed what
// it had written, or kept it under another name (a *video.KeptError, when
// another program held the file). The error is then the one failure, or,
// with several failures or a complete output kept, an *outputsError that
// names each.
func (m multiWriter) Close() error {
	var errs []error
	var written []output
	for _, w := range m {
		if err := w.Close(); err != nil {
			errs = append(errs, err)
		} else {
			written = append(written, w)
		}
	}
	switch {
	case len(errs) == 0:
		return nil
	case len(errs) == 1 && len(written) == 0:
		return errs[0]
	}
	return &outputsError{errs: errs, written: written}
}

func (m multiWriter) Abort() error {
	var errs []error
	for _, w := range m {
		errs = append(errs, w.Abort())
	}
	return errors.Join(errs...)
}

// outputsError is multiWriter.Close's error when some outputs failed while
// others were written: one line per failure (a *video.KeptError's says
// where its finished output is kept), then the outputs written, which are
// complete and kept. errors.Is and errors.As see each failure.
type outputsError struct {
	errs    []error  // one per output that failed, in the outputs' order
	written []output // the outputs complete at their paths
}

func (e *outputsError) Error() string {
	var b strings.Builder
	b.WriteString(errors.Join(e.errs...).Error())
	if len(e.written) > 0 {
		names := make([]string, len(e.written))
		for i, w := range e.written {
			names[i] = fmt.Sprintf("%s (%s, %s)", w.Path(), w.Format(), plural.Count(w.Frames(), "frame"))
		}
		fmt.Fprintf(&b, "\nwritten, complete and kept: %s", strings.Join(names, ", "))
	}
	return b.String()
}

func (e *outputsError) Unwrap() []error { return e.errs }

// reporter prints progress: a bar on a terminal, log lines otherwise, or
// JSON objects.
type reporter struct {
	// mu makes each of start, note, warn, event and done one whole print: a
	// library warning (reporterLog) may come from another goroutine than the
	// progress events one day, and both touch the bar.
	mu             sync.Mutex
	stdout, stderr io.Writer
	prefix         string   // "wan22 i2v:" or "wan22 demo:", before every line on stderr
	inputs         []string // the input paths, which note and warn print through displayPaths
	json           bool
	tty            bool
	last           wan22.Stage
	// decodeWrite is the last "stage i/n" of the VAE decode and of the
	// video write, which alternate frame group by frame group: on a
	// terminal they share one bar line that shows both, instead of ending
	// a line at every switch.
	decodeWrite [2]string
	bar         bool    // a bar line is open (ends without a newline)
	line        barLine // draws the bar on a terminal
	sum         stageSummary

	// logged is the last "i/n" printed for each stage without a terminal:
	// a stage's end (Done) repeats its last step without the rate, and
	// is not printed again when that line is already in the log.
	logged map[wan22.Stage][2]int
}

// newReporter is a reporter for i2v; the demo sets its prefix.
func newReporter(stdout, stderr io.Writer, asJSON bool) *reporter {
	r := &reporter{stdout: stdout, stderr: stderr, prefix: "wan22 i2v:", json: asJSON, last: -1}
	if isCharDevice(stderr) {
		r.tty = true
		r.line.vt = vtTerminal(stderr)
		r.line.width = func() int { return terminalWidth(stderr) }
	}
	return r
}

func (r *reporter) emitJSON(v any) {
	b, err := json.Marshal(v)
	if err == nil {
		fmt.Fprintln(r.stdout, string(b))
	}
}

// start prints what will run where.
func (r *reporter) start(p *wan22.Pipeline, s wan22.Settings, f i2vFlags) {
	r.mu.Lock()
	defer r.mu.Unlock()
	budget := "all free device memory"
	if f.vramBytes > 0 {
		budget = fmt.Sprintf("%.1f GiB", f.vram)
	}
	if p.Device() == wan22.DeviceCPU {
		budget = "host memory"
	}
	switchAt := fmt.Sprintf("boundary %g", s.Guidance.Boundary)
	if s.SwitchStep > 0 {
		switchAt = fmt.Sprintf("switch after step %d", s.SwitchStep)
	}
	estSec, estBasis, estOK := i2vEstimate(p.Backend(), p.Device(), s, f)
	if r.json {
		ev := map[string]any{"type": "start", "device": p.Backend(), "width": s.Width, "height": s.Height,
			"frames": s.Frames, "fps": s.FPS, "steps": s.Steps, "solver": s.Solver, "shift": s.Shift,
			"cfg_high": s.Guidance.High, "cfg_low": s.Guidance.Low, "boundary": s.Guidance.Boundary, "switch_step": s.SwitchStep,
			"seed": s.Seed, "host_estimate": s.Host, "device_estimate": s.Device, "vram_budget": f.vramBytes, "pinned_budget": f.pinnedBytes,
			"timesteps": s.Timesteps, "loras": s.LoRAs, "attention": s.Attention}
		if estOK {
			ev["estimate_s"], ev["estimate_basis"] = estSec, estBasis
		}
		r.emitJSON(ev)
		return
	}
	estimate := ""
	if estOK {
		estimate = "; " + estimateText(estSec, estBasis)
	}
	fmt.Fprintf(r.stderr, "%s %dx%d, %s at %d fps, %s (shift %g, cfg %g/%g, %s), seed %d on %s with %s attention (budget: %s; estimated peak: host %.2f GiB, device outside the DiT %.2f GiB); the DiT plan is printed when each expert loads%s\n",
		r.prefix, s.Width, s.Height, plural.Count(s.Frames, "frame"), s.FPS, plural.Count(s.Steps, s.Solver+" step"), s.Shift, s.Guidance.High, s.Guidance.Low, switchAt, s.Seed,
		p.Backend(), s.Attention, budget, float64(s.Host)/(1<<30), float64(s.Device)/(1<<30), estimate)
	if len(s.Timesteps) > 0 {
		fmt.Fprintf(r.stderr, "%s distilled timesteps %s\n", r.prefix, scheduler.FormatTimesteps(s.Timesteps))
	}
	for _, l := range s.LoRAs {
		how := ""
		if l.Merge {
			how = ", merged into its F16/BF16/F32 weights"
		}
		fmt.Fprintf(r.stderr, "%s LoRA %s at strength %g on %s%s\n", r.prefix, displayName(l.Path), l.Strength, loraTarget(l.Expert), how)
	}
}

// note prints a remark (e.g. the video format fallback).
func (r *reporter) note(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg = displayPaths(msg, r.inputs)
	if r.json {
		r.emitJSON(map[string]any{"type": "note", "message": msg})
		return
	}
	r.endBar()
	fmt.Fprintln(r.stderr, r.prefix, msg)
}

// warn prints a warning: something went wrong that does not end the run.
func (r *reporter) warn(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg = displayPaths(msg, r.inputs)
	if r.json {
		r.emitJSON(map[string]any{"type": "warning", "message": msg})
		return
	}
	r.endBar()
	fmt.Fprintln(r.stderr, r.prefix, "warning:", msg)
}

func (r *reporter) endBar() {
	if r.bar {
		fmt.Fprintln(r.stderr)
		r.bar = false
		r.line.reset()
	}
}

// event prints one progress event.
func (r *reporter) event(ev wan22.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.add(ev)
	if r.json {
		r.emitJSON(struct {
			Type string `json:"type"`
			wan22.Event
		}{"progress", ev})
		return
	}
	line := ev.Stage.String()
	if ev.Steps > 0 {
		line += fmt.Sprintf(" %d/%d", ev.Step, ev.Steps)
	}
	stage := ev.Stage
	if r.tty && (stage == wan22.VAEDecode || stage == wan22.VideoWrite) {
		i := 0
		if stage == wan22.VideoWrite {
			i = 1
		}
		r.decodeWrite[i] = line
		line = strings.TrimSpace(r.decodeWrite[0] + "  " + r.decodeWrite[1])
		stage = wan22.VAEDecode // one bar for both
	}
	if ev.PerStep > 0 {
		line += fmt.Sprintf("  %.2f s/it  ETA %s", ev.PerStep.Seconds(), ev.ETA.Round(time.Second))
	}
	if ev.Memory.PeakVRAM > 0 {
		line += fmt.Sprintf("  VRAM peak %.2f GiB", float64(ev.Memory.PeakVRAM)/(1<<30))
	}
	if ev.Memory.PeakRSS > 0 {
		line += fmt.Sprintf("  RSS peak %.2f GiB", float64(ev.Memory.PeakRSS)/(1<<30))
	}
	line += fmt.Sprintf("  elapsed %s", ev.Elapsed.Round(time.Second))
	if ev.Plan != "" {
		r.endBar()
		fmt.Fprintf(r.stderr, "%s %s expert: %s\n", r.prefix, ev.Stage, ev.Plan)
	}
	if !r.tty {
		at := [2]int{ev.Step, ev.Steps}
		if ev.Done && ev.Steps > 0 && r.logged[ev.Stage] == at {
			return
		}
		if ev.Done || ev.PerStep > 0 || ev.Stage == wan22.VAEDecode || ev.Stage == wan22.VideoWrite {
			if r.logged == nil {
				r.logged = map[wan22.Stage][2]int{}
			}
			r.logged[ev.Stage] = at
			fmt.Fprintln(r.stderr, line)
		}
		return
	}
	if stage != r.last {
		r.endBar()
		r.last = stage
	}
	fmt.Fprint(r.stderr, r.line.draw(line))
	r.bar = true
}

// done reports the finished run: the stage summary once, then each
// written output.
func (r *reporter) done(written multiWriter, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.json {
		r.emitJSON(map[string]any{"type": "summary", "stages": r.sum.totals()})
	} else {
		r.endBar()
		r.sum.write(r.stderr)
	}
	for _, w := range written {
		path, format, frames := w.Path(), w.Format().String(), w.Frames()
		if r.json {
			r.emitJSON(map[string]any{"type": "done", "path": path, "format": format, "frames": frames, "elapsed_ns": took})
			continue
		}
		fmt.Fprintf(r.stdout, "wrote %s (%s, %s) in %s\n", path, format, plural.Count(frames, "frame"), took.Round(time.Millisecond))
	}
}
