package blockswap

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Inputs are what the planner knows about one model and run. Bytes throughout.
type Inputs struct {
	// VRAM is the device memory the model may use: min(user cap, free −
	// reserve), computed by the caller.
	VRAM int64
	// Pinned is the pinned host memory budget.
	Pinned int64
	// BlockBytes are the swappable bytes of each block, in order: its big
	// matrices as laid out in one slab (256-byte aligned sizes).
	BlockBytes []int64
	// FixedBytes are always resident: embeddings, head, the blocks' small
	// tensors, the text embeddings.
	FixedBytes int64
	// Activations is the activation peak of the run (see ActivationPeak).
	Activations int64
}

// Plan is a residency plan: which blocks stay on the device and how the
// others are streamed.
type Plan struct {
	// Resident tells, per block, whether it stays on the device; the others
	// are swapped through the slots.
	Resident []bool
	// Slots is the number of device slots of the ring (0 when all blocks are
	// resident), each SlotBytes big (the largest swapped block).
	Slots     int
	SlotBytes int64
	// Prefetch is how many swapped blocks ahead of the one computing are
	// being copied (Slots − 1 in the planner's plans).
	Prefetch int
	// Staging is 0 when every swapped block has its own pinned slab, else
	// the number of slot-sized pinned staging buffers that feed the copies
	// from the memory-mapped file.
	Staging int
	// PageableStaging means the pinned budget is too small even for staging
	// buffers: copies go from pageable memory, slowly, but they go.
	PageableStaging bool
	// DeviceBytes is the planned device peak: fixed + activations +
	// resident blocks + slots.
	DeviceBytes int64
	// PinnedBytes is the planned pinned host memory: the slabs or the
	// staging buffers.
	PinnedBytes int64
	// BlockBytes are the blocks' swappable bytes (Inputs.BlockBytes); nil
	// means SlotBytes each. The Schedule counts bytes moved with them.
	BlockBytes []int64
}

// Swapped returns the indices of the swapped blocks, ascending.
func (p Plan) Swapped() []int {
	var s []int
	for i, r := range p.Resident {
		if !r {
			s = append(s, i)
		}
	}
	return s
}

// NumResident returns the number of resident blocks.
func (p Plan) NumResident() int { return len(p.Resident) - len(p.Swapped()) }

// blockBytes returns block i's bytes: BlockBytes[i], or SlotBytes without them.
func (p Plan) blockBytes(i int) int64 {
	if p.BlockBytes != nil {
		return p.BlockBytes[i]
	}
	return p.SlotBytes
}

// String summarizes the plan on one line, e.g. "40 blocks: 31 resident, 9
// swapped through 2 slots of 670.0 MiB, prefetch 1, pinned slabs 5.89 GiB,
// device 30.12 GiB".
func (p Plan) String() string {
	n, sw := len(p.Resident), len(p.Swapped())
	if sw == 0 {
		return fmt.Sprintf("%d blocks: all resident, device %s", n, formatBytes(p.DeviceBytes))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d blocks: %d resident, %d swapped through %d slots of %s, prefetch %d, ",
		n, n-sw, sw, p.Slots, formatBytes(p.SlotBytes), p.Prefetch)
	switch {
	case p.PageableStaging:
		b.WriteString("pageable copies (pinned budget too small for staging)")
	case p.Staging > 0:
		fmt.Fprintf(&b, "pinned staging %d×%s", p.Staging, formatBytes(p.SlotBytes))
	default:
		fmt.Fprintf(&b, "pinned slabs %s", formatBytes(p.PinnedBytes))
	}
	fmt.Fprintf(&b, ", device %s", formatBytes(p.DeviceBytes))
	return b.String()
}

// ErrBudget is matched (errors.Is) by every *BudgetError.
var ErrBudget = errors.New("blockswap: VRAM budget too small")

// BudgetError is a VRAM budget too small for the run even with every block
// swapped.
type BudgetError struct {
	Budget      int64 // Inputs.VRAM
	Need        int64 // MinVRAM: the smallest budget that works for this run
	Fixed       int64 // always-resident weights
	Activations int64 // the run's activation peak
	Slots       int64 // the two smallest-possible slots (twice the largest block)
}

func (e *BudgetError) Error() string {
	advice := "generate fewer frames or a smaller frame size, or raise the VRAM budget (free GPU memory or a bigger cap)"
	if e.WeightsExceed() {
		advice = fmt.Sprintf("the weights alone, without activations, need at least %s, so no smaller video fits: "+
			"raise the VRAM budget (free GPU memory or a bigger cap) or use a smaller (more quantized) expert file",
			formatBytes(e.Need-e.Activations))
	}
	return fmt.Sprintf("blockswap: a VRAM budget of %s is too small for this run: it needs at least %s "+
		"(always-resident weights %s, activations %s, two block slots %s); %s",
		formatBytes(e.Budget), formatBytes(e.Need), formatBytes(e.Fixed), formatBytes(e.Activations), formatBytes(e.Slots), advice)
}

// WeightsExceed reports whether the weights alone exceed the budget: Need
// less Activations (MinVRAM of the same blocks without activations: the
// always-resident weights and two block slots, for blocks of one size) is
// more than Budget. No smaller or shorter video then fits; only a larger
// budget or a smaller (more quantized) expert file does.
func (e *BudgetError) WeightsExceed() bool { return e.Need-e.Activations > e.Budget }

