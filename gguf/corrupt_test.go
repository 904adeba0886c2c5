package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// smallFile is a valid file with every metadata type and a few tiny tensors.
func smallFile(t testing.TB) []byte {
	w := NewWriter()
	for _, kv := range allValues() {
		w.SetKV(kv.Key, kv.Value)
	}
	q8, _ := Quantize(TypeQ8_0, []float32{1, -2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})
	require.NoError(t, w.AddTensor("model.diffusion_model.blocks.0.q.weight", TypeQ8_0, []int64{1, 32}, q8))
	require.NoError(t, w.AddTensor("patch_embedding.weight", TypeF16, []int64{2, 1, 1, 2, 2}, make([]byte, 16)))
	require.NoError(t, w.AddTensor("bias", TypeF32, []int64{3}, []byte{0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64}))
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	require.NoError(t, err)
	return buf.Bytes()
}

// exercise parses data and, when that succeeds, touches everything the file
// offers, failing on any error that is not a *FormatError and on any
// inconsistency. It is the body of FuzzNewFile.
func exercise(t testing.TB, data []byte) (*File, error) {
	f, err := NewFile(bytes.NewReader(data))
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("error is not a *FormatError: %v", err)
		}
		if fe.Offset < 0 || fe.Offset > int64(len(data)) {
			t.Fatalf("error offset %d outside the %d-byte file: %v", fe.Offset, len(data), err)
		}
		return nil, err
	}
	for _, kv := range f.Metadata() {
		_ = kv.Value.String()
		if kv.Value.Type() == ValueArray {
			if _, err := kv.Value.Array(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ti := range f.Tensors() {
		b, err := f.Data(ti.Name)
		if err != nil {
			t.Fatalf("Data(%q): %v", ti.Name, err)
		}
		if int64(len(b)) != ti.Size || ti.Offset+ti.Size > int64(len(data)) || ti.Offset < f.DataOffset() {
			t.Fatalf("tensor %q: %d bytes at %d, info says %d; file %d bytes", ti.Name, len(b), ti.Offset, ti.Size, len(data))
		}
		if n := ti.Elements(); CanDequantize(ti.Type) && n <= 1<<20 {
			if err := Dequantize(ti.Type, b, make([]float32, n)); err != nil {
				t.Fatalf("Dequantize(%q): %v", ti.Name, err)
			}
		}
	}
	return f, nil
}

// TestTruncated cuts a valid file at every byte: every cut that loses
// header or tensor bytes is an error, none panics.
func TestTruncated(t *testing.T) {
	raw := smallFile(t)
	f, err := exercise(t, raw)
	require.NoError(t, err)
	var end int64 // end of the last tensor's data: later cuts only lose padding
	for _, ti := range f.Tensors() {
		end = max(end, ti.Offset+ti.Size)
	}
	for cut := range len(raw) {
		_, err := exercise(t, raw[:cut])
		if int64(cut) < end {
			require.Error(t, err, "cut at %d of %d", cut, len(raw))
		}
	}
	// The memory-mapped reader too, at a few places.
	dir := t.TempDir()
	for _, cut := range []int{0, 3, 4, 7, 8, 20, 24, 100, len(raw) / 2, int(end) - 1} {
		path := filepath.Join(dir, "cut.gguf")
		require.NoError(t, os.WriteFile(path, raw[:cut], 0o644))
		_, err := Open(path)
		require.Error(t, err, "cut at %d", cut)
		require.Contains(t, err.Error(), path)
	}
}

// TestBitFlips flips every bit of the header of a valid file: the result
// parses or fails cleanly.
func TestBitFlips(t *testing.T) {
	raw := smallFile(t)
	f, err := NewFile(bytes.NewReader(raw))
	require.NoError(t, err)
	buf := make([]byte, len(raw))
	failed := 0
	for i := range int(f.DataOffset()) {
		for bit := range 8 {
			copy(buf, raw)
			buf[i] ^= 1 << bit
			if _, err := exercise(t, buf); err != nil {
				failed++
			}
		}
	}
	t.Logf("%d of %d single-bit flips rejected", failed, f.DataOffset()*8)
	require.Positive(t, failed)
}

// hdr builds a GGUF header by hand.
type hdr struct{ b []byte }

func newHdr(version uint32, nTensors, nKV uint64) *hdr {
	h := &hdr{}
	h.b = append(h.b, Magic...)
	h.u32(version).u64(nTensors).u64(nKV)
	return h
}
func (h *hdr) u32(x uint32) *hdr  { h.b = binary.LittleEndian.AppendUint32(h.b, x); return h }
func (h *hdr) u64(x uint64) *hdr  { h.b = binary.LittleEndian.AppendUint64(h.b, x); return h }
func (h *hdr) str(s string) *hdr  { h.u64(uint64(len(s))); h.b = append(h.b, s...); return h }
func (h *hdr) raw(p ...byte) *hdr { h.b = append(h.b, p...); return h }

// tensor appends a tensor info with ne in ggml order.
func (h *hdr) tensor(name string, typ Type, off uint64, ne ...uint64) *hdr {
	h.str(name).u32(uint32(len(ne)))
	for _, d := range ne {
		h.u64(d)
	}
	return h.u32(uint32(typ)).u64(off)
}

// pad pads to 32 and appends n data bytes.
func (h *hdr) data(n int) []byte {
	h.b = append(h.b, make([]byte, int(alignUp(int64(len(h.b)), 32))-len(h.b)+n)...)
	return h.b
}

func TestCorruptHeaders(t *testing.T) {
	kvStr := func(h *hdr, k, v string) *hdr { return h.str(k).u32(uint32(ValueString)).str(v) }
	cases := []struct {
		name, field, msg string
		data             []byte
	}{
		{"empty", "magic", "needs 4 bytes", nil},
		{"bad magic", "magic", "not a GGUF file", []byte("GGML\x03\x00\x00\x00")},
		{"big-endian magic", "magic", "big-endian", []byte("FUGG\x00\x00\x00\x03")},
		{"big-endian version", "version", "big-endian", []byte("GGUF\x00\x00\x00\x03")},
		{"version 1", "version", "version 1", newHdr(1, 0, 0).b},
		{"version 4", "version", "GGUF version 4 is newer", newHdr(4, 0, 0).b},
		{"version garbage", "version", "not a GGUF version", newHdr(0x7fff0001, 0, 0).b},
		{"huge kv_count", "kv_count", "cannot fit", newHdr(3, 0, math.MaxUint64).b},
		{"huge tensor_count", "tensor_count", "cannot fit", newHdr(3, 1<<62, 0).b},
		{"huge key length", "kv[0].key.length", "exceeds", newHdr(3, 0, 1).u64(1 << 60).raw(make([]byte, 20)...).b},
		{"huge string", `kv[0] ("k").value.length`, "exceeds", newHdr(3, 0, 1).str("k").u32(uint32(ValueString)).u64(math.MaxUint64).raw(make([]byte, 8)...).b},
		{"huge array", `kv[0] ("k").value.count`, "cannot|need", newHdr(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueUint64)).u64(1 << 61).raw(make([]byte, 64)...).b},
		{"huge string array", `kv[0] ("k").value.count`, "need", newHdr(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(100).raw(make([]byte, 64)...).b},
		{"bad value type", `kv[0] ("k").type`, "unknown metadata value type 13", newHdr(3, 0, 1).str("k").u32(13).raw(0).b},
		{"bad element type", `kv[0] ("k").value.type`, "unknown array element type", newHdr(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(77).u64(0).b},
		{"duplicate key", "kv[1].key", "duplicate metadata key", kvStr(kvStr(newHdr(3, 0, 2), "a", "x"), "a", "y").b},
		{"alignment type", "general.alignment", "UINT32", newHdr(3, 0, 1).str("general.alignment").u32(uint32(ValueUint64)).u64(32).b},
		{"alignment value", "general.alignment", "power of two", newHdr(3, 0, 1).str("general.alignment").u32(uint32(ValueUint32)).u32(48).b},
		{"unknown tensor type", `tensor[0] ("w").type`, "unknown ggml tensor type 500", newHdr(3, 1, 0).tensor("w", Type(500), 0, 32).data(64)},
		{"extension type", `tensor[0] ("w").type`, "unknown ggml tensor type 1000", newHdr(3, 1, 0).tensor("w", TypeF8E4M3, 0, 32).data(64)},
		{"block size", `tensor[0] ("w").type`, "not a multiple of the Q8_0 block size", newHdr(3, 1, 0).tensor("w", TypeQ8_0, 0, 48).data(64)},
		{"too many dims", `tensor[0] ("w").n_dims`, "dimensions", newHdr(3, 1, 0).str("w").u32(17).data(512)},
		{"negative dim", `tensor[0] ("w").ne[1]`, "negative", newHdr(3, 1, 0).tensor("w", TypeF32, 0, 1, 1<<63).data(64)},
		{"size overflow", `tensor[0] ("w").ne`, "overflows", newHdr(3, 1, 0).tensor("w", TypeF32, 0, 1<<32, 1<<32).data(64)},
		{"misaligned", `tensor[0] ("w").offset`, "not a multiple of the alignment", newHdr(3, 1, 0).tensor("w", TypeF32, 4, 4).data(64)},
		{"past EOF", `tensor[0] ("w").offset`, "past the end", newHdr(3, 1, 0).tensor("w", TypeF32, 0, 64).data(255)},
		{"offset past EOF", `tensor[0] ("w").offset`, "past the end", newHdr(3, 1, 0).tensor("w", TypeF32, 1<<40, 1).data(4)},
		{"offset overflow", `tensor[0] ("w").offset`, "overflows", newHdr(3, 1, 0).tensor("w", TypeF32, 1<<63, 1).data(4)},
		{"empty tensor name", "tensor[1].name", "empty name", newHdr(3, 2, 0).tensor("w", TypeF32, 0, 1).tensor("", TypeF32, 32, 1).data(64)},
		{"name only the prefix", `tensor[0] ("model.diffusion_model.").name`, "empty name", newHdr(3, 1, 0).tensor(StripPrefix, TypeF32, 0, 1).data(64)},
		{"duplicate tensor", `tensor[1] ("w").name`, "duplicate tensor name", newHdr(3, 2, 0).tensor("w", TypeF32, 0, 1).tensor("w", TypeF32, 32, 1).data(64)},
		{"duplicate after prefix strip", `tensor[1] ("model.diffusion_model.w").name`, "duplicate tensor name", newHdr(3, 2, 0).tensor("w", TypeF32, 0, 1).tensor(StripPrefix+"w", TypeF32, 32, 1).data(64)},
		{"overlapping data", `tensor[1] ("b").offset`, `data \[32, \+64\) .* overlaps tensor "a"'s data \[0, \+40\)`, newHdr(3, 2, 0).tensor("a", TypeF32, 0, 10).tensor("b", TypeF32, 32, 16).data(96)},
		{"same offset", `tensor[1] ("b").offset`, `overlaps tensor "a"`, newHdr(3, 2, 0).tensor("a", TypeF32, 0, 1).tensor("b", TypeF32, 0, 1).data(32)},
		{"overlap out of file order", `tensor[0] ("b").offset`, `overlaps tensor "a"`, newHdr(3, 2, 0).tensor("b", TypeF32, 32, 16).tensor("a", TypeF32, 0, 10).data(96)},
		{"overlap inside", `tensor[2] ("c").offset`, `overlaps tensor "a"`, newHdr(3, 3, 0).tensor("a", TypeF32, 0, 64).tensor("b", TypeF32, 256, 1).tensor("c", TypeF32, 128, 8).data(288)},
		{"orig_shape count", `tensor[0] ("w")`, "does not have the 4 elements", newHdr(3, 1, 1).str(origShapePrefix+"w").u32(uint32(ValueArray)).u32(uint32(ValueInt32)).u64(1).u32(5).tensor("w", TypeF32, 0, 4).data(16)},
		{"orig_shape type", `tensor[0] ("w")`, "ARRAY of INT32", newHdr(3, 1, 1).str(origShapePrefix+"w").u32(uint32(ValueString)).str("4").tensor("w", TypeF32, 0, 4).data(16)},
	}
	deep := newHdr(3, 0, 1).str("k").u32(uint32(ValueArray))
	for range 100 {
		deep.u32(uint32(ValueArray)).u64(1)
	}
	cases = append(cases, struct {
		name, field, msg string
		data             []byte
	}{"deep nesting", `kv[0] ("k").value`, "nested deeper", deep.u32(uint32(ValueUint8)).u64(0).b})
	// 2M empty nested arrays: 24 MB of file that would take hundreds of MB of memory.
	many := newHdr(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueArray)).u64(2 << 20).raw(make([]byte, 12*(2<<20))...)
	cases = append(cases, struct {
		name, field, msg string
		data             []byte
	}{"many nested arrays", `kv[0] ("k").value.count`, "nested array values", many.b})
	badElem := newHdr(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueArray)).u64(2).
		u32(uint32(ValueUint8)).u64(0).u32(77).u64(0)
	cases = append(cases, struct {
		name, field, msg string
		data             []byte
	}{"bad nested element", `kv[0] ("k").value[1].type`, "unknown array element type", badElem.b})
	// A key that contains the field's own name: the element is numbered
	// after the key, not inside it.
	trickyElem := newHdr(3, 0, 1).str("k.value[]").u32(uint32(ValueArray)).u32(uint32(ValueArray)).u64(2).
		u32(uint32(ValueUint8)).u64(0).u32(77).u64(0)
	cases = append(cases, struct {
		name, field, msg string
		data             []byte
	}{"bad nested element, key like the field", `kv[0] ("k.value[]").value[1].type`, "unknown array element type", trickyElem.b})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := exercise(t, c.data)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
			require.True(t, strings.HasPrefix(fe.Field, c.field), "field %q, want %q", fe.Field, c.field)
			require.Regexp(t, c.msg, fe.Msg)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "a corrupt header must not allocate much")
		})
	}
}

