package benchreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// edited returns sample() as JSON after edit changed its decoded form.
func edited(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := sample().Encode(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run0 is the first run of a decoded report.
func run0(m map[string]any) map[string]any { return m["runs"].([]any)[0].(map[string]any) }

// TestReadFileDamaged: a file that is not a whole, well-typed report of
// the schema is refused by ReadFile with a *FormatError whose message names
// the file, the place and what is wrong; a report written by WriteFile and
// one of an older version without the optional fields read.
func TestReadFileDamaged(t *testing.T) {
	dir := t.TempDir()
	var good bytes.Buffer
	if err := sample().Encode(&good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"blank", []byte(" \n\t"), "the file is empty"},
		{"truncated", good.Bytes()[:good.Len()/2], "the file ends inside the report's JSON, after " + strconv.Itoa(good.Len()/2) + " bytes: it was cut short"},
		{"array", []byte(`[` + good.String() + `]`), "it holds a JSON array, and a report is one JSON object"},
		{"string", []byte(`"wan22-bench/1"`), "it holds a JSON string"},
		{"binary", []byte("GGUF\x03\x00"), `it is not JSON (it starts with 'G')`},
		{"syntax", []byte(`{"schema": "wan22-bench/1",}`), "its JSON is invalid at byte"},
		{"two reports", append(good.Bytes(), good.Bytes()...), "the file goes on after the report's JSON object"},
		{"trailing text", append(good.Bytes(), "x"...), "the file goes on after the report's JSON object"},
		{"schema not a string", edited(t, func(m map[string]any) { m["schema"] = 1 }), "schema is 1, not a string"},
		{"missing runs", edited(t, func(m map[string]any) { delete(m, "runs") }), `the report has no "runs" (an array), which every wan22-bench/1 report has`},
		{"missing settings", edited(t, func(m map[string]any) { delete(m, "settings") }), `the report has no "settings" (an object)`},
		{"missing solver", edited(t, func(m map[string]any) { delete(m["settings"].(map[string]any), "solver") }), `settings has no "solver" (a string)`},
		{"missing width", edited(t, func(m map[string]any) { delete(run0(m), "width") }), `runs[0] has no "width" (a whole number)`},
		{"missing stage peak", edited(t, func(m map[string]any) { delete(run0(m)["stages"].([]any)[2].(map[string]any), "peak") }), `runs[0].stages[2] has no "peak"`},
		{"misspelt run field", edited(t, func(m map[string]any) {
			run0(m)["per_step_hi"] = run0(m)["per_step_high"]
			delete(run0(m), "per_step_high")
		}), `runs[0] has no "per_step_high" (a number)`},
		{"frames a string", edited(t, func(m map[string]any) { run0(m)["frames"] = "81" }), `runs[0].frames is "81", want a whole number`},
		{"frames fractional", edited(t, func(m map[string]any) { run0(m)["frames"] = 81.5 }), `runs[0].frames is 81.5, want a whole number`},
		{"negative seed", edited(t, func(m map[string]any) { m["settings"].(map[string]any)["seed"] = -1 }), `settings.seed is -1, want a whole number, 0 or more`},
		{"runs an object", edited(t, func(m map[string]any) { m["runs"] = map[string]any{} }), `runs is {}, want an array`},
		{"settings null", edited(t, func(m map[string]any) { m["settings"] = nil }), `settings is null, want an object`},
		{"bad time", edited(t, func(m map[string]any) { m["created"] = "yesterday" }), `created is "yesterday", want an RFC 3339 time`},
		{"stage seconds", edited(t, func(m map[string]any) { run0(m)["stages"].([]any)[0].(map[string]any)["seconds"] = true }), `runs[0].stages[0].seconds is true, want a number`},
		{"status", edited(t, func(m map[string]any) { run0(m)["status"] = "done" }), `runs[0] has status "done": want "ok", "does-not-fit" or "failed"`},
		{"no size", edited(t, func(m map[string]any) { run0(m)["width"] = 0 }), `runs[0] is of 0x480 pixels`},
		{"unknown stage", edited(t, func(m map[string]any) { run0(m)["stages"].([]any)[1].(map[string]any)["name"] = "upscale" }), `runs[0] stages[1] is "upscale"`},
		{"stage twice", edited(t, func(m map[string]any) { run0(m)["stages"].([]any)[1].(map[string]any)["name"] = "vae-encode" }), `runs[0] has stage "vae-encode" twice or out of order`},
		{"negative time", edited(t, func(m map[string]any) { run0(m)["total_estimate"] = -3 }), `runs[0] has total_estimate -3 s: a time is not negative`},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".json")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path)
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want a *FormatError naming %s and saying %q", c.name, err, path, c.want)
		}
	}

	// A report written by WriteFile reads back as it was; one of an older
	// version, without the optional fields (attention, whole, measured
	// steps, few-step settings), reads too.
	path := filepath.Join(dir, "good.json")
	if err := sample().WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if r, err := ReadFile(path); err != nil || len(r.Runs) != len(sample().Runs) {
		t.Errorf("a report of WriteFile: %v", err)
	}
	old := edited(t, func(m map[string]any) {
		delete(m["settings"].(map[string]any), "attention")
		for _, r := range m["runs"].([]any) {
			for _, k := range []string{"whole", "measured_high", "measured_low"} {
				delete(r.(map[string]any), k)
			}
		}
	})
	if _, err := Decode(bytes.NewReader(old)); err != nil {
		t.Errorf("a report without the optional fields: %v", err)
	}
}
