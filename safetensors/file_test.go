package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
)

func openOS(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// pattern returns n bytes of a fixed pseudo-random pattern.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// allDtypes is one tensor of every type the writer emits.
func allDtypes() []Tensor {
	return []Tensor{
		{Name: "f32", Type: gguf.TypeF32, Shape: []int64{2, 3}, Data: pattern(24, 1)},
		{Name: "f16", Type: gguf.TypeF16, Shape: []int64{5}, Data: pattern(10, 2)},
		{Name: "bf16", Type: gguf.TypeBF16, Shape: []int64{3, 1, 2}, Data: pattern(12, 3)},
		{Name: "f64", Type: gguf.TypeF64, Shape: []int64{2}, Data: pattern(16, 4)},
		{Name: "e4m3", Type: gguf.TypeF8E4M3, Shape: []int64{7}, Data: pattern(7, 5)},
		{Name: "e5m2", Type: gguf.TypeF8E5M2, Shape: []int64{1, 3}, Data: pattern(3, 6)},
		{Name: "i64", Type: gguf.TypeI64, Shape: []int64{2}, Data: pattern(16, 7)},
		{Name: "i32", Type: gguf.TypeI32, Shape: []int64{3}, Data: pattern(12, 8)},
		{Name: "i16", Type: gguf.TypeI16, Shape: []int64{3}, Data: pattern(6, 9)},
		{Name: "i8", Type: gguf.TypeI8, Shape: []int64{5}, Data: pattern(5, 10)},
		{Name: "u8", Type: gguf.TypeU8, Shape: []int64{9}, Data: pattern(9, 11)},
		{Name: "scalar", Type: gguf.TypeF32, Shape: []int64{}, Data: pattern(4, 12)},
		{Name: "empty", Type: gguf.TypeF8E4M3, Shape: []int64{0}, Data: nil},
		{Name: "weird \"name\" ü/ü", Type: gguf.TypeF16, Shape: []int64{1, 1}, Data: pattern(2, 13)},
	}
}

func TestRoundTripAllDtypes(t *testing.T) {
	want := allDtypes()
	meta := map[string]string{"format": "pt", "note": "a \"quoted\"\nline"}
	path := filepath.Join(t.TempDir(), "all.safetensors")
	if err := Write(path, want, meta); err != nil {
		t.Fatal(err)
	}
	mf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	rf, err := NewFile(openOS(t, path))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*File{mf, rf} {
		if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
			t.Errorf("metadata %v, want %v", got, meta)
		}
		got := f.Tensors()
		if len(got) != len(want) {
			t.Fatalf("%d tensors, want %d", len(got), len(want))
		}
		for i, w := range want {
			g := got[i] // the writer stores tensors in the order given
			if g.Name != w.Name || g.Type != w.Type || !reflect.DeepEqual(g.Shape, w.Shape) || g.Size != int64(len(w.Data)) {
				t.Errorf("tensor %d: got %+v, want %s %v %v (%d bytes)", i, g, w.Name, w.Type, w.Shape, len(w.Data))
			}
			if g.Offset%8 != 0 && i == 0 {
				t.Errorf("data region starts at %d, not 8-aligned", g.Offset)
			}
			data, err := f.Data(w.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, w.Data) {
				t.Errorf("%s: data %x, want %x", w.Name, data, w.Data)
			}
			sr, err := f.Section(w.Name)
			if err != nil {
				t.Fatal(err)
			}
			sdata, err := io.ReadAll(sr)
			if err != nil || !bytes.Equal(sdata, w.Data) {
				t.Errorf("%s: section reader gives %x, %v", w.Name, sdata, err)
			}
		}
		if _, ok := f.Lookup("nope"); ok {
			t.Error("Lookup found a tensor that does not exist")
		}
		if _, err := f.Data("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("Data of a missing tensor: %v", err)
		}
	}
	if err := mf.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := mf.Data("f32"); !errors.Is(err, ErrClosed) {
		t.Errorf("Data after Close: %v, want ErrClosed", err)
	}
	if err := mf.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestEncodeMatchesWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.safetensors")
	if err := Write(path, allDtypes(), nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, allDtypes(), nil); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, buf.Bytes()) {
		t.Fatal("Write and Encode produce different bytes")
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries after Write, want 1", len(ents))
	}
}

