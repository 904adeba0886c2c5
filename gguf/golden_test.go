package gguf

import (
	"fmt"
	"math"
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

func openGolden(t *testing.T, name string) *File {
	t.Helper()
	f, err := Open(golden.Path(t, name))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f
}

// TestGoldenDequantize checks every block type against ggml's own
// dequantization of the same bytes, bit for bit.
func TestGoldenDequantize(t *testing.T) {
	f := openGolden(t, "quants.gguf")
	src, srcInfo, err := ReadFloat32(f, "src")
	require.NoError(t, err)
	require.Equal(t, []int64{16, 512}, srcInfo.Shape)
	require.Equal(t, TypeF32, srcInfo.Type)
	for _, gq := range goldenQuantTypes {
		t.Run(gq.suffix, func(t *testing.T) {
			qi, ok := f.Lookup("q." + gq.suffix)
			require.True(t, ok)
			require.Equal(t, gq.typ, qi.Type)
			require.Equal(t, []int64{16, 512}, qi.Shape)
			ref, _, err := ReadFloat32(f, "ref."+gq.suffix)
			require.NoError(t, err)
			got, _, err := ReadFloat32(f, "q."+gq.suffix)
			require.NoError(t, err)
			require.Len(t, got, len(ref))
			bad := 0
			for i := range ref {
				if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
					if bad < 5 {
						t.Errorf("element %d: got %v (%#08x), want %v (%#08x)", i, got[i], math.Float32bits(got[i]), ref[i], math.Float32bits(ref[i]))
					}
					bad++
				}
			}
			require.Zero(t, bad, "%d of %d elements differ", bad, len(ref))
			// Serial and parallel paths agree.
			data, err := f.Data("q." + gq.suffix)
			require.NoError(t, err)
			ser := make([]float32, len(ref))
			require.NoError(t, Dequantize(gq.typ, data, ser))
			require.True(t, slices.Equal(ser, got) || fmt.Sprint(ser) == fmt.Sprint(got))
			_ = src
		})
	}
}
