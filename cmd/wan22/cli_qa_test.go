package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"

	"github.com/wan22/wan22/internal/plural"
)

// qaI2VArgs are i2v arguments whose model files do not exist: a check that
// refuses them with exit 2 ran before anything was read or loaded.
func qaI2VArgs(dir string, extra ...string) []string {
	m := filepath.Join(dir, "absent.gguf")
	return append([]string{"i2v", "--image", filepath.Join(dir, "in.png"), "--prompt", "p", "--high", m, "--low", m,
		"--text-encoder", m, "--vae", m, "--device", "cpu", "--frames", "5"}, extra...)
}

// TestI2VOutputPathsCheckedFirst: --preview, --frames-dir and --out in a
// missing folder (or naming a folder) are refused before any model loads.
func TestI2VOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nodir")
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"preview missing folder": {[]string{"--out", filepath.Join(dir, "v.avi"), "--preview", filepath.Join(missing, "p.png")},
			"--preview " + filepath.Join(missing, "p.png") + ": the folder " + missing + " does not exist"},
		"preview is a folder": {[]string{"--out", filepath.Join(dir, "v.avi"), "--preview", dir}, "--preview " + dir + " is a folder"},
		"frames-dir missing folder": {[]string{"--frames-dir", filepath.Join(missing, "frames")},
			"--frames-dir " + filepath.Join(missing, "frames") + ": the folder " + missing + " does not exist"},
		"out missing folder":   {[]string{"--out", filepath.Join(missing, "v.mp4")}, "--out " + filepath.Join(missing, "v.mp4") + ": the folder"},
		"out parent is a file": {[]string{"--out", filepath.Join(dir, "file", "v.mp4")}, "is not a folder"},
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), nil, 0o644))
		code, _, stderr := runCLI(qaI2VArgs(dir, c.args...)...)
		require.Equal(t, 2, code, "%s: %s", name, stderr)
		require.Contains(t, stderr, c.want, name)
		require.NotContains(t, stderr, "absent.gguf", name)
	}
	// A writable folder passes, and the check leaves nothing behind.
	require.NoError(t, checkOutputPath("--preview", filepath.Join(dir, "p.png"), replacedFile))
	for _, e := range entries(t, dir) {
		require.False(t, strings.HasPrefix(e, ".wan22-write-check"), "the write check left %s", e)
	}
}

// TestBenchSynthMismatchBeforeWriting: an expert file whose text width is
// not the synthetic umT5's is refused before any synthetic file is written
// (it wrote a 6 GB encoder and a VAE, then failed).
func TestBenchSynthMismatchBeforeWriting(t *testing.T) {
	isolateTemp(t)
	benchSynthSizes = map[string]map[string]int{"t5": {"dim": 128, "layers": 1, "ffn-dim": 128, "heads": 2, "vocab": 1100}}
	t.Cleanup(func() { benchSynthSizes = nil })
	m := tinyFiles(t) // text width 64
	dir := t.TempDir()
	code, stdout, stderr := runBenchCtx(context.Background(), "--device", "cpu", "--high", m.High, "--synth-dir", dir,
		"--frames", "5", "--size", "96x64", "--steps", "1", "--no-history")
	require.Equal(t, 1, code, "%s\n%s", stdout, stderr)
	require.Contains(t, stderr, "--high "+m.High+" reads text of width 64, and the synthetic umT5 encoder has width 128")
	require.Contains(t, stderr, "wan22 synth -kind t5 -dim 64")
	require.Empty(t, entries(t, dir), "synthetic files were written")
	require.NotContains(t, stdout, "writing")

	// A text encoder given for synthetic experts of another width.
	benchSynthSizes = map[string]map[string]int{"dit": {"dim": 128, "layers": 1, "ffn-dim": 256, "text-dim": 96}}
	code, stdout, stderr = runBenchCtx(context.Background(), "--device", "cpu", "--text-encoder", m.TextEncoder, "--vae", m.VAE,
		"--synth-dir", dir, "--frames", "5", "--size", "96x64", "--steps", "1", "--no-history")
	require.Equal(t, 1, code, "%s\n%s", stdout, stderr)
	require.Contains(t, stderr, "--text-encoder "+m.TextEncoder+" has width 64, and the synthetic experts (I2V-A14B's layout) read text of width 96")
	require.Empty(t, entries(t, dir), "synthetic files were written")
}

// TestBenchRefusesExistingReport: --json and --html never overwrite a file,
// for a run or a merge, as i2v, demo and synth never do; the refusal is a
// usage error naming the flag, before anything runs.
func TestBenchRefusesExistingReport(t *testing.T) {
	isolateTemp(t)
	dir := t.TempDir()
	old := filepath.Join(dir, "b.json")
	require.NoError(t, os.WriteFile(old, []byte("earlier report"), 0o644))
	in := filepath.Join(dir, "in.json")
	for _, args := range [][]string{
		{"--tiny", "--json", old},
		{"--tiny", "--html", old},
		{"--from-json", in, "--json", old},
		{"--from-json", in, "--html", old},
	} {
		code, stdout, stderr := runBenchCtx(context.Background(), args...)
		require.Equal(t, 2, code, "%q: %s", args, stderr)
		require.Contains(t, stderr, old+" already exists: choose another name or remove it", args)
		require.NotContains(t, stdout, "measuring", args)
	}
	b, err := os.ReadFile(old)
	require.NoError(t, err)
	require.Equal(t, "earlier report", string(b))
}

