package benchreport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wan22/wan22/gguf"
)

// FormatError says why a file is not a readable bench report: the place in
// the JSON (a path such as "runs[2].frames"; "" for the file as a whole)
// and what is wrong there.
type FormatError struct {
	Field   string // JSON path of the value at fault; "" for the whole file
	Problem string // what is wrong, and where useful what to do
}

// Error is the problem in words for the user, who reads it after the
// file's name (ReadFile): no package prefix.
func (e *FormatError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + " " + e.Problem
}

// giveReport is the advice of a file that is not a report at all.
const giveReport = "give a file written by wan22 bench --json"

// byteOrderMark is the UTF-8 encoding of U+FEFF, which some editors (on
// Windows) put at the start of a text file they save; a report may start
// with it.
const byteOrderMark = "\xEF\xBB\xBF"

// optionalFields are the fields of the report's types that a report may
// lack although this version always writes them: added within the schema
// after its first version (docs/BENCH_SCHEMA.md, Versions), so older
// reports have none. Fields tagged omitempty or omitzero are optional too.
var optionalFields = map[reflect.Type][]string{
	reflect.TypeFor[Settings](): {"attention"},
	reflect.TypeFor[Run]():      {"whole"},
}

// timeType is the type of the report's RFC 3339 times.
var timeType = reflect.TypeFor[time.Time]()

// decodeStrict reads one report from rd: one JSON object (after a UTF-8
// byte order mark, if any) and nothing after it, with the schema's types
// for the fields it knows and every field the schema requires (checkValue;
// fields it does not know are ignored), then the values' own rules
// (Report.check).
func decodeStrict(rd io.Reader) (*Report, error) {
	cr := &countingReader{r: rd}
	br := bufio.NewReader(cr)
	skipped, err := checkStart(br)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(br)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, syntaxProblem(err, cr.n, skipped)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FormatError{Problem: fmt.Sprintf("not a bench report: the file goes on after the report's JSON object, at byte %d: one report per file (merge several with wan22 bench --from-json)", skipped+dec.InputOffset())}
	}
	// The schema first: a file of another kind or version is said to be
	// one, rather than its first unknown field.
	var head struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, &FormatError{Problem: "not a bench report: " + err.Error()}
	}
	var schema string
	if len(head.Schema) > 0 && json.Unmarshal(head.Schema, &schema) != nil {
		return nil, &FormatError{Field: "schema", Problem: fmt.Sprintf("is %s, not a string: %s", preview(head.Schema), giveReport)}
	}
	switch {
	case schema == "":
		return nil, &FormatError{Problem: "not a bench report (no \"schema\" field): " + giveReport}
	case !strings.HasPrefix(schema, "wan22-bench/"):
		return nil, &FormatError{Problem: fmt.Sprintf("not a bench report (schema %s): %s", gguf.Quote(schema), giveReport)}
	case schema != Schema:
		return nil, &FormatError{Problem: fmt.Sprintf("schema %s, want %q (a report of another wan22 version: rerun the bench)", gguf.Quote(schema), Schema)}
	}
	if err := checkValue("", raw, reflect.TypeFor[Report]()); err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil { // checkValue has checked every value's type
		return nil, &FormatError{Problem: err.Error()}
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// checkStart refuses a file that is empty or whose JSON is not an object,
// before reading it whole (a model file given by mistake is not read). It
// skips a UTF-8 byte order mark and the white space before the object, and
// returns how many bytes it skipped.
func checkStart(br *bufio.Reader) (skipped int64, err error) {
	if bom, _ := br.Peek(len(byteOrderMark)); string(bom) == byteOrderMark {
		br.Discard(len(bom))
		skipped = int64(len(bom))
	}
	for ; ; skipped++ {
		b, err := br.ReadByte()
		if err == io.EOF {
			return 0, &FormatError{Problem: "not a bench report: the file is empty: " + giveReport}
		}
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return skipped, br.UnreadByte()
		case '[':
			return 0, &FormatError{Problem: "not a bench report: it holds a JSON array, and a report is one JSON object: " + giveReport + " (one report per file)"}
		case '"', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return 0, &FormatError{Problem: fmt.Sprintf("not a bench report: it holds a JSON %s, and a report is one JSON object: %s", jsonKind(b), giveReport)}
		}
		return 0, &FormatError{Problem: fmt.Sprintf("not a bench report: it is not JSON (it starts with %s): %s", firstChar(br, b), giveReport)}
	}
}