// Is makes errors.Is(err, ErrBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrBudget }

// minSlots and maxSlots bound the ring: one slot computing and one filling,
// and a third when it costs no resident block.
const (
	minSlots = 2
	maxSlots = 3
)

// NewPlan plans residency for in (see the package doc, "The planner"). It
// returns a *BudgetError when in.VRAM < MinVRAM(in), and another error for
// inputs that make no sense.
func NewPlan(in Inputs) (Plan, error) {
	if err := in.check(); err != nil {
		return Plan{}, err
	}
	n := len(in.BlockBytes)
	p := Plan{Resident: make([]bool, n), BlockBytes: append([]int64(nil), in.BlockBytes...)}
	if total := in.base() + total(in.BlockBytes); total <= in.VRAM {
		for i := range p.Resident {
			p.Resident[i] = true
		}
		p.DeviceBytes = total
		return p, nil
	}
	for k := 1; k <= n; k++ {
		sw := spread(n, k)
		if in.device(sw, minSlots) > in.VRAM {
			continue
		}
		for i := range p.Resident {
			p.Resident[i] = true
		}
		for _, i := range sw {
			p.Resident[i] = false
		}
		p.Slots = minSlots
		if k > maxSlots && in.device(sw, maxSlots) <= in.VRAM {
			p.Slots = maxSlots
		}
		p.Prefetch = p.Slots - 1
		p.SlotBytes = maxOf(in.BlockBytes, sw)
		p.DeviceBytes = in.device(sw, p.Slots)
		swBytes := sum(in.BlockBytes, sw)
		switch {
		case in.Pinned >= swBytes:
			p.PinnedBytes = swBytes
		case in.Pinned >= int64(p.Slots)*p.SlotBytes:
			p.Staging, p.PinnedBytes = p.Slots, int64(p.Slots)*p.SlotBytes
		case in.Pinned >= minSlots*p.SlotBytes:
			p.Staging, p.PinnedBytes = minSlots, minSlots*p.SlotBytes
		default:
			p.PageableStaging = true
		}
		return p, nil
	}
	return Plan{}, &BudgetError{Budget: in.VRAM, Need: MinVRAM(in), Fixed: in.FixedBytes,
		Activations: in.Activations, Slots: minSlots * slices.Max(in.BlockBytes)}
}

// MinVRAM returns the smallest VRAM budget for which NewPlan succeeds on in:
// the least device peak over the plans it considers (all resident, or k
// blocks spread over the depth and swapped through two slots). For blocks of
// one size that is FixedBytes + Activations + 2 × the block's bytes.
func MinVRAM(in Inputs) int64 {
	n := len(in.BlockBytes)
	need := in.base() + total(in.BlockBytes)
	for k := 1; k <= n; k++ {
		need = min(need, in.device(spread(n, k), minSlots))
	}
	return need
}

// check rejects inputs that make no sense.
func (in Inputs) check() error {
	if len(in.BlockBytes) == 0 {
		return errors.New("blockswap: no blocks to plan (Inputs.BlockBytes is empty)")
	}
	for i, b := range in.BlockBytes {
		if b <= 0 {
			return fmt.Errorf("blockswap: block %d has %d bytes; every block needs a positive size", i, b)
		}
	}
	if in.VRAM <= 0 || in.Pinned < 0 || in.FixedBytes < 0 || in.Activations < 0 {
		return fmt.Errorf("blockswap: negative or zero budget or size (VRAM %d, pinned %d, fixed %d, activations %d bytes)",
			in.VRAM, in.Pinned, in.FixedBytes, in.Activations)
	}
	return nil
}

// base is what the device holds besides blocks and slots.
func (in Inputs) base() int64 { return in.FixedBytes + in.Activations }

// device is the device peak with the blocks sw swapped through slots slots.
func (in Inputs) device(sw []int, slots int) int64 {
	return in.base() + total(in.BlockBytes) - sum(in.BlockBytes, sw) + int64(slots)*maxOf(in.BlockBytes, sw)
}

// spread returns k of n block indices spread evenly over the depth: the
// middles of k equal parts, ⌊(j+½)·n/k⌋ for j < k, so the gaps between
// consecutive swapped blocks (around the wrap too) differ by at most one.
func spread(n, k int) []int {
	s := make([]int, k)
	for j := range s {
		s[j] = (2*j + 1) * n / (2 * k)
	}
	return s
}

// total adds every element of b.
func total(b []int64) int64 {
	var t int64
	for _, v := range b {
		t += v
	}
	return t
}

// sum adds b over the indices idx.
func sum(b []int64, idx []int) int64 {
	var t int64
	for _, i := range idx {
		t += b[i]
	}
	return t
}

// maxOf is the largest of b over the indices idx (0 when idx is empty).
func maxOf(b []int64, idx []int) int64 {
	var m int64
	for _, i := range idx {
		m = max(m, b[i])
	}
	return m
}

// formatBytes prints n with a binary unit, e.g. "1.50 GiB".
func formatBytes(n int64) string {
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 && v > -1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}