// TestBenchTinyRefusesSynthFlags: a tiny run writes no synthetic full-size
// models, so --keep-synth and --synth-dir (without --synth-lora, whose
// LoRAs it holds) are usage errors instead of being ignored.
func TestBenchTinyRefusesSynthFlags(t *testing.T) {
	tmp := isolateTemp(t)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tiny", "--synth-dir", dir, "--keep-synth"}, "--keep-synth keeps synthetic full-size models, and --tiny runs the tiny model set"},
		{[]string{"--tiny", "--keep-synth"}, "--keep-synth"},
		{[]string{"--tiny", "--synth-dir", dir}, "--synth-dir holds synthetic full-size models"},
		{[]string{"--device", "cpu", "--synth-dir", dir}, "--device cpu without model files runs the tiny model set"},
	} {
		code, stdout, stderr := runBenchCtx(context.Background(), c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, c.args)
		require.NotContains(t, stdout, "measuring", c.args)
	}
	require.Empty(t, entries(t, dir))
	require.Empty(t, entries(t, tmp))
}

// TestSizeAndFrameLimits: the flag checks use the pipeline's limits (4096
// a side, 1025 frames): a value beyond them is a usage error naming the
// flag (exit 2) in i2v, bench and demo, never a failure after loading; the
// nearest valid frame counts never overflow.
func TestSizeAndFrameLimits(t *testing.T) {
	isolateTemp(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "v.avi")
	for _, c := range []struct {
		args []string
		want string
	}{
		{qaI2VArgs(dir, "--out", out, "--size", "16384x16384"), "--size 16384x16384: width 16384 is above 4096"},
		{qaI2VArgs(dir, "--out", out, "--size", "4112x64"), "--size 4112x64: width 4112 is above 4096"},
		{qaI2VArgs(dir, "--out", out, "--frames", "100001"), "--frames 100001 is out of range: want a count 4k+1 from 1 to 1025"},
		{qaI2VArgs(dir, "--out", out, "--frames", "9223372036854775807"), "--frames 9223372036854775807 is out of range"},
		{qaI2VArgs(dir, "--out", out, "--frames", "-9223372036854775808"), "--frames -9223372036854775808 is out of range"},
		{qaI2VArgs(dir, "--out", out, "--frames", "1024"), "--frames 1024: the frame count must be 4k+1; nearest are 1021 and 1025"},
		{qaI2VArgs(dir, "--out", out, "--max-area", "100000000"), "--max-area 100000000 is out of range: want 256 to 16777216"},
		{[]string{"bench", "--tiny", "--frames", "9223372036854775807"}, "--frames 9223372036854775807 is out of range"},
		{[]string{"bench", "--tiny", "--size", "16384x64"}, "--size 16384x64: width 16384 is above 4096"},
		{[]string{"demo", "-out", out, "-frames", "100001"}, "-frames 100001 is out of range"},
		{[]string{"demo", "-out", out, "-height", "8192"}, "-height 8192 is above 4096"},
	} {
		code, stdout, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, c.args)
		require.NotContains(t, stderr, "-9223372036854775807 ", c.args)
		require.NotContains(t, stdout, "measuring", c.args)
	}
	require.Empty(t, entries(t, dir))
	for n, want := range map[int]string{6: "nearest are 5 and 9", 2: "nearest are 1 and 5", 1025: "", 1: "", 0: "from 1 to 1025"} {
		err := checkFrames("--frames", n)
		if want == "" {
			require.NoError(t, err, n)
		} else {
			require.ErrorContains(t, err, want, n)
		}
	}
}

// TestDemoMessagesNameDemoFlags: the demo's refusals name its own flags
// (-width, -height, -frames, -steps) and defaults, not i2v's --size,
// --max-area or official 40 steps.
func TestDemoMessagesNameDemoFlags(t *testing.T) {
	isolateTemp(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "d.avi")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-width", "100"}, "-width 100 is not a multiple of 16 (nearest are 96 and 112)"},
		{[]string{"-height", "8"}, "-height 8 is below 16"},
		{[]string{"-steps", "0"}, "-steps 0 is out of range: want 1 to 10000 (the demo's default is 8)"},
		{[]string{"-frames", "6"}, "-frames 6: the frame count must be 4k+1; nearest are 5 and 9"},
	} {
		code, _, stderr := runCLI(append([]string{"demo", "-device", "cpu", "-out", out}, c.args...)...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, "wan22 demo: "+c.want, c.args)
		for _, bad := range []string{"--size", "--max-area", "official"} {
			require.NotContains(t, stderr, bad, c.args)
		}
	}
	// The library's memory refusal gets the demo's flags added.
	err := withBudgetAdvice(&wan22.BudgetError{What: "host memory", Need: 3 << 30, Budget: 1 << 30, Width: 4096, Height: 4096, Frames: 1, LargestStageOf: "VAE decode", Weights: 1 << 20},
		&i2vFlags{demo: true})
	require.EqualError(t, err, "1 frame of 4096x4096 needs about 3.00 GiB of host memory (the VAE decode stage), more than the 1.00 GiB of host memory available: make the video smaller or use fewer frames, or free memory. In wan22 demo, use a smaller -width and -height, or fewer -frames")
	require.Empty(t, entries(t, dir))
}