func TestWriteRejects(t *testing.T) {
	cases := []struct {
		name string
		ts   []Tensor
		want string
	}{
		{"quantized type", []Tensor{{Name: "q", Type: gguf.TypeQ8_0, Shape: []int64{32}, Data: make([]byte, 34)}}, "no safetensors dtype"},
		{"short data", []Tensor{{Name: "a", Type: gguf.TypeF32, Shape: []int64{2}, Data: make([]byte, 4)}}, "needs 8"},
		{"duplicate", []Tensor{{Name: "a", Type: gguf.TypeU8, Shape: []int64{1}, Data: []byte{1}}, {Name: "a", Type: gguf.TypeU8, Shape: []int64{1}, Data: []byte{1}}}, "twice"},
		{"reserved name", []Tensor{{Name: "__metadata__", Type: gguf.TypeU8, Shape: []int64{1}, Data: []byte{1}}}, "invalid tensor name"},
		{"negative dim", []Tensor{{Name: "a", Type: gguf.TypeU8, Shape: []int64{-1}, Data: nil}}, "negative"},
		{"element overflow", []Tensor{{Name: "a", Type: gguf.TypeF32, Shape: []int64{1 << 62, 4}, Data: nil}}, "64 bits"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.safetensors")
			err := Write(path, c.ts, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Error("a failed Write left a file behind")
			}
		})
	}
}

