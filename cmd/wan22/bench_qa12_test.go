package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/internal/benchreport"
)

// TestBenchLoRAPathAbsolute: a LoRA given by a relative path is recorded
// in the report by its absolute path, as the models are, so that the report
// names the file wherever it is read, and --from-json merges two benches of
// one LoRA given from two folders (it compares the LoRAs by their paths).
// The report kept the path as given: "style.safetensors" from one folder
// and "lora/style.safetensors" from its parent were refused as two
// workflows, and two different files given as "style.safetensors" in two
// folders passed as one.
func TestBenchLoRAPathAbsolute(t *testing.T) {
	tmp := isolateTemp(t)
	tiny := tinymodels.DiT()
	style := writeSynthLoRA(t, modelfile.DiTConfig{Dim: tiny.Dim, FFNDim: tiny.FFNDim, Layers: tiny.Layers}, 2, "style.safetensors")
	dir, out := filepath.Dir(style), t.TempDir()
	a, b := filepath.Join(out, "a.json"), filepath.Join(out, "b.json")
	for _, c := range []struct {
		cwd, lora, frames, json string
	}{
		{dir, "style.safetensors:0.5", "5", a},
		{filepath.Dir(dir), filepath.Join(filepath.Base(dir), "style.safetensors") + ":0.5", "9", b},
	} {
		t.Chdir(c.cwd)
		code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", c.frames, "--size", "32x16", "--schedule-steps", "2",
			"--lora", c.lora, "--json", c.json)
		if code != 0 {
			t.Fatalf("--lora %s: exit %d\n%s\n%s", c.lora, code, stdout, stderr)
		}
		rep, err := benchreport.ReadFile(c.json)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Settings.LoRAs) != 1 {
			t.Fatalf("--lora %s: LoRAs %+v", c.lora, rep.Settings.LoRAs)
		}
		got := rep.Settings.LoRAs[0].Path
		st1, err1 := os.Stat(got)
		st2, err2 := os.Stat(style)
		if !filepath.IsAbs(got) || err1 != nil || err2 != nil || !os.SameFile(st1, st2) {
			t.Errorf("--lora %s from %s: the report names %q, want the absolute path of %s", c.lora, c.cwd, got, style)
		}
	}
	code, stdout, stderr := runBenchCtx(context.Background(), "--from-json", a+","+b)
	if code != 0 || !strings.Contains(stdout, "merged 2 runs of 2 reports") {
		t.Errorf("--from-json of one LoRA given from two folders: exit %d\n%s\n%s", code, stdout, stderr)
	}
	assertEmptyDir(t, tmp)
}

// TestBenchFramesTooLarge: a --frames item that is a whole number too large
// for an integer is out of range, as 2000 is, not "not a whole number"
// (what strconv's range error read as).
func TestBenchFramesTooLarge(t *testing.T) {
	tmp := isolateTemp(t)
	for _, it := range []string{"99999999999999999999", "-99999999999999999999"} {
		code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5,"+it)
		want := "--frames " + it + " is out of range: want a count 4k+1 from 1 to "
		if code != 2 || !strings.Contains(stderr, want) || strings.Contains(stdout, "measuring") {
			t.Errorf("--frames 5,%s: exit %d, stdout %q, stderr %q; want 2 and %q", it, code, stdout, stderr, want)
		}
	}
	assertEmptyDir(t, tmp)
}