// TestCLIText: the QA pass's wording defects.
func TestCLIText(t *testing.T) {
	isolateTemp(t)
	dir := t.TempDir()
	saved := cudaAvailable
	t.Cleanup(func() { cudaAvailable = saved })
	cudaAvailable = func() bool { return false }

	// --device cuda in a binary without CUDA: one prefix, the flag to use,
	// a usage error before anything loads.
	for _, args := range [][]string{
		qaI2VArgs(dir, "--out", filepath.Join(dir, "v.avi"), "--device", "cuda"),
		{"bench", "--device", "cuda"},
		{"demo", "-device", "cuda", "-out", filepath.Join(dir, "d.avi")},
	} {
		code, _, stderr := runCLI(args...)
		require.Equal(t, 2, code, "%q: %s", args, stderr)
		dash := "--" // the demo names its flags -flag
		if args[0] == "demo" {
			dash = "-"
		}
		require.Contains(t, stderr, ": "+dash+"device cuda: this binary was built without CUDA: build it with `make cuda`, or use "+dash+"device cpu", args)
		require.NotContains(t, stderr, "wan22: this binary", args)
	}

	// --seed says what a seed is.
	for _, cmd := range []string{"i2v", "bench", "demo"} {
		code, _, stderr := runCLI(cmd, "--seed", "-1")
		require.Equal(t, 2, code, cmd)
		require.Contains(t, stderr, flagDash(cmd)+"seed -1: give a whole number from 0 to 18446744073709551615", cmd)
	}
	var f i2vFlags
	fs := newFlagSet("i2v", "", "", os.Stderr)
	addSeedFlag(fs, &f.seed, maxSeed, "")
	require.NoError(t, fs.Parse([]string{"--seed", "18446744073709551615"}))
	require.Equal(t, uint64(18446744073709551615), f.seed)

	// The command list says what demo writes; i2v's help the text encoder
	// formats the loader reads (engine/t5 takes a ComfyUI spiece_model
	// tensor as well as GGUF metadata).
	_, stdout, _ := runCLI("help")
	require.Contains(t, stdout, "run image-to-video end to end on tiny models and write the video")
	_, stdout, _ = runCLI("help", "i2v")
	require.Contains(t, stdout, "GGUF (tokenizer.ggml.* metadata) or ComfyUI safetensors (spiece_model tensor)")
	require.Contains(t, stdout, "merge LoRAs into F16/BF16/F32 weights")
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "`--lora-merge` adds them into F16/BF16/F32 weights")
	require.Contains(t, string(readme), "umT5 GGUF or ComfyUI\nsafetensors")

	// synth refuses a name of the other format.
	for _, c := range []struct{ kind, name, want string }{
		{"vae", "x.gguf", "x.gguf: -kind vae writes safetensors, not gguf: name the file " + filepath.Join(dir, "x.safetensors")},
		{"t5", "x.safetensors", "-kind t5 writes GGUF, not safetensors"},
		{"dit", "x.SAFETENSORS", "-kind dit writes GGUF"},
	} {
		out := filepath.Join(dir, c.name)
		code, _, stderr := runCLI("synth", "-kind", c.kind, "-layers", "1", out)
		if c.kind == "vae" {
			code, _, stderr = runCLI("synth", "-kind", c.kind, "-dim", "2", out)
		}
		require.Equal(t, 2, code, c.name)
		require.Contains(t, stderr, c.want)
	}
	require.Empty(t, entries(t, dir))

	// Plurals.
	require.Equal(t, "1 frame", plural.Count(1, "frame"))
	require.Equal(t, "1 unipc step", plural.Count(1, "unipc step"))
}

// TestI2VStartLinePlurals: a 1-frame, 1-step run says "1 frame" and "1
// unipc step", and the bench report's table says the CPU computed
// attention in f32, as i2v's start line does.
func TestI2VStartLinePlurals(t *testing.T) {
	isolateTemp(t)
	args, out := i2vSetup(t)
	args = append(args, "--out", filepath.Join(out, "v.avi"))
	for i, a := range args {
		if a == "--frames" {
			args[i+1] = "1"
		}
		if a == "--steps" {
			args[i+1] = "1"
		}
	}
	code, stdout, stderr := runCLI(args...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "32x16, 1 frame at 16 fps, 1 unipc step (shift")
	require.Contains(t, stderr, "with f32 attention")
	require.Contains(t, stdout, "(MJPEG AVI, 1 frame)")

	code, stdout, stderr = runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--steps", "1", "--no-history")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, ", f32 attention\n")
	require.NotContains(t, stdout, "bf16 attention")
}
