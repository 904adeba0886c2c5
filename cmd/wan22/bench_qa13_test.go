package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/benchreport"
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

// TestBenchFromJSONPlainErrors: a report that --from-json or --compare
// cannot use is refused in words that name the flag and the file, once,
// and say what to do, without the Go package's name: "wan22 bench:
// --from-json: bad.json: benchreport: not a bench report …", "--from-json:
// open none.json: no such file or directory" and "read adir: is a
// directory" were printed.
func TestBenchFromJSONPlainErrors(t *testing.T) {
	isolateTemp(t)
	t.Chdir(t.TempDir())
	for name, body := range map[string]string{"bad.json": "{}", "text.json": "hello", "cut.json": `{"schema": "wan22-bench/1", "runs": [`} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir("adir", 0o755); err != nil {
		t.Fatal(err)
	}
	// Two reports of one workflow and run, and one of another workflow.
	for _, c := range []struct{ json, cfg string }{{"a.json", "3.5"}, {"b.json", "2"}} {
		code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--schedule-steps", "2",
			"--no-history", "--cfg", c.cfg, "--json", c.json)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
	}
	b, err := os.ReadFile("a.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("c.json", b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-json", "none.json"}, "wan22 bench: --from-json none.json does not exist: check the path\n"},
		{[]string{"--from-json", "a.json,adir"}, "wan22 bench: --from-json adir is a folder: give a file written by wan22 bench --json\n"},
		{[]string{"--from-json", "bad.json"}, "wan22 bench: --from-json bad.json: not a bench report (no \"schema\" field): give a file written by wan22 bench --json\n"},
		{[]string{"--from-json", "a.json,text.json"}, "wan22 bench: --from-json text.json: not a bench report: it is not JSON (it starts with 'h'): give a file written by wan22 bench --json\n"},
		{[]string{"--from-json", "cut.json"}, "wan22 bench: --from-json cut.json: the file ends inside the report's JSON"},
		{[]string{"--from-json", "a.json,b.json"}, "wan22 bench: --from-json: a.json ran guidance 3.5/3.5, b.json ran guidance 2/2: one report holds one workflow"},
		{[]string{"--from-json", "a.json,c.json"}, "wan22 bench: --from-json: a.json and c.json both have the run Q8_0 high/Q4_K low 32x16/5/all: merge only one of them\n"},
		{[]string{"--from-json", "a.json", "--compare", "bad.json"}, "wan22 bench: --compare bad.json: not a bench report (no \"schema\" field)"},
		{[]string{"--from-json", "a.json", "--compare", "none.json"}, "wan22 bench: --compare none.json does not exist: check the path\n"},
		{[]string{"--tiny", "--compare", "none.json"}, "wan22 bench: --compare none.json does not exist: check the path\n"},
		{[]string{"--tiny", "--torch-json", "none.json"}, "wan22 bench: --torch-json none.json does not exist: check the path\n"},
	} {
		code, stdout, stderr := runBenchCtx(context.Background(), c.args...)
		if code != 2 || !strings.HasPrefix(stderr, c.want) || strings.Contains(stderr, "benchreport") {
			t.Errorf("%q: exit %d, stdout %q,\nstderr %q\nwant 2 and a message that starts %q", c.args, code, stdout, stderr, c.want)
		}
	}
}

// lowPlanGenerator is a generator whose low-noise expert is planned (and
// swaps blocks) as a larger one would be on a small GPU: its progress
// events carry another plan and swap counters than the high-noise
// expert's.
type lowPlanGenerator struct{ generator }

func (g lowPlanGenerator) Generate(ctx context.Context, r wan22.Request, out wan22.Output) error {
	progress := out.Progress
	out.Progress = func(ev wan22.Event) {
		if ev.Stage == wan22.LowNoise {
			if ev.Plan != "" {
				ev.Plan = "1 of 2 blocks resident, 1 swapped"
			}
			ev.Swap = &blockswap.Stats{Resident: 1, Swapped: 1, BytesMoved: 3 << 30}
		}
		progress(ev)
	}
	return g.generator.Generate(ctx, r, out)
}

