// Package gguf reads and writes GGUF model files and converts ggml tensor
// types to float32.
//
// # File format
//
// A GGUF file (version 3; version 2 has the same layout) is little-endian
// throughout and consists of four parts:
//
//	offset 0   magic         "GGUF" (4 bytes)
//	offset 4   version       u32 (2 or 3; 1 used 32-bit counts and is rejected)
//	offset 8   tensor_count  u64
//	offset 16  kv_count      u64
//	offset 24  kv_count metadata records, packed back to back:
//	             key    string
//	             type   u32 (ValueType)
//	             value  encoded as type
//	           tensor_count tensor-info records, packed back to back:
//	             name   string
//	             n_dims u32
//	             ne     u64 × n_dims (ne[0] is the fastest-varying dimension)
//	             type   u32 (ggml Type)
//	             offset u64 (relative to the data section, a multiple of the alignment)
//	           zero padding up to a multiple of the alignment
//	data       tensor data; each tensor at data + offset
//
// A string is a u64 byte length followed by that many bytes (no terminator).
// A metadata value is one of the scalar types UINT8 … FLOAT64, BOOL (one
// byte), STRING, or ARRAY: a u32 element type, a u64 element count and the
// elements, encoded without per-element type tags. Arrays may nest.
//
// The alignment is the u32 value of the general.alignment key (a power of
// two) or 32 when that key is absent. ggml's writers place tensors in info
// order, each padded with zeros to the alignment.
//
// Shapes: GGUF stores dimensions fastest-first (ne). This package exposes
// them in PyTorch order (outermost first, the reverse of ne) in
// TensorInfo.Shape, so a Linear weight of shape [out, in] has ne = [in, out].
// Quantization blocks always run along ne[0], and a row holds ne[0]/BlockSize
// whole blocks.
//
// # Reading
//
// Open memory-maps a file (on Unix; elsewhere, Windows included, it reads
// the file as NewFile does); NewFile reads from any io.ReaderAt. Both parse
// only the header: every count, length, offset and size is checked against
// the file size before it is used, so a corrupt or hostile header yields a
// *FormatError naming the byte offset and field, never a panic or a huge
// allocation (memory grows only with bytes actually read, and the header may
// not exceed MaxHeaderBytes). Tensor names must be non-empty and unique, and
// no two tensors' data may share a byte (as safetensors requires). Tensor data is read lazily by Data: a view into the mapping
// for a mapped file, a fresh buffer otherwise. The `model.diffusion_model.` prefix
// that some Wan exports carry is stripped from tensor names.
//
// # Converting
//
// Dequantize converts the ggml block formats (and the plain integer, float
// and fp8 element types) to float32, bit-identical to ggml's own to_float.
// Quantize implements ggml's reference quantizers for a few types, for
// making test models.
//
// # Writing
//
// Writer builds GGUF v3 files that ggml and gguf-py accept, streaming tensor
// data from callbacks so that multi-gigabyte synthetic models need no memory.
package gguf
