package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/benchreport"
	"github.com/wan22/wan22/internal/plural"
)

// TestQA14SynthOutName: synth's OUT is refused as i2v's outputs are when it
// is "-" (standard output to other programs) or holds a control or
// deceiving invisible character, before anything is written and with the
// name quoted. synth made "a\nb.gguf" and "clip\u202egguf.gguf", printed
// them raw (an ESC drove the terminal), and for - advised "name the file
// -.gguf".
func TestQA14SynthOutName(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		kind, out, want string
	}{
		{"dit", "-", "wan22 synth: OUT -: - would mean standard output, but the model is written to a file: give a file name, such as model.gguf\n"},
		{"vae", "-", "such as model.safetensors\n"},
		{"dit", filepath.Join(dir, "a\nb.gguf"), `: the name contains a control character (newline); choose a name without it`},
		{"vae", filepath.Join(dir, "a\x1b[31mred.safetensors"), `the name contains a control character (escape, ESC)`},
		{"dit", filepath.Join(dir, "clip\u202eabc.gguf"), `right-to-left override (U+202E)`},
	} {
		args := []string{"-kind", c.kind}
		if c.kind == "dit" {
			args = append(args, tinyDiT...)
		} else {
			args = append(args, "-dim", "4")
		}
		code, stdout, stderr := runSynthCtx(context.Background(), append(args, c.out)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("synth %q: exit %d, stdout %q, stderr %q; want 2 and %q", c.out, code, stdout, stderr, c.want)
		}
		if strings.ContainsAny(stderr, "\x1b\u202e") || strings.Contains(stderr, "a\nb") {
			t.Errorf("synth %q: the message prints the name raw: %q", c.out, stderr)
		}
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("the folder holds %q, want nothing", names)
	}
}

// TestQA14Tilde: a path that starts with a ~ the shell left alone
// (--high=~/m.gguf, "~/v.gguf") is said to be one, with the spelling that
// works, as i2v says it (TestI2VTildeNotExpanded): bench said "--high
// ~/m.gguf does not exist: check the path" of its models and reports,
// "no such file" of a LoRA, "create it first" of --out-video, and synth
// "the folder ~ does not exist; create it first", which makes a folder
// named ~. A ~ after the comma of a --from-json list, which no shell
// expands, gets the full path.
func TestQA14Tilde(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	report := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, os.WriteFile(report, []byte("{}"), 0o644))
	const shell = ": the shell did not expand ~ to a home folder: it does so only at the start of a word, not after = or in quotes; write "
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--high", "~/m/high.gguf"}, "wan22 bench: --high ~/m/high.gguf: no such file" + shell + "--high ~/m/high.gguf (with a space, no quotes) or the full path " + filepath.Join(home, "m", "high.gguf") + "\n"},
		{[]string{"bench", "--vae", "~bob/vae.safetensors"}, "wan22 bench: --vae ~bob/vae.safetensors: no such file" + shell + "--vae ~bob/vae.safetensors (with a space, no quotes)\n"},
		{[]string{"bench", "--lora-low", "~/l.safetensors:0.5"}, "wan22 bench: --lora-low ~/l.safetensors: no such file" + shell},
		{[]string{"bench", "--out-video", "~/videos"}, "wan22 bench: --out-video ~/videos: no such folder" + shell},
		{[]string{"bench", "--synth-lora", "2", "--synth-dir", "~/synth"}, "wan22 bench: --synth-dir ~/synth: no such folder" + shell},
		{[]string{"bench", "--compare", "~/old.json"}, "wan22 bench: --compare ~/old.json: no such file" + shell},
		{[]string{"bench", "--torch-json", "~/t.json"}, "wan22 bench: --torch-json ~/t.json: no such file" + shell},
		{[]string{"bench", "--from-json", "~/a.json"}, "wan22 bench: --from-json ~/a.json: no such file" + shell},
		{[]string{"bench", "--from-json", report + ",~/b.json"}, "wan22 bench: --from-json ~/b.json: no such file: the shell expands ~ to a home folder only at the start of a word, not after a comma: write the full path " + filepath.Join(home, "b.json") + "\n"},
		{[]string{"synth", "-kind", "vae", "~/v.safetensors"}, "wan22 synth: the folder ~ does not exist: the shell did not expand ~ to a home folder: it does so only at the start of a word, not in quotes; write ~/v.safetensors without quotes, or the full path " + filepath.Join(home, "v.safetensors") + "\n"},
		{[]string{"synth", "-kind", "vae", "~bob/v.safetensors"}, "wan22 synth: the folder ~bob does not exist: the shell did not expand ~ to a home folder: it does so only at the start of a word, not in quotes; write ~bob/v.safetensors without quotes\n"},
	} {
		code, _, stderr := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, "%q", c.args)
		require.NotContains(t, stderr, "create it first")
	}
	require.Empty(t, dirEntries(t, cwd))

	// A folder really named ~ is an ordinary folder.
	require.NoError(t, os.Mkdir(filepath.Join(cwd, "~"), 0o755))
	code, _, stderr := runCLI("synth", "-kind", "vae", filepath.Join("~", "sub", "v.safetensors"))
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "does not exist; create it first")
	code, _, stderr = runCLI("bench", "--compare", filepath.Join("~", "old.json"))
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "does not exist: check the path")
	require.NotContains(t, stderr, "expand")
}

