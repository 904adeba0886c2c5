// Package engine holds the model-facing compute interface and the models
// written once over it (DiT, umT5 encoder, VAE).
//
// # Backends
//
// A Backend owns tensors and runs ops on them. The CPU backend (engine/cpu)
// is the float32 reference used by CI and the tiny demo; the CUDA backend
// (engine/cuda) runs the same model code with bf16 GEMMs and attention,
// fp32 accumulation and fused kernels. A model never looks inside a Tensor.
//
// The core interface is small. Ops that only one model family needs, or
// fused fast paths, are separate interfaces that a backend may implement
// and a model discovers by type assertion, with a fallback built from core
// ops (see Fused*).
//
// # Errors
//
// Ops do not return errors: a failing op (out of memory, a failed launch, a
// shape mismatch) panics with *Error. Every exported model entry point
// recovers it with Catch and returns it as an ordinary error, so callers of
// the engine never see a panic. Any other panic value is re-raised.
//
// # Shapes
//
// Shapes are in PyTorch order, outermost first; tensors are dense and
// row-major. "Rows" means all dimensions but the last.
package engine

import (
	"fmt"

	"github.com/wan22/wan22/gguf"
)

// DType is the element type of an activation tensor. Weights keep the ggml
// type of the file they came from (see Backend.Weight).
type DType uint8

const (
	F32 DType = iota
	BF16
	F16
)

func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	case F16:
		return "f16"
	}
	return fmt.Sprintf("dtype(%d)", d)
}

// Tensor is a backend-owned n-dimensional array.
type Tensor interface {
	// Shape returns the dimensions, outermost first. It must not be modified.
	Shape() []int
	// DType is the activation type. For a weight it is the type the backend
	// computes with; the stored ggml type is WeightType.
	DType() DType
}

// WeightType reports the stored ggml type of a weight tensor made by
// Backend.Weight, or F32 for activations.
func WeightType(t Tensor) gguf.Type {
	if w, ok := t.(interface{ GGMLType() gguf.Type }); ok {
		return w.GGMLType()
	}
	return gguf.TypeF32
}

// Numel is the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// AttentionOpts configures Backend.Attention.
type AttentionOpts struct {
	Heads int     // number of heads; the last dim of q, k, v is Heads·headDim
	Scale float32 // multiplies q·kᵀ before the softmax (1/sqrt(headDim) for the DiT, 1 for T5)
	// KeyLen limits the keys: keys at index ≥ KeyLen are masked out. 0 means all keys.
	KeyLen int
	// Bias, if not nil, is added to the scaled scores: [Heads, Lq, Lk] (T5's
	// relative position bias).
	Bias Tensor
}

// Backend runs the ops the models are written in.
//
// Unless stated otherwise an op returns a new tensor of its input's dtype
// and leaves its inputs unchanged.
type Backend interface {
	// Name identifies the backend in logs ("cpu", "cuda:0 NVIDIA H100 ...").
	Name() string

	// FromHost copies float32 host data into a new F32 tensor of the given shape.
	FromHost(data []float32, shape ...int) Tensor
	// ToHost copies a tensor (any dtype) to float32 host memory.
	ToHost(t Tensor) []float32
	// Weight makes a weight tensor from a model file's tensor bytes, keeping
	// its ggml type (quantized weights are dequantized on use, not at load).
	// The bytes are copied; the caller may release them afterwards.
	Weight(info gguf.TensorInfo, data []byte) Tensor
	// Free releases tensors. Nil entries are ignored. A freed tensor must not be used.
	Free(ts ...Tensor)

	// Reshape returns a tensor viewing the same data with a new shape of the
	// same element count. Freeing either frees the data once.
	Reshape(t Tensor, shape ...int) Tensor
	// Cast converts an activation tensor to dtype d (a copy, even when d matches).
	Cast(t Tensor, d DType) Tensor

	// Linear: x [..., K] · wᵀ + b → [..., N]; w is a weight [N, K] of any
	// ggml type; b is [N] or nil.
	Linear(x, w, b Tensor) Tensor
	// LayerNorm over the last dim: (x − mean)/sqrt(var + eps)·w + b; w and b may be nil.
	LayerNorm(x, w, b Tensor, eps float32) Tensor
	// RMSNorm over the last dim: x·rsqrt(mean(x²) + eps)·w; w may be nil.
	RMSNorm(x, w Tensor, eps float32) Tensor
	// Modulate: x [..., D]·(1 + scale) + shift, with shift and scale [D]
	// broadcast over the rows.
	Modulate(x, shift, scale Tensor) Tensor
	// AddGated adds in place: x += y·gate; x, y [..., D]; gate [D] broadcast over rows, or nil for 1.
	AddGated(x, y, gate Tensor)
	// Add: a + b elementwise; b has a's shape, or b is [D] broadcast over a's rows.
	Add(a, b Tensor) Tensor
	// Mul: a · b elementwise, with the same broadcasting as Add.
	Mul(a, b Tensor) Tensor
	// GELU with the tanh approximation.
	GELU(x Tensor) Tensor
	// SiLU: x·sigmoid(x).
	SiLU(x Tensor) Tensor

	// Rows gathers rows of a 2-D tensor (a weight of any ggml type, or an
	// activation): table [V, D], ids → [len(ids), D] F32. Out-of-range ids panic with *Error.
	Rows(table Tensor, ids []int32) Tensor
	// Slice returns rows [from, to) of the outermost dimension as a new tensor.
	Slice(t Tensor, from, to int) Tensor
	// Concat joins tensors along the outermost dimension; the other dims must match.
	Concat(ts ...Tensor) Tensor

	// Attention: q [Lq, H·D], k and v [Lk, H·D] → [Lq, H·D]; softmax(q·kᵀ·Scale + Bias)·v per head.
	Attention(q, k, v Tensor, o AttentionOpts) Tensor
	// RotatePairs applies a rotary embedding in place to x [L, H·D]: for every
	// token l, head h and pair m < D/2, the interleaved pair (x[2m], x[2m+1])
	// is rotated by the angle whose cosine and sine are cos[l, m] and
	// sin[l, m] (both F32 [L, D/2]).
	RotatePairs(x, cos, sin Tensor, heads int)
}

// Error is an op failure. Ops panic with *Error; entry points recover it with Catch.
type Error struct {
	Op  string // the op that failed, e.g. "Linear"
	Err error
}

func (e *Error) Error() string { return "engine: " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Failf panics with an *Error for op.
func Failf(op, format string, args ...any) {
	panic(&Error{Op: op, Err: fmt.Errorf(format, args...)})
}

// Catch recovers an *Error panic into *err. Use it as `defer engine.Catch(&err)`
// in every exported function that runs ops. Other panics are re-raised.
func Catch(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if e, ok := r.(*Error); ok {
		*err = e
		return
	}
	panic(r)
}

// TraceFunc receives named intermediates during a forward pass, for parity
// debugging (e.g. "block0.out"). It must not keep or free the tensor.
// A nil TraceFunc means no tracing.
type TraceFunc func(name string, t Tensor)

// Emit calls f when it is not nil.
func (f TraceFunc) Emit(name string, t Tensor) {
	if f != nil {
		f(name, t)
	}
}
