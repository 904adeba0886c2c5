package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// planSynth plans the synthetic file of synth -kind kind at the sizes
// given, as the bench does.
func planSynth(t *testing.T, kind string, sizes map[string]int, wt gguf.Type) synthJob {
	t.Helper()
	for _, k := range synthKinds {
		if k.name == kind {
			j, err := k.plan(sizes, wt, 1)
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
	}
	t.Fatalf("no synth kind %q", kind)
	return synthJob{}
}

// TestBenchWritingLine: the line the bench prints before it writes a
// synthetic file names the role, the path, the size and the file's
// description, each once and without a parenthesis after a parenthesis. It
// printed "writing a 1.23 MB BF16 WAN 2.1 VAE (base width 8, 16 latent
// channels, safetensors) (VAE) to PATH": the description ends in its own
// parenthesis, and the role came in another one after it.
func TestBenchWritingLine(t *testing.T) {
	isolateTemp(t)
	dir := t.TempDir()
	files := []synthFile{
		{role: "high-noise expert", path: filepath.Join(dir, "synth-dit.gguf"),
			synthJob: planSynth(t, "dit", map[string]int{"dim": 128, "layers": 1, "ffn-dim": 256, "text-dim": 64}, gguf.TypeF16)},
		{role: "text encoder", path: filepath.Join(dir, "synth-umt5.gguf"),
			synthJob: planSynth(t, "t5", map[string]int{"dim": 64, "layers": 1, "ffn-dim": 128, "heads": 2, "vocab": 1100}, gguf.TypeQ8_0)},
		{role: "VAE", path: filepath.Join(dir, "synth-vae.safetensors"), synthJob: planSynth(t, "vae", map[string]int{"dim": 8}, gguf.TypeBF16)},
	}
	var out bytes.Buffer
	if err := materialize(context.Background(), dir, files, "", &out); err != nil {
		t.Fatal(err)
	}
	for _, j := range files {
		want := "writing the synthetic " + j.role + " to " + j.path + ": " + formatGB(j.size) + ", " + j.what + "\n"
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), ") (") {
		t.Errorf("a parenthesis follows a parenthesis:\n%s", out.String())
	}
}