// TestQA14SynthSpaceAdvice: synth's disk-space refusal advises only the
// flags of the kind written that make it smaller, and none where the disk
// has less free than synth keeps for the system. It advised "-layers,
// -type Q4_K" for every kind: -kind vae refuses -layers and cannot be
// written in Q4_K, a Q4_K model is Q4_K already, and on a disk with 1 MB
// free no smaller model fits.
func TestQA14SynthSpaceAdvice(t *testing.T) {
	for _, c := range []struct {
		kind string
		wt   gguf.Type
		want string
	}{
		{"dit", gguf.TypeQ8_0, "-layers, -type Q4_K"},
		{"dit", gguf.TypeQ4_K, "-layers"},
		{"t5", gguf.TypeBF16, "-layers, -type Q4_K"},
		{"vae", gguf.TypeBF16, "-dim"},
		{"vae", gguf.TypeF16, "-dim"},
		{"vae", gguf.TypeF32, "-dim, -type BF16"},
	} {
		require.Equal(t, c.want, synthSmaller(c.kind, c.wt), "%s %v", c.kind, c.wt)
	}
	// Every flag advised is one the kind takes.
	for _, k := range synthKinds {
		for _, wt := range k.types {
			for _, fl := range strings.Split(synthSmaller(k.name, wt), ", ") {
				name, typ, _ := strings.Cut(strings.TrimPrefix(fl, "-"), " ")
				switch name {
				case "type":
					tt, ok := gguf.TypeByName(typ)
					require.True(t, ok && slices.Contains(k.types, tt) && tt != wt, "%s %v: %s", k.name, wt, fl)
				default:
					require.Contains(t, k.flags, name, "%s %v: %s", k.name, wt, fl)
				}
			}
		}
	}
	err := synthSpaceError("/d", 500<<30, 100<<30, "-dim")
	require.EqualError(t, err, "not enough disk space in /d: the file needs 536.87 GB, and of the 107.37 GB free synth keeps 64 MiB for the rest of the system; free some space, write elsewhere, or make the model smaller (-dim)")
	err = synthSpaceError("/d", 507062, 1<<20, "-dim")
	require.EqualError(t, err, "not enough disk space in /d: the file needs 507.06 kB, and of the 1.05 MB free synth keeps 64 MiB for the rest of the system; free some space or write elsewhere")
}

// TestQA14DistillOneStep: a distill schedule of one timestep, which runs
// one expert, is refused with what to give; the refusal advised "use
// --switch-step or another --boundary", neither of which gives each expert
// a step of a 1-step schedule (--switch-step 1 was then "out of range: want
// 1 to 0").
func TestQA14DistillOneStep(t *testing.T) {
	for _, extra := range [][]string{nil, {"--switch-step", "1"}, {"--boundary", "0.5"}} {
		code, _, stderr := runCLI(append([]string{"bench", "--solver", "distill", "--timesteps", "1000"}, extra...)...)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "wan22 bench: --timesteps 1000: the bench times both experts, and a 1-step schedule runs one of them: give at least 2 timesteps, such as 1000,500\n")
	}
	code, _, stderr := runCLI("bench", "--solver", "distill", "--timesteps", "1000,500", "--frames", "1", "--json", filepath.Join(t.TempDir(), "r.json"), "--no-history")
	require.Equal(t, 0, code, stderr)
}

