package cuda

// Types of the CUDA engine.Backend (backend.go) that callers name in builds without the cuda tag too.

// ActivationOwner is the owner of the activation pool's device memory in MemStats.
const ActivationOwner = "activations"

// DefaultWeightOwner owns the weights of a Backend made by NewBackend, until ForModel names another.
const DefaultWeightOwner = "weights"

// Precision selects how a backend view computes its GEMMs and attention.
type Precision int

const (
	// PrecisionBF16 is the default and the DiT's: bf16 GEMM operands and attention, f32 accumulation,
	// softmax, norms and residual stream (spec §2.9).
	PrecisionBF16 Precision = iota
	// PrecisionF32 computes GEMMs to about f32 accuracy from bf16 tensor-core products (x and w split into
	// bf16 high and low parts: two GEMMs for a bf16 weight, three otherwise) with F32 results, and attention
	// in f32. Meant for the text encoder: its unscaled attention logits amplify bf16 rounding (its golden
	// tiny model is 3% off in bf16), and it runs once per prompt, so the extra GEMMs cost little.
	PrecisionF32
)

func (p Precision) String() string {
	if p == PrecisionF32 {
		return "f32"
	}
	return "bf16"
}

// PoolStats reports the activation pool's use.
type PoolStats struct {
	InUse  int64 // bytes of live activations (rounded up to their size classes)
	Cached int64 // bytes of freed activations kept for reuse, and run-time LoRA's cached [W | up] (still allocated, still in the budget)
	Peak   int64 // the most InUse has been since the backend opened (or ResetPeak)
	Hits   int64 // allocations served from the cache
	Misses int64 // allocations that went to the driver
}

// ReleaseReport is what ReleaseModel found after releasing a model.
type ReleaseReport struct {
	Freed      int64 // device bytes of the model's weights and slots
	FreeBefore int64 // driver free memory before the model loaded, or when the backend opened (cuMemGetInfo)
	FreeAfter  int64 // driver free memory now
	Pinned     int64 // pinned host bytes still held for the model or the staging ring (0 expected)
	Gap        int64 // FreeBefore − FreeAfter: device memory the driver has not got back
}

// ReleaseTolerance is how far below the open-time free memory FreeAfter may lie.
const ReleaseTolerance = 64 << 20
