package cuda

import "testing"

func TestKcatSpare(t *testing.T) {
	for _, c := range []struct{ r, want int }{
		{-8, 0}, {0, 0}, {8, 64}, {16, 64}, {64, 64}, {72, 128}, {128, 128}, {136, 192},
	} {
		if got := kcatSpare(c.r); got != c.want {
			t.Errorf("kcatSpare(%d) = %d, want %d", c.r, got, c.want)
		}
		if got := kcatSpare(c.r); got%8 != 0 {
			t.Errorf("kcatSpare(%d) = %d is not a multiple of 8 (rows would lose 16-byte alignment)", c.r, got)
		}
	}
}

func TestKcatFits(t *testing.T) {
	const K = 5120
	// A shadow made for a first reader of rank 16: R = 64. Ranks up to 64 fit, 128 falls back; a dense
	// operand (a BF16 activation, or a shadow made without spare columns) fits none.
	ld := K + kcatSpare(16)
	for _, c := range []struct {
		ld, r int
		want  bool
	}{
		{ld, 16, true}, {ld, 64, true}, {ld, 72, false}, {ld, 128, false},
		{K, 16, false}, {K + 128, 128, true}, {ld, 0, false},
	} {
		if got := kcatFits(c.ld, K, c.r); got != c.want {
			t.Errorf("kcatFits(ld %d, K %d, r %d) = %v, want %v", c.ld, K, c.r, got, c.want)
		}
	}
}