// TestQA14FromJSONWording: --from-json's line and refusal agree in number
// with what they count: "merged 1 run of 1 report" (it said "1 reports"),
// and flags it would ignore are "them" when there are several ("so
// --frames, --size would be ignored: give them to the bench runs"; it said
// "give it").
func TestQA14FromJSONWording(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	_, f16, q8 := writeMergeInputs(t)
	for _, in := range []string{f16, q8} {
		rep, err := benchreport.ReadFile(in)
		require.NoError(t, err)
		code, stdout, stderr := runBenchCtx(t.Context(), "--from-json", in)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "merged "+plural.Count(len(rep.Runs), "run")+" of 1 report; nothing was run\n")
	}
	code, _, stderr := runBenchCtx(t.Context(), "--from-json", f16, "--frames", "5")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "so --frames would be ignored: give it to the bench runs, or leave it out (")
	code, _, stderr = runBenchCtx(t.Context(), "--from-json", f16, "--frames", "5", "--size", "96x64")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "so --frames, --size would be ignored: give them to the bench runs, or leave them out (")
}

// TestQA14EmptyPathFlag: a path flag given an empty name (--high "$HIGH"
// with HIGH unset) is refused, naming the flag; the bench took it as left
// out and, without a word, ran synthetic models for --high "" (a full-size
// one of 15 GB on a GPU), wrote no report for --json "", and kept no
// videos for --out-video "".
func TestQA14EmptyPathFlag(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--high", ""}, `--high "": the name is empty (an unset shell variable?): give a name, or leave --high out for a synthetic expert`},
		{[]string{"--vae", " "}, `--vae " ": the name is empty`},
		{[]string{"--json", ""}, `--json "": the name is empty (an unset shell variable?): give a name, or leave --json out for no JSON report`},
		{[]string{"--out-video", ""}, `--out-video "": the name is empty`},
		{[]string{"--compare", ""}, `--compare "": the name is empty`},
		{[]string{"--torch-json", ""}, `--torch-json "": the name is empty`},
		{[]string{"--from-json", filepath.Join(cwd, "r.json"), "--html", ""}, `--html "": the name is empty`},
	} {
		code, stdout, stderr := runBenchCtx(t.Context(), c.args...)
		require.Equal(t, 2, code, "%q: %s%s", c.args, stdout, stderr)
		require.Contains(t, stderr, "wan22 bench: "+c.want, "%q", c.args)
	}
	require.Empty(t, dirEntries(t, cwd))
}

// TestQA14BenchInputNameControlChars: bench prints an input path holding a
// control character quoted in every message, as i2v does (ff6b4ec): its own
// messages and the library's printed "--high no\x1b[31m.gguf does not
// exist", and the ESC drove the terminal. Such a file can exist, so it is
// not refused.
func TestQA14BenchInputNameControlChars(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	bad := "no\x1b[31m"
	dit := filepath.Join(dir, "x\x1b[31m.gguf")
	code, _, stderr := runSynthCtx(t.Context(), append(append([]string{"-kind", "dit"}, tinyDiT...), "x.gguf")...)
	require.Equal(t, 0, code, stderr)
	require.NoError(t, os.Rename("x.gguf", dit)) // synth refuses such a name
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--high", bad + ".gguf"}, `--high "no\x1b[31m.gguf" does not exist: check the path`},
		{[]string{"--vae", dit, "--high", dit}, `--vae "` + strings.ReplaceAll(dit, "\x1b", `\x1b`) + `" is a WAN i2v DiT, not the WAN 2.1 VAE`},
		{[]string{"--compare", bad + ".json"}, `--compare "no\x1b[31m.json" does not exist: check the path`},
		{[]string{"--out-video", bad}, `--out-video "no\x1b[31m" is not an existing folder`},
		{[]string{"--from-json", bad + ".json"}, `--from-json "no\x1b[31m.json" does not exist: check the path`},
	} {
		code, stdout, stderr := runBenchCtx(t.Context(), c.args...)
		require.Equal(t, 2, code, "%q: %s%s", c.args, stdout, stderr)
		require.Contains(t, stderr, "wan22 bench: "+c.want, "%q", c.args)
		require.NotContains(t, stdout+stderr, "\x1b")
	}
}

