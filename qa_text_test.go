package wan22

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPromptNotUTF8: a prompt or negative prompt that is not UTF-8 (Latin-1
// bytes from a file or a terminal in another encoding) is refused, naming
// the field and the first bad byte, instead of running with each such byte
// read as a space. UTF-8 text of any script, emoji and newlines run.
func TestPromptNotUTF8(t *testing.T) {
	p := open(t, tiny)
	good := tinyRequest()
	re := resolveField(t, p, good, func(r *Request) { r.Prompt = "a caf\xe9 by the sea" }, "Prompt")
	require.ErrorContains(t, re, "prompt is not UTF-8 text (byte 0xe9 at offset 5")
	re = resolveField(t, p, good, func(r *Request) { r.Negative = "blurry, \xff\xfe" }, "Negative")
	require.ErrorContains(t, re, "negative prompt is not UTF-8 text (byte 0xff at offset 8")
	for _, text := range []string{"", "   ", "un café 🐱🌊\nsurfing", "日本語のプロンプト"} {
		r := good
		r.Prompt, r.Negative = text, text
		_, err := p.Resolve(r)
		require.NoError(t, err, "%q", text)
	}
}
