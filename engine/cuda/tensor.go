//go:build cuda

package cuda

import (
	"fmt"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Tensor is a tensor of the CUDA backend: an activation (F32 or BF16 in device memory from the activation
// pool) or a weight (a model file's bytes in their ggml type, in device memory of the model's owner).
// Views made by Reshape share the storage of their source.
type Tensor struct {
	shape []int
	st    *storage
}

// storage is the device memory behind a tensor and its views. Freeing any of them frees it once.
type storage struct {
	buf   *Buffer
	size  int64        // bytes in use (buf may be larger: pool size classes)
	dtype engine.DType // activations: F32 or BF16

	weight bool
	wtype  gguf.Type // a weight's ggml type
	owner  string    // a weight's owner (the model)
	// borrowed marks a weight of a swapped block: buf is a view into the device slot that holds the block,
	// nil while no slot does (using it then is an error), and never freed through the storage.
	borrowed bool
	// Converted copies of a small weight, made on first use and freed with it: f32c for elementwise
	// operands (norm weights, modulations, biases of f32 GEMMs), bf16c for biases of bf16 GEMMs.
	f32c, bf16c *Buffer

	// shadow is a bf16 copy of an F32 activation made for the GEMMs that read it (q, k and v of one input
	// share it); a write to the storage drops it, Free releases it. It holds shadowCols columns in rows of
	// shadowLd elements: equal for a dense shadow, shadowLd larger for one with spare columns for a run-time
	// LoRA's down-projection (lora_kcat.go).
	shadow               *Buffer
	shadowCols, shadowLd int
	// pending, when set, defines the activation as a normalization that has not run; buf is nil until
	// it runs (see lazyNorm).
	pending *lazyNorm
	// deps are the pending activations that read this storage: they run before it is written or freed.
	deps []*storage
	// err marks an activation whose deferred computation failed; using it reports this.
	err error
	// add is the deferred gated residual add (backend_residual.go) that writes this storage (its x) or
	// reads it (its y); nil when none is pending.
	add *residualAdd

	freed bool
}

// Shape returns the dimensions, outermost first.
func (t *Tensor) Shape() []int { return t.shape }

// DType is the activation type; for a weight, the type the GEMMs compute with (bf16), or F32 for an F32
// weight.
func (t *Tensor) DType() engine.DType {
	if t.st.weight {
		if t.st.wtype == gguf.TypeF32 {
			return engine.F32
		}
		return engine.BF16
	}
	return t.st.dtype
}

// GGMLType is a weight's stored ggml type (F32 for activations).
func (t *Tensor) GGMLType() gguf.Type {
	if t.st.weight {
		return t.st.wtype
	}
	return gguf.TypeF32
}

func (t *Tensor) String() string {
	if t.st.weight {
		return fmt.Sprintf("weight %v %v", t.shape, t.st.wtype)
	}
	return fmt.Sprintf("%v %v", t.st.dtype, t.shape)
}

func (t *Tensor) numel() int { return engine.Numel(t.shape) }

// rowsCols splits the shape into rows (all dims but the last) and the last dim.
func (t *Tensor) rowsCols() (int, int) {
	if len(t.shape) == 0 {
		return 1, 1
	}
	c := t.shape[len(t.shape)-1]
	if c == 0 {
		return 0, 0
	}
	return t.numel() / c, c
}

// mem is the tensor's device memory (none while a deferred computation has not run).
func (t *Tensor) mem() Mem {
	if t.st.buf == nil {
		return Mem{}
	}
	return Mem{Ptr: uintptr(t.st.buf.ptr), Bytes: t.st.size}
}

// gtype is the ggml type of an activation's elements.
func (t *Tensor) gtype() gguf.Type { return ggmlOf(t.st.dtype) }

func ggmlOf(d engine.DType) gguf.Type {
	if d == engine.BF16 {
		return gguf.TypeBF16
	}
	return gguf.TypeF32
}

func dtypeBytes(d engine.DType) int64 {
	if d == engine.BF16 {
		return 2
	}
	return 4
}

// suffix names an activation type in kernel names.
func suffix(d engine.DType) string {
	if d == engine.BF16 {
		return "bf16"
	}
	return "f32"
}

// aligned16 reports whether every memory starts on a 16-byte boundary (nil Mems count as aligned).
func aligned16(ms ...Mem) bool {
	for _, m := range ms {
		if m.Ptr%16 != 0 {
			return false
		}
	}
	return true
}
