package safetensors

import (
	"sort"
	"strings"

	"github.com/wan22/wan22/gguf"
)

// dtypes maps the safetensors dtype strings this package reads to ggml types.
// BOOL has no ggml id and is read as U8 (one byte per element, 0 or 1).
var dtypes = map[string]gguf.Type{
	"F32":     gguf.TypeF32,
	"F16":     gguf.TypeF16,
	"BF16":    gguf.TypeBF16,
	"F64":     gguf.TypeF64,
	"F8_E4M3": gguf.TypeF8E4M3,
	"F8_E5M2": gguf.TypeF8E5M2,
	"I64":     gguf.TypeI64,
	"I32":     gguf.TypeI32,
	"I16":     gguf.TypeI16,
	"I8":      gguf.TypeI8,
	"U8":      gguf.TypeU8,
	"BOOL":    gguf.TypeU8,
}

// dtypeNames maps ggml types back to the dtype string the writer stores.
var dtypeNames = map[gguf.Type]string{
	gguf.TypeF32:    "F32",
	gguf.TypeF16:    "F16",
	gguf.TypeBF16:   "BF16",
	gguf.TypeF64:    "F64",
	gguf.TypeF8E4M3: "F8_E4M3",
	gguf.TypeF8E5M2: "F8_E5M2",
	gguf.TypeI64:    "I64",
	gguf.TypeI32:    "I32",
	gguf.TypeI16:    "I16",
	gguf.TypeI8:     "I8",
	gguf.TypeU8:     "U8",
}

// TypeOf returns the ggml type a safetensors dtype string is read as.
func TypeOf(dtype string) (gguf.Type, bool) {
	t, ok := dtypes[dtype]
	return t, ok
}

// DtypeOf returns the safetensors dtype string the writer uses for t, or
// false when t (a block-quantized ggml type, for example) has none.
func DtypeOf(t gguf.Type) (string, bool) {
	s, ok := dtypeNames[t]
	return s, ok
}

// supportedDtypes lists the dtype strings for error messages.
func supportedDtypes() string {
	names := make([]string, 0, len(dtypes))
	for n := range dtypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