// TestAcceptedVariants covers valid but unusual headers.
func TestAcceptedVariants(t *testing.T) {
	// Version 2, zero tensors, a bool byte other than 1.
	f, err := exercise(t, newHdr(2, 0, 1).str("b").u32(uint32(ValueBool)).raw(7).b)
	require.NoError(t, err)
	require.EqualValues(t, 2, f.Version())
	v, _ := f.Value("b")
	b, err := v.Bool()
	require.NoError(t, err)
	require.True(t, b)

	// comfy.gguf.orig_shape gives the logical shape.
	f, err = exercise(t, newHdr(3, 1, 1).str(origShapePrefix+"w").u32(uint32(ValueArray)).u32(uint32(ValueInt32)).u64(2).u32(2).u32(3).tensor("w", TypeF32, 0, 6).data(24))
	require.NoError(t, err)
	ti, _ := f.Lookup("w")
	require.Equal(t, []int64{2, 3}, ti.Shape)

	// A 64-byte alignment, a zero-dim and a 0-d tensor, absolute offsets.
	h := newHdr(3, 3, 1).str("general.alignment").u32(uint32(ValueUint32)).u32(64)
	h.tensor("z", TypeF32, 0, 0, 5).tensor("s", TypeF32, 0).tensor("v", TypeF32, 64, 2)
	h.b = append(h.b, make([]byte, int(alignUp(int64(len(h.b)), 64))-len(h.b)+72)...)
	f, err = exercise(t, h.b)
	require.NoError(t, err)
	require.EqualValues(t, 64, f.Alignment())
	require.Zero(t, f.DataOffset()%64)
	ti, _ = f.Lookup("s")
	require.Equal(t, []int64{}, ti.Shape)
	require.EqualValues(t, 4, ti.Size)
	ti, _ = f.Lookup("v")
	require.Equal(t, f.DataOffset()+64, ti.Offset)

	// Tensors out of offset order, each ending in the padding before the
	// next one's offset; zero-size tensors anywhere, even inside another's
	// data, overlap nothing.
	h = newHdr(3, 4, 0).tensor("b", TypeF32, 96, 3).tensor("a", TypeF32, 0, 20).tensor("z", TypeF32, 32, 0).tensor("y", TypeF32, 96, 2, 0)
	f, err = exercise(t, h.data(108))
	require.NoError(t, err)
	require.Equal(t, []string{"b", "a", "z", "y"}, []string{f.Tensors()[0].Name, f.Tensors()[1].Name, f.Tensors()[2].Name, f.Tensors()[3].Name}, "file order is kept")

	// The prefix is stripped; lookups of unknown names fail clearly.
	f, err = exercise(t, smallFile(t))
	require.NoError(t, err)
	_, ok := f.Lookup("blocks.0.q.weight")
	require.True(t, ok)
	_, err = f.Data("nope")
	require.ErrorContains(t, err, `"nope"`)
	_, _, err = ReadFloat32(f, "nope")
	require.ErrorContains(t, err, `tensor "nope" not found`)
	x, ti, err := ReadFloat32(f, "bias")
	require.NoError(t, err)
	require.Equal(t, []float32{1, 2, 3}, x)
	require.Equal(t, []int64{3}, ti.Shape)
	require.NoError(t, f.Close())
	_, err = f.Data("bias")
	require.ErrorContains(t, err, "closed")

	// NewFile needs a size.
	_, err = NewFile(struct{ *bytes.Reader }{bytes.NewReader(smallFile(t))})
	require.NoError(t, err) // the embedded Size() is promoted
	_, err = NewFile(readerAtOnly{})
	require.ErrorContains(t, err, "Size() int64 or Stat()")
}