// rawFile builds a file from a literal header and data region.
func rawFile(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestComfyStyleTensors(t *testing.T) {
	// A ComfyUI scaled-fp8 text encoder: BOOL and U8 tensors, an empty
	// marker, F32 scalar scales, F8_E4M3 weights.
	hdr := `{"__metadata__":{"format":"pt"},` +
		`"scaled_fp8":{"dtype":"F8_E4M3","shape":[0],"data_offsets":[0,0]},` +
		`"spiece_model":{"dtype":"U8","shape":[5],"data_offsets":[0,5]},` +
		`"flag":{"dtype":"BOOL","shape":[],"data_offsets":[5,6]},` +
		`"enc.q.weight":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[6,10]},` +
		`"enc.q.scale_weight":{"dtype":"F32","shape":[],"data_offsets":[10,14]}}`
	data := []byte{'s', 'p', 'i', 'e', 'c', 1, 0x38, 0x40, 0xb8, 0x7f, 0, 0, 0x80, 0x3f}
	f, err := NewFile(bytes.NewReader(rawFile(hdr, data)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range f.Tensors() {
		names = append(names, ti.Name)
	}
	want := []string{"scaled_fp8", "spiece_model", "flag", "enc.q.weight", "enc.q.scale_weight"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("file order %v, want %v", names, want)
	}
	check := func(name string, typ gguf.Type, shape []int64, data []byte) {
		t.Helper()
		ti, ok := f.Lookup(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if ti.Type != typ || !reflect.DeepEqual(ti.Shape, shape) {
			t.Errorf("%s: %v %v, want %v %v", name, ti.Type, ti.Shape, typ, shape)
		}
		got, err := f.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: data %x, want %x", name, got, data)
		}
	}
	check("scaled_fp8", gguf.TypeF8E4M3, []int64{0}, []byte{})
	check("spiece_model", gguf.TypeU8, []int64{5}, []byte("spiec"))
	check("flag", gguf.TypeU8, []int64{}, []byte{1})
	check("enc.q.weight", gguf.TypeF8E4M3, []int64{2, 2}, []byte{0x38, 0x40, 0xb8, 0x7f})
	check("enc.q.scale_weight", gguf.TypeF32, []int64{}, []byte{0, 0, 0x80, 0x3f})
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata())
	}
}

func TestCorruptHeaders(t *testing.T) {
	ok := `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	cases := []struct {
		name   string
		file   []byte
		tensor string // expected FormatError.Tensor
		field  string // expected FormatError.Field
		msg    string // expected substring of the message
	}{
		{"empty", nil, "", "header length", "shorter than"},
		{"short prefix", []byte{1, 2, 3}, "", "header length", "shorter than"},
		{"length 0", rawFile("", nil), "", "header length", "too small"},
		{"huge length", append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, "{}"...), "", "header length", "exceeds"},
		{"length past end", append([]byte{100, 0, 0, 0, 0, 0, 0, 0}, "{}"...), "", "header length", "truncated"},
		{"not an object", rawFile("[1,2]", nil), "", "header", "not '{'"},
		{"bad json", rawFile(`{"a":`, nil), "", "header", "invalid JSON"},
		{"trailing garbage", rawFile(`{}x`, nil), "", "header", "after the JSON"},
		{"two objects", rawFile(`{}{}`, nil), "", "header", "after the JSON"},
		{"entry not object", rawFile(`{"a":5}`, nil), "a", "header", "not an object"},
		{"missing dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "a", "dtype", "missing"},
		{"dtype not string", rawFile(`{"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "a", "dtype", "not a string"},
		{"unknown dtype", rawFile(`{"w":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)), "w", "dtype", `"F4" is not supported`},
		{"missing shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)), "a", "shape", "missing"},
		{"null shape", rawFile(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, make([]byte, 4)), "a", "shape", "not an array"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), "a", "shape", "element 0"},
		{"fractional dim", rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, make([]byte, 4)), "a", "shape", "element 0"},
		{"string dim", rawFile(`{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, make([]byte, 4)), "a", "shape", "element 0"},
		{"dim too big", rawFile(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}`, make([]byte, 4)), "a", "shape", "element 0"},
		{"shape overflow", rawFile(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "a", "shape", "64 bits"},
		{"bytes overflow", rawFile(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}}`, nil), "a", "shape", "64 bits"},
		{"missing offsets", rawFile(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), "a", "data_offsets", "missing"},
		{"three offsets", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, make([]byte, 8)), "a", "data_offsets", "want 2"},
		{"reversed offsets", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, make([]byte, 4)), "a", "data_offsets", "after end"},
		{"size mismatch", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 12)), "a", "data_offsets", "needs 12"},
		{"beyond data", rawFile("{"+ok+"}", make([]byte, 7)), "a", "data_offsets", "beyond the 7-byte data region"},
		{"overlap", rawFile(`{`+ok+`,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "b", "data_offsets", `overlap tensor "a"`},
		{"duplicate", rawFile(`{`+ok+`,`+ok+`}`, make([]byte, 8)), "a", "header", "twice"},
		{"empty name", rawFile(`{"":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), "", "header", "empty name"},
		{"metadata not object", rawFile(`{"__metadata__":[1]}`, nil), "", "__metadata__", "not a JSON object"},
		{"metadata number", rawFile(`{"__metadata__":{"k":1}}`, nil), "", "__metadata__", `key "k"`},
		{"metadata twice", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), "", "__metadata__", "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewFile(bytes.NewReader(c.file))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FormatError", err, err)
			}
			if fe.Tensor != c.tensor || fe.Field != c.field || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("got tensor %q field %q msg %q; want tensor %q field %q msg containing %q",
					fe.Tensor, fe.Field, fe.Msg, c.tensor, c.field, c.msg)
			}
			// The same bytes on disk give the same class of error, with the path.
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := os.WriteFile(path, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(path)
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open: %v, want a *FormatError naming the path", err)
			}
		})
	}
}

