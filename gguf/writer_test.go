package gguf

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// allValues has one metadata value of every type, arrays of every element
// type (empty ones included) and nested arrays.
func allValues() []KV {
	mustValue := func(x any) Value {
		v, err := NewValue(x)
		if err != nil {
			panic(err)
		}
		return v
	}
	return []KV{
		{"general.architecture", mustValue("wan")},
		{"u8", mustValue(uint8(200))},
		{"i8", mustValue(int8(-100))},
		{"u16", mustValue(uint16(65000))},
		{"i16", mustValue(int16(-32000))},
		{"u32", mustValue(uint32(4000000000))},
		{"i32", mustValue(int32(-2000000000))},
		{"f32", mustValue(float32(-1.5e-7))},
		{"bool.t", mustValue(true)},
		{"bool.f", mustValue(false)},
		{"str", mustValue("héllo\x00world")},
		{"str.empty", mustValue("")},
		{"u64", mustValue(uint64(math.MaxUint64))},
		{"i64", mustValue(int64(math.MinInt64))},
		{"f64", mustValue(math.Pi)},
		{"int", mustValue(-7)},
		{"f32.nan", mustValue(float32(math.NaN()))},
		{"arr.u8", mustValue([]uint8{0, 1, 255})},
		{"arr.i8", mustValue([]int8{-128, 0, 127})},
		{"arr.u16", mustValue([]uint16{1, 65535})},
		{"arr.i16", mustValue([]int16{-1, 2})},
		{"arr.u32", mustValue([]uint32{7})},
		{"arr.i32", mustValue([]int32{-3, 4, 5})},
		{"arr.f32", mustValue([]float32{0.5, float32(math.Inf(-1))})},
		{"arr.bool", mustValue([]bool{true, false, true})},
		{"arr.str", mustValue([]string{"a", "", "ccc"})},
		{"arr.u64", mustValue([]uint64{1 << 63})},
		{"arr.i64", mustValue([]int64{-1 << 63, 1})},
		{"arr.f64", mustValue([]float64{1e300, -0.0})},
		{"arr.empty", mustValue([]float32{})},
		{"arr.nested", mustValue([][]int32{{1, 2}, {}, {3}})},
		{"arr.nested.str", mustValue([][][]string{{{"x"}, {"y", "z"}}, {}})},
		{"arr.values", mustValue([]Value{mustValue("p"), mustValue("q")})},
		{"arr.mixed.nested", mustValue([]Value{mustValue([]string{"s"}), mustValue([]float64{2})})},
	}
}

type testTensor struct {
	name  string
	typ   Type
	shape []int64
	data  []byte
}

func randFloats(rng *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64() * scale)
	}
	return out
}

// testTensors makes tensors of several types and ranks, the 5-D one included.
func testTensors(t *testing.T) []testTensor {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []testTensor
	for _, c := range []struct {
		name  string
		typ   Type
		shape []int64
	}{
		{"patch_embedding.weight", TypeF32, []int64{8, 4, 1, 2, 2}},
		{"blocks.0.self_attn.q.weight", TypeQ8_0, []int64{3, 64}},
		{"blocks.0.ffn.0.weight", TypeQ4_K, []int64{2, 512}},
		{"blocks.0.ffn.2.weight", TypeQ6_K, []int64{1, 256}},
		{"text_embedding.0.weight", TypeF16, []int64{5, 7}},
		{"head.head.weight", TypeBF16, []int64{3, 3}},
		{"blocks.0.modulation", TypeF32, []int64{1, 6, 4}},
		{"scalar", TypeF32, []int64{}},
		{"empty", TypeF32, []int64{0, 5}},
	} {
		n := TensorInfo{Shape: c.shape}.Elements()
		data, err := Quantize(c.typ, randFloats(rng, int(n), 1))
		require.NoError(t, err)
		out = append(out, testTensor{c.name, c.typ, c.shape, data})
	}
	return out
}

func writeTestFile(t *testing.T, kvs []KV, tensors []testTensor) []byte {
	w := NewWriter()
	for _, kv := range kvs {
		w.SetKV(kv.Key, kv.Value)
	}
	for i, tt := range tensors {
		if i%2 == 0 {
			require.NoError(t, w.AddTensor(tt.name, tt.typ, tt.shape, tt.data))
		} else {
			data := tt.data
			require.NoError(t, w.AddTensorFunc(tt.name, tt.typ, tt.shape, func(w io.Writer) error {
				// Write in odd-sized pieces.
				for len(data) > 0 {
					k := min(len(data), 7)
					if _, err := w.Write(data[:k]); err != nil {
						return err
					}
					data = data[k:]
				}
				return nil
			}))
		}
	}
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	require.NoError(t, err)
	require.EqualValues(t, buf.Len(), n)
	return buf.Bytes()
}

