package benchreport

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDecodeTolerant: what other wan22 builds legitimately write reads: a
// run twice (bench --frames 5,05 before it refused such lists), fields a
// newer build added within the schema (also inside swap_high, the engine's
// blockswap.Stats), and a UTF-8 byte order mark an editor put in front;
// the values of the known fields are read as written.
func TestDecodeTolerant(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		runs int
	}{
		{"a run twice", edited(t, func(m map[string]any) { m["runs"] = append(m["runs"].([]any), run0(m)) }), 7},
		{"newer fields", edited(t, func(m map[string]any) {
			m["note"] = "from a newer wan22"
			m["settings"].(map[string]any)["tile_size"] = 64
			m["machine"].(map[string]any)["gpus"].([]any)[0].(map[string]any)["uuid"] = "GPU-1"
			run0(m)["per_step_vae"] = 1.5
			run0(m)["stages"].([]any)[0].(map[string]any)["cpu_seconds"] = 2.0
			run0(m)["swap_high"].(map[string]any)["prefetch_hits"] = 3
		}), 6},
		{"byte order mark", append([]byte("\uFEFF"), edited(t, func(map[string]any) {})...), 6},
	} {
		r, err := Decode(bytes.NewReader(c.data))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		want := sample()
		if len(r.Runs) != c.runs || r.Runs[0].Total != want.Runs[0].Total || r.Runs[0].SwapHigh == nil ||
			r.Runs[0].SwapHigh.BytesMoved != want.Runs[0].SwapHigh.BytesMoved || r.Settings.Solver != want.Settings.Solver {
			t.Errorf("%s: read %d runs, %+v", c.name, len(r.Runs), r.Runs[0])
		}
	}
	// The known fields keep their types, also beside unknown ones.
	bad := edited(t, func(m map[string]any) {
		run0(m)["per_step_vae"] = 1.5
		run0(m)["swap_high"].(map[string]any)["bytes_moved"] = "8 GiB"
	})
	var fe *FormatError
	if _, err := Decode(bytes.NewReader(bad)); !errors.As(err, &fe) || fe.Field != "runs[0].swap_high.bytes_moved" {
		t.Errorf("a string for swap_high.bytes_moved: %v", err)
	}
}

// TestDecodeMessagesPrintable: what a refusal quotes of the file is valid
// UTF-8 without control characters, cut on a character's boundary and
// short, and a file's first character is named as the character it is.
func TestDecodeMessagesPrintable(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"starts with é", []byte("été"), `it starts with 'é'`},
		{"starts with a bad byte", []byte("\xff{}"), "it starts with the byte 0xFF"},
		{"UTF-16", []byte("\xff\xfe{\x00}\x00"), "UTF-16"},
		{"BOM then text", []byte("\uFEFFhello"), `it starts with 'h'`},
		{"accents cut", edited(t, func(m map[string]any) { run0(m)["frames"] = "a" + strings.Repeat("é", 40) }), `runs[0].frames is "aéé`},
		{"C1 control", edited(t, func(m map[string]any) { run0(m)["frames"] = "\u009b31m" }), `runs[0].frames is "\u009b31m", want a whole number`},
		{"long status", edited(t, func(m map[string]any) { run0(m)["status"] = long }), `(5000 bytes)`},
		{"long stage", edited(t, func(m map[string]any) { run0(m)["stages"].([]any)[1].(map[string]any)["name"] = "\x1b[2J" + long }), `stages[1] is "\x1b[2Jxxx`},
		{"long time", edited(t, func(m map[string]any) { m["created"] = long }), `(5000 bytes)`},
		{"long schema", edited(t, func(m map[string]any) { m["schema"] = "\u0085" + long }), `(schema "\u0085xxx`},
		{"syntax after blanks", []byte("\uFEFF  \n{\"schema\": \"wan22-bench/1\",}"), "invalid at byte 34"},
	} {
		_, err := Decode(bytes.NewReader(c.data))
		if err == nil {
			t.Errorf("%s: read", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q, want it to say %q", c.name, msg, c.want)
		}
		if !utf8.ValidString(msg) || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }) || len(msg) > 400 {
			t.Errorf("%s: %d bytes, not printable UTF-8: %q", c.name, len(msg), msg)
		}
	}
}

// TestRunTwiceFirstCounts: of two runs of one expert type, size, frame
// count and budget in one report, the first counts: Compare matches the
// first and compares a new report's first only; Merge keeps the first and
// says so in the source's run count; the same run in two reports is still
// refused.
func TestRunTwiceFirstCounts(t *testing.T) {
	twice := func(r *Report) *Report {
		again := r.Runs[0]
		again.Total, again.Peak.VRAM = 1000, 1<<40
		r.Runs = append(r.Runs, again)
		return r
	}
	old, cur := twice(mergeReport("Q8_0", 32, 2, 81, 161)), twice(mergeReport("Q8_0", 32, 2, 81, 161))
	ratios, unmatched := Compare(old, cur)
	if len(ratios) != 2 || len(unmatched) != 0 || ratios[0].Total != 1 || ratios[0].PeakVRAM != 1 {
		t.Errorf("compare: %+v, unmatched %v; want the two first runs, each equal", ratios, unmatched)
	}

	m, err := Merge([]Source{{"a.json", twice(mergeReport("Q8_0", 32, 2, 81))}, {"b.json", mergeReport("Q8_0", 32, 2, 161)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 2 || m.Runs[0].Total == 1000 || m.Sources[0].Runs != 1 || m.Sources[1].Runs != 1 {
		t.Errorf("merge: runs %+v, sources %+v", m.Runs, m.Sources)
	}
	// Merged again: a part's count is its runs kept.
	dup := *m
	dup.Runs = append(slices.Clone(m.Runs[:1]), m.Runs...)
	dup.Sources = []SourceInfo{{File: "a.json", Runs: 2}, {File: "b.json", Runs: 1}}
	m2, err := Merge([]Source{{"m.json", &dup}})
	if err != nil || len(m2.Runs) != 2 || m2.Sources[0].Runs != 1 || m2.Sources[1].Runs != 1 {
		t.Errorf("merge of a merged report: %v, sources %+v", err, m2.Sources)
	}

	_, err = Merge([]Source{{"a.json", twice(mergeReport("Q8_0", 32, 2, 81))}, {"b.json", twice(mergeReport("Q8_0", 32, 2, 81))}})
	checkMergeError(t, "the same run in two reports", err, "run", []string{"a.json and b.json both have the run Q8_0 832x480/81/32 GiB"})
}
