package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
