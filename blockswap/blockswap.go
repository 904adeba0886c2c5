// Package blockswap decides which transformer blocks of a model stay in GPU
// memory and streams the others through a ring of device slots while the model
// runs, within a VRAM budget (ARCHITECTURE.md, "Memory and block swapping").
//
// It is pure Go. The planner (Plan) turns budgets and sizes into a residency
// plan; the Schedule carries the plan out during forward passes, talking to a
// small Mover interface that the CUDA backend implements with its copy stream
// and events, and that a recording fake implements for CPU tests.
//
// # The swap schedule
//
// A forward pass visits the blocks in order 0…n−1 and calls, for each block i,
// Acquire(i) before its first kernel and Release(i) after its last (under CFG,
// after both the conditional and the unconditional stream went through it).
// Resident blocks cost nothing. For a swapped block, Acquire makes the compute
// stream wait for the fence of the copy that fills the block's slot (queuing
// the copy first if the prefetcher did not) and then queues the copies of the
// next swapped blocks, up to Plan.Prefetch of them and as far as free slots
// allow, wrapping around to the first blocks of the next pass. Release records
// a compute fence for the slot; the copy that next overwrites that slot waits
// for it on the device. No call blocks the host, and in the steady state
// nothing is allocated or freed.
//
// A Schedule goes further than the minimum where it costs nothing: a swapped
// block still in its slot from the previous pass (fewer swapped blocks than
// slots) is not copied again; Acquire of a resident block queues the uploads
// of the next swapped blocks when they are not yet queued (so the first pass
// starts its first copy under the resident blocks before it); and when a slot
// must be chosen, it is one whose block is not held and comes back last.
// Blocks are acquired in order 0…n−1, 0…; a pass may restart at block 0 when
// no block is held (an abandoned pass). After a Mover error the Schedule only
// closes: every other call returns that error.
//
// # The planner
//
// NewPlan keeps every block resident when fixed bytes + activations + all
// blocks fit the VRAM budget. Otherwise it swaps the fewest blocks k for which
// fixed + activations + the other blocks + two slots of the largest swapped
// block fit, with the k blocks spread evenly over the depth (block
// ⌊(j+½)·n/k⌋ for j < k: 10 of 40 are blocks 2, 6, …, 38), so that each copy
// overlaps the compute of the resident blocks between two swapped ones, the
// gap around the wrap to the next pass included. Two slots (one computing,
// one filling; prefetch 1) are the ring; a third slot (prefetch 2) is added
// only when the budget has room for it without swapping another block. With
// blocks of one size that is never the case — a slot costs what a resident
// block does — and that is the choice: a resident block saves its copy on
// every pass, while a deeper ring buys no throughput (in the steady state
// each copy already has the compute of n/k blocks to hide under, and when
// copies are slower than that compute the link is the bottleneck either way)
// and only absorbs jitter.
//
// Pinned memory: when the pinned budget holds every swapped block, each gets
// its own slab (Staging 0); else slot-sized pinned staging buffers fed from
// the memory-mapped file, as many as slots (or two) if they fit; else
// PageableStaging (pageable copies: slow, but no failure). A budget below
// MinVRAM — fixed + activations + two slots of the largest block, for blocks
// of one size — is a *BudgetError naming the minimum; its advice is a
// smaller or shorter video, or, when the weights alone exceed the budget
// (WeightsExceed), a larger budget or a smaller expert file. ActivationPeak
// estimates the activations of a run.
package blockswap

// Fence is an opaque point in a device stream's work (a CUDA event, in the
// CUDA mover) that other work can be made to wait for.
type Fence any

// Slot is a device buffer that holds one swapped block's weights at a time.
type Slot interface {
	// Bytes is the slot's size.
	Bytes() int64
}

// Mover moves block weights between host memory and device slots. The
// Schedule calls it from one goroutine. Implementations: the CUDA backend's
// (a copy stream, events, device buffers, pinned slabs) and Fake.
type Mover interface {
	// NewSlot allocates a device slot of n bytes.
	NewSlot(n int64) (Slot, error)
	// Upload queues the copy of block's weights into slot. The copy starts
	// once after has completed (nil: at once) — after is the compute fence
	// of the slot's previous occupant — and the returned fence completes when
	// the copy has. From then on the block's weights are the slot's memory
	// (and the previous occupant's are not usable until uploaded again).
	Upload(slot Slot, block int, after Fence) (Fence, error)
	// Wait makes compute queued after it wait for f (on the device; the host
	// does not block).
	Wait(f Fence) error
	// Done returns a fence at the current end of the compute work queued so
	// far (after the last kernel of a block).
	Done() (Fence, error)
	// FreeSlot releases a slot; the work using it must have completed or be
	// ordered before the release by the implementation.
	FreeSlot(s Slot) error
}
