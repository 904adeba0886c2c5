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

// TestBenchShowsLibraryWarningsOnce: the library's warnings (wan22.Options.Log)
// reach the bench's user (they were dropped) once, however many runs open the
// models again and log them again (an 8-bit attention warning on Hopper, say).
func TestBenchShowsLibraryWarningsOnce(t *testing.T) {
	isolateTemp(t)
	m := tinyFiles(t)
	saved := openGenerator
	t.Cleanup(func() { openGenerator = saved })
	opened := 0
	openGenerator = func(ctx context.Context, models wan22.Models, o wan22.Options) (generator, error) {
		opened++
		if o.Log == nil {
			t.Fatal("the bench opens the models without a log")
		}
		o.Log.Warn("int8 attention runs slower than bf16 attention on this GPU", "component", "cuda")
		return saved(ctx, models, o)
	}
	code, stdout, stderr := runBenchCtx(context.Background(), "--device", "cpu", "--high", m.High, "--low", m.Low, "--text-encoder", m.TextEncoder,
		"--vae", m.VAE, "--frames", "5,9", "--size", "32x16", "--steps", "2")
	if code != 0 || opened != 2 {
		t.Fatalf("exit %d, %d runs opened, want 0 and 2\n%s\n%s", code, opened, stdout, stderr)
	}
	if n := strings.Count(stderr, "wan22 bench: warning: cuda: int8 attention runs slower than bf16 attention on this GPU\n"); n != 1 {
		t.Errorf("the warning printed %d times, want once:\n%s", n, stderr)
	}
}

// TestBenchLogOnce: benchLog prints each distinct warning once, and no
// information lines.
func TestBenchLogOnce(t *testing.T) {
	var b strings.Builder
	l := benchLog(&b)
	l.Info("quiet")
	l.Warn("one", "k", "v")
	l.Warn("one", "k", "v")
	l.Warn("two")
	if want := "wan22 bench: warning: one (k: v)\nwan22 bench: warning: two\n"; b.String() != want {
		t.Errorf("log = %q, want %q", b.String(), want)
	}
}