func checkRoundTrip(t *testing.T, f *File, kvs []KV, tensors []testTensor) {
	t.Helper()
	md := f.Metadata()
	require.Len(t, md, len(kvs))
	for i, kv := range kvs {
		require.Equal(t, kv.Key, md[i].Key)
		require.True(t, kv.Value.Equal(md[i].Value), "%s: wrote %s, read %s", kv.Key, kv.Value, md[i].Value)
		require.Equal(t, kv.Value.ElemType(), md[i].Value.ElemType(), kv.Key)
	}
	require.Len(t, f.Tensors(), len(tensors))
	for i, tt := range tensors {
		ti := f.Tensors()[i]
		require.Equal(t, tt.name, ti.Name)
		require.Equal(t, tt.typ, ti.Type)
		require.Equal(t, tt.shape, ti.Shape)
		require.Zero(t, ti.Offset%f.Alignment())
		data, err := f.Data(tt.name)
		require.NoError(t, err)
		require.Equal(t, tt.data, data)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	kvs, tensors := allValues(), testTensors(t)
	raw := writeTestFile(t, kvs, tensors)
	f, err := NewFile(bytes.NewReader(raw))
	require.NoError(t, err)
	checkRoundTrip(t, f, kvs, tensors)
	require.EqualValues(t, 3, f.Version())
	require.EqualValues(t, 32, f.Alignment())
	require.Equal(t, "wan", f.Architecture())

	// ggml's packing: tensors back to back, each padded to the alignment,
	// the file ending with the last tensor's padding.
	next := f.DataOffset()
	for _, ti := range f.Tensors() {
		require.Equal(t, next, ti.Offset, ti.Name)
		next += alignUp(ti.Size, 32)
	}
	require.EqualValues(t, next, len(raw))

	// Through a real file and the memory-mapped reader.
	path := filepath.Join(t.TempDir(), "rt.gguf")
	w := NewWriter()
	for _, kv := range kvs {
		w.SetKV(kv.Key, kv.Value)
	}
	for _, tt := range tensors {
		require.NoError(t, w.AddTensor(tt.name, tt.typ, tt.shape, tt.data))
	}
	require.NoError(t, w.WriteFile(path))
	onDisk, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, raw, onDisk, "WriteFile and WriteTo write the same bytes")
	m, err := Open(path)
	require.NoError(t, err)
	defer m.Close()
	checkRoundTrip(t, m, kvs, tensors)
}

func TestWriterAlignmentAndOverride(t *testing.T) {
	tensors := testTensors(t)[:3]
	w := NewWriter()
	w.SetKV("general.alignment", uint32(256))
	w.SetKV("k", "first")
	w.SetKV("k", "second") // replaces in place
	for _, tt := range tensors {
		require.NoError(t, w.AddTensor(tt.name, tt.typ, tt.shape, tt.data))
	}
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	require.NoError(t, err)
	f, err := NewFile(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.EqualValues(t, 256, f.Alignment())
	require.Zero(t, f.DataOffset()%256)
	require.Len(t, f.Metadata(), 2)
	v, _ := f.Value("k")
	s, _ := v.Str()
	require.Equal(t, "second", s)
	for _, ti := range f.Tensors() {
		require.Zero(t, ti.Offset%256)
	}

	for _, bad := range []any{uint32(48), int32(64), uint64(64), uint32(0)} {
		w := NewWriter()
		w.SetKV("general.alignment", bad)
		_, err := w.WriteTo(io.Discard)
		require.ErrorContains(t, err, "general.alignment", "%T %v", bad, bad)
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter()
	require.NoError(t, w.AddTensor("a", TypeF32, []int64{2}, make([]byte, 8)))
	require.ErrorContains(t, w.AddTensor("a", TypeF32, []int64{2}, make([]byte, 8)), "duplicate")
	require.ErrorContains(t, w.AddTensor("b", TypeF32, []int64{2}, make([]byte, 7)), "7 data bytes, want 8")
	require.ErrorContains(t, w.AddTensor("c", TypeQ8_0, []int64{2, 31}, make([]byte, 34)), "block size")
	require.ErrorContains(t, w.AddTensor("d", TypeF32, []int64{-1}, nil), "negative")
	require.ErrorContains(t, w.AddTensor("e", TypeF8E4M3, []int64{4}, make([]byte, 4)), "no ggml type id")
	require.ErrorContains(t, w.AddTensor("f", Type(77), []int64{4}, make([]byte, 4)), "no ggml type id")
	require.ErrorContains(t, w.AddTensorFunc("g", TypeF32, []int64{1 << 40, 1 << 40}, nil), "overflows")

	// A write function that writes too little or too much fails WriteTo.
	for _, n := range []int{7, 9} {
		w := NewWriter()
		require.NoError(t, w.AddTensorFunc("x", TypeF32, []int64{2}, func(w io.Writer) error {
			_, err := w.Write(make([]byte, n))
			return err
		}))
		_, err := w.WriteTo(io.Discard)
		require.ErrorContains(t, err, `tensor "x"`)
	}
	// A failing write function fails WriteFile and leaves nothing behind.
	dir := t.TempDir()
	w = NewWriter()
	boom := errors.New("boom")
	require.NoError(t, w.AddTensorFunc("x", TypeF32, []int64{2}, func(io.Writer) error { return boom }))
	err := w.WriteFile(filepath.Join(dir, "out.gguf"))
	require.ErrorIs(t, err, boom)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)

	// An unsupported metadata value is reported by WriteTo.
	w = NewWriter()
	w.SetKV("bad", map[string]int{})
	_, err = w.WriteTo(io.Discard)
	require.ErrorContains(t, err, `metadata "bad"`)
	w = NewWriter()
	w.SetKV("bad", []Value{})
	_, err = w.WriteTo(io.Discard)
	require.ErrorContains(t, err, "empty []Value")
}

// TestWriterSparse writes zero-filled tensors: WriteFile leaves holes,
// WriteTo writes zeros, and both read back as zeros.
func TestWriterSparse(t *testing.T) {
	w := NewWriter()
	w.SetKV("general.architecture", "wan")
	require.NoError(t, w.AddTensorFunc("big", TypeQ8_0, []int64{256, 4096}, nil)) // 1.1 MB of zeros
	require.NoError(t, w.AddTensor("small", TypeF32, []int64{3}, make([]byte, 12)))
	require.NoError(t, w.AddTensorFunc("tail", TypeF16, []int64{1 << 20}, nil)) // file ends in a hole
	path := filepath.Join(t.TempDir(), "sparse.gguf")
	require.NoError(t, w.WriteFile(path))
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	require.NoError(t, err)
	onDisk, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, buf.Bytes(), onDisk)
	if used, ok := allocatedBytes(path); ok {
		t.Logf("%d-byte file occupies %d bytes on disk", len(onDisk), used)
	}
	f, err := Open(path)
	require.NoError(t, err)
	defer f.Close()
	x, _, err := ReadFloat32(f, "tail")
	require.NoError(t, err)
	require.Len(t, x, 1<<20)
	for i, v := range x {
		if v != 0 {
			t.Fatalf("element %d = %v, want 0", i, v)
		}
	}
}

