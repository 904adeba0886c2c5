package main

import (
	"bytes"
	"context"
	"os"
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
		{[]string{"--from-json", "a.json,c.json"}, "wan22 bench: --from-json: a.json and c.json both have the run Q8_0 32x16/5/all: merge only one of them\n"},
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
