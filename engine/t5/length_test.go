package t5_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/gguf"
)

// TestPromptLength: PromptLength counts a prompt's tokens as the encoders
// read it (cleaned, EOS included) past TextLen, while EncodeText and
// EncodeTextsStreaming still encode the first TextLen tokens, as before.
func TestPromptLength(t *testing.T) {
	path, _ := writeSynth(t, t5.Tiny(), gguf.TypeF32, 3)
	f := open(t, path)
	tok, err := t5.LoadTokenizer(f)
	if err != nil {
		t.Fatal(err)
	}
	short := "  A cat &amp; a dog\n\twalk on the grass  "
	long := strings.Repeat("a cat surfing a wave at sunset, ", 100)
	if got, want := t5.PromptLength(tok, short), len(tok.Encode("A cat & a dog walk on the grass")); got != want {
		t.Errorf("short prompt: PromptLength %d, want %d (the cleaned text's ids)", got, want)
	}
	// 8 pieces a repeat: ▁a ▁cat ▁surfing ▁a ▁wave ▁at ▁sunset ",", then EOS.
	if got := t5.PromptLength(tok, long); got != 801 {
		t.Errorf("long prompt: PromptLength %d, want 801", got)
	}
	// Counted up to a bound: the count, or one more than the bound.
	for _, c := range []struct{ prompt, name string }{{short, "short"}, {long, "long"}} {
		length := t5.PromptLength(tok, c.prompt)
		for _, n := range []int{0, 1, 7, 511, 512, 800, 801, 802, 4096} {
			if got := t5.PromptLengthUpTo(tok, c.prompt, n); got != min(length, n+1) {
				t.Errorf("%s prompt: PromptLengthUpTo(_, %d) = %d; PromptLength is %d", c.name, n, got, length)
			}
		}
	}

	enc, err := t5.Load(cpu.New(), f)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	ids := tok.Encode(tokenizer.Clean(long))
	if len(ids) != t5.TextLen {
		t.Fatalf("Encode gives %d ids, want %d", len(ids), t5.TextLen)
	}
	want, _, err := enc.Encode(context.Background(), ids, slices.Repeat([]int32{1}, len(ids)))
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := t5.EncodeText(context.Background(), tok, enc, long)
	if err != nil {
		t.Fatal(err)
	}
	if n != t5.TextLen || !slices.Equal(got, want) {
		t.Errorf("EncodeText: %d rows, equal to encoding the first %d ids: %v", n, t5.TextLen, slices.Equal(got, want))
	}
	texts, ns, err := t5.EncodeTextsStreaming(context.Background(), tok, cpu.New(), f, long, short)
	if err != nil {
		t.Fatal(err)
	}
	if ns[0] != t5.TextLen || !slices.Equal(texts[0], want) {
		t.Errorf("EncodeTextsStreaming: %d rows, equal to encoding the first %d ids: %v", ns[0], t5.TextLen, slices.Equal(texts[0], want))
	}
}