func TestValueAccessors(t *testing.T) {
	v, _ := NewValue(int16(-5))
	_, err := v.Uint64()
	require.ErrorContains(t, err, "negative")
	i, err := v.Int64()
	require.NoError(t, err)
	require.EqualValues(t, -5, i)
	_, err = v.Float64()
	require.ErrorContains(t, err, "INT16")
	v, _ = NewValue(uint64(math.MaxUint64))
	_, err = v.Int64()
	require.ErrorContains(t, err, "overflows")
	v, _ = NewValue(float32(0.25))
	fl, err := v.Float64()
	require.NoError(t, err)
	require.Equal(t, 0.25, fl)
	_, err = v.Bool()
	require.Error(t, err)
	v, _ = NewValue([]uint64{1, 1 << 40})
	_, err = v.Int32s()
	require.ErrorContains(t, err, "overflows int32")
	v, _ = NewValue([]uint16{1, 2})
	i32, err := v.Int32s()
	require.NoError(t, err)
	require.Equal(t, []int32{1, 2}, i32)
	_, err = v.Strings()
	require.ErrorContains(t, err, "ARRAY of UINT16")
	_, err = v.Bytes()
	require.Error(t, err)
	v, _ = NewValue([]int8{-1, 2})
	b, err := v.Bytes()
	require.NoError(t, err)
	require.Equal(t, []byte{0xff, 2}, b)
	v, _ = NewValue([]float64{1.5})
	f32s, err := v.Float32s()
	require.NoError(t, err)
	require.Equal(t, []float32{1.5}, f32s)
	v, _ = NewValue(make([]string, 100))
	require.Contains(t, v.String(), "(92 more)")
	require.Equal(t, 100, v.Len())
	v, _ = NewValue([][]int32{{1}, {2, 3}})
	arr, err := v.Array()
	require.NoError(t, err)
	require.Len(t, arr, 2)
	require.Equal(t, "[[1], [2, 3]]", v.String())
	v, err = NewValue(Value{})
	require.NoError(t, err)
	require.Equal(t, "0", v.String())
	_, err = NewValue(Value{typ: 99})
	require.Error(t, err)
	s1, _ := NewValue("a")
	n1, _ := NewValue(1)
	_, err = NewValue([]Value{s1, n1})
	require.ErrorContains(t, err, "element 1")
}

// The writer refuses what the reader would reject: too many dimensions, an
// empty name (before or after StripPrefix), and two names that are the same
// once the reader strips StripPrefix.
func TestWriterRefusesUnreadable(t *testing.T) {
	w := NewWriter()
	require.Error(t, w.AddTensor("w", TypeF32, make([]int64, maxDims+1), nil))
	require.ErrorContains(t, w.AddTensor("", TypeF32, []int64{1}, make([]byte, 4)), "empty name")
	require.ErrorContains(t, w.AddTensor(StripPrefix, TypeF32, []int64{1}, make([]byte, 4)), "empty name")
	require.NoError(t, w.AddTensor("x", TypeF32, []int64{1}, make([]byte, 4)))
	require.ErrorContains(t, w.AddTensor(StripPrefix+"x", TypeF32, []int64{1}, make([]byte, 4)), "duplicate")
}