// TestBenchExpertsOfTwoTypes: a bench of a high-noise and a low-noise
// expert of different types shows both types, and both experts' block
// plans and swaps where they differ, in the terminal table, the JSON
// report and the HTML page alike. Only the high-noise expert's type
// (Q8_0 for a Q8_0 and a Q4_K expert) and plan were shown.
func TestBenchExpertsOfTwoTypes(t *testing.T) {
	isolateTemp(t)
	m := tinyFiles(t) // high.gguf is Q8_0, low.gguf Q4_K
	saved := openGenerator
	t.Cleanup(func() { openGenerator = saved })
	openGenerator = func(ctx context.Context, models wan22.Models, o wan22.Options) (generator, error) {
		p, err := wan22.Open(ctx, models, o)
		return lowPlanGenerator{p}, err
	}
	out := t.TempDir()
	js, html := filepath.Join(out, "r.json"), filepath.Join(out, "r.html")
	code, stdout, stderr := runBenchCtx(context.Background(), "--device", "cpu", "--high", m.High, "--low", m.Low, "--text-encoder", m.TextEncoder, "--vae", m.VAE,
		"--frames", "5", "--size", "32x16", "--steps", "1", "--no-history", "--json", js, "--html", html)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep, err := benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if mo := rep.Settings.Models; mo.ExpertType != "Q8_0" || mo.ExpertTypeLow != "Q4_K" || mo.SameExpert {
		t.Errorf("report models %+v, want expert types Q8_0 and Q4_K", mo)
	}
	if r := rep.Runs[0]; r.PlanHigh != "2 blocks resident" || r.PlanLow != "1 of 2 blocks resident, 1 swapped" || r.SwapLow == nil {
		t.Errorf("run plans %q and %q, low swaps %+v", r.PlanHigh, r.PlanLow, r.SwapLow)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for where, text := range map[string]string{"the table": stdout, "the page": string(page)} {
		for _, want := range []string{"Q8_0 high/Q4_K low experts", "low plan", "2 blocks resident", "1 of 2 blocks resident, 1 swapped", "swapped lo", "3.00 GiB"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q:\n%s", where, want, text)
			}
		}
	}

	// One type, one plan: the table is as before, without the low-noise
	// expert's columns.
	openGenerator = saved
	js2 := filepath.Join(out, "same.json")
	code, stdout, stderr = runBenchCtx(context.Background(), "--device", "cpu", "--high", m.High, "--text-encoder", m.TextEncoder, "--vae", m.VAE,
		"--frames", "5", "--size", "32x16", "--steps", "1", "--no-history", "--json", js2)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "Q8_0 experts (one file for both)") || strings.Contains(stdout, "low plan") {
		t.Errorf("one expert file:\n%s", stdout)
	}
	if b, err := os.ReadFile(js2); err != nil || bytes.Contains(b, []byte("expert_type_low")) {
		t.Errorf("one expert file: the report has expert_type_low (%v)", err)
	}

	// The two merge: their runs differ in the low-noise expert's type, so
	// they are two runs, each labelled with both types where they differ
	// (they were refused as one run twice, "Q8_0 32x16/5/all").
	merged := filepath.Join(out, "merged.json")
	code, stdout, stderr = runBenchCtx(context.Background(), "--from-json", js+","+js2, "--json", merged)
	if code != 0 {
		t.Fatalf("--from-json: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Q8_0 high/Q4_K low and Q8_0 experts (per run)", "Q8_0 high/Q4_K low  32x16", "low plan"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--from-json: the table lacks %q:\n%s", want, stdout)
		}
	}
	rep, err = benchreport.ReadFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	if mo := rep.Settings.Models; len(rep.Runs) != 2 || mo.ExpertType != "" || mo.ExpertTypeLow != "" {
		t.Errorf("merged: %d runs, shared models %+v (want no types: the pairs differ)", len(rep.Runs), mo)
	}
}

// TestBenchReportReserved: a bench reserves its --json and --html files
// when it starts (a new empty file each), so a second bench given one of
// them while the first runs is refused at its start, and the first
// bench's report is the one written: both passed the "must not exist"
// check, and the one that finished last replaced the other's report. A
// bench that fails or is stopped removes its reservations: no empty file
// is left.
func TestBenchReportReserved(t *testing.T) {
	tmp := isolateTemp(t)
	out := t.TempDir()
	js, html := filepath.Join(out, "r.json"), filepath.Join(out, "r.html")
	args := []string{"--tiny", "--frames", "5", "--size", "32x16", "--schedule-steps", "2", "--no-history"}
	t.Cleanup(func() { benchProgress = nil })
	var second struct {
		code           int
		stdout, stderr string
		reserved       bool
	}
	benchProgress = func(wan22.Event) {
		benchProgress = nil // the second bench runs without this hook
		second.reserved = true
		for _, p := range []string{js, html} {
			st, err := os.Lstat(p)
			second.reserved = second.reserved && err == nil && st.Mode().IsRegular() && st.Size() == 0
		}
		second.code, second.stdout, second.stderr = runBenchCtx(context.Background(), append(args, "--json", js, "--seed", "7")...)
	}
	code, stdout, stderr := runBenchCtx(context.Background(), append(args, "--json", js, "--html", html)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !second.reserved {
		t.Error("the report files were not there, empty, while the bench ran")
	}
	if second.code != 2 || !strings.Contains(second.stderr, "--json "+js+" already exists") || strings.Contains(second.stdout, "measuring") {
		t.Errorf("a second bench with the same --json: exit %d, stdout %q, stderr %q; want 2 and a refusal before any work", second.code, second.stdout, second.stderr)
	}
	rep, err := benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Settings.Seed != 0 {
		t.Errorf("the report is of seed %d: the second bench's", rep.Settings.Seed)
	}
	if st, err := os.Stat(html); err != nil || st.Size() == 0 {
		t.Errorf("the page: %v", err)
	}

	// Stopped, or failed: the reservations are removed.
	for _, c := range []struct {
		name string
		ctx  func() context.Context
		open func(context.Context, wan22.Models, wan22.Options) (generator, error)
		code int
	}{
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, openGenerator, exitInterrupted},
		{"failed", context.Background, func(context.Context, wan22.Models, wan22.Options) (generator, error) {
			return nil, errors.New("no device")
		}, 1},
	} {
		dir := t.TempDir()
		saved := openGenerator
		openGenerator = c.open
		code, stdout, stderr := runBenchCtx(c.ctx(), append(args, "--json", filepath.Join(dir, "r.json"), "--html", filepath.Join(dir, "r.html"))...)
		openGenerator = saved
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s\n%s", c.name, code, c.code, stdout, stderr)
		}
		assertEmptyDir(t, dir)
	}
	// A merge that is refused leaves no reservation either.
	dir := t.TempDir()
	code, _, stderr = runBenchCtx(context.Background(), "--from-json", js+","+filepath.Join(dir, "none.json"), "--json", filepath.Join(dir, "m.json"))
	if code != 2 {
		t.Errorf("--from-json of a missing report: exit %d\n%s", code, stderr)
	}
	assertEmptyDir(t, dir)
	assertEmptyDir(t, tmp)
}

