package blockswap

import (
	"errors"
	"strings"
	"testing"
)

// matrixBytes is the slab size of a rows×cols matrix with bytesPer32 bytes
// per 32 elements (64: F16, 34: Q8_0), 256-byte aligned.
func matrixBytes(rows, cols, bytesPer32 int64) int64 {
	n := rows * cols * bytesPer32 / 32
	return (n + 255) &^ 255
}

// block14B is the swappable bytes of one 14B block: 4+4 [5120, 5120]
// attention matrices and the two FFN matrices.
func block14B(bytesPer32 int64) int64 {
	return 8*matrixBytes(dim14B, dim14B, bytesPer32) + matrixBytes(ffn14B, dim14B, bytesPer32) + matrixBytes(dim14B, ffn14B, bytesPer32)
}

// fixed14B is the always-resident bytes: each block's small f32 tensors
// (modulation, biases, norms), the embeddings, time projection and head in
// the expert's type, and both streams' f32 text embeddings.
func fixed14B(bytesPer32 int64) int64 {
	small := int64(6*dim14B+8*dim14B+ffn14B+dim14B+4*dim14B+2*dim14B) * 4 * blocks14B
	var big int64
	for _, m := range [][2]int64{{dim14B, 16 * 4}, {dim14B, 4096}, {dim14B, dim14B}, {dim14B, 256}, {dim14B, dim14B}, {6 * dim14B, dim14B}, {64, dim14B}} {
		big += matrixBytes(m[0], m[1], bytesPer32)
	}
	return small + big + 2*textLen*4096*4
}

// inputs14B builds the planner's inputs for a 14B expert of the given type
// under CFG.
func inputs14B(vram, pinned int64, tokens int, bytesPer32 int64) Inputs {
	var scratch int64
	if bytesPer32 != 64 {
		scratch = ffn14B * dim14B * 2
	}
	b := make([]int64, blocks14B)
	for i := range b {
		b[i] = block14B(bytesPer32)
	}
	return Inputs{VRAM: vram, Pinned: pinned, BlockBytes: b, FixedBytes: fixed14B(bytesPer32),
		Activations: ActivationPeak(run14B(tokens, 2, scratch))}
}

// checkPlan checks the invariants of a plan NewPlan made for in.
func checkPlan(t *testing.T, in Inputs, p Plan) {
	t.Helper()
	n := len(in.BlockBytes)
	if len(p.Resident) != n {
		t.Fatalf("plan covers %d blocks of %d", len(p.Resident), n)
	}
	sw := p.Swapped()
	if len(sw)+p.NumResident() != n {
		t.Errorf("%d swapped + %d resident ≠ %d blocks", len(sw), p.NumResident(), n)
	}
	var dev int64 = in.FixedBytes + in.Activations + int64(p.Slots)*p.SlotBytes
	for i, r := range p.Resident {
		if r {
			dev += in.BlockBytes[i]
		}
	}
	if dev != p.DeviceBytes || dev > in.VRAM {
		t.Errorf("device %d (recomputed %d) over the budget %d or misreported", p.DeviceBytes, dev, in.VRAM)
	}
	if len(sw) == 0 {
		if p.Slots != 0 || p.Prefetch != 0 || p.PinnedBytes != 0 || p.Staging != 0 {
			t.Errorf("all resident with a ring: %+v", p)
		}
		return
	}
	if p.Slots < 2 || p.Slots > 3 || p.Prefetch != p.Slots-1 {
		t.Errorf("%d slots, prefetch %d: want 2/1 or 3/2", p.Slots, p.Prefetch)
	}
	if p.SlotBytes != maxOf(in.BlockBytes, sw) {
		t.Errorf("slots of %d bytes for swapped blocks up to %d", p.SlotBytes, maxOf(in.BlockBytes, sw))
	}
	// Spread: the cyclic gaps between swapped blocks differ by at most one.
	lo, hi := n, 0
	for j, i := range sw {
		g := (sw[(j+1)%len(sw)] - i + n) % n
		if g == 0 {
			g = n
		}
		lo, hi = min(lo, g), max(hi, g)
	}
	if hi-lo > 1 {
		t.Errorf("swapped blocks %v not spread evenly: gaps from %d to %d", sw, lo, hi)
	}
	// As many resident as fit: one fewer swapped block does not fit with two slots.
	if k := len(sw) - 1; k > 0 && in.device(spread(n, k), 2) <= in.VRAM {
		t.Errorf("%d swapped, but %d would fit", len(sw), k)
	} else if k == 0 && in.FixedBytes+in.Activations+total(in.BlockBytes) <= in.VRAM {
		t.Errorf("1 swapped, but all fit")
	}
	// The third slot is taken exactly when it costs no resident block.
	if want := len(sw) > 3 && in.device(sw, 3) <= in.VRAM; want != (p.Slots == 3) {
		t.Errorf("%d slots; a third one fits: %v", p.Slots, want)
	}
	swBytes := sum(in.BlockBytes, sw)
	switch {
	case in.Pinned >= swBytes:
		if p.Staging != 0 || p.PageableStaging || p.PinnedBytes != swBytes {
			t.Errorf("pinned %d ≥ swapped %d: want slabs, got staging %d pageable %v pinned %d", in.Pinned, swBytes, p.Staging, p.PageableStaging, p.PinnedBytes)
		}
	case in.Pinned >= 2*p.SlotBytes:
		if p.Staging < 2 || p.Staging > p.Slots || p.PageableStaging || p.PinnedBytes != int64(p.Staging)*p.SlotBytes || p.PinnedBytes > in.Pinned {
			t.Errorf("pinned %d: want 2–%d staging buffers, got %d (pinned %d)", in.Pinned, p.Slots, p.Staging, p.PinnedBytes)
		}
	default:
		if !p.PageableStaging || p.PinnedBytes != 0 {
			t.Errorf("pinned %d below two slots: want pageable staging, got %+v", in.Pinned, p)
		}
	}
}