// TestQA14BenchProgressLine: on a terminal the bench shows each run's
// progress on one line of standard error, drawn over itself ("96x64, 1
// frame, VRAM all: high-noise 1/4, 0.31 s/step, ETA 1s, elapsed 1s") and
// erased before the run's result line; it printed nothing between the
// schedule line and the end of each run, which on the full-size models
// takes minutes (the first run loads 15 GB of experts) and looks hung.
// Without a terminal nothing is added: the output is the same with and
// without the line, less the line.
func TestQA14BenchProgressLine(t *testing.T) {
	isolateTemp(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	run := func(tty bool) string {
		t.Helper()
		defer func(old func(io.Writer) bool) { benchIsTerminal = old }(benchIsTerminal)
		benchIsTerminal = func(io.Writer) bool { return tty }
		var out bytes.Buffer
		// One writer for both, as on a terminal: the order shows that the
		// line is erased before the result.
		code := bench(t.Context(), []string{"--frames", "1", "--no-history"}, &out, &out)
		require.Equal(t, 0, code, out.String())
		return out.String()
	}
	plain := run(false)
	require.NotContains(t, plain, "\r")
	got := run(true)
	for _, want := range []string{
		"\r\x1b[K96x64, 1 frame, VRAM all: opening the models",
		"\r\x1b[K96x64, 1 frame, VRAM all: text-encode done, elapsed ",
		"\r\x1b[K96x64, 1 frame, VRAM all: high-noise 1/4, ",
		" s/step, ETA ",
		"\r\x1b[K96x64, 1 frame, VRAM all: low-noise 4/4",
		"\r\x1b[K\r96x64, 1 frame, VRAM all: measured ",
	} {
		require.Contains(t, got, want)
	}
	// Less the progress line, the output is the one without a terminal
	// (but for the times measured).
	strip := regexp.MustCompile(`\r\x1b\[K[^\r\n]*`)
	digits := regexp.MustCompile(` *[0-9.]+ *`) // the table's columns are as wide as their numbers
	require.Equal(t, digits.ReplaceAllString(plain, "N "), digits.ReplaceAllString(strings.ReplaceAll(strip.ReplaceAllString(got, ""), "\r", ""), "N "))
}

// TestQA14SynthProgress: on a terminal, synth and the bench's synthetic
// files show the bytes written on a line of standard error, erased before
// the next line; a 15 GB model took from half a minute to minutes with
// nothing on the screen. writeAtomicProgress reports the bytes in its
// private folder and never after it returns.
func TestQA14SynthProgress(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var seen []int64
	returned, late := false, false
	write := func(path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		for range 3 {
			if _, err := f.Write(make([]byte, 1000)); err != nil {
				return err
			}
			time.Sleep(400 * time.Millisecond)
		}
		return nil
	}
	err := writeAtomicProgress(t.Context(), filepath.Join(dir, "m.gguf"), write, func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		late = late || returned
		seen = append(seen, n)
	})
	mu.Lock()
	returned = true
	mu.Unlock()
	time.Sleep(300 * time.Millisecond) // a tick that would come after
	mu.Lock()
	require.False(t, late, "progress after the write returned")
	mu.Unlock()
	require.NoError(t, err)
	require.NotEmpty(t, seen)
	require.True(t, slices.IsSorted(seen), "%v", seen)
	require.Contains(t, seen, int64(2000), "%v", seen)
	require.Equal(t, []string{"m.gguf"}, dirEntries(t, dir))

	// The line as synth shows it, erased before "wrote".
	defer func(old func(io.Writer) bool) { benchIsTerminal = old }(benchIsTerminal)
	benchIsTerminal = func(io.Writer) bool { return true }
	var out bytes.Buffer
	bar := newBenchBar(&out)
	bar.written(15_420_000_000)(1_050_000_000)
	fmt.Fprint(bar.clearing(&out), "wrote m.gguf\n")
	require.Regexp(t, `^\r\x1b\[K  1\.05 GB of 15\.42 GB written \(6%\), [0-9]+ MB/s\r\x1b\[K\rwrote m\.gguf\n$`, out.String())
	code, stdout, stderr := runSynthCtx(t.Context(), "-kind", "vae", "-dim", "4", filepath.Join(dir, "v.safetensors"))
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "wrote ")
}