// TestBenchKeepSynthNothingWritten: the folder --keep-synth keeps is
// removed again when the bench stops before a synthetic file is in it (a
// refusal after it was made: the disk space, the host memory; Ctrl-C during
// the first file): it was left empty in the temporary folder. A folder with
// files stays, as before.
func TestBenchKeepSynthNothingWritten(t *testing.T) {
	tmp := isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	args := []string{"--device", "cpu", "--vae", m.VAE, "--keep-synth", "--frames", "5", "--size", "32x16", "--steps", "1", "--no-history"}

	saved := benchHostAvailable
	benchHostAvailable = func() int64 { return 1 << 10 }
	code, stdout, stderr := runBenchCtx(context.Background(), args...)
	benchHostAvailable = saved
	if code != 1 || !strings.Contains(stderr, "host memory") {
		t.Errorf("an expert too large for the memory: exit %d\n%s\n%s", code, stdout, stderr)
	}
	assertEmptyDir(t, tmp)

	// Ctrl-C as the first synthetic file is moved into the folder (which
	// exists by then): the rename hook cancels the run and fails.
	ctx, cancel := context.WithCancel(context.Background())
	savedRename := renameOutput
	renameOutput = func(string, string) error { cancel(); return context.Canceled }
	code, stdout, stderr = runBenchCtx(ctx, args...)
	renameOutput = savedRename
	if code != exitInterrupted || !strings.Contains(stderr, "interrupted") {
		t.Errorf("Ctrl-C: exit %d\n%s\n%s", code, stdout, stderr)
	}
	assertEmptyDir(t, tmp)

	code, stdout, stderr = runBenchCtx(context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	kept, _ := filepath.Glob(filepath.Join(tmp, "wan22-bench-synth-*", "synth-*.gguf"))
	if len(kept) != 2 { // the expert and the text encoder
		t.Errorf("kept %v, want the synthetic expert and text encoder", kept)
	}
}

// TestBenchSynthDirMissing: a --synth-dir that is not an existing folder
// is a usage error (exit 2) before any work, as an --out-video that is not
// one is; it was found when the first synthetic file was due (exit 1, after
// the tiny set's models were written).
func TestBenchSynthDirMissing(t *testing.T) {
	tmp := isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		for _, args := range [][]string{
			{"--tiny", "--synth-lora", "4", "--schedule-steps", "2"},
			{"--device", "cpu", "--vae", m.VAE, "--steps", "1"},
		} {
			args = append(args, "--frames", "5", "--size", "32x16", "--no-history", "--synth-dir", dir)
			code, stdout, stderr := runBenchCtx(context.Background(), args...)
			want := "wan22 bench: --synth-dir " + dir + " is not an existing folder: create it first"
			if dir == file { // TestQA14BenchFolderIsFile
				want = "wan22 bench: --synth-dir " + dir + " is a file, not a folder: give a folder"
			}
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, want) {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", args, code, stdout, stderr, want)
			}
		}
	}
	assertEmptyDir(t, tmp)
}

// TestBenchTinySynthFlagsAdvice: the refusal of a synthetic-model flag
// (--keep-synth, --expert-type, --same-expert, --synth-dir) in a bench that
// runs the tiny set says why in the words of the command given and advises
// --device cuda only where the binary has CUDA. A CPU-only binary, whose
// default device is the CPU, said "--device cpu without model files runs
// the tiny model set" to a command without --device and advised "give
// --device cuda", which that binary refuses; with --tiny it advised giving
// model files, which --tiny refuses.
func TestBenchTinySynthFlagsAdvice(t *testing.T) {
	tmp := isolateTemp(t)
	saved := cudaAvailable
	t.Cleanup(func() { cudaAvailable = saved })
	for _, c := range []struct {
		cuda       bool
		args       []string
		want, then string
	}{
		{false, []string{"--keep-synth"}, "--keep-synth keeps synthetic full-size models, and a bench on the CPU without model files (this binary has no CUDA) runs the tiny model set",
			": leave --keep-synth out, or give model files for a full-size run"},
		{false, []string{"--expert-type", "f16"}, "and a bench on the CPU without model files (this binary has no CUDA) runs the tiny model set in its own types",
			": leave --expert-type out, or give model files for a full-size run"},
		{false, []string{"--device", "cpu", "--same-expert"}, "and --device cpu without model files runs the tiny model set",
			": leave --same-expert out, or give model files for a full-size run"},
		{false, []string{"--tiny", "--keep-synth"}, "and --tiny runs the tiny model set",
			": leave --keep-synth out, or leave --tiny out and give model files for a full-size run"},
		{true, []string{"--device", "cpu", "--synth-dir", t.TempDir()}, "and --device cpu without model files runs the tiny model set",
			": leave --synth-dir out, or give --device cuda or model files for a full-size run"},
		{true, []string{"--tiny", "--expert-type", "f16"}, "and --tiny runs the tiny model set",
			": leave --expert-type out, or leave --tiny out and give --device cuda or model files for a full-size run"},
	} {
		cudaAvailable = func() bool { return c.cuda }
		code, stdout, stderr := runBenchCtx(context.Background(), c.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, c.then) {
			t.Errorf("%q (CUDA %t): exit %d, stderr %q; want 2 and %q … %q", c.args, c.cuda, code, stderr, c.want, c.then)
		}
	}
	assertEmptyDir(t, tmp)
}

// TestBenchReportDashRefused: --json - or --html - (standard output, as
// many tools read "-") is a usage error before any work; the bench wrote
// the report to a file named "-" in the working folder.
func TestBenchReportDashRefused(t *testing.T) {
	tmp := isolateTemp(t)
	t.Chdir(tmp)
	for _, flag := range []string{"--json", "--html"} {
		code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", flag, "-")
		want := flag + " -: the report is written to a file, not to standard output"
		if code != 2 || !strings.Contains(stderr, want) || strings.Contains(stdout, "measuring") {
			t.Errorf("%s -: exit %d, stdout %q, stderr %q; want 2 and %q", flag, code, stdout, stderr, want)
		}
	}
	assertEmptyDir(t, tmp)
}