func TestPlan14B(t *testing.T) {
	runs := []struct {
		name   string
		tokens int
	}{{"480p/81", 32760}, {"480p/161", 63960}, {"480p/241", 95160}, {"720p/81", 75600}}
	types := []struct {
		name       string
		bytesPer32 int64
	}{{"F16", 64}, {"Q8_0", 34}}
	if b := block14B(64); b != 702545920 {
		t.Fatalf("F16 14B block: %d bytes", b)
	}
	for _, ty := range types {
		for _, r := range runs {
			for _, budget := range []int64{80, 32, 24, 16, 12} {
				for _, pinned := range []int64{64 * gib, 3 * gib, gib / 2} {
					in := inputs14B(budget*gib, pinned, r.tokens, ty.bytesPer32)
					p, err := NewPlan(in)
					min := MinVRAM(in)
					if err != nil {
						var be *BudgetError
						if !errors.As(err, &be) || !errors.Is(err, ErrBudget) {
							t.Fatalf("%s %s %d GiB: %v, want a *BudgetError", ty.name, r.name, budget, err)
						}
						if in.VRAM >= min || be.Need != min || be.Budget != in.VRAM {
							t.Errorf("%s %s %d GiB: refused with MinVRAM %d ≤ budget, or error %+v", ty.name, r.name, budget, min, be)
						}
						for _, s := range []string{formatBytes(in.VRAM), formatBytes(min), "fewer frames", "budget"} {
							if !strings.Contains(err.Error(), s) {
								t.Errorf("error %q does not say %q", err, s)
							}
						}
						continue
					}
					if in.VRAM < min {
						t.Errorf("%s %s %d GiB: planned below MinVRAM %d", ty.name, r.name, budget, min)
					}
					checkPlan(t, in, p)
					if pinned == 64*gib {
						t.Logf("%s %s %d GiB: %s", ty.name, r.name, budget, p)
					}
				}
			}
		}
	}
	// Sanity that does not depend on the planner's arithmetic: a whole F16
	// expert at 480p/81 fits 80 GiB, and not 24 GiB.
	if p, err := NewPlan(inputs14B(80*gib, 0, 32760, 64)); err != nil || len(p.Swapped()) != 0 {
		t.Errorf("F16 480p/81 at 80 GiB: %v, %v; want all resident", p, err)
	}
	if p, err := NewPlan(inputs14B(24*gib, 0, 32760, 64)); err != nil || len(p.Swapped()) == 0 {
		t.Errorf("F16 480p/81 at 24 GiB: %v, %v; want some swapped", p, err)
	}
}

func TestPlanBoundaryAndMonotonic(t *testing.T) {
	for _, in := range []Inputs{
		inputs14B(0, 64*gib, 32760, 64),
		inputs14B(0, 64*gib, 95160, 34),
		{BlockBytes: []int64{10 << 20, 1 << 20, 1 << 20, 1 << 20, 3 << 20}, FixedBytes: 1 << 20, Activations: 2 << 20, Pinned: 1 << 30},
		{BlockBytes: []int64{5 << 20}, Activations: 1},
	} {
		min := MinVRAM(in)
		in.VRAM = min
		p, err := NewPlan(in)
		if err != nil {
			t.Fatalf("at MinVRAM %d: %v", min, err)
		}
		checkPlan(t, in, p)
		in.VRAM = min - 1
		if _, err := NewPlan(in); !errors.Is(err, ErrBudget) {
			t.Errorf("at MinVRAM−1: %v, want ErrBudget", err)
		}
		prev := -1
		for v := min; v <= min+total(in.BlockBytes); v += max(total(in.BlockBytes)/97, 1) {
			in.VRAM = v
			p, err := NewPlan(in)
			if err != nil {
				t.Fatalf("budget %d ≥ MinVRAM: %v", v, err)
			}
			checkPlan(t, in, p)
			if len(in.BlockBytes) > 1 && in.BlockBytes[0] == in.BlockBytes[1] && p.NumResident() < prev {
				t.Errorf("budget %d keeps %d resident, a smaller one kept %d", v, p.NumResident(), prev)
			}
			prev = p.NumResident()
		}
	}
}

func TestPlanSpreadAndString(t *testing.T) {
	if got := spread(40, 10); got[0] != 2 || got[1] != 6 || got[9] != 38 {
		t.Errorf("spread(40, 10) = %v, want every 4th block from 2", got)
	}
	for n := 1; n <= 50; n++ {
		for k := 1; k <= n; k++ {
			s := spread(n, k)
			for j := 1; j < k; j++ {
				if s[j] <= s[j-1] || s[k-1] >= n {
					t.Fatalf("spread(%d, %d) = %v: not increasing within range", n, k, s)
				}
			}
		}
	}
	in := inputs14B(24*gib, 64*gib, 32760, 64)
	p, err := NewPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	s := p.String()
	for _, want := range []string{"40 blocks", "resident", "swapped through", "slots of 670.00 MiB", "prefetch", "pinned slabs"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
}

func TestPlanBadInputs(t *testing.T) {
	for _, in := range []Inputs{
		{VRAM: gib},
		{VRAM: gib, BlockBytes: []int64{1, 0}},
		{VRAM: 0, BlockBytes: []int64{1}},
		{VRAM: gib, Pinned: -1, BlockBytes: []int64{1}},
		{VRAM: gib, Activations: -1, BlockBytes: []int64{1}},
	} {
		if _, err := NewPlan(in); err == nil || errors.Is(err, ErrBudget) {
			t.Errorf("NewPlan(%+v) = %v, want an input error", in, err)
		}
	}
}
