package gguf

import "fmt"

// FormatError reports a malformed GGUF file: what was wrong, in which field,
// at which byte offset.
type FormatError struct {
	Offset int64  // absolute byte offset of the offending field
	Field  string // e.g. "tensor_count", "kv[3].value", "tensor[12] (blocks.0.ffn.0.weight).offset"
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("gguf: invalid file at offset %d (%s): %s", e.Offset, e.Field, e.Msg)
}

func formatErr(off int64, field, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Field: field, Msg: fmt.Sprintf(format, args...)}
}
