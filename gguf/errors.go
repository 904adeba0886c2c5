package gguf

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FormatError reports a malformed GGUF file: what was wrong, in which field,
// at which byte offset. Field and Msg hold the file's names and keys only
// through [Quote], so Error never carries raw bytes of the file.
type FormatError struct {
	Offset int64  // absolute byte offset of the offending field
	Field  string // e.g. "tensor_count", "kv[3].value", `tensor[12] ("blocks.0.ffn.0.weight").offset`
	Msg    string
	// Unsupported is set when the file is not damaged but in a GGUF
	// version or byte order this reader does not read: Msg says what to do,
	// and re-downloading the same file would not help.
	Unsupported bool
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("gguf: invalid file at offset %d (%s): %s", e.Offset, e.Field, e.Msg)
}

func formatErr(off int64, field, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// maxFutureVersion is the largest version field read as a GGUF version
// newer than this reader's rather than as damage.
const maxFutureVersion = 16

// unsupported is formatErr for a well-formed file this reader does not read.
func unsupported(off int64, field, format string, args ...any) *FormatError {
	e := formatErr(off, field, format, args...)
	e.Unsupported = true
	return e
}

// maxQuoted bounds the escaped text that Quote shows between the quotes, in bytes.
const maxQuoted = 200

// Quote renders a string that came from a model file (a tensor name, a
// metadata key or value, a dtype) for an error message: in double quotes
// with Go's escapes (strconv.Quote), so that control characters such as
// ESC, CR or NUL, C1 controls and invalid UTF-8 cannot reach a terminal, and
// cut after at most 200 bytes of escaped text, then closed and followed by
// the string's full length, as in "blocks.0.att"… (5003 bytes) (the cut
// never splits a character or an escape). The packages that read model
// files (gguf, safetensors, engine/modelfile) quote every such string with
// it, so a damaged or crafted file cannot make an error long or unprintable.
func Quote(s string) string {
	if len(s) <= maxQuoted/4 { // 4 bytes of escape per byte at most: fits
		return strconv.Quote(s)
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		_, w := utf8.DecodeRuneInString(s[i:]) // an invalid byte: w = 1, escaped as \xNN
		e := strconv.Quote(s[i : i+w])
		e = e[1 : len(e)-1]
		if b.Len()-1+len(e) > maxQuoted {
			fmt.Fprintf(&b, "\"… (%d bytes)", len(s))
			return b.String()
		}
		b.WriteString(e)
		i += w
	}
	b.WriteByte('"')
	return b.String()
}