// firstChar names the character starting with b, just read from br, that
// a file starts with: 'G', '\x00', 'é', the byte 0xFF when b starts no
// UTF-8 character, or the UTF-16 byte order mark.
func firstChar(br *bufio.Reader, b byte) string {
	if b < utf8.RuneSelf {
		return strconv.QuoteRune(rune(b))
	}
	next, _ := br.Peek(utf8.UTFMax - 1)
	if b == 0xFF && len(next) > 0 && next[0] == 0xFE || b == 0xFE && len(next) > 0 && next[0] == 0xFF {
		return fmt.Sprintf("the UTF-16 byte order mark %02X %02X: it is UTF-16 text; save it as UTF-8", b, next[0])
	}
	r, size := utf8.DecodeRune(append([]byte{b}, next...))
	if r == utf8.RuneError && size == 1 {
		return fmt.Sprintf("the byte 0x%02X", b)
	}
	return strconv.QuoteRune(r)
}

// syntaxProblem describes a JSON decoding error of a report's text; size
// is the bytes read, skipped those before the JSON object (the decoder's
// offsets start after them).
func syntaxProblem(err error, size, skipped int64) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FormatError{Problem: fmt.Sprintf("the file ends inside the report's JSON, after %d bytes: it was cut short (copied or written in part?); write it again with wan22 bench --json", size)}
	case errors.As(err, &se):
		return &FormatError{Problem: fmt.Sprintf("not a bench report: its JSON is invalid at byte %d: %v (a damaged or hand-edited file?)", skipped+se.Offset, strings.TrimPrefix(se.Error(), "json: "))}
	}
	return &FormatError{Problem: "not a bench report: " + err.Error()}
}

// jsonKind names the kind of JSON value whose text starts with b.
func jsonKind(b byte) string {
	switch b {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "true/false value"
	case 'n':
		return "null"
	}
	return "number"
}

