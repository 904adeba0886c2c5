package gguf

import "fmt"

// Type is a ggml tensor type as stored in GGUF files (the ggml_type enum).
//
// Ids below 1000 are ggml's own. Ids from 1000 up are wan22 extensions for
// element types that appear in safetensors files but have no ggml id
// (fp8, u8); they never appear in a GGUF file this package writes.
type Type uint32

// ggml types (ids as stored in files).
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
	TypeNVFP4   Type = 40
	TypeQ1_0    Type = 41
	TypeQ2_0    Type = 42

	// wan22 extensions (safetensors element types without a ggml id).
	TypeF8E4M3 Type = 1000 // float8 e4m3fn: no infinities, 0x7f/0xff are NaN
	TypeF8E5M2 Type = 1001 // float8 e5m2
	TypeU8     Type = 1002
)

// QK_K is the number of elements in a K-quant super-block.
const QK_K = 256

type typeTraits struct {
	name       string
	blockSize  int // elements per block
	blockBytes int // bytes per block
}

var traits = map[Type]typeTraits{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", 32, 18},
	TypeQ4_1:    {"Q4_1", 32, 20},
	TypeQ5_0:    {"Q5_0", 32, 22},
	TypeQ5_1:    {"Q5_1", 32, 24},
	TypeQ8_0:    {"Q8_0", 32, 34},
	TypeQ8_1:    {"Q8_1", 32, 36},
	TypeQ2_K:    {"Q2_K", 256, 84},
	TypeQ3_K:    {"Q3_K", 256, 110},
	TypeQ4_K:    {"Q4_K", 256, 144},
	TypeQ5_K:    {"Q5_K", 256, 176},
	TypeQ6_K:    {"Q6_K", 256, 210},
	TypeQ8_K:    {"Q8_K", 256, 292},
	TypeIQ2_XXS: {"IQ2_XXS", 256, 66},
	TypeIQ2_XS:  {"IQ2_XS", 256, 74},
	TypeIQ3_XXS: {"IQ3_XXS", 256, 98},
	TypeIQ1_S:   {"IQ1_S", 256, 50},
	TypeIQ4_NL:  {"IQ4_NL", 32, 18},
	TypeIQ3_S:   {"IQ3_S", 256, 110},
	TypeIQ2_S:   {"IQ2_S", 256, 82},
	TypeIQ4_XS:  {"IQ4_XS", 256, 136},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", 256, 56},
	TypeBF16:    {"BF16", 1, 2},
	TypeTQ1_0:   {"TQ1_0", 256, 54},
	TypeTQ2_0:   {"TQ2_0", 256, 66},
	TypeMXFP4:   {"MXFP4", 32, 17},
	TypeNVFP4:   {"NVFP4", 64, 36},
	TypeQ1_0:    {"Q1_0", 128, 18},
	TypeQ2_0:    {"Q2_0", 64, 18},
	TypeF8E4M3:  {"F8_E4M3", 1, 1},
	TypeF8E5M2:  {"F8_E5M2", 1, 1},
	TypeU8:      {"U8", 1, 1},
}

// Known reports whether t is a type this package knows the layout of.
func (t Type) Known() bool { _, ok := traits[t]; return ok }

func (t Type) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block (1 for plain types).
// It is 0 for an unknown type.
func (t Type) BlockSize() int { return traits[t].blockSize }

// BlockBytes is the number of bytes in one block. It is 0 for an unknown type.
func (t Type) BlockBytes() int { return traits[t].blockBytes }

// Quantized reports whether t is a block-quantized type.
func (t Type) Quantized() bool { return traits[t].blockSize > 1 }

// RowBytes returns the byte size of n elements of type t, or an error when n
// is not a whole number of blocks or t is unknown.
func (t Type) RowBytes(n int64) (int64, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, fmt.Errorf("gguf: unknown tensor type %d", uint32(t))
	}
	if n < 0 || n%int64(tr.blockSize) != 0 {
		return 0, fmt.Errorf("gguf: %d elements is not a multiple of the %s block size %d", n, tr.name, tr.blockSize)
	}
	return n / int64(tr.blockSize) * int64(tr.blockBytes), nil
}

// TypeByName returns the type with the given name (as String prints it), case-sensitive.
func TypeByName(name string) (Type, bool) {
	for t, tr := range traits {
		if tr.name == name {
			return t, true
		}
	}
	return 0, false
}

// maxPlausibleType bounds the type ids not in the table that are read as
// a ggml type of another llama.cpp (a newer one, or an older one that
// wrote a type since removed) rather than as damage. ggml numbers its
// types upward from 0 (42 is the newest this reader knows), so a larger id
// is bytes that are no type field.
const maxPlausibleType = 64

// retiredTypes are ggml type ids that llama.cpp once wrote and has since
// removed: a file with them is old, and a newer wan22 would not read it
// either.
var retiredTypes = map[uint32]string{
	4:  "Q4_2",
	5:  "Q4_3",
	31: "Q4_0_4_4",
	32: "Q4_0_4_8",
	33: "Q4_0_8_8",
	36: "IQ4_NL_4_4",
	37: "IQ4_NL_4_8",
	38: "IQ4_NL_8_8",
}

// otherQuantizations is what to download instead of a file whose tensor
// type this reader does not know.
const otherQuantizations = "use another quantization of the model (Q8_0, Q6_K, Q5_K_M, Q4_K_M, F16, …)"

// unknownType is the error for tensor name's type field t32 (at offset
// at), which is no type this reader knows. An id below maxPlausibleType is
// a ggml type this reader does not know (a quantization newer than it, or
// one llama.cpp has retired): the file is not damaged, and the error
// (Unsupported) says what to use instead; a larger id, or one of wan22's
// own extensions (never written to a GGUF file), is damage.
func unknownType(d *decoder, at int64, name string, t32 uint32) *FormatError {
	if t32 >= maxPlausibleType {
		return d.errAt(at, ".type", "unknown ggml tensor type %d", t32)
	}
	e := d.errAt(at, ".type", "tensor %s uses ggml type %d, which this version of wan22 does not know (probably a newer quantization): %s, or a newer wan22",
		Quote(name), t32, otherQuantizations)
	if old, ok := retiredTypes[t32]; ok {
		e.Msg = fmt.Sprintf("tensor %s uses ggml type %d (%s, a layout llama.cpp no longer has), which wan22 does not read: %s",
			Quote(name), t32, old, otherQuantizations)
	}
	e.Unsupported = true
	return e
}