func TestPaddedHeaderAndGaps(t *testing.T) {
	// Space padding after the object, and an unused gap between tensors,
	// are both accepted.
	hdr := `{"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}    `
	f, err := NewFile(bytes.NewReader(rawFile(hdr, []byte{1, 2, 0, 0, 3, 4})))
	if err != nil {
		t.Fatal(err)
	}
	if ts := f.Tensors(); ts[0].Name != "a" || ts[1].Name != "b" {
		t.Errorf("order %v, want a then b", ts)
	}
	d, _ := f.Data("b")
	if !bytes.Equal(d, []byte{3, 4}) {
		t.Errorf("b = %v", d)
	}
}

// sizeless hides the Size method of a reader, to exercise the probe path.
type sizeless struct{ r io.ReaderAt }

func (s sizeless) ReadAt(p []byte, off int64) (int, error) { return s.r.ReadAt(p, off) }

// eofReader reports io.EOF with every read that reaches the end of its data,
// as io.ReaderAt allows.
type eofReader struct{ b []byte }

func (e eofReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(e.b)) {
		return 0, io.EOF
	}
	n := copy(p, e.b[off:])
	if off+int64(n) == int64(len(e.b)) {
		return n, io.EOF
	}
	return n, nil
}

func TestReaderAtEOFWithFullRead(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, allDtypes(), nil); err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(eofReader{buf.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, f, int64(buf.Len()))
	// A header-only file: the header read ends exactly at the end.
	if _, err := NewFile(eofReader{rawFile("{}", nil)}); err != nil {
		t.Fatal(err)
	}
}

func TestTruncations(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, allDtypes(), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for n := 0; n < len(full); n++ {
		for _, r := range []io.ReaderAt{bytes.NewReader(full[:n]), sizeless{bytes.NewReader(full[:n])}} {
			f, err := NewFile(r)
			if err == nil {
				// Only the final bytes, if they belong to no tensor, may be cut;
				// here the last tensor ends the file, so every cut must fail.
				t.Fatalf("truncation to %d of %d bytes accepted (%d tensors)", n, len(full), len(f.Tensors()))
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("truncation to %d: %v is not a *FormatError", n, err)
			}
		}
	}
	if _, err := NewFile(sizeless{bytes.NewReader(full)}); err != nil {
		t.Fatalf("full file through a sizeless reader: %v", err)
	}
}

func TestBitFlipsNeverPanic(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, allDtypes(), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	b := make([]byte, len(full))
	for i := 0; i < len(full); i++ {
		for bit := 0; bit < 8; bit++ {
			copy(b, full)
			b[i] ^= 1 << bit
			if f, err := NewFile(bytes.NewReader(b)); err == nil {
				checkConsistent(t, f, int64(len(b)))
			}
		}
	}
}

// checkConsistent verifies the invariants of a successfully parsed file.
func checkConsistent(t testing.TB, f *File, size int64) {
	t.Helper()
	var covered int64
	for i, ti := range f.Tensors() {
		if j, ok := f.index[ti.Name]; !ok || j != i {
			t.Fatalf("index of %q is %d, want %d", ti.Name, j, i)
		}
		if ti.Offset < f.DataOffset() || ti.Size < 0 || ti.Offset+ti.Size > size {
			t.Fatalf("%q: [%d, +%d) outside the data region [%d, %d)", ti.Name, ti.Offset, ti.Size, f.DataOffset(), size)
		}
		want, err := ti.Type.RowBytes(ti.Elements())
		if err != nil || want != ti.Size {
			t.Fatalf("%q: %d bytes for %v %v (%v)", ti.Name, ti.Size, ti.Type, ti.Shape, err)
		}
		if ti.Size > 0 {
			if ti.Offset < covered {
				t.Fatalf("%q overlaps its predecessor", ti.Name)
			}
			covered = ti.Offset + ti.Size
		}
		d, err := f.Data(ti.Name)
		if err != nil || int64(len(d)) != ti.Size {
			t.Fatalf("%q: Data gives %d bytes, %v", ti.Name, len(d), err)
		}
	}
}
