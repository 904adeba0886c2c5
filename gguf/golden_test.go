package gguf

import (
	"bytes"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/wan22/wan22/internal/golden"
)

// goldenQuantTypes are the block types in quants.gguf, by tensor suffix.
var goldenQuantTypes = []struct {
	suffix string
	typ    Type
}{
	{"f16", TypeF16}, {"bf16", TypeBF16}, {"q4_0", TypeQ4_0}, {"q4_1", TypeQ4_1},
	{"q5_0", TypeQ5_0}, {"q5_1", TypeQ5_1}, {"q8_0", TypeQ8_0}, {"q2_K", TypeQ2_K},
	{"q3_K", TypeQ3_K}, {"q4_K", TypeQ4_K}, {"q5_K", TypeQ5_K}, {"q6_K", TypeQ6_K},
	{"iq4_nl", TypeIQ4_NL}, {"iq4_xs", TypeIQ4_XS},
}

func openGolden(t testing.TB, name string) *File {
	t.Helper()
	f, err := Open(golden.Path(t, name))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f
}

// requireBitEqual fails when got and want differ in any bit.
func requireBitEqual(t *testing.T, want, got []float32) {
	t.Helper()
	require.Len(t, got, len(want))
	bad := 0
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				t.Errorf("element %d: got %v (%#08x), want %v (%#08x)", i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	require.Zero(t, bad, "%d of %d elements differ", bad, len(want))
}

// TestGoldenDequantize checks every block type against ggml's own
// dequantization of the same bytes, bit for bit, through the serial and the
// parallel path.
func TestGoldenDequantize(t *testing.T) {
	f := openGolden(t, "quants.gguf")
	require.Equal(t, "test", f.Architecture())
	t.Run("f32", func(t *testing.T) {
		raw, err := f.Data("src")
		require.NoError(t, err)
		src, ti, err := ReadFloat32(f, "src")
		require.NoError(t, err)
		require.Equal(t, []int64{16, 512}, ti.Shape)
		require.Equal(t, TypeF32, ti.Type)
		for i, x := range src {
			require.Equal(t, math.Float32bits(x), uint32(raw[4*i])|uint32(raw[4*i+1])<<8|uint32(raw[4*i+2])<<16|uint32(raw[4*i+3])<<24)
		}
	})
	for _, gq := range goldenQuantTypes {
		t.Run(gq.suffix, func(t *testing.T) {
			qi, ok := f.Lookup("q." + gq.suffix)
			require.True(t, ok)
			require.Equal(t, gq.typ, qi.Type)
			require.Equal(t, []int64{16, 512}, qi.Shape)
			ref, _, err := ReadFloat32(f, "ref."+gq.suffix)
			require.NoError(t, err)
			got, _, err := ReadFloat32(f, "q."+gq.suffix) // parallel path
			require.NoError(t, err)
			requireBitEqual(t, ref, got)
			data, err := f.Data("q." + gq.suffix)
			require.NoError(t, err)
			ser := make([]float32, len(ref))
			require.NoError(t, Dequantize(gq.typ, data, ser))
			requireBitEqual(t, ref, ser)
		})
	}
}

// TestGoldenQuantize checks that the reference quantizers reproduce ggml's
// bytes for the golden source rows.
func TestGoldenQuantize(t *testing.T) {
	f := openGolden(t, "quants.gguf")
	src, _, err := ReadFloat32(f, "src")
	require.NoError(t, err)
	for _, c := range []struct {
		suffix string
		typ    Type
	}{{"f16", TypeF16}, {"bf16", TypeBF16}, {"q8_0", TypeQ8_0}, {"q4_K", TypeQ4_K}, {"q6_K", TypeQ6_K}} {
		t.Run(c.suffix, func(t *testing.T) {
			want, err := f.Data("q." + c.suffix)
			require.NoError(t, err)
			got, err := Quantize(c.typ, src)
			require.NoError(t, err)
			bb := c.typ.BlockBytes()
			require.Len(t, got, len(want))
			for i := 0; i < len(want); i += bb {
				require.True(t, bytes.Equal(want[i:i+bb], got[i:i+bb]), "block %d differs:\n got %x\nwant %x", i/bb, got[i:i+bb], want[i:i+bb])
			}
		})
	}
}

type wantTensor struct {
	name  string
	typ   Type
	shape []int64
}

// checkTensors requires that every listed tensor exists with its type and shape.
func checkTensors(t *testing.T, f *File, n int, want []wantTensor) {
	t.Helper()
	require.Len(t, f.Tensors(), n)
	for _, w := range want {
		ti, ok := f.Lookup(w.name)
		require.True(t, ok, "tensor %s missing", w.name)
		require.Equal(t, w.typ, ti.Type, w.name)
		require.Equal(t, w.shape, ti.Shape, w.name)
		require.Zero(t, ti.Offset%f.Alignment(), w.name)
		size, err := ti.Type.RowBytes(ti.Elements())
		require.NoError(t, err)
		require.Equal(t, size, ti.Size)
	}
}

func TestGoldenDiT(t *testing.T) {
	common := func(q8 bool) []wantTensor {
		lin := TypeF32
		if q8 {
			lin = TypeQ8_0
		}
		return []wantTensor{
			{"patch_embedding.weight", TypeF32, []int64{256, 36, 1, 2, 2}},
			{"patch_embedding.bias", TypeF32, []int64{256}},
			{"text_embedding.0.weight", lin, []int64{256, 128}},
			{"time_projection.1.weight", lin, []int64{1536, 256}},
			{"blocks.0.modulation", TypeF32, []int64{1, 6, 256}},
			{"blocks.1.self_attn.q.weight", lin, []int64{256, 256}},
			{"blocks.1.self_attn.norm_k.weight", TypeF32, []int64{256}},
			{"blocks.0.ffn.0.weight", lin, []int64{512, 256}},
			{"blocks.1.ffn.2.weight", lin, []int64{256, 512}},
			{"head.modulation", TypeF32, []int64{1, 2, 256}},
			{"head.head.weight", lin, []int64{64, 256}},
			{"head.head.bias", TypeF32, []int64{64}},
		}
	}
	for _, c := range []struct {
		file string
		q8   bool
	}{{"dit_tiny_f32.gguf", false}, {"dit_tiny_q8_0.gguf", true}} {
		t.Run(c.file, func(t *testing.T) {
			f := openGolden(t, c.file)
			require.Equal(t, "wan", f.Architecture())
			require.EqualValues(t, 3, f.Version())
			require.EqualValues(t, 32, f.Alignment())
			checkTensors(t, f, 69, common(c.q8))
			for _, ti := range f.Tensors() {
				require.NotContains(t, ti.Name, "model.diffusion_model.")
			}
			// The stripped prefix is really there in the q8_0 file.
			raw, err := os.ReadFile(golden.Path(t, c.file))
			require.NoError(t, err)
			require.Equal(t, c.q8, bytes.Contains(raw[:f.DataOffset()], []byte(StripPrefix+"blocks.0.ffn.0.weight")))
		})
	}
	// The Q8_0 weights are close to the F32 ones.
	f32, q8 := openGolden(t, "dit_tiny_f32.gguf"), openGolden(t, "dit_tiny_q8_0.gguf")
	a, _, err := ReadFloat32(f32, "blocks.0.ffn.0.weight")
	require.NoError(t, err)
	b, _, err := ReadFloat32(q8, "blocks.0.ffn.0.weight")
	require.NoError(t, err)
	require.Less(t, golden.RelL2(a, b), 0.01)
}

func TestGoldenT5(t *testing.T) {
	f := openGolden(t, "t5_tiny_f32.gguf")
	require.Equal(t, "t5encoder", f.Architecture())
	checkTensors(t, f, 32, []wantTensor{
		{"token_embd.weight", TypeF32, []int64{1000, 64}},
		{"enc.blk.0.attn_rel_b.weight", TypeF32, []int64{32, 4}},
		{"enc.blk.2.ffn_gate.weight", TypeF32, []int64{160, 64}},
		{"enc.blk.2.ffn_down.weight", TypeF32, []int64{64, 160}},
		{"enc.output_norm.weight", TypeF32, []int64{64}},
	})
	v, ok := f.Value("tokenizer.ggml.tokens")
	require.True(t, ok)
	toks, err := v.Strings()
	require.NoError(t, err)
	require.Len(t, toks, 1000)
	require.Equal(t, []string{"<pad>", "</s>", "<unk>"}, toks[:3])
	v, _ = f.Value("tokenizer.ggml.scores")
	scores, err := v.Float32s()
	require.NoError(t, err)
	require.Len(t, scores, 1000)
	v, _ = f.Value("tokenizer.ggml.token_type")
	tt, err := v.Int32s()
	require.NoError(t, err)
	require.Equal(t, []int32{3, 3, 2}, tt[:3])
	v, _ = f.Value("tokenizer.ggml.precompiled_charsmap")
	cm, err := v.Bytes()
	require.NoError(t, err)
	require.Len(t, cm, 240007)
	v, _ = f.Value("tokenizer.ggml.add_space_prefix")
	b, err := v.Bool()
	require.NoError(t, err)
	require.True(t, b)
	v, _ = f.Value("tokenizer.ggml.eos_token_id")
	eos, err := v.Int64()
	require.NoError(t, err)
	require.EqualValues(t, 1, eos)
	_, err = v.Str()
	require.ErrorContains(t, err, "UINT32")
}

// TestOpenMatchesNewFile reads every golden GGUF both ways and compares.
func TestOpenMatchesNewFile(t *testing.T) {
	for _, name := range []string{"quants.gguf", "dit_tiny_q8_0.gguf", "t5_tiny_f32.gguf"} {
		t.Run(name, func(t *testing.T) {
			m := openGolden(t, name)
			fd, err := os.Open(golden.Path(t, name))
			require.NoError(t, err)
			defer fd.Close()
			r, err := NewFile(fd)
			require.NoError(t, err)
			require.Equal(t, m.Tensors(), r.Tensors())
			require.Equal(t, m.DataOffset(), r.DataOffset())
			require.Equal(t, len(m.Metadata()), len(r.Metadata()))
			for i, kv := range m.Metadata() {
				require.Equal(t, kv.Key, r.Metadata()[i].Key)
				require.True(t, kv.Value.Equal(r.Metadata()[i].Value), kv.Key)
			}
			for _, ti := range m.Tensors() {
				a, err := m.Data(ti.Name)
				require.NoError(t, err)
				b, err := r.Data(ti.Name)
				require.NoError(t, err)
				require.True(t, slices.Equal(a, b), ti.Name)
			}
		})
	}
}

// TestWriterReproducesGolden rewrites each golden GGUF (written by ggml's
// Python tooling) with Writer: the bytes must come out identical, which
// shows the header encoding, alignment and padding match the reference writer.
func TestWriterReproducesGolden(t *testing.T) {
	for _, name := range []string{"quants.gguf", "dit_tiny_f32.gguf", "dit_tiny_q8_0.gguf", "t5_tiny_f32.gguf"} {
		t.Run(name, func(t *testing.T) {
			f := openGolden(t, name)
			w := NewWriter()
			for _, kv := range f.Metadata() {
				w.SetKV(kv.Key, kv.Value)
			}
			for _, ti := range f.Tensors() {
				data, err := f.Data(ti.Name)
				require.NoError(t, err)
				raw := ti.Name
				if name == "dit_tiny_q8_0.gguf" { // every name there carries the prefix
					raw = StripPrefix + raw
				}
				require.NoError(t, w.AddTensor(raw, ti.Type, ti.Shape, data))
			}
			var buf bytes.Buffer
			_, err := w.WriteTo(&buf)
			require.NoError(t, err)
			want, err := os.ReadFile(golden.Path(t, name))
			require.NoError(t, err)
			require.Equal(t, len(want), buf.Len())
			require.True(t, bytes.Equal(want, buf.Bytes()), "rewrite of %s differs", name)
		})
	}
}
