package modelfile

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/safetext"
)

// checkPrintable fails unless text is UTF-8 without control characters
// other than newlines, and has no line longer than 600 bytes.
func checkPrintable(t *testing.T, what, text string) {
	t.Helper()
	if p := safetext.Problem(text, true, 600); p != "" {
		t.Errorf("%s %s: %.300q", what, p, text)
	}
}

// writtenReport writes w's file and returns wan22 inspect's report of it.
func writtenReport(t *testing.T, w *gguf.Writer, verbose bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return reportOf(t, path, verbose)
}

// reportOf returns wan22 inspect's report of the file at path.
func reportOf(t *testing.T, path string, verbose bool) string {
	t.Helper()
	rep, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b, verbose); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestWriteTextHostileNames: names and keys of a crafted file cannot forge
// report lines, break the tensor list's columns or reach the terminal with
// control characters; ordinary names print as they are.
func TestWriteTextHostileNames(t *testing.T) {
	forged := "x\n  architecture:  WAN i2v DiT (14B)"
	long := "\x1b[2J\x00" + strings.Repeat("A", 5000)
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "wan\r\x1b[31m")
	w.SetKV("evil\x1b[2Jkey\n  metadata:      none", "v")
	w.SetKV(long, "v")
	for _, name := range []string{"blocks.0.w", forged, "t\tx\u009b", long} {
		if err := w.AddTensor(name, gguf.TypeF32, []int64{4}, make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
	}
	out := writtenReport(t, w, true)
	checkPrintable(t, "the report", out)
	if n := strings.Count(out, "\n  architecture:  "); n != 1 {
		t.Errorf("%d architecture lines, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "metadata:      none") && !strings.Contains(out, `\n  metadata:      none`) {
		t.Errorf("a key forged a line:\n%s", out)
	}
	for _, want := range []string{
		"\n    blocks.0.w  ", // an ordinary name, as it is
		`"x\n  architecture:  WAN i2v DiT (14B)"`,
		`"t\tx\u009b"`,
		`"evil\x1b[2Jkey\n  metadata:      none" [STRING] = "v"`,
		`GGUF arch:     "wan\r\x1b[31m" (general.architecture)`,
		`"\x1b[2J\x00AAAA`, `… (5005 bytes)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %s:\n%s", want, out)
		}
	}
}

// TestOpenHostileNames: a damaged file whose names are crafted gives a
// short, printable error through Open.
func TestOpenHostileNames(t *testing.T) {
	name := "\x1b[2J\x00evil" + strings.Repeat("A", 5000)
	dir := t.TempDir()
	// GGUF: a tensor of an unknown type.
	g := []byte("GGUF\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	g = binary.LittleEndian.AppendUint64(g, uint64(len(name)))
	g = append(g, name...)
	g = binary.LittleEndian.AppendUint32(g, 1)
	g = binary.LittleEndian.AppendUint64(g, 32)
	g = binary.LittleEndian.AppendUint32(g, 4) // a removed ggml type
	g = binary.LittleEndian.AppendUint64(g, 0)
	// safetensors: the same name twice, and a metadata key with a number.
	jsonName := `"\u001b[2J\u0000evil` + strings.Repeat("A", 5000) + `"`
	entry := `{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`
	for file, data := range map[string][]byte{
		"type.gguf":        g,
		"dup.safetensors":  stFile(`{`+jsonName+`:`+entry+`,`+jsonName+`:`+entry+`}`, 4),
		"meta.safetensors": stFile(`{"__metadata__":{`+jsonName+`:1}}`, 0),
		"f4.safetensors":   stFile(`{`+jsonName+`:{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}`, 1),
	} {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Open(path)
		if err == nil {
			t.Fatalf("%s: no error", file)
		}
		msg := err.Error()
		checkPrintable(t, file+"'s error", msg)
		if strings.Contains(msg, "\n") || !strings.Contains(msg, `\x1b[2J\x00evil`) {
			t.Errorf("%s: %q; want one line showing the name escaped", file, msg)
		}
	}
}
