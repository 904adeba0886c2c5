package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22"
)

// TestBenchCancelKeepsFinishedVideos: a bench with --out-video stopped by
// Ctrl-C in its second run keeps the first run's complete video, removes the
// one being written, and says which videos stay (a later bench into the
// folder refuses to replace them).
func TestBenchCancelKeepsFinishedVideos(t *testing.T) {
	isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	vids := t.TempDir()
	first := benchVideoPath(vids, [2]int{32, 16}, 5, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchProgress = func(ev wan22.Event) {
		if _, err := os.Stat(first); err == nil && ev.Stage == wan22.HighNoise {
			cancel()
		}
	}
	defer func() { benchProgress = nil }()
	code, stdout, stderr := runBenchCtx(ctx, "--device", "cpu", "--vae", m.VAE, "--frames", "5,9", "--size", "32x16", "--steps", "2",
		"--out-video", vids)
	if code != exitInterrupted {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	ents, _ := os.ReadDir(vids)
	if len(ents) != 1 || ents[0].Name() != filepath.Base(first) {
		t.Fatalf("--out-video holds %v, want only %s", ents, filepath.Base(first))
	}
	want := "the videos of the runs that finished stay in --out-video " + vids + ": " + filepath.Base(first)
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not say which videos stay (%q):\n%s", want, stderr)
	}
}