type readerAtOnly struct{}

func (readerAtOnly) ReadAt([]byte, int64) (int, error) { return 0, nil }

// TestHeaderLimit: in a file far larger than any real header, a corrupt
// length or count cannot make the reader take gigabytes as metadata.
func TestHeaderLimit(t *testing.T) {
	const size = MaxHeaderBytes + 64<<20
	for _, c := range []struct {
		name, field string
		h           *hdr
	}{
		{"string", `kv[0] ("k").value.length`, newHdr(3, 0, 1).str("k").u32(uint32(ValueString)).u64(MaxHeaderBytes)},
		{"array", `kv[0] ("k").value.count`, newHdr(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueUint8)).u64(MaxHeaderBytes)},
		{"kv_count", "kv_count", newHdr(3, 0, MaxHeaderBytes/13)},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "big.gguf")
			fd, err := os.Create(path)
			require.NoError(t, err)
			_, err = fd.Write(c.h.b)
			require.NoError(t, err)
			require.NoError(t, fd.Truncate(size)) // sparse where the file system allows
			require.NoError(t, fd.Close())
			if used, ok := allocatedBytes(path); ok && used > 64<<20 {
				t.Skipf("file system does not keep holes (%d bytes used)", used)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = Open(path)
			runtime.ReadMemStats(&after)
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.field, fe.Field)
			require.Contains(t, fe.Msg, "header limit")
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
		})
	}
}

