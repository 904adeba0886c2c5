package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// noFFmpeg puts PATH on an empty folder: video.Create then writes an .mp4
// as its MJPEG .avi.
func noFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
}

// TestFallbackAVIExists: without ffmpeg an --out .mp4 is written as the
// .avi beside it; an .avi already there is refused before anything loads
// (i2v: its models are never opened; demo: its tiny models never written),
// as a usage error naming both paths and why, without the library's
// "allow overwriting" (the CLI has no such option).
func TestFallbackAVIExists(t *testing.T) {
	tmp := isolateTemp(t)
	dir := t.TempDir()
	noFFmpeg(t)
	mp4, avi := filepath.Join(dir, "nf.mp4"), filepath.Join(dir, "nf.avi")
	require.NoError(t, os.WriteFile(avi, []byte("keep"), 0o644))
	for _, args := range [][]string{
		qaI2VArgs(dir, "--out", mp4),
		{"demo", "-device", "cpu", "-out", mp4},
	} {
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 2, code, "%q: %s", args, stderr)
		flagName := "--out"
		if args[0] == "demo" {
			flagName = "-out"
		}
		require.Contains(t, stderr, "wan22 "+args[0]+": "+flagName+" "+mp4+": ffmpeg is missing, so the video would be written as the MJPEG AVI "+avi+", and "+avi+" already exists", args)
		require.NotContains(t, stderr, "absent.gguf", args) // nothing was opened
		require.NotContains(t, stderr, "allow overwriting", args)
		require.Empty(t, stdout, args)
		b, err := os.ReadFile(avi)
		require.NoError(t, err)
		require.Equal(t, "keep", string(b))
		require.Empty(t, entries(t, tmp), "%q wrote into the temporary folder", args)
	}
	// The same check runs again just before the video is created (a file
	// made while the models loaded), in the same words.
	require.ErrorContains(t, checkVideoTarget("--out", mp4), "ffmpeg is missing")
	require.NoError(t, os.Remove(avi))
	require.NoError(t, checkVideoTarget("--out", mp4))
	// An .avi --out is itself the target.
	require.NoError(t, os.WriteFile(avi, nil, 0o644))
	require.EqualError(t, checkVideoTarget("--out", avi), "--out "+avi+" already exists: choose another name or remove it")
	// With ffmpeg present the .mp4 is written as such: an .avi beside it is
	// none of the run's business.
	if runtime.GOOS != "windows" {
		bin := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(bin, "ffmpeg"), []byte("#!/bin/sh\nexit 0\n"), 0o755))
		t.Setenv("PATH", bin)
		require.NoError(t, checkVideoTarget("--out", mp4))
	}
}

// TestI2VLoRAMarkedForOtherExpert: LoRAs whose names mark them for the
// other expert are warned about on stderr, once, as swapped expert files
// are; the run goes on.
func TestI2VLoRAMarkedForOtherExpert(t *testing.T) {
	args, out := i2vSetup(t)
	dir := t.TempDir()
	low := writeTinyLoRA(t, dir, "wan_low_noise_lora.safetensors", 1, "self_attn.q")
	high := writeTinyLoRA(t, dir, "comfy_high.safetensors", 2, "self_attn.q")
	_, _, stderr := i2vVideo(t, append(args, "--steps", "2", "--lora-high", low, "--lora-low", high), filepath.Join(out, "v.avi"))
	want := "wan22 i2v: warning: the LoRAs' names or metadata say they are swapped"
	require.Equal(t, 1, strings.Count(stderr, want), stderr)
	require.Contains(t, stderr, "high noise lora: "+low)
	require.Contains(t, stderr, "low noise lora: "+high)
}

// TestJSONFlagParseError: flags that fail to parse while the arguments ask
// for --json still end stdout with the error object (exit_code 2), the
// message on stderr as before; without --json stdout stays empty.
func TestJSONFlagParseError(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // the error object's message; "" for no object
	}{
		{[]string{"i2v", "--json", "--steps", "abc", "--image", "img.png"}, `--steps abc: give a whole number (1 to 10000)`},
		{[]string{"i2v", "--json", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"i2v", "--bogus", "--json"}, "flag provided but not defined: -bogus"},
		{[]string{"i2v", "-json=true", "--seed", "-1"}, `--seed -1: give a whole number from 0 to 18446744073709551615`},
		{[]string{"demo", "-json", "-steps", "abc"}, `-steps abc: give a whole number (1 to 10000)`},
		{[]string{"i2v", "--steps", "abc"}, ""},
		{[]string{"i2v", "--json=false", "--steps", "abc"}, ""},
		{[]string{"i2v", "--prompt", "--json", "--steps", "abc"}, ""}, // --json is the prompt
		{[]string{"i2v", "--steps", "abc", "--json"}, `--steps abc: give a whole number (1 to 10000)`},
	} {
		code, stdout, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q", c.args)
		if c.want == "" {
			require.Empty(t, stdout, "%q", c.args)
			continue
		}
		require.Contains(t, stderr, "wan22 "+c.args[0]+": "+c.want, "%q", c.args)
		evs := jsonLines(t, stdout)
		require.Len(t, evs, 1, "%q", c.args)
		require.Equal(t, map[string]any{"type": "error", "message": c.want, "exit_code": 2.0}, evs[0], "%q", c.args)
	}
	// -h is no failure: help on stdout, no error object.
	code, stdout, _ := runCLI("i2v", "--json", "-h")
	require.Equal(t, 0, code)
	require.NotContains(t, stdout, `"type":"error"`)
}

