package cuda

import (
	"math"
	"testing"
)

func TestLtPick(t *testing.T) {
	for _, c := range []struct {
		name string
		ms   []float64
		want int
	}{
		{"one candidate", []float64{2.3}, 0},
		{"first is fastest", []float64{2.0, 2.1, 2.2}, 0},
		{"within the margin: the first stays", []float64{2.135, 2.236, 2.161, 2.198, 2.153, 2.152, 2.173, 2.134}, 0},
		{"just inside the margin", []float64{1.0, 0.975}, 0},
		{"beyond the margin: the fastest", []float64{1.0, 0.99, 0.90, 0.95}, 2},
		{"skinny LoRA shape, first guess far off", []float64{0.40, 0.12, 0.15}, 1},
		{"first failed", []float64{0, 2.2, 2.1}, 2},
		{"first NaN", []float64{math.NaN(), 2.2}, 1},
		{"all failed", []float64{0, -1}, 0},
		{"empty", nil, 0},
	} {
		if got := ltPick(c.ms); got != c.want {
			t.Errorf("%s: ltPick(%v) = %d, want %d", c.name, c.ms, got, c.want)
		}
	}
}
