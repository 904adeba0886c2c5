package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/gguf"
)

func TestRunSynth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.gguf")
	var stdout, stderr bytes.Buffer
	args := []string{"-type", "Q4_K", "-dim", "256", "-layers", "2", "-ffn", "512", "-text", "128", "-seed", "3", path}
	if rc := runSynth(args, &stdout, &stderr); rc != 0 {
		t.Fatalf("exit %d: %s", rc, stderr.String())
	}
	if !strings.Contains(stdout.String(), "dim 256, 2 layers, 2 heads") {
		t.Errorf("stdout %q", stdout.String())
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := dit.ConfigFrom(f)
	want := dit.Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: 128, FreqDim: 256, Layers: 2, Heads: 2}
	if err != nil || cfg != want {
		t.Errorf("config %+v (%v), want %+v", cfg, err, want)
	}
	if ti, _ := f.Lookup("blocks.1.ffn.0.weight"); ti.Type != gguf.TypeQ4_K {
		t.Errorf("ffn.0 type %v, want Q4_K", ti.Type)
	}

	for _, bad := range [][]string{{"-type", "Q9_9", path}, {}, {"-dim", "200", path}} {
		stderr.Reset()
		if rc := runSynth(bad, &stdout, &stderr); rc == 0 {
			t.Errorf("%q: exit 0", bad)
		}
	}
}