// TestErrorOffsets checks that errors point at the offending bytes.
func TestErrorOffsets(t *testing.T) {
	align := newHdr(3, 0, 1).str("general.alignment").u32(uint32(ValueUint32)).u32(48).b
	dupKey := newHdr(3, 0, 2).str("a").u32(uint32(ValueUint8)).raw(1)
	secondKey := int64(len(dupKey.b))
	dupKey.str("a").u32(uint32(ValueUint8)).raw(2)
	mis := newHdr(3, 1, 0).tensor("w", TypeF32, 4, 4)
	misOff := int64(len(mis.b)) - 8
	emptyName := newHdr(3, 2, 0).tensor("w", TypeF32, 0, 1)
	emptyAt := int64(len(emptyName.b)) // the name's length field
	emptyName.tensor("", TypeF32, 32, 1)
	for _, c := range []struct {
		name string
		data []byte
		off  int64
	}{
		{"version", newHdr(1, 0, 0).b, 4},
		{"tensor_count", newHdr(3, 1<<40, 0).b, 8},
		{"kv_count", newHdr(3, 0, 1<<40).b, 16},
		{"alignment value", align, 24 + 8 + 17 + 4},
		{"duplicate key", dupKey.b, secondKey},
		{"misaligned offset", mis.data(64), misOff},
		{"empty tensor name", emptyName.data(64), emptyAt},
	} {
		_, err := NewFile(bytes.NewReader(c.data))
		var fe *FormatError
		require.ErrorAs(t, err, &fe, c.name)
		require.Equal(t, c.off, fe.Offset, "%s: %v", c.name, err)
	}
}

// TestUnsupportedVersions: a GGUF file of another version or byte order is
// not damaged, and its error says so (Unsupported) and what to do; a
// version field no GGUF writer makes is damage.
func TestUnsupportedVersions(t *testing.T) {
	for _, c := range []struct {
		name        string
		data        []byte
		unsupported bool
		msg         string
	}{
		{"version 1", newHdr(1, 0, 0).b, true, "convert it to GGUF v3"},
		{"version 4", newHdr(4, 0, 0).b, true, "update wan22"},
		{"big-endian version", []byte("GGUF\x00\x00\x00\x03"), true, "little-endian"},
		{"big-endian magic", []byte("FUGG\x00\x00\x00\x03"), true, "little-endian"},
		{"garbage version", newHdr(0x7fff0001, 0, 0).b, false, "not a GGUF version"},
		{"version 0", newHdr(0, 0, 0).b, false, "not a GGUF version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := exercise(t, c.data)
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.unsupported, fe.Unsupported, "%v", err)
			require.Contains(t, fe.Msg, c.msg)
		})
	}
}
