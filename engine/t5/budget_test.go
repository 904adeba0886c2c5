package t5

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// TestPeakCalibration: the estimates reproduce the peaks measured on the
// H100 for umT5-XXL (docs/BENCHMARKS.md) within 5%, never below them, and
// the weights match the measured weight bytes within 0.5%.
func TestPeakCalibration(t *testing.T) {
	const gb = 1 << 30
	c := UMT5XXL()
	for _, m := range []struct {
		typ           gguf.Type
		weights, peak float64 // GiB
	}{
		{gguf.TypeBF16, 10.58, 10.81},
		{gguf.TypeQ8_0, 5.62, 6.22},
	} {
		w := float64(WeightBytes(c, m.typ)) / gb
		p := float64(Peak(c, m.typ)) / gb
		t.Logf("%v: weights %.2f GiB, peak %.2f GiB (measured %.2f, %.2f); streamed over 2 prompts %.2f GiB",
			m.typ, w, p, m.weights, m.peak, float64(StreamingPeak(c, m.typ, 2))/gb)
		if math.Abs(w/m.weights-1) > 0.005 {
			t.Errorf("%v: weights %.3f GiB, measured %.2f", m.typ, w, m.weights)
		}
		if p < m.peak-0.005 || p > 1.05*m.peak {
			t.Errorf("%v: peak %.3f GiB, measured %.2f", m.typ, p, m.peak)
		}
		if s := StreamingPeak(c, m.typ, 2); s <= 0 || s > Peak(c, m.typ)/5 {
			t.Errorf("%v: streaming peak %d is not a small part of the resident %d", m.typ, s, Peak(c, m.typ))
		}
	}
}

// TestPlanEncode: resident when the budget holds the whole encoder,
// streamed when it holds only one block, a BudgetError naming the minimum
// otherwise.
func TestPlanEncode(t *testing.T) {
	const gb = 1 << 30
	c := UMT5XXL()
	for _, tc := range []struct {
		typ    gguf.Type
		budget int64
		stream bool
		fails  bool
	}{
		{gguf.TypeBF16, 0, false, false}, // no limit
		{gguf.TypeBF16, 24 * gb, false, false},
		{gguf.TypeBF16, 11 * gb, false, false},
		{gguf.TypeBF16, 10 * gb, true, false},
		{gguf.TypeQ8_0, 8 * gb, false, false},
		{gguf.TypeQ8_0, 6 * gb, true, false},
		{gguf.TypeQ8_0, 1 * gb, true, false},
		{gguf.TypeBF16, gb / 4, false, true},
	} {
		stream, err := PlanEncode(c, tc.typ, 2, tc.budget)
		var be *BudgetError
		switch {
		case tc.fails:
			if !errors.As(err, &be) || be.Need != StreamingPeak(c, tc.typ, 2) || !strings.Contains(err.Error(), "at least") {
				t.Errorf("%v in %d bytes: err %v, want a BudgetError with the streaming minimum", tc.typ, tc.budget, err)
			}
		case err != nil || stream != tc.stream:
			t.Errorf("%v in %.2f GiB: stream %v, err %v; want stream %v", tc.typ, float64(tc.budget)/gb, stream, err, tc.stream)
		}
	}
}

// TestInspect reads the configuration and weight type without loading.
func TestInspect(t *testing.T) {
	c, typ, err := Inspect(randomModel(tinyCfg, 1).renamed(hfName))
	if err != nil || c != tinyCfg || typ != gguf.TypeF32 {
		t.Errorf("Inspect: %+v %v %v, want %+v F32", c, typ, err, tinyCfg)
	}
	if _, _, err := Inspect(randomModel(tinyCfg, 1).drop("enc.blk.0.ffn_gate.weight")); err == nil {
		t.Error("Inspect of a file without block 0's FFN gate: no error")
	}
	if _, _, err := Inspect(nil); err == nil {
		t.Error("Inspect(nil): no error")
	}
}
