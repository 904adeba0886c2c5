package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wan22/wan22/internal/benchreport"
)

// writeMergeInputs writes two committed H100 reports of docs/bench (F16 and
// Q8_0 experts) into a temporary folder and returns their paths.
func writeMergeInputs(t *testing.T) (dir, f16, q8 string) {
	t.Helper()
	dir = t.TempDir()
	for _, name := range []string{"2026-12-06-h100-f16-32-161.json", "2026-12-06-h100-q8_0-32gib.json"} {
		b, err := os.ReadFile(filepath.Join("../../docs/bench", name))
		if err != nil {
			t.Skipf("docs/bench/%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "2026-12-06-h100-f16-32-161.json"), filepath.Join(dir, "2026-12-06-h100-q8_0-32gib.json")
}

func TestBenchFromJSON(t *testing.T) {
	cache := t.TempDir() // a merged report never goes into the history
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache)
	dir, f16, q8 := writeMergeInputs(t)
	js, html := filepath.Join(dir, "all.json"), filepath.Join(dir, "all.html")
	code, stdout, stderr := runBenchCtx(t.Context(), "--from-json", f16+","+q8, "--json", js, "--html", html, "--compare", q8)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"merged 3 runs of 2 reports; nothing was run", "F16 and Q8_0 experts (per run)",
		"Q8_0  832x480     161  32 GiB", "F16  832x480     161  32 GiB", "Q8_0 832x480/81/32 GiB     1.000×", "F16 832x480/161/32 GiB: not in"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the output lacks %q:\n%s", want, stdout)
		}
	}
	rep, err := benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 3 || rep.ModelsOf(&rep.Runs[0]).ExpertType != "F16" || rep.ModelsOf(&rep.Runs[2]).ExpertType != "Q8_0" ||
		len(rep.Sources) != 2 || rep.Command[0] != "--from-json" {
		t.Errorf("merged report: %d runs, sources %+v, command %q", len(rep.Runs), rep.Sources, rep.Command)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range rep.Runs {
		dot := rep.ModelsOf(&run).ExpertType + ", 832x480, VRAM 32 GiB, " + strconv.Itoa(run.Frames) + " frames: "
		if strings.Count(string(page), dot) != 2 {
			t.Errorf("the chart lacks the run %q", dot)
		}
	}
	if es, _ := os.ReadDir(filepath.Join(cache, "wan22", "bench")); len(es) != 0 {
		t.Errorf("the merge wrote %d files into the bench history", len(es))
	}
}

// TestBenchFromJSONRefusals: flags of a run, a file that is not a report,
// reports of two machines or workflows and an output over an input are
// refused with a message naming the problem, and nothing is written.
func TestBenchFromJSONRefusals(t *testing.T) {
	dir, f16, q8 := writeMergeInputs(t)
	notReport := filepath.Join(dir, "torch.json")
	if err := os.WriteFile(notReport, []byte(`{"schema": "wan22-torch-e2e/1", "entries": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "5090.json")
	r, err := benchreport.ReadFile(q8)
	if err != nil {
		t.Fatal(err)
	}
	r.Settings.Backend, r.Machine.Backend = "cuda:0 NVIDIA GeForce RTX 5090", "cuda:0 NVIDIA GeForce RTX 5090"
	r.Machine.GPUs[0].Name = "NVIDIA GeForce RTX 5090"
	if err := r.WriteFile(other); err != nil {
		t.Fatal(err)
	}
	distill := filepath.Join(dir, "distill.json")
	r.Machine, r.Settings.Backend, r.Settings.Solver, r.Runs = mustRead(t, f16).Machine, mustRead(t, f16).Settings.Backend, "distill", r.Runs[:1]
	r.Runs[0].Frames = 241
	if err := r.WriteFile(distill); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.json")
	link := filepath.Join(dir, "link.json") // another name of q8.json
	if err := os.Symlink(q8, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		say  []string
	}{
		{"frames", []string{"--from-json", f16 + "," + q8, "--frames", "81", "--size", "832x480"}, 2, []string{"runs nothing", "--frames, --size would be ignored"}},
		{"budget", []string{"--from-json", f16, "--vram-budget", "16", "--json", out}, 2, []string{"--vram-budget would be ignored"}},
		{"tiny", []string{"--tiny", "--from-json", f16}, 2, []string{"--tiny would be ignored"}},
		{"empty item", []string{"--from-json", f16 + ",", "--json", out}, 2, []string{"empty item"}},
		{"twice", []string{"--from-json", f16 + "," + f16, "--json", out}, 2, []string{"twice"}},
		{"twice by another name", []string{"--from-json", q8 + "," + link, "--json", out}, 2, []string{"--from-json names one report twice (" + q8 + " and " + link + ")"}},
		{"twice by a longer path", []string{"--from-json", f16 + "," + dir + "/./" + filepath.Base(f16), "--json", out}, 2, []string{"names one report twice"}},
		{"over an input", []string{"--from-json", f16 + "," + q8, "--json", q8}, 2, []string{"is one of the --from-json reports"}},
		{"over an input by a link", []string{"--from-json", f16 + "," + q8, "--html", link}, 2, []string{"--html " + link + " is one of the --from-json reports"}},
		{"over a linked input", []string{"--from-json", f16 + "," + link, "--json", q8}, 2, []string{"--json " + q8 + " is one of the --from-json reports"}},
		// A report named on the command line that cannot be used is a
		// usage error, for --from-json as for --compare.
		{"missing", []string{"--from-json", filepath.Join(dir, "none.json"), "--json", out}, 2, []string{"none.json"}},
		{"not a report", []string{"--from-json", f16 + "," + notReport, "--json", out}, 2, []string{"torch.json", "not a bench report"}},
		{"--compare missing", []string{"--from-json", f16, "--compare", filepath.Join(dir, "none.json"), "--json", out}, 2, []string{"--compare", "none.json"}},
		{"another machine", []string{"--from-json", f16 + "," + other, "--json", out}, 2, []string{"ran on NVIDIA H100 80GB HBM3", "5090.json on NVIDIA GeForce RTX 5090"}},
		{"another workflow", []string{"--from-json", f16 + "," + distill, "--json", out}, 2, []string{"solver unipc", "solver distill", "merge them separately"}},
		{"one output for both", []string{"--from-json", f16, "--json", out, "--html", out}, 2, []string{"--json and --html name one file"}},
		// Without an output the note comes only after the inputs were
		// checked: none for a command that fails.
		{"no note before an error", []string{"--from-json", filepath.Join(dir, "none.json")}, 2, []string{"none.json"}},
	} {
		code, stdout, stderr := runBenchCtx(t.Context(), c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s\n%s", c.name, code, c.code, stdout, stderr)
		}
		for _, s := range c.say {
			if !strings.Contains(stderr, s) {
				t.Errorf("%s: stderr does not say %q:\n%s", c.name, s, stderr)
			}
		}
		if strings.Contains(stderr, "note:") {
			t.Errorf("%s: a note before the error:\n%s", c.name, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: wrote %s", c.name, out)
		}
	}
	if _, err := benchreport.ReadFile(q8); err != nil {
		t.Errorf("an input was damaged: %v", err)
	}
}

func mustRead(t *testing.T, path string) *benchreport.Report {
	t.Helper()
	r, err := benchreport.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
