package modelfile

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/internal/safetext"
	"github.com/wan22/wan22/safetensors"
)

// Report is everything `wan22 inspect` prints about one file.
type Report struct {
	Path     string
	Format   Format
	FileSize int64
	// GGUFVersion and GGUFArch are set for GGUF files (GGUFArch is
	// general.architecture, "" when absent).
	GGUFVersion uint32
	GGUFArch    string
	Info        Info
	// Metadata is the GGUF key/value metadata in file order, or the
	// safetensors __metadata__ sorted by key, with values abbreviated.
	Metadata []MetaEntry
	Tensors  []gguf.TensorInfo
}

// MetaEntry is one metadata key with its type and a short rendering of its value.
type MetaEntry struct {
	Key   string
	Type  string // GGUF value type (ARRAY[n] of T for arrays), "string" for safetensors
	Value string // abbreviated to at most maxValueLen characters (a string's, between its quotes)
}

// maxValueLen bounds a metadata value as printed.
const maxValueLen = 100

// Inspect opens the file at path, detects its model and collects a Report.
// The file is closed before Inspect returns.
func Inspect(path string) (*Report, error) {
	src, format, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	r := &Report{Path: path, Format: format, Info: Detect(src)}
	r.Tensors = append([]gguf.TensorInfo(nil), src.Tensors()...)
	if st, err := os.Stat(path); err == nil {
		r.FileSize = st.Size()
	}
	switch f := src.(type) {
	case *gguf.File:
		r.GGUFVersion = f.Version()
		r.GGUFArch = f.Architecture()
		for _, kv := range f.Metadata() {
			typ, value := kv.Value.Type().String(), ""
			switch kv.Value.Type() {
			case gguf.ValueString:
				str, _ := kv.Value.Str()
				value = quoteShort(str)
			case gguf.ValueArray:
				typ = fmt.Sprintf("ARRAY[%d] of %s", kv.Value.Len(), kv.Value.ElemType())
				fallthrough
			default:
				value = abbreviate(kv.Value.String())
			}
			r.Metadata = append(r.Metadata, MetaEntry{Key: kv.Key, Type: typ, Value: value})
		}
	case *safetensors.File:
		md := f.Metadata()
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r.Metadata = append(r.Metadata, MetaEntry{Key: k, Type: "string", Value: quoteShort(md[k])})
		}
	}
	return r, nil
}

// abbreviate cuts s to maxValueLen characters, saying how long it was.
func abbreviate(s string) string {
	r := []rune(s)
	if len(r) <= maxValueLen {
		return s
	}
	return string(r[:maxValueLen]) + fmt.Sprintf("… (%d characters)", len(r))
}

// quoteShort quotes the string value s (strconv.Quote: control characters
// and bytes that are not UTF-8 escaped) cut after maxValueLen characters,
// with its quote closed and its length in characters after it:
// "ss_tag_frequency …"… (5210 characters).
func quoteShort(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= maxValueLen {
		return strconv.Quote(s)
	}
	cut := 0
	for range maxValueLen {
		_, w := utf8.DecodeRuneInString(s[cut:])
		cut += w
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d characters)", n)
}

// WriteText prints the report for a person. verbose adds one line per tensor.
func (r *Report) WriteText(w io.Writer, verbose bool) error {
	ew := &errWriter{w: w}
	ew.printf("%s\n", safetext.Path(r.Path))
	format := r.Format.String()
	if r.Format == FormatGGUF {
		format += fmt.Sprintf(" v%d", r.GGUFVersion)
	}
	ew.printf("  format:        %s, %s\n", format, sizeString(r.FileSize))
	ew.printf("  architecture:  %s\n", r.Info.Summary())
	if r.Format == FormatGGUF { // the key's name is too long a label: it follows the value
		arch := "none (no general.architecture key)"
		if r.GGUFArch != "" {
			arch = display(r.GGUFArch) + " (general.architecture)"
		}
		ew.printf("  GGUF arch:     %s\n", arch)
	}
	if r.Info.Prefix != "" {
		ew.printf("  name prefix:   %s\n", display(r.Info.Prefix))
	}
	ew.printf("  tensors:       %d, %s of data, %s\n", r.Info.Tensors, sizeString(r.Info.Bytes), paramString(r.Info.Params))
	if len(r.Info.Types) == 0 {
		ew.printf("  bytes by type: none\n")
	} else {
		ew.printf("  bytes by type:\n")
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, tt := range r.Info.Types {
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t\n", tt.Type, plural.Count(tt.Count, "tensor"), plural.Count(tt.Bytes, "byte"), humanBytes(tt.Bytes))
	}
	tw.Flush()
	if len(r.Metadata) > 0 {
		ew.printf("  metadata (%s):\n", plural.Count(len(r.Metadata), "key"))
		for _, m := range r.Metadata {
			ew.printf("    %s [%s] = %s\n", display(m.Key), m.Type, m.Value)
		}
	} else {
		ew.printf("  metadata:      none\n")
	}
	if verbose && len(r.Tensors) > 0 { // "tensors: 0" said there are none
		ew.printf("  tensor list (name, type, shape in PyTorch order, bytes):\n")
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		for _, ti := range r.Tensors {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%d\n", display(ti.Name), ti.Type, shapeString(ti.Shape), ti.Size)
		}
		tw.Flush()
	}
	return ew.err
}

// display prints a name or key from the file as it is when it is short
// printable UTF-8, and quoted by gguf.Quote otherwise: a newline or a tab in
// a crafted name must not forge report lines or break the columns, nor a
// control character reach the terminal, nor a 5000-byte name fill it.
func display(s string) string {
	if len(s) <= maxNameLen && utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	return gguf.Quote(s)
}

// maxNameLen bounds a name or key that display prints as it is.
const maxNameLen = 200

// errWriter remembers the first write error so WriteText can report it once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }

// shapeString prints a shape as [a, b, c] ([] for a scalar).
func shapeString(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// sizeString prints an exact byte count with a human-readable size: 1.04
// MiB (1088608 bytes). Under 1 KiB the size would say the count again (86
// B (86 bytes)): the count alone, 86 bytes.
func sizeString(n int64) string {
	if n < 1024 {
		return plural.Count(n, "byte")
	}
	return fmt.Sprintf("%s (%s)", humanBytes(n), plural.Count(n, "byte"))
}

// humanBytes prints a byte count in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 6 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.2f %ciB", v, "KMGTPE"[i-1])
}

// paramString prints a parameter count with its noun: "14.29 B parameters",
// "2.21 M parameters", "1 parameter".
func paramString(n int64) string {
	if n == 1 {
		return "1 parameter"
	}
	return countString(n) + " parameters"
}

// countString prints a parameter count as 14.29 B, 2.21 M, …
func countString(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2f K", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}
