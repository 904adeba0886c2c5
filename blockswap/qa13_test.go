package blockswap

import (
	"errors"
	"strings"
	"testing"
)

// TestBudgetErrorWeightsExceed: a budget that the expert's weights alone
// (always-resident weights and two block slots, without activations)
// exceed is refused with the advice that can help, a larger budget or a
// smaller (more quantized) expert file; "fewer frames or a smaller frame
// size" was advised whatever the budget, and no smaller video fits such a
// budget. A budget the weights fit keeps that advice.
func TestBudgetErrorWeightsExceed(t *testing.T) {
	const mib = 1 << 20
	uniform := Inputs{BlockBytes: []int64{10 * mib, 10 * mib, 10 * mib, 10 * mib}, FixedBytes: 5 * mib, Activations: 20 * mib, Pinned: 1 << 30}
	// Blocks of several sizes: the least plan keeps the large one resident
	// and swaps the three small ones through two slots of 1 MiB.
	mixed := Inputs{BlockBytes: []int64{1 * mib, 12 * mib, 1 * mib, 1 * mib}, FixedBytes: 3 * mib, Activations: 7 * mib, Pinned: 1 << 30}
	for _, c := range []struct {
		name    string
		in      Inputs
		weights int64 // Need − Activations: the least the blocks and fixed weights need
	}{
		{"blocks of one size", uniform, 5*mib + 2*10*mib},
		{"blocks of several sizes", mixed, 3*mib + 12*mib + 2*1*mib},
	} {
		noAct := c.in
		noAct.Activations = 0
		if w := MinVRAM(noAct); w != c.weights {
			t.Fatalf("%s: MinVRAM without activations %s, want %s", c.name, formatBytes(w), formatBytes(c.weights))
		}
		for _, v := range []struct {
			vram   int64
			exceed bool
		}{{1 << 10, true}, {c.weights - 1, true}, {c.weights, false}, {MinVRAM(c.in) - 1, false}} {
			in := c.in
			in.VRAM = v.vram
			_, err := NewPlan(in)
			var be *BudgetError
			if !errors.As(err, &be) || !errors.Is(err, ErrBudget) {
				t.Fatalf("%s at %s: %v, want a *BudgetError", c.name, formatBytes(v.vram), err)
			}
			if be.WeightsExceed() != v.exceed {
				t.Errorf("%s at %s: WeightsExceed %v, want %v (weights %s)", c.name, formatBytes(v.vram), be.WeightsExceed(), v.exceed, formatBytes(c.weights))
			}
			msg := err.Error()
			want := []string{"a VRAM budget of " + formatBytes(v.vram) + " is too small", "at least " + formatBytes(MinVRAM(c.in))}
			not := []string{"expert file", "no smaller video"}
			if v.exceed {
				want = append(want, "the weights alone, without activations, need at least "+formatBytes(c.weights),
					"no smaller video fits", "raise the VRAM budget (free GPU memory or a bigger cap) or use a smaller (more quantized) expert file")
				not = []string{"fewer frames", "smaller frame size"}
			} else {
				want = append(want, "generate fewer frames or a smaller frame size, or raise the VRAM budget")
			}
			for _, s := range want {
				if !strings.Contains(msg, s) {
					t.Errorf("%s at %s: %q does not say %q", c.name, formatBytes(v.vram), msg, s)
				}
			}
			for _, s := range not {
				if strings.Contains(msg, s) {
					t.Errorf("%s at %s: %q says %q", c.name, formatBytes(v.vram), msg, s)
				}
			}
		}
	}
}
