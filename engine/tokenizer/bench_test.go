package tokenizer

import (
	"os"
	"strings"
	"testing"

	"github.com/wan22/wan22/internal/golden"
)

// benchPrompt is a long English prompt followed by the Chinese negative
// prompt; with the golden model it is about 400 tokens.
var benchPrompt = strings.Repeat("A golden retriever runs across a sunlit meadow, slow motion, cinematic lighting, shallow depth of field. ", 5) +
	negativePrompt

func BenchmarkEncode(b *testing.B) {
	tok := loadGoldenModel(b)
	text := Clean(benchPrompt)
	n := len(tok.Encode(text))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		tok.Encode(text)
	}
	b.ReportMetric(float64(n), "tokens/op")
}

func BenchmarkEncodeFallback(b *testing.B) {
	m, err := os.ReadFile(golden.Path(b, "tokenizer_tiny.model"))
	if err != nil {
		b.Fatal(err)
	}
	tok := withoutCharsmap(b, m)
	text := Clean(benchPrompt)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		tok.Encode(text)
	}
}

func BenchmarkFromProto(b *testing.B) {
	m, err := os.ReadFile(golden.Path(b, "tokenizer_tiny.model"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromProto(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClean(b *testing.B) {
	text := "A &amp; B &lt;b&gt;  " + benchPrompt
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		Clean(text)
	}
}
