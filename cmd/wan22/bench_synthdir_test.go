package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/tinymodels"
)

// TestBenchReportNamesSynthFile: a --json or --html report in --synth-dir
// named as the bench names its synthetic files there (synth-*.gguf,
// synth-*.safetensors: the experts, the encoder, the VAE, the LoRAs) is
// refused as a usage error before anything is written. The file is not there yet, so the
// check that a report is a new file passed it; the bench then wrote a
// synthetic model at that path, ran, and replaced the model with the
// report. A report of another name in --synth-dir runs as before.
func TestBenchReportNamesSynthFile(t *testing.T) {
	tmp := isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	tiny := tinymodels.DiT()
	lora := fmt.Sprintf("synth-lora-r4-dim%d-%dblocks-high-seed1.safetensors", tiny.Dim, tiny.Layers)
	for _, c := range []struct {
		flag, name string
		args       []string
	}{
		{"--json", "synth-dit-i2v-F16-seed1.gguf", []string{"--device", "cpu", "--vae", m.VAE, "--expert-type", "f16", "--steps", "1"}},
		{"--html", "synth-umt5-Q8_0-seed1.gguf", []string{"--device", "cpu", "--vae", m.VAE, "--steps", "1"}},
		{"--json", "synth-vae-wan21-BF16-seed1.safetensors", []string{"--device", "cpu", "--high", m.High, "--low", m.Low, "--text-encoder", m.TextEncoder, "--steps", "1"}},
		{"--json", lora, []string{"--tiny", "--synth-lora", "4", "--schedule-steps", "2"}},
	} {
		dir := t.TempDir()
		out := filepath.Join(dir, c.name)
		args := append(c.args, "--frames", "5", "--size", "32x16", "--no-history", "--synth-dir", dir, c.flag, out)
		code, stdout, stderr := runBenchCtx(context.Background(), args...)
		want := fmt.Sprintf("wan22 bench: %s %s is named as the synthetic models the bench writes into --synth-dir %s (synth-*.gguf, synth-*.safetensors), and would replace one: give the report another name",
			c.flag, out, dir)
		if code != 2 || stdout != "" || !strings.HasPrefix(stderr, want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", args, code, stdout, stderr, want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%q: --synth-dir holds %v, want nothing written", args, ents)
		}
	}
	assertEmptyDir(t, tmp)

	// Another name in --synth-dir: the report and the synthetic files side by side.
	dir := t.TempDir()
	js, html := filepath.Join(dir, "synth-report.json"), filepath.Join(dir, "synth-chart.html")
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--synth-lora", "4", "--schedule-steps", "2", "--frames", "5", "--size", "32x16",
		"--synth-dir", dir, "--json", js, "--html", html)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, p := range []string{js, html, filepath.Join(dir, lora)} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}