// want names what a value of Go type t is in JSON.
func want(t reflect.Type) string {
	if t == timeType {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return want(t.Elem())
	case reflect.Struct:
		return "an object"
	case reflect.Slice:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// checkValue checks that raw, the JSON value at path, is of Go type t as
// the schema writes it: the JSON kind, whole numbers in range, RFC 3339
// times, and for objects every field the schema requires (those without
// omitempty or omitzero, less optionalFields, of this package's types;
// blockswap.Stats is the engine's, and its fields come and go with it).
// An object's fields that t lacks are not checked: a newer wan22 may add
// fields within the schema (docs/BENCH_SCHEMA.md, Versions), and reading
// ignores them.
func checkValue(path string, raw json.RawMessage, t reflect.Type) error {
	raw = bytes.TrimSpace(raw)
	at := path
	if at == "" {
		at = "the report"
	}
	bad := func(format string, a ...any) error {
		return &FormatError{Field: at, Problem: fmt.Sprintf(format, a...) + " (docs/BENCH_SCHEMA.md)"}
	}
	got := jsonKind(raw[0])
	if got == "null" && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice) {
		return nil
	}
	mismatch := func() error { return bad("is %s, want %s", preview(raw), want(t)) }
	if t == timeType {
		var s string
		if got != "string" || json.Unmarshal(raw, &s) != nil {
			return mismatch()
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return bad("is %s, want an RFC 3339 time such as 2026-12-06T10:00:00Z", gguf.Quote(s))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkValue(path, raw, t.Elem())
	case reflect.String:
		if got != "string" {
			return mismatch()
		}
	case reflect.Bool:
		if got != "true/false value" {
			return mismatch()
		}
	case reflect.Float32, reflect.Float64:
		if got != "number" {
			return mismatch()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(string(raw), 10, t.Bits()); got != "number" || err != nil {
			return mismatch()
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(string(raw), 10, t.Bits()); got != "number" || err != nil {
			return mismatch()
		}
	case reflect.Slice:
		var items []json.RawMessage
		if got != "array" || json.Unmarshal(raw, &items) != nil {
			return mismatch()
		}
		for i, it := range items {
			if err := checkValue(fmt.Sprintf("%s[%d]", path, i), it, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Struct:
		var fields map[string]json.RawMessage
		if got != "object" || json.Unmarshal(raw, &fields) != nil {
			return mismatch()
		}
		return checkObject(path, at, fields, t)
	default:
		return bad("has a type the schema does not know (%v)", t)
	}
	return nil
}

// checkObject checks the fields of the JSON object at path (at: its name in
// messages) that the struct type t has; the others are ignored.
func checkObject(path, at string, fields map[string]json.RawMessage, t reflect.Type) error {
	ours := t.PkgPath() == reflect.TypeFor[Report]().PkgPath()
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		v, ok := fields[name]
		if !ok {
			optional := !ours || strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") || slices.Contains(optionalFields[t], name)
			if !optional {
				return &FormatError{Field: at, Problem: fmt.Sprintf("has no %q (%s), which every %s report has (a hand-edited or damaged report? docs/BENCH_SCHEMA.md)", name, want(sf.Type), Schema)}
			}
			continue
		}
		sub := name
		if path != "" {
			sub = path + "." + name
		}
		if err := checkValue(sub, v, sf.Type); err != nil {
			return err
		}
	}
	return nil
}

// preview shows raw, a JSON value's text from a report, in a message: at
// most 40 bytes (longer text is cut at a character's boundary and ends in
// "..."), with every character that is not printable (C1 controls, line
// separators, invalid UTF-8) escaped as Go's strconv.Quote escapes it, so
// that a damaged file cannot put control sequences on a terminal.
func preview(raw []byte) string {
	const most = 40
	var b strings.Builder
	cut := -1 // where the text is cut if it is longer than most
	for i := 0; i < len(raw); {
		r, w := utf8.DecodeRune(raw[i:])
		c := string(raw[i : i+w])
		if r == utf8.RuneError && w == 1 || !strconv.IsPrint(r) {
			q := strconv.Quote(c)
			c = q[1 : len(q)-1]
		}
		if cut < 0 && b.Len()+len(c) > most-len("...") {
			cut = b.Len()
		}
		if b.Len()+len(c) > most {
			return b.String()[:cut] + "..."
		}
		b.WriteString(c)
		i += w
	}
	return b.String()
}

// check checks the rules of a report's values that the JSON types do not
// tell: every run has a size, a frame count and a known status; a
// completed run's stages are the schema's, in its order, each at most once,
// and no time is negative. A run may be there twice (same expert type,
// size, frames and budget: older builds ran bench --frames 5,05 so); the
// first counts (Compare, Merge).
func (r *Report) check() error {
	for i := range r.Runs {
		run := &r.Runs[i]
		at := fmt.Sprintf("runs[%d]", i)
		bad := func(format string, a ...any) error {
			return &FormatError{Field: at, Problem: fmt.Sprintf(format, a...) + " (docs/BENCH_SCHEMA.md)"}
		}
		if run.Width <= 0 || run.Height <= 0 || run.Frames <= 0 {
			return bad("is of %dx%d pixels and %d frames: a run has a positive width, height and frame count", run.Width, run.Height, run.Frames)
		}
		if run.VRAMBudget < 0 {
			return bad("has vram_budget %d: want bytes, 0 or more", run.VRAMBudget)
		}
		if !slices.Contains([]string{StatusOK, StatusNoFit, StatusFailed}, run.Status) {
			return bad("has status %s: want %q, %q or %q", gguf.Quote(run.Status), StatusOK, StatusNoFit, StatusFailed)
		}
		if run.Status != StatusOK {
			continue
		}
		next := 0 // the stages come in StageNames order, each at most once
		for k, s := range run.Stages {
			i := slices.Index(StageNames[next:], s.Name)
			switch {
			case i < 0 && slices.Contains(StageNames, s.Name):
				return bad("has stage %q twice or out of order: want them in the order %s", s.Name, strings.Join(StageNames, ", "))
			case i < 0:
				return bad("stages[%d] is %s: want one of %s", k, gguf.Quote(s.Name), strings.Join(StageNames, ", "))
			case s.Seconds < 0:
				return bad("stage %q took %g s: a time is not negative", s.Name, s.Seconds)
			}
			next += i + 1
		}
		for _, v := range []struct {
			name string
			vals []float64
		}{
			{"high_steps", run.HighSteps}, {"low_steps", run.LowSteps}, {"high_load", []float64{run.HighLoad}}, {"low_load", []float64{run.LowLoad}},
			{"per_step_high", []float64{run.PerStepHigh}}, {"per_step_low", []float64{run.PerStepLow}}, {"measured", []float64{run.Measured}},
			{"denoise_estimate", []float64{run.Denoise}}, {"total_estimate", []float64{run.Total}},
		} {
			if k := slices.IndexFunc(v.vals, func(x float64) bool { return x < 0 }); k >= 0 {
				return bad("has %s %g s: a time is not negative", v.name, v.vals[k])
			}
		}
	}
	return nil
}