// TestBenchSynthDirShared: two benches writing the same synthetic files
// into one --synth-dir at the same time. Each writes into a private folder
// of its own and moves its file into place only where none is: the first
// to finish puts its file there, and the other reuses that one (once it
// reads as complete) instead of replacing it under the first bench, which
// runs on it. Nothing else stays in the folder. The second bench's rename
// replaced the first's files.
func TestBenchSynthDirShared(t *testing.T) {
	tmp := isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	dir := t.TempDir()
	args := []string{"--device", "cpu", "--vae", m.VAE, "--synth-dir", dir, "--frames", "5", "--size", "32x16", "--steps", "1", "--no-history"}
	expert := filepath.Join(dir, "synth-dit-i2v-Q8_0-seed1.gguf")
	for _, link := range []bool{true, false} {
		for _, e := range dirEntries(t, dir) {
			os.Remove(filepath.Join(dir, e))
		}
		if !link { // a file system without hard links
			saved := linkSynth
			linkSynth = func(string, string) error { return errors.New("operation not permitted") }
			t.Cleanup(func() { linkSynth = saved })
		}
		// As the first bench finishes its first file, the second runs
		// whole.
		var second struct {
			code           int
			stdout, stderr string
			expert         os.FileInfo
		}
		saved := renameOutput
		renameOutput = func(from, to string) error {
			renameOutput = saved
			second.code, second.stdout, second.stderr = runBenchCtx(context.Background(), args...)
			second.expert, _ = os.Stat(expert)
			return saved(from, to)
		}
		code, stdout, stderr := runBenchCtx(context.Background(), args...)
		renameOutput = saved
		if second.code != 0 || code != 0 {
			t.Fatalf("links %t: exit %d and %d\n%s\n%s\n%s\n%s", link, second.code, code, second.stdout, second.stderr, stdout, stderr)
		}
		// The expert it was writing as the second bench ran, and the
		// encoder it had not started (not written again).
		if strings.Count(stdout, "another bench wrote it meanwhile") != 2 || strings.Contains(stdout, "writing the synthetic text encoder") ||
			strings.Count(second.stdout, "written in") != 2 {
			t.Errorf("links %t: the second bench wrote, the first reused:\n%s\n%s", link, second.stdout, stdout)
		}
		if st, err := os.Stat(expert); err != nil || second.expert == nil || !os.SameFile(st, second.expert) {
			t.Errorf("links %t: the expert the second bench wrote was replaced (%v)", link, err)
		}
		if got := dirEntries(t, dir); len(got) != 2 {
			t.Errorf("links %t: --synth-dir holds %v, want the expert and the encoder", link, got)
		}
	}

	// A file of the right size that does not read as the model is not
	// reused (nor replaced): it was taken for the synthetic file.
	st, err := os.Stat(expert)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(expert, make([]byte, st.Size()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBenchCtx(context.Background(), args...)
	want := expert + " exists but is not the synthetic high-noise expert (of its size, but its header does not read as a model file): remove it or choose another --synth-dir"
	if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stdout, "reusing the synthetic high-noise") {
		t.Errorf("zeros of the expert's size: exit %d\n%s\n%s\nwant %q", code, stdout, stderr, want)
	}
	if b, _ := os.ReadFile(expert); !bytes.Equal(b, make([]byte, st.Size())) {
		t.Error("the file in the way was overwritten")
	}
	assertEmptyDir(t, tmp)
}