// fullDiskGenerator is a generator whose video writes find the disk full.
type fullDiskGenerator struct{ *wan22.Pipeline }

func (g fullDiskGenerator) Generate(ctx context.Context, r wan22.Request, out wan22.Output) error {
	return fmt.Errorf("video out/bench.avi: %w", &os.PathError{Op: "write", Path: "out/.bench.avi.tmp-8381-3067255403", Err: syscall.ENOSPC})
}

// TestQA14VideoDiskFull: a run whose video finds the disk full says so in
// words with what to do, in its line, the table and the report; it said
// "video out/bench-96x64-5f-all.avi: write out/.bench-96x64-5f-all.avi.tmp-8381-3067255403:
// no space left on device", naming a temporary file that is gone.
func TestQA14VideoDiskFull(t *testing.T) {
	tmp := isolateTemp(t)
	saved := openGenerator
	t.Cleanup(func() { openGenerator = saved })
	openGenerator = func(ctx context.Context, models wan22.Models, o wan22.Options) (generator, error) {
		p, err := wan22.Open(ctx, models, o)
		return fullDiskGenerator{p}, err
	}
	videos := t.TempDir()
	js := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runBenchCtx(t.Context(), "--frames", "1", "--no-history", "--out-video", videos, "--json", js)
	require.Equal(t, 1, code, stderr)
	want := "writing the run's video in --out-video " + videos + ", the disk became full (another program may have filled it): free some space there, or give --out-video a folder on another disk (or leave it out: the videos are then temporary files)"
	require.Contains(t, stdout, "96x64, 1 frame, VRAM all: failed: "+want+"\n")
	require.NotContains(t, stdout, ".tmp-")
	rep, err := benchreport.ReadFile(js)
	require.NoError(t, err)
	require.Equal(t, want, rep.Runs[0].Error)

	code, stdout, stderr = runBenchCtx(t.Context(), "--frames", "1", "--no-history")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stdout, "failed: writing the run's video in the temporary folder "+tmp+", the disk became full (another program may have filled it): free some space there, or set TMPDIR to a folder on another disk\n")
}

// TestQA14FailedRunsSaid: a bench in which a run failed says so on standard
// error as it ends with status 1; with the table in a file (> bench.txt) it
// ended with status 1 and nothing on the screen.
func TestQA14FailedRunsSaid(t *testing.T) {
	isolateTemp(t)
	saved := openGenerator
	t.Cleanup(func() { openGenerator = saved })
	openGenerator = func(ctx context.Context, models wan22.Models, o wan22.Options) (generator, error) {
		p, err := wan22.Open(ctx, models, o)
		return fullDiskGenerator{p}, err
	}
	code, stdout, stderr := runBenchCtx(t.Context(), "--frames", "1,5", "--no-history")
	require.Equal(t, 1, code, stdout)
	require.Equal(t, "wan22 bench: 2 of 2 runs failed (the table says why)\n", stderr)
}

// TestQA14SynthKindCase: -kind takes any case, as -type does (-type q4_k)
// and bench's --solver and --device do; "-kind VAE" was refused as
// 'unknown -kind "VAE": want one of dit, t5, vae'.
func TestQA14SynthKindCase(t *testing.T) {
	out := filepath.Join(t.TempDir(), "v.safetensors")
	code, stdout, stderr := runSynthCtx(t.Context(), "-kind", "VAE", "-dim", "4", "-type", "f16", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "writing a ")
	require.Contains(t, stdout, "F16 WAN 2.1 VAE (base width 4")
	code, _, stderr = runSynthCtx(t.Context(), "-kind", "Vae", "-dim", "4", filepath.Join(t.TempDir(), "v.gguf"))
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "-kind vae writes safetensors, not gguf")
}

