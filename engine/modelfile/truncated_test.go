package modelfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/safetensors"
)

// TestOpenCutFiles cuts a GGUF and a safetensors file at every length: a
// cut inside the bytes that say which format the file is reports a
// truncated file of that format (an empty one, that it is empty), never an
// unrecognised format; so does every other cut, saying where: inside the
// GGUF header, or in the tensor data, with how much is missing.
func TestOpenCutFiles(t *testing.T) {
	g, gf := zeroGGUF(t, 4, "w")
	// The writer pads the file after the data; a cut in the padding is no damage.
	ti := gf.Tensors()[0]
	gData := g[:ti.Offset+ti.Size]
	var st bytes.Buffer
	if err := safetensors.Encode(&st, []safetensors.Tensor{safetensors.FromFloat32("w", []int64{4}, []float32{1, 2, 3, 4})}, nil); err != nil {
		t.Fatal(err)
	}
	stHeader := int(st.Bytes()[0]) // the JSON header's length, under 256 bytes here
	dir := t.TempDir()
	for _, file := range []struct {
		format string
		data   []byte
		// want says what a cut to n bytes must report.
		want func(n int) string
	}{
		{"GGUF", gData, func(n int) string {
			switch {
			case n < 24:
				return fmt.Sprintf("truncated GGUF file (%s): a GGUF file starts with a 24-byte fixed header", plural.Count(n, "byte"))
			case int64(n) < gf.DataOffset():
				return fmt.Sprintf("truncated GGUF file (%d bytes): it ends inside its header", n)
			}
			return fmt.Sprintf("truncated GGUF file (%d bytes): its tensor data runs to byte %d, so %s", n, len(gData), plural.Count(len(gData)-n, "byte"))
		}},
		{"safetensors", st.Bytes(), func(n int) string {
			switch {
			case n < 8:
				return fmt.Sprintf("truncated file (%s): a model file has at least 10 bytes (safetensors) or 24 (GGUF)", plural.Count(n, "byte"))
			case n < 8+stHeader:
				return fmt.Sprintf("truncated safetensors file (%s): its first 8 bytes announce a %d-byte JSON header, but %s %s", plural.Count(n, "byte"), stHeader, plural.Count(n-8, "byte"), follow(int64(n-8)))
			}
			return fmt.Sprintf("truncated safetensors file (%d bytes): its tensor data runs to byte %d, so %s", n, st.Len(), plural.Count(st.Len()-n, "byte"))
		}},
	} {
		for n := 0; n < len(file.data); n++ {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d", file.format, n))
			if err := os.WriteFile(path, file.data[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			src, _, err := Open(path)
			if err == nil {
				src.Close()
				t.Errorf("%s cut to %d bytes: no error", file.format, n)
				continue
			}
			msg := err.Error()
			want := file.want(n)
			if n == 0 {
				want = "the file is empty (0 bytes)"
			}
			if !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, want) || !strings.Contains(msg, "download or export it again") ||
				strings.Contains(msg, "unrecognised") {
				t.Errorf("%s cut to %d bytes: %q; want the path, %q and what to do", file.format, n, msg, want)
			}
			var te *TruncatedError
			if !errors.As(err, &te) {
				t.Errorf("%s cut to %d bytes: %T, want a *TruncatedError: %v", file.format, n, err, err)
			}
		}
	}
}

// zeroGGUF returns a GGUF file of F32 tensors of n zeros with the given
// names, as the writer makes it (padded after the data), and its reading.
func zeroGGUF(t *testing.T, n int64, names ...string) ([]byte, *gguf.File) {
	t.Helper()
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "wan")
	for _, name := range names {
		if err := w.AddTensor(name, gguf.TypeF32, []int64{n}, make([]byte, 4*n)); err != nil {
			t.Fatal(err)
		}
	}
	var g bytes.Buffer
	if _, err := w.WriteTo(&g); err != nil {
		t.Fatal(err)
	}
	gf, err := gguf.NewFile(bytes.NewReader(g.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return g.Bytes(), gf
}

// TestDescribeShortHeads: DescribeHead, given a whole file of a few bytes,
// names the format it was cut from.
func TestDescribeShortHeads(t *testing.T) {
	for _, c := range []struct {
		head []byte
		want string
	}{
		{[]byte("GGU"), "only 3 bytes, a truncated GGUF file: a GGUF file starts with a 24-byte fixed header"},
		{[]byte("GGUF\x03\x00\x00\x00\x01"), "only 9 bytes, a truncated GGUF file"},
		{[]byte("GGUF\x09\x00\x00\x00\x01"), "it starts with 47 47 55 46 09"}, // version 9: the reader's error says so
		{[]byte{0x80, 0, 0, 0, 0, 0, 0, 0}, "only 8 bytes, a truncated safetensors file: its first 8 bytes announce a 128-byte JSON header, but 0 bytes follow"},
		{[]byte{0x80, 0, 0, 0, 0, 0, 0, 0, '{', '"'}, "only 10 bytes, a truncated safetensors file: its first 8 bytes announce a 128-byte JSON header, but 2 bytes follow"},
		{[]byte{0x80, 0, 0}, "only 3 bytes, a truncated file: a model file has at least 10 bytes"},
		{[]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 'x'}, "it starts with 80 00"}, // not '{': not cut, damaged
		{[]byte("hello"), `text: it starts with "hello"`},
		{[]byte("\x01\x02hello"), "it starts with 01 02 68 65 6c 6c 6f"},
		{[]byte("<"), "HTML"},
		{[]byte("PK\x03\x04"), "zip"},
	} {
		if got := DescribeHead(c.head); !strings.Contains(got, c.want) {
			t.Errorf("DescribeHead(%q) = %q, want it to contain %q", c.head, got, c.want)
		}
	}
}

// TestOpenShortText: a file of fewer than 8 bytes is a cut safetensors file
// only when its bytes, padded with zeros to an 8-byte header length (the
// smallest length they can start), give at most safetensors.MaxHeaderSize;
// short text such as "abc\n" cannot start one and is an unrecognised
// format, not a truncated file to download again.
func TestOpenShortText(t *testing.T) {
	le := func(n uint64) []byte { b := make([]byte, 8); binary.LittleEndian.PutUint64(b, n); return b }
	dir := t.TempDir()
	for _, c := range []struct {
		data      []byte
		truncated bool
	}{
		{[]byte("abc\n"), false},
		{[]byte("test"), false},
		{[]byte("hello!!"), false},
		{[]byte("hello"), false},
		{le(safetensors.MaxHeaderSize + 1)[:4], false},
		{le(safetensors.MaxHeaderSize)[:4], true},
		{le(safetensors.MaxHeaderSize)[:7], true},
		{[]byte("\x80\x00\x00"), true},
		{[]byte("hi\n"), true}, // 0x0a6968 bytes of header: a cut safetensors file could start so
	} {
		path := filepath.Join(dir, "short")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		src, _, err := Open(path)
		if err == nil {
			src.Close()
			t.Errorf("%q: no error", c.data)
			continue
		}
		var te *TruncatedError
		if errors.As(err, &te) != c.truncated || c.truncated != !strings.Contains(err.Error(), "unrecognised file format") {
			t.Errorf("%q: %v; want truncated %v, else an unrecognised format", c.data, err, c.truncated)
		}
		if d := DescribeHead(c.data); strings.Contains(d, "truncated") != c.truncated {
			t.Errorf("DescribeHead(%q) = %q; want truncated %v", c.data, d, c.truncated)
		}
	}
}
