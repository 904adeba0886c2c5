package blockswap

import "testing"

// The 14B DiT's shapes.
const (
	dim14B    = 5120
	ffn14B    = 13824
	heads14B  = 40
	textLen   = 512
	ffnChunk  = 8192 // dit.DefaultFFNChunk
	gib       = int64(1) << 30
	blocks14B = 40
)

// run14B is the activation description of a 14B run over tokens tokens.
func run14B(tokens, streams int, scratch int64) Activations {
	return Activations{Tokens: tokens, Dim: dim14B, FFNDim: ffn14B, FFNChunk: ffnChunk, Heads: heads14B,
		TextLen: textLen, Streams: streams, WeightScratch: scratch}
}

func TestActivationPeak14B(t *testing.T) {
	// 832×480 at 81, 161, 241 frames, then 1280×720 at 81: increasing tokens.
	cases := []struct {
		name   string
		tokens int
	}{{"480p/81", 32760}, {"480p/161", 63960}, {"720p/81", 75600}, {"480p/241", 95160}}
	var prev int64
	for _, c := range cases {
		one := ActivationPeak(run14B(c.tokens, 1, 0))
		two := ActivationPeak(run14B(c.tokens, 2, 0))
		t.Logf("%s (%d tokens): 1 stream %s, 2 streams %s", c.name, c.tokens, formatBytes(one), formatBytes(two))
		if one <= prev {
			t.Errorf("%s: %s, not above the smaller run's %s", c.name, formatBytes(one), formatBytes(prev))
		}
		prev = one
		// The second stream adds its residual and text context, with slack.
		extra := int64(4*c.tokens*dim14B + 4*textLen*dim14B)
		if d := two - one - extra - int64(float64(extra)*PoolSlack); d < -1 || d > 1 {
			t.Errorf("%s: a second stream adds %d bytes, want %d plus slack", c.name, two-one, extra)
		}
		// Bounds: more than the live residual and q/k/v alone, less than 24 bf16 copies of [L, D] per stream.
		lo, hi := int64(c.tokens)*dim14B*(4+6), int64(c.tokens)*dim14B*48
		if one < lo || one > hi {
			t.Errorf("%s: %s outside the sane range [%s, %s]", c.name, formatBytes(one), formatBytes(lo), formatBytes(hi))
		}
	}
	if p := ActivationPeak(run14B(32760, 1, 0)); p < 2*gib || p > 9*gib/2 {
		t.Errorf("480p/81 one stream: %s, want roughly 2–4 GiB", formatBytes(p))
	}
}

func TestActivationPeakTerms(t *testing.T) {
	base := run14B(32760, 1, 0)
	p := ActivationPeak(base)
	withScratch := base
	withScratch.WeightScratch = 141557760
	if got := ActivationPeak(withScratch) - p; got != 141557760 {
		t.Errorf("weight scratch added %d bytes, want exactly 141557760 (it is not pooled)", got)
	}
	unchunked, zero := base, base
	unchunked.FFNChunk, zero.FFNChunk = 32760, 0
	if ActivationPeak(unchunked) != ActivationPeak(zero) {
		t.Errorf("FFNChunk 0 and FFNChunk = Tokens differ")
	}
	if ActivationPeak(unchunked) <= p {
		t.Errorf("the unchunked FFN (%d) is not above the chunked one (%d)", ActivationPeak(unchunked), p)
	}
	s0 := base
	s0.Streams = 0
	if ActivationPeak(s0) != p {
		t.Errorf("Streams 0 is not counted as 1")
	}
	if got := ActivationPeak(Activations{Tokens: -5, Dim: -1}); got != 0 {
		t.Errorf("negative sizes give %d, want 0", got)
	}
}
