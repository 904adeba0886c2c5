package benchreport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQA14ReadTorchWords: a --torch-json file that is not wan_e2e.py's
// output is said to be so in words, as a report given to --compare is:
// empty, not JSON, a JSON array, cut short, a field of the wrong kind, no
// schema, a bench report. ReadTorch printed the decoder's errors ("json:
// cannot unmarshal array into Go value of type benchreport.Torch",
// "unexpected end of JSON input" for an empty file, "schema \"\"").
func TestQA14ReadTorchWords(t *testing.T) {
	dir := t.TempDir()
	good := `{"schema":"wan22-torch-e2e/1","gpu":"G","blocks":40,"schedule_steps":40,"entries":[` +
		`{"width":832,"height":480,"frames":81,"tokens":32760,"mode":"eager","cfg":true,"block_ms":150,"step_seconds":12,"schedule_seconds":480}]}`
	const not = ": not the output of bench/torch/wan_e2e.py: "
	for _, c := range []struct{ name, text, want string }{
		{"empty.json", "", not + "the file is empty: give the JSON it prints"},
		{"blank.json", "\ufeff \n", not + "the file is empty: give the JSON it prints"},
		{"model.gguf", "GGUF\x03\x00", not + "it is not JSON (it starts with 'G'): give the JSON it prints"},
		{"array.json", "[1, 2]", not + "it holds a JSON array, and the output is one JSON object: give the JSON it prints"},
		{"cut.json", good[:60], not + "the file ends inside its JSON, after 60 bytes: it was cut short: give the JSON it prints"},
		{"comma.json", `{"schema":1,}`, not + "its JSON is invalid at byte 13: invalid character '}' looking for beginning of object key string: give the JSON it prints"},
		{"blocks.json", strings.Replace(good, `"blocks":40`, `"blocks":"forty"`, 1), not + "blocks is a string, want a whole number: give the JSON it prints"},
		{"entries.json", strings.Replace(good, `"entries":[`, `"entries":{"x":[`, 1) + "}", not + "entries is an object, want an array: give the JSON it prints"},
		{"noschema.json", "{}", ": not the output of bench/torch/wan_e2e.py (no \"schema\" field): give the JSON it prints"},
		{"report.json", `{"schema":"wan22-bench/1"}`, ": a wan22 bench report, not the output of bench/torch/wan_e2e.py: give the JSON it prints (--compare compares with an earlier bench report)"},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadTorch(p)
		if err == nil || err.Error() != p+c.want {
			t.Errorf("%s: %v\nwant %s", c.name, err, p+c.want)
		}
	}
}

// TestQA14NoMemoryTableWithoutRuns: a report in which no run completed has
// no memory table in the terminal's text or the HTML page, and no charts
// on the page; it had the table's header line alone ("size  frames
// budget  peak VRAM  …") under the failed runs, an empty "Memory and block
// swaps" table, and two charts of empty axes from 0 to 1 (the page's
// charts are a later fix than the tables').
func TestQA14NoMemoryTableWithoutRuns(t *testing.T) {
	r := sample()
	for i := range r.Runs {
		r.Runs[i] = Run{Width: r.Runs[i].Width, Height: r.Runs[i].Height, Frames: r.Runs[i].Frames, Status: StatusFailed, Error: "video: no space left on device"}
	}
	var text, page bytes.Buffer
	if err := r.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "peak VRAM") || !strings.HasSuffix(text.String(), "no space left on device\n") {
		t.Errorf("the text has a memory table, or ends otherwise than with the last failed run:\n%s", text.String())
	}
	if strings.Contains(page.String(), "Memory and block swaps") || strings.Contains(page.String(), "peak VRAM") {
		t.Errorf("the page has a memory table:\n%s", page.String())
	}
	if strings.Contains(page.String(), "<svg") || !strings.Contains(page.String(), "no run completed") {
		t.Errorf("the page has charts with nothing on them, or does not say that no run completed:\n%s", page.String())
	}
	// With a completed run, both have it.
	text.Reset()
	page.Reset()
	r = sample()
	if err := r.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "\n\n") || !strings.Contains(text.String(), "peak VRAM") || !strings.Contains(page.String(), "<h2>Memory and block swaps</h2>") ||
		strings.Count(page.String(), "<svg") != 2 {
		t.Errorf("a report of completed runs lacks its memory table:\n%s\n%s", text.String(), page.String())
	}
}

// TestQA14CompareNothingInCommon: --compare against a report that has none
// of the bench's runs, or of which no run completed, says there is nothing
// to compare and what each has, instead of the ratio table's header alone
// over "96x64/1/all: not in old.json".
func TestQA14CompareNothingInCommon(t *testing.T) {
	old, cur := sample(), sample()
	for i := range cur.Runs {
		cur.Runs[i].Width = 1280
	}
	var b bytes.Buffer
	if err := WriteCompare(&b, "old.json", old, cur); err != nil {
		t.Fatal(err)
	}
	var theirs, ours []string
	for i := range old.Runs {
		if old.Runs[i].Status == StatusOK {
			theirs = append(theirs, old.RunLabel(&old.Runs[i]))
			ours = append(ours, cur.RunLabel(&cur.Runs[i]))
		}
	}
	want := "nothing to compare: old.json has none of these runs (" + strings.Join(ours, ", ") + "), only " + strings.Join(theirs, ", ") + "\n"
	if got := b.String(); strings.Contains(got, "est total") || !strings.HasSuffix(got, want) {
		t.Errorf("got\n%s\nwant it to end in\n%s", got, want)
	}

	for i := range old.Runs {
		old.Runs[i].Status = StatusNoFit
	}
	b.Reset()
	if err := WriteCompare(&b, "old.json", old, sample()); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasSuffix(got, "nothing to compare: no run of old.json completed\n") {
		t.Errorf("got\n%s", got)
	}
	b.Reset()
	if err := WriteCompare(&b, "old.json", sample(), old); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasSuffix(got, "nothing to compare: no run of this bench completed\n") {
		t.Errorf("got\n%s", got)
	}
}

// TestQA14HistoryErrorWords: a report that cannot be kept in the bench
// history says which folder or file failed and why, without the system
// call or the temporary file the report goes through: it said "bench
// history: mkdir /home/ann/.cache: read-only file system".
func TestQA14HistoryErrorWords(t *testing.T) {
	dir := cacheHome(t)
	// A file where the cache folder goes: the history folder cannot be made.
	cache := filepath.Dir(filepath.Dir(dir))
	if err := os.WriteFile(cache, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := SaveHistory(sample())
	if err == nil || !strings.HasPrefix(err.Error(), "the bench history folder "+dir+" cannot be made: ") || strings.Contains(err.Error(), "mkdir") ||
		strings.Count(err.Error(), cache) != 1 {
		t.Errorf("SaveHistory = %v", err)
	}
	// A folder where the report goes: it cannot be written.
	if err := os.Remove(cache); err != nil {
		t.Fatal(err)
	}
	r := sample()
	path := filepath.Join(dir, r.Created.UTC().Format(historyStamp)+".json")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if _, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		t.Skip("the folder can be written although read-only (root)")
	}
	_, err = SaveHistory(r)
	if err == nil || err.Error() != "the bench history's "+path+" cannot be written: permission denied" {
		t.Errorf("SaveHistory = %v", err)
	}
}
