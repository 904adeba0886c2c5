package engine

import "github.com/wan22/wan22/blockswap"

// SlabTensor places one tensor of a swapped block in the block's slab.
type SlabTensor struct {
	Name   string // the model's name for it ("blocks.7.ffn.0.weight")
	Offset int64  // byte offset in the slab (256-byte aligned)
	Bytes  int64  // its bytes in the file's ggml type
}

// SlabLayout is the layout of one swapped block's swappable tensors in one
// contiguous slab, identical in host memory and in a device slot, so that one
// copy moves the whole block. Besides the block's matrices it may hold
// tensors the model makes for the block at load time (the DiT's LoRA
// adapters), made through SwapSet.Backend like the matrices.
type SlabLayout struct {
	Tensors []SlabTensor
	Bytes   int64 // the slab's size: the end of the last tensor, 256-byte aligned
}

// SlabAlign is the alignment of every tensor in a slab.
const SlabAlign = 256

// NewSlabLayout lays tensors of the given names and sizes out back to back,
// each SlabAlign-aligned.
func NewSlabLayout(names []string, bytes []int64) SlabLayout {
	var l SlabLayout
	for i, n := range names {
		l.Tensors = append(l.Tensors, SlabTensor{Name: n, Offset: l.Bytes, Bytes: bytes[i]})
		l.Bytes += (bytes[i] + SlabAlign - 1) / SlabAlign * SlabAlign
	}
	return l
}

// Swapper is an optional Backend interface: a backend that can keep some of a
// model's block weights in host memory and stream them into device slots
// while the model runs (the CUDA backend). Models that support block
// swapping (the DiT) discover it by type assertion and plan with
// blockswap.NewPlan.
type Swapper interface {
	Backend
	// SwapBudgets reports the device bytes a model loaded now may use
	// (min(budget cap, driver free − reserve) less what is allocated) and the
	// pinned host bytes left.
	SwapBudgets() (vram, pinned int64, err error)
	// NewSwap prepares the storage of a model's swapped blocks under plan:
	// layouts[i] is block i's slab layout (every block's, resident or not).
	NewSwap(plan blockswap.Plan, layouts []SlabLayout) (SwapSet, error)
}

// SwapSet is the storage of one model's swapped blocks: their host slabs (or
// a staging ring) and the mover the block schedule drives.
type SwapSet interface {
	blockswap.Mover
	// Backend returns the backend view through which block i's weights are
	// loaded: tensors named in its layout are copied into the block's slab
	// and made as weights that live in whichever slot holds the block (they
	// are unusable while it is not resident); other tensors are made as
	// usual.
	Backend(block int) Backend
	// Loaded is called once every weight is loaded; from then on the source
	// file's memory is no longer read unless the set streams from it
	// (FromFile).
	Loaded() error
	// FromFile reports whether uploads read the model file's memory (a
	// staging ring instead of one slab per block), so that the file must stay
	// open while the model runs.
	FromFile() bool
	// HostBytes is the pinned (or pageable) host memory the set holds.
	HostBytes() int64
	// Close releases the slabs, staging buffers, slots and events.
	Close() error
}