// TestQA14ReportWriteError: a report that cannot be written (a full disk,
// at the end of a bench of an hour) is said in words, with the flag, what
// to do and that the table printed has the results, without the temporary
// file it was written through: it said "writing r.json: write
// .r.json.tmp-21667-3146669403: no space left on device".
func TestQA14ReportWriteError(t *testing.T) {
	full := fmt.Errorf("closing: %w", &os.PathError{Op: "write", Path: "out/.r.json.tmp-21667-3146669403", Err: syscall.ENOSPC})
	require.EqualError(t, reportWriteError("--json", "out/r.json", full),
		"--json out/r.json was not written: the disk became full (another program may have filled it); the table above has the results: free some space, or write the report to another disk")
	denied := &os.PathError{Op: "open", Path: "out/.r.html.tmp-1-2", Err: syscall.EACCES}
	err := reportWriteError("--html", "out/r.html", denied)
	require.EqualError(t, err, "--html out/r.html was not written: permission denied")
	require.ErrorIs(t, err, syscall.EACCES)
}

// TestQA14SynthFileDiskFull: a synthetic file whose write fills the disk
// (another program took the space the check saw) is said in words with
// the bench's advice, and nothing is left; the bench printed the engine
// writer's "write DIR/.synth-….wan22-bench-…/.synth-….tmp-…: no space
// left on device".
func TestQA14SynthFileDiskFull(t *testing.T) {
	dir := t.TempDir()
	j := synthFile{role: "VAE", path: filepath.Join(dir, "synth-vae.safetensors"), kind: modelfile.KindWanVAE,
		synthJob: synthJob{what: "VAE", size: 1000, write: func(path string) error {
			if err := os.WriteFile(path+".tmp-1-2", make([]byte, 500), 0o644); err != nil {
				return err
			}
			os.Remove(path + ".tmp-1-2")
			return &os.PathError{Op: "write", Path: path + ".tmp-1-2", Err: syscall.ENOSPC}
		}}}
	err := materialize(t.Context(), dir, []synthFile{j}, "free some space, or give a --synth-dir elsewhere", io.Discard)
	require.EqualError(t, err, "the synthetic VAE was not written to "+dir+": the disk became full while writing it (another program may have filled it), and nothing was left behind; free some space, or give a --synth-dir elsewhere")
	require.Empty(t, dirEntries(t, dir))
}

// TestQA14AttentionAuto: bench --attention int8 without --device, in a
// binary without CUDA, says that the binary has none, as i2v does; it said
// "--device cpu computes attention in f32: use --attention bf16 or --device
// cuda", of a --device the user did not give, advising one the binary
// refuses.
func TestQA14AttentionAuto(t *testing.T) {
	saved := cudaAvailable
	t.Cleanup(func() { cudaAvailable = saved })
	cudaAvailable = func() bool { return false }
	code, _, stderr := runBenchCtx(t.Context(), "--attention", "int8")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "wan22 bench: --attention int8: 8-bit attention needs the CUDA backend, and this binary was built without CUDA: build it with `make cuda`, or use --attention bf16\n")
	code, _, stderr = runBenchCtx(t.Context(), "--attention", "fp8", "--device", "cpu")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--device cpu computes attention in f32")
}

// TestQA14SynthTrailingSpace: an OUT that ends in a space (a name copied
// with the space after it) is refused with the name without it; synth
// advised "name the file v.safetensors .safetensors" for "v.safetensors ".
func TestQA14SynthTrailingSpace(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ kind, out, want string }{
		{"vae", "v.safetensors ", `"` + filepath.Join(dir, "v.safetensors ") + `": the name ends in a space after its extension .safetensors: name the file ` + filepath.Join(dir, "v.safetensors") + "\n"},
		{"dit", "d.GGUF\u00a0", `: the name ends in a space after its extension .GGUF: name the file ` + filepath.Join(dir, "d.GGUF") + "\n"},
		{"dit", "d.txt ", ": -kind dit writes GGUF, which wants the extension .gguf: name the file " + filepath.Join(dir, "d.gguf") + "\n"},
		{"dit", "d ", ": -kind dit writes GGUF, which wants the extension .gguf: name the file " + filepath.Join(dir, "d.gguf") + "\n"},
	} {
		code, _, stderr := runSynthCtx(t.Context(), "-kind", c.kind, filepath.Join(dir, c.out))
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, c.want)
	}
	require.Empty(t, dirEntries(t, dir))
}