// TestI2VBudgetAdvice: the library's memory refusal gets i2v's own flags
// added: --host-budget when one was given (never "0.00 GiB ... available"
// for a budget), quantized models when the models alone do not fit, --size
// or --frames when the video's memory is what does not fit.
func TestI2VBudgetAdvice(t *testing.T) {
	args, out := i2vSetup(t)
	code, stdout, stderr := runCLI(append(args, "--host-budget", "0.001", "--out", filepath.Join(out, "v.avi"), "--json")...)
	require.Equal(t, 1, code, stderr)
	for _, want := range []string{
		"more than the host memory budget of 1.0 MiB; the models alone, without any video, need about",
		"In wan22 i2v, raise --host-budget (0.001 GiB given), or leave it out to check against the memory available; or give smaller quantized model files",
	} {
		require.Contains(t, stderr, want)
	}
	require.NotContains(t, stderr, "is available")
	evs := jsonLines(t, stdout)
	require.Equal(t, "error", evs[len(evs)-1]["type"])
	require.Contains(t, evs[len(evs)-1]["message"], "--host-budget (0.001 GiB given)")
	require.Empty(t, entries(t, out))
}

// TestShiftRange: --shift says the range it takes, 0 excluded, and takes
// any positive value up to 100.
func TestShiftRange(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"-1", "0", "NaN", "101", "+Inf"} {
		code, _, stderr := runCLI(qaI2VArgs(dir, "--out", filepath.Join(dir, "v.avi"), "--shift", v)...)
		require.Equal(t, 2, code, v)
		require.Contains(t, stderr, "--shift "+v+" is out of range: want a number greater than 0, at most 100", v)
	}
	for _, v := range []float64{0.005, 5, 100} {
		require.NoError(t, checkPositive("--shift", v, 100), v)
	}
}

// TestVRAMBudgetOnCPU: a --vram-budget or --pinned-budget for a run that is
// on the CPU before anything opens (--device cpu, or auto without CUDA) is
// refused, as bench refuses it, instead of being taken silently.
func TestVRAMBudgetOnCPU(t *testing.T) {
	dir := t.TempDir()
	saved := cudaAvailable
	t.Cleanup(func() { cudaAvailable = saved })
	cudaAvailable = func() bool { return false }
	out := filepath.Join(dir, "v.avi")
	for _, c := range []struct {
		args []string
		want string
	}{
		{qaI2VArgs(dir, "--out", out, "--vram-budget", "4"), "wan22 i2v: --vram-budget needs the GPU (--device cuda): the CPU has no device memory to budget"},
		{qaI2VArgs(dir, "--out", out, "--device", "auto", "--vram-budget", "4"), "wan22 i2v: --vram-budget needs the GPU, and this binary was built without CUDA"},
		{[]string{"demo", "-out", out, "-vram-budget", "4"}, "wan22 demo: -vram-budget needs the GPU, and this binary was built without CUDA, so it runs on the CPU, which has no device memory to budget: leave -vram-budget out"},
		// --pinned-budget alike: the CPU swaps no blocks through pinned memory.
		{qaI2VArgs(dir, "--out", out, "--pinned-budget", "4"), "wan22 i2v: --pinned-budget needs the GPU (--device cuda): the CPU swaps no blocks"},
		{qaI2VArgs(dir, "--out", out, "--device", "auto", "--pinned-budget", "4"), "wan22 i2v: --pinned-budget needs the GPU, and this binary was built without CUDA"},
		{[]string{"bench", "--tiny", "--pinned-budget", "4"}, "wan22 bench: --pinned-budget needs the GPU, and this binary was built without CUDA"},
	} {
		code, _, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, c.args)
	}
	// 0, all free memory, is no budget to refuse.
	require.NoError(t, checkVRAMBudget("--", 0, "cpu"))
	cudaAvailable = func() bool { return true }
	require.NoError(t, checkVRAMBudget("--", 4, "auto"), "auto in a CUDA binary: the GPU when one opens")
	require.NoError(t, checkVRAMBudget("--", 4, "cuda"))
	require.NoError(t, checkPinnedBudget("--", 4, "auto"))
}

// TestDemoNamesItself: the demo's lines on stderr start "wan22 demo:", not
// i2v's prefix, and its refusals name its own -flags.
func TestDemoNamesItself(t *testing.T) {
	isolateTemp(t)
	dir := t.TempDir()
	code, _, stderr := runCLI("demo", "-device", "cpu", "-out", filepath.Join(dir, "d.avi"), "-steps", "1", "-frames", "1", "-width", "16", "-height", "16")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "wan22 demo: 16x16, 1 frame at 16 fps")
	require.NotContains(t, stderr, "wan22 i2v")
	for _, args := range [][]string{{"-device", "tpu"}, {"-device", "cpu", "-attention", "int8"}, {"-attention", "fp8"}, {"-vram-budget", "-1"}} {
		code, _, stderr := runCLI(append([]string{"demo", "-out", filepath.Join(dir, "e.avi")}, args...)...)
		require.Equal(t, 2, code, "%q", args)
		require.NotContains(t, stderr, "--", "%q: %s", args, stderr)
	}
}
