package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wan22/wan22"
)

// TestQA14BenchFolderIsFile: --out-video or --synth-dir naming an existing
// file says that the name is a file and asks for a folder; it said "is not
// an existing folder: create it first", which cannot be done with a file in
// the way. A missing folder keeps its advice (TestBenchSynthDirMissing).
func TestQA14BenchFolderIsFile(t *testing.T) {
	tmp := isolateTemp(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	smallSynth(t)
	m := tinyFiles(t)
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, flag := range []string{"--out-video", "--synth-dir"} {
		args := []string{"--device", "cpu", "--vae", m.VAE, "--frames", "5", "--size", "32x16", "--steps", "1", "--no-history", flag, file}
		code, stdout, stderr := runBenchCtx(t.Context(), args...)
		require.Equal(t, 2, code, "%q: %s%s", args, stdout, stderr)
		require.Empty(t, stdout)
		require.True(t, strings.HasPrefix(stderr, "wan22 bench: "+flag+" "+file+" is a file, not a folder: give a folder"), "%q: %s", args, stderr)
		require.NotContains(t, stderr, "create it first")
	}
	assertEmptyDir(t, tmp)
}

// TestQA14LoRAEmptyName: a LoRA flag without a file name (--lora "",
// --lora-high=, --lora :0.5) is said in the words of the other flag errors,
// with an example of the value wanted; it had the flag package's 'invalid
// value "" for flag -lora: want FILE or FILE:STRENGTH: the file name is
// empty'.
func TestQA14LoRAEmptyName(t *testing.T) {
	isolateTemp(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	i2v := []string{"i2v", "--image", "a.png", "--high", "h.gguf", "--low", "l.gguf", "--text-encoder", "t.gguf", "--vae", "v.safetensors",
		"--prompt", "a cat", "--out", "v.mp4"}
	bench := []string{"bench", "--device", "cpu", "--frames", "5", "--size", "32x16", "--steps", "1", "--no-history"}
	for _, c := range []struct {
		flag, value, want string
	}{
		{"--lora", "", `--lora "": the file name is empty: give a LoRA file, optionally with a strength: --lora style.safetensors:0.8`},
		{"--lora-high", "", `--lora-high "": the file name is empty: give a LoRA file, optionally with a strength: --lora-high style.safetensors:0.8`},
		{"--lora-low", ":0.5", `--lora-low ":0.5": the file name is empty: give a LoRA file, optionally with a strength: --lora-low style.safetensors:0.8`},
	} {
		for _, args := range [][]string{i2v, bench} {
			args = append(slices.Clone(args), c.flag+"="+c.value)
			code, stdout, stderr := runCLI(args...)
			require.Equal(t, 2, code, "%q: %s%s", args, stdout, stderr)
			require.True(t, strings.HasPrefix(stderr, "wan22 "+args[0]+": "+c.want+"\n"), "%q: %s", args, stderr)
			require.NotContains(t, stderr, "invalid value", "%q", args)
		}
	}
}

// TestQA14OutputTrailingSpace: an output name that ends in a space (a name
// copied with the space after it: bench --json "r.json ", i2v --frames-dir
// "frames ") is refused on every system, with the name without it, in
// synth's words (TestQA14SynthTrailingSpace); it was accepted, and made a
// file or folder whose name shows no space and which a shell can hardly
// name. On Windows, which drops a trailing dot or space, the refusal of a
// name ending in a dot gives the name without it too.
func TestQA14OutputTrailingSpace(t *testing.T) {
	isolateTemp(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct {
		path, want string
		kind       outputKind
	}{
		{"r.json ", `--x "r.json ": the name ends in a space after its extension .json: name the file r.json`, newFile},
		{"r.JSON\u00a0", `--x "r.JSON\u00a0": the name ends in a space after its extension .JSON: name the file r.JSON`, newFile},
		{"frames ", `--x "frames ": the name ends in a space: name the folder frames`, newFolder},
		{"frames /", `--x "frames /": the name ends in a space: name the folder frames`, newFolder},
		{"p.png  ", `--x "p.png  ": the name ends in spaces after its extension .png: name the file p.png`, replacedFile},
	} {
		err := checkOutputPath("--x", c.path, c.kind)
		require.EqualError(t, err, c.want, "%q", c.path)
	}
	require.NoError(t, checkOutputPath("--x", "a b.json", newFile))

	// Through the commands.
	code, stdout, stderr := runBenchCtx(t.Context(), "--device", "cpu", "--frames", "5", "--size", "32x16", "--steps", "1", "--no-history", "--json", "r.json ")
	require.Equal(t, 2, code, "%s%s", stdout, stderr)
	require.True(t, strings.HasPrefix(stderr, `wan22 bench: --json "r.json ": the name ends in a space after its extension .json: name the file r.json`+"\n"), stderr)
	i2v := []string{"i2v", "--image", "a.png", "--high", "h.gguf", "--low", "l.gguf", "--text-encoder", "t.gguf", "--vae", "v.safetensors", "--prompt", "a cat"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--frames-dir", "frames "}, `--frames-dir "frames ": the name ends in a space: name the folder frames`},
		{[]string{"--out", "v.mp4", "--preview", "p.png "}, `--preview "p.png ": the name ends in a space after its extension .png: name the file p.png`},
	} {
		code, stdout, stderr := runCLI(append(slices.Clone(i2v), c.args...)...)
		require.Equal(t, 2, code, "%q: %s%s", c.args, stdout, stderr)
		require.True(t, strings.HasPrefix(stderr, "wan22 i2v: "+c.want+"\n"), "%q: %s", c.args, stderr)
	}
	require.Empty(t, dirEntries(t, dir))

	for path, want := range map[string]string{
		"video.mp4.":    "--out video.mp4.: Windows drops a dot or space at the end of a file name, so the output would not get this name: name it video.mp4",
		`out\frames. .`: `--out out\frames. .: Windows drops a dot or space at the end of a file name, so the output would not get this name: name it out\frames`,
		"...":           "--out ...: Windows drops a dot or space at the end of a file name, so the output would not get this name: choose another name",
	} {
		require.EqualError(t, checkOutputName("--out", path, "windows"), want, "%q", path)
	}
}

// signalStderr is the standard error as main hands it to a command
// (watchBroken, then helpTo) over a file the test reads back, with the
// signal handler of a command (interruptContextFor) writing to it as
// commandContext's does to the real one. It skips on Windows.
func signalStderr(t *testing.T) (stderr io.Writer, ctx context.Context, read func() string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("a process cannot send itself a signal on Windows")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	w := watchBroken(f)
	ctx, stop := interruptContextFor(w, func(int) {}, func(os.Signal) time.Duration { return 0 })
	t.Cleanup(stop)
	return helpTo{w, io.Discard}, ctx, func() string {
		b, err := os.ReadFile(f.Name())
		require.NoError(t, err)
		return string(b)
	}
}

// TestQA14SignalEndsProgressLine: a Ctrl-C while a progress line is shown
// on the terminal (i2v's bar, bench's and synth's line) says
// "wan22: interrupted; …" on a line of its own, the progress line ended
// before it (the last progress stays, saying how far the run got); it was
// printed on the progress line, after its text. The signal handler runs on
// its own goroutine: the standard error's writer, which both write
// through, keeps what is on the line. A message written after a progress
// line is redrawn (the command's "wan22 i2v: interrupted; nothing was
// written") starts on a line of its own too, and the bar's own newline
// that ends it later leaves no empty line.
func TestQA14SignalEndsProgressLine(t *testing.T) {
	const msg = "wan22: interrupted; stopping and removing the partial output (Ctrl-C again to quit at once)\n"

	t.Run("i2v", func(t *testing.T) {
		stderr, ctx, read := signalStderr(t)
		r := newReporter(io.Discard, stderr, false)
		r.tty, r.line.vt = true, true // as on a terminal
		r.event(wan22.Event{Stage: wan22.HighNoise, Step: 3, Steps: 40, Elapsed: time.Second})
		interruptSelf(t)
		waitCancelled(t, ctx)
		// Another step ends as the run stops, then the command fails.
		r.event(wan22.Event{Stage: wan22.HighNoise, Step: 4, Steps: 40, Elapsed: 2 * time.Second})
		fmt.Fprintf(stderr, "wan22 i2v: interrupted; nothing was written\n")
		require.Equal(t, "\r\033[Khigh-noise 3/40  elapsed 1s\n"+msg+
			"\r\033[Khigh-noise 4/40  elapsed 2s\nwan22 i2v: interrupted; nothing was written\n", read())
	})

	t.Run("bar ended after", func(t *testing.T) {
		stderr, ctx, read := signalStderr(t)
		r := newReporter(io.Discard, stderr, false)
		r.tty, r.line.vt = true, true
		r.event(wan22.Event{Stage: wan22.HighNoise, Step: 3, Steps: 40, Elapsed: time.Second})
		interruptSelf(t)
		waitCancelled(t, ctx)
		r.warn("something") // ends the bar first, which the signal ended
		require.Equal(t, "\r\033[Khigh-noise 3/40  elapsed 1s\n"+msg+"wan22 i2v: warning: something\n", read())
	})

	t.Run("bench", func(t *testing.T) {
		defer func(old func(io.Writer) bool) { benchIsTerminal = old }(benchIsTerminal)
		benchIsTerminal = func(io.Writer) bool { return true }
		stderr, ctx, read := signalStderr(t)
		bar := newBenchBar(stderr)
		bar.show("96x64, 1 frame, VRAM all: high-noise 1/4")
		interruptSelf(t)
		waitCancelled(t, ctx)
		fmt.Fprintf(bar.clearing(stderr), "wan22 bench: interrupted\n")
		require.Equal(t, "\r\033[K96x64, 1 frame, VRAM all: high-noise 1/4\n"+msg+"\r\033[K\rwan22 bench: interrupted\n", read())
	})

	t.Run("no line", func(t *testing.T) {
		stderr, ctx, read := signalStderr(t)
		fmt.Fprintf(stderr, "a message\n")
		interruptSelf(t)
		waitCancelled(t, ctx)
		fmt.Fprintf(stderr, "\n")
		require.Equal(t, "a message\n"+msg+"\n", read())
	})
}
