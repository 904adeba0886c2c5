package cuda

import (
	"testing"

	"github.com/wan22/wan22/gguf"
)

func TestKcatSpare(t *testing.T) {
	for _, c := range []struct{ r, want int }{
		{-8, 0}, {0, 0}, {8, 64}, {16, 64}, {64, 64}, {72, 128}, {128, 128}, {136, 192},
	} {
		if got := kcatSpare(c.r); got != c.want {
			t.Errorf("kcatSpare(%d) = %d, want %d", c.r, got, c.want)
		}
		if got := kcatSpare(c.r); got%8 != 0 {
			t.Errorf("kcatSpare(%d) = %d is not a multiple of 8 (rows would lose 16-byte alignment)", c.r, got)
		}
	}
}

func TestKcatFits(t *testing.T) {
	const K = 5120
	// A shadow made for a first reader of rank 16: R = 64. Ranks up to 64 fit, 128 falls back; a dense
	// operand (a BF16 activation, or a shadow made without spare columns) fits none.
	ld := K + kcatSpare(16)
	for _, c := range []struct {
		ld, r int
		want  bool
	}{
		{ld, 16, true}, {ld, 64, true}, {ld, 72, false}, {ld, 128, false},
		{K, 16, false}, {K + 128, 128, true}, {ld, 0, false},
	} {
		if got := kcatFits(c.ld, K, c.r); got != c.want {
			t.Errorf("kcatFits(ld %d, K %d, r %d) = %v, want %v", c.ld, K, c.r, got, c.want)
		}
	}
}

func TestKcatCopiesW(t *testing.T) {
	for _, c := range []struct {
		weight bool
		wt     gguf.Type
		want   bool
	}{
		{true, gguf.TypeBF16, true}, {true, gguf.TypeQ8_0, false}, {true, gguf.TypeQ4_K, false},
		{true, gguf.TypeF16, false}, {true, gguf.TypeF32, false}, {false, gguf.TypeF32, true}, {false, gguf.TypeBF16, true},
	} {
		if got := kcatCopiesW(c.weight, c.wt); got != c.want {
			t.Errorf("kcatCopiesW(weight %v, %v) = %v, want %v", c.weight, c.wt, got, c.want)
		}
	}
}

// TestKcatPays checks the cost model's choices on the 14B DiT's shapes (L = 32760 video tokens, FFN
// chunks of 8192 rows, 512 text tokens) and at the boundaries M = K + r (copied W) and M = r (dequantized
// W), and its byte counts on one case worked by hand.
func TestKcatPays(t *testing.T) {
	const kcat, three = true, false
	q8, bf, f16 := gguf.TypeQ8_0, gguf.TypeBF16, gguf.TypeF16
	for _, c := range []struct {
		what       string
		M, N, K, r int
		wt         gguf.Type
		want       bool
	}{
		{"self-attention q, BF16", 32760, 5120, 5120, 32, bf, kcat},
		{"self-attention q, Q8_0", 32760, 5120, 5120, 128, q8, kcat},
		{"FFN ffn.0 chunk, BF16", 8192, 13824, 5120, 128, bf, kcat},
		{"FFN ffn.0 last chunk, BF16", 8184, 13824, 5120, 64, bf, kcat},
		{"FFN ffn.2 chunk, BF16", 8192, 5120, 13824, 64, bf, three},
		{"FFN ffn.2 chunk, Q8_0", 8192, 5120, 13824, 64, q8, kcat},
		{"cross-attention k of 512 text tokens, BF16", 512, 5120, 5120, 64, bf, three},
		{"cross-attention k of 512 text tokens, F16", 512, 5120, 5120, 64, f16, kcat},
		{"copied: M = K + r (tie)", 320, 72, 256, 64, bf, three},
		{"copied: M = K + r + 1", 321, 72, 256, 64, bf, kcat},
		{"dequantized: M = r (tie)", 64, 72, 256, 64, q8, three},
		{"dequantized: M = r + 1", 65, 72, 256, 64, q8, kcat},
		{"dequantized: M < r", 12, 72, 256, 16, q8, three},
	} {
		copyW := kcatCopiesW(true, c.wt)
		if got := kcatPays(c.M, c.N, c.K, c.r, copyW); got != c.want {
			extra, saved := kcatCosts(c.M, c.N, c.K, c.r, copyW)
			t.Errorf("%s (M %d N %d K %d r %d %v): K-concatenated %v, want %v (extra %d bytes, saved %d)",
				c.what, c.M, c.N, c.K, c.r, c.wt, got, c.want, extra, saved)
		}
	}
	// ffn.0 on a chunk of 8192 rows, rank 64: a BF16 W costs 4·13824·(5120+64) bytes for [W | up] (W and
	// up read and written), a dequantized one 4·13824·64 (up only); the three-GEMM path's [M, N] product
	// costs 4·8192·13824.
	extra, saved := kcatCosts(8192, 13824, 5120, 64, true)
	if extra != 4*13824*5184 || saved != 4*8192*13824 {
		t.Errorf("kcatCosts(ffn.0 chunk, copied W) = %d, %d, want %d, %d", extra, saved, 4*13824*5184, 4*8192*13824)
	}
	if extra, _ := kcatCosts(8192, 13824, 5120, 64, false); extra != 4*13824*64 {
		t.Errorf("kcatCosts(ffn.0 chunk, dequantized W) extra = %d, want %d", extra, 4*13824*64)
	}
}
