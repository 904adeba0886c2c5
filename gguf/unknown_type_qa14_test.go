package gguf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnknownTypeNewer: a tensor of a ggml type id this reader does not
// know but ggml could have (a newer quantization, below 64) is not damage:
// the error is Unsupported, names the tensor and the id, and says to use
// another quantization or a newer wan22. A type llama.cpp has removed says
// so; an id no ggml has (500, or wan22's own 1000) stays damage.
func TestUnknownTypeNewer(t *testing.T) {
	for _, c := range []struct {
		name        string
		typ         Type
		unsupported bool
		msgs        []string
	}{
		{"newer", Type(43), true, []string{`tensor "w" uses ggml type 43, which this version of wan22 does not know`, "newer quantization", "Q8_0, Q6_K, Q5_K_M, Q4_K_M, F16", "or a newer wan22"}},
		{"newest plausible", Type(63), true, []string{"uses ggml type 63", "newer wan22"}},
		{"retired", Type(31), true, []string{`tensor "w" uses ggml type 31 (Q4_0_4_4, a layout llama.cpp no longer has)`, "another quantization of the model (Q8_0"}},
		{"retired early", Type(4), true, []string{"ggml type 4 (Q4_2"}},
		{"garbage", Type(64), false, []string{"unknown ggml tensor type 64"}},
		{"garbage large", Type(0x6f6c6c65), false, []string{"unknown ggml tensor type"}},
		{"extension", TypeF8E4M3, false, []string{"unknown ggml tensor type 1000"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := exercise(t, newHdr(3, 1, 0).tensor("w", c.typ, 0, 32).data(64))
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.unsupported, fe.Unsupported, "%v", err)
			require.Equal(t, `tensor[0] ("w").type`, fe.Field)
			for _, m := range c.msgs {
				require.Contains(t, fe.Msg, m)
			}
			if c.unsupported {
				require.NotContains(t, fe.Msg, "damaged")
			}
		})
	}
}
