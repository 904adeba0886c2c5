package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/internal/atomicfile"
	"github.com/wan22/wan22/scheduler"
)

const demoHelp = `Runs image-to-video end to end with nothing but this repository: it writes
tiny models with random weights (two DiT experts, a umT5 encoder with its
tokenizer and a WAN 2.1 VAE) into a temporary folder, which is removed
afterwards (also on Ctrl-C), animates a generated test image and writes the
video to -out (MP4 through ffmpeg, or an MJPEG .avi when ffmpeg is missing).
It runs on the GPU when this binary has CUDA and one is present (-device
auto), else on the CPU. -attention int8 or fp8 (with -device cuda) runs the
opt-in 8-bit attention (slightly less accurate; faster only on GPUs without
wgmma, not on Hopper) to compare its frames with the default bf16 ones; the
tiny models' sequences are short (at most 2048 keys), which run bf16 even
then unless WAN22_ATTN8_SHORT_KEYS=0 is set.

Random tiny weights make coloured noise, not a real video: the demo shows
that every stage runs. -out is never overwritten: an existing file is
refused.`

// demoSeed is the seed of the tiny models: the same every run, so the demo
// is reproducible.
const demoSeed = 2025

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "wan22 demo [flags]", demoHelp, stderr)
	out := fs.String("out", "demo.mp4", "video file to write (.mp4 or .avi); must not exist")
	prompt := fs.String("prompt", "A cat surfing a wave at sunset, cinematic lighting", "prompt")
	steps := fs.Int("steps", demoSteps, "sampling steps")
	frames := fs.Int("frames", 9, "frames (4n+1)")
	width := fs.Int("width", 96, "width (multiple of 16)")
	height := fs.Int("height", 64, "height (multiple of 16)")
	seed := new(uint64)
	*seed = 42
	addSeedFlag(fs, seed, maxSeed, "noise seed")
	device := fs.String("device", "auto", "cpu, cuda, or auto (the GPU when this binary has CUDA and one is present)")
	vram := fs.Float64("vram-budget", 0, "GPU memory budget in GiB (0: all free memory)")
	attention := fs.String("attention", "bf16", attentionUsage+"; with -device cuda")
	asJSON := fs.Bool("json", false, "print progress as JSON objects, one per line, on stdout")
	if code, ok := parseFlagsJSON(fs, args, stdout); !ok {
		return code
	}
	// Every refusal, the demo's own and i2v's checks alike, ends with where
	// the help is, and with -json an error object.
	refuse := func(err error) int {
		code := usageError(stderr, "demo", "%v", err)
		if *asJSON {
			emitJSONError(stdout, err.Error(), code)
		}
		return code
	}
	if fs.NArg() != 0 {
		return refuse(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	// The demo's own flags first, named as the demo spells them; then the
	// checks of i2v, before anything is written.
	err := demoCheck(*width, *height, *frames, *steps)
	if err == nil {
		err = checkText("-prompt", *prompt)
	}
	if err == nil && *out == "" {
		// i2v's check would ask for "--out or --frames-dir", a flag the demo does not have.
		err = errors.New(`-out "": give the video file to write, such as -out demo.mp4 (.mp4 or .avi)`)
	}
	if err != nil {
		return refuse(err)
	}
	f := i2vFlags{frames: *frames, steps: *steps, width: *width, height: *height, size: fmt.Sprintf("%dx%d", *width, *height),
		cfg: "3.5", solver: wan22.DefaultSolver, maxArea: wan22.DefaultMaxArea, shift: wan22.DefaultShift, boundary: wan22.DefaultBoundary,
		fps: wan22.DefaultFPS, device: *device, attention: *attention, vram: *vram, out: *out, demo: true, json: *asJSON, seed: *seed,
		image: "(test image)", high: "-", low: "-", textEncoder: "-", vae: "-", set: map[string]bool{"prompt": true}}
	err = f.check()
	if err == nil && f.att != wan22.AttentionBF16 && f.device != wan22.DeviceCUDA {
		// The demo is a first run, often on a laptop: 8-bit attention only where the GPU is asked for.
		err = fmt.Errorf("-attention %s: 8-bit attention needs the GPU, and the demo runs on the CPU unless asked: add -device cuda", f.att)
	}
	if err != nil {
		return refuse(err)
	}
	ctx, stop := commandContext()
	defer stop()
	if err := demo(ctx, f, *prompt, stdout, stderr); err != nil {
		return runFailed(ctx, "demo", withBudgetAdvice(err, &f), f.json, stdout, stderr)
	}
	return 0
}

// demoSteps is the demo's default step count.
const demoSteps = 8

// demoCheck checks the demo's size, frame and step flags, naming them as
// the demo does (-width, not i2v's --size) with its defaults.
func demoCheck(width, height, frames, steps int) error {
	for _, s := range []struct {
		flag string
		v    int
	}{{"-width", width}, {"-height", height}} {
		if p := sideProblem(s.v); p != "" {
			return fmt.Errorf("%s %s", s.flag, p)
		}
	}
	if err := checkFrames("-frames", frames); err != nil {
		return err
	}
	return checkInt("-steps", steps, 1, scheduler.MaxSteps, fmt.Sprintf("the demo's default is %d", demoSteps))
}

func demo(ctx context.Context, f i2vFlags, prompt string, stdout, stderr io.Writer) error {
	dir, err := atomicfile.MkdirTemp("", "wan22-demo-") // registered: a second Ctrl-C removes it too
	if err != nil {
		return fmt.Errorf("a temporary folder for the tiny models: %w", err)
	}
	defer atomicfile.Remove(dir)
	paths, err := tinymodels.Write(dir, demoSeed)
	if err != nil {
		return err
	}
	models := wan22.Models{High: paths.High, Low: paths.Low, TextEncoder: paths.TextEncoder, VAE: paths.VAE}
	rep := newReporter(stdout, stderr, f.json)
	rep.prefix = "wan22 " + f.cmd() + ":"
	p, err := wan22.Open(ctx, models, wan22.Options{Device: f.device, VRAMBudget: f.vramBytes, Attention: f.att, Log: reporterLog(rep)})
	if err != nil {
		return err
	}
	defer p.Close()
	req := wan22.Request{
		Image: imageprep.TestImage(f.width, f.height), Prompt: prompt, Frames: f.frames,
		Width: f.width, Height: f.height, Steps: f.steps, Seed: f.seed,
	}
	s, err := p.Resolve(req)
	if err != nil {
		return err
	}
	rep.start(p, s, f)
	if err := generateTo(ctx, p, req, s, f.outName(), f.out, "", "", rep); err != nil {
		return err
	}
	if !f.json {
		fmt.Fprint(stdout, demoEpilogueFor(runtime.GOOS, demoProgram(runtime.GOOS, os.Args[0], exec.LookPath)))
	}
	return nil
}

// realRunArgs are the arguments of the i2v command the demo suggests for
// the real weights, in the lines a Unix shell prints them in.
var realRunArgs = [][]string{
	{"--image", "photo.png", "--prompt", `"a cat surfing a wave at sunset"`},
	{"--high", "wan2.2_i2v_high_noise_14B_Q8_0.gguf", "--low", "wan2.2_i2v_low_noise_14B_Q8_0.gguf"},
	{"--text-encoder", "umt5-xxl-encoder-Q8_0.gguf", "--vae", "wan_2.1_vae.safetensors", "--out", "video.mp4"},
}

// demoEpilogue is what the demo prints after its video: why it is noise,
// and the command to run with the real weights, for the shells of goos
// (runtime.GOOS). Unix shells get it over several lines joined by a
// backslash; cmd.exe and PowerShell do not continue a line with one, so on
// Windows it is one line, which both run as it is.
func demoEpilogue(goos string) string {
	return demoEpilogueFor(goos, "wan22")
}

// demoEpilogueFor is demoEpilogue with the command run as prog (demoProgram).
func demoEpilogueFor(goos, prog string) string {
	lines := make([]string, len(realRunArgs))
	for i, a := range realRunArgs {
		lines[i] = strings.Join(a, " ")
	}
	lines[0] = prog + " i2v " + lines[0]
	cmd := strings.Join(lines, " \\\n    ")
	if goos == "windows" {
		cmd = strings.Join(lines, " ")
	}
	return `
The tiny models have random weights, so the video is coloured noise, not a
real video: the demo shows that every stage runs. With the real WAN 2.2
I2V-A14B weights, run for example:

  ` + cmd + "\n"
}

// demoProgram is how the demo's suggested command runs wan22, for a binary
// started as arg0 (os.Args[0]) on goos: "wan22" (or "wan22-cuda") when that
// name on PATH is this binary, else the path it was started by, so that the
// command runs as printed: `make demo` runs bin/wan22, which is not on PATH,
// and "wan22 i2v …" would be "command not found". A name other than wan22's
// (a test binary, a renamed copy) gives "wan22", as the README spells it.
func demoProgram(goos, arg0 string, lookPath func(string) (string, error)) string {
	base := arg0
	if i := strings.LastIndexAny(base, pathSeparators(goos)); i >= 0 {
		base = base[i+1:]
	}
	if goos == "windows" {
		base = strings.TrimSuffix(strings.TrimSuffix(base, ".exe"), ".EXE")
	}
	if base != "wan22" && base != "wan22-cuda" {
		return "wan22"
	}
	if base == arg0 || arg0 == base+".exe" {
		return base // found on PATH by that name
	}
	if p, err := lookPath(base); err == nil && sameBinary(p, arg0) {
		return base
	}
	return shellWord(goos, arg0)
}

// pathSeparators are the characters that end a folder name in a path on goos.
func pathSeparators(goos string) string {
	if goos == "windows" {
		return `/\:`
	}
	return "/"
}

// sameBinary reports whether the paths a and b name the same file.
func sameBinary(a, b string) bool {
	ia, err := os.Stat(a)
	if err != nil {
		return false
	}
	ib, err := os.Stat(b)
	return err == nil && os.SameFile(ia, ib)
}

// shellWord is s as one word of a command line on goos: as it is when it
// has only characters no shell treats specially, else quoted (single quotes
// for Unix shells, double quotes for cmd.exe and PowerShell).
func shellWord(goos, s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-", r) ||
			goos == "windows" && strings.ContainsRune(`\:`, r)) {
			plain = false
			break
		}
	}
	switch {
	case plain:
		return s
	case goos == "windows":
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
