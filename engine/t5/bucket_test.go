package t5

import (
	"math"
	"testing"
)

// TestRelativeBucket checks the bucket rule against the table of spec §6.2
// (|rel| ranges per bucket, +16 for positive offsets), boundaries included.
func TestRelativeBucket(t *testing.T) {
	ranges := []struct{ lo, hi, bucket int }{
		{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {3, 3, 3}, {4, 4, 4}, {5, 5, 5}, {6, 6, 6}, {7, 7, 7},
		{8, 11, 8}, {12, 15, 9}, {16, 22, 10}, {23, 31, 11}, {32, 45, 12}, {46, 63, 13},
		{64, 90, 14}, {91, 2000, 15},
	}
	for _, r := range ranges {
		for a := r.lo; a <= r.hi; a++ {
			if got := relativeBucket(-a); got != r.bucket {
				t.Errorf("bucket(%d) = %d, want %d", -a, got, r.bucket)
			}
			want := r.bucket
			if a > 0 {
				want += 16
			}
			if got := relativeBucket(a); got != want {
				t.Errorf("bucket(%d) = %d, want %d", a, got, want)
			}
		}
	}
	if got := relativeBucket(math.MaxInt32); got != 31 {
		t.Errorf("bucket(MaxInt32) = %d, want 31", got)
	}
}

// TestPositionBias: bias[h, i, j] = table[bucket(j − i), h], also for
// non-square query/key lengths.
func TestPositionBias(t *testing.T) {
	const heads, lq, lk = 3, 20, 130
	table := make([]float32, numBuckets*heads)
	for i := range table {
		table[i] = float32(i) // bucket b, head h → 3b + h
	}
	bias := positionBias(table, heads, lq, lk)
	if len(bias) != heads*lq*lk {
		t.Fatalf("%d values", len(bias))
	}
	for h := range heads {
		for i := range lq {
			for j := range lk {
				want := float32(relativeBucket(j-i)*heads + h)
				if got := bias[(h*lq+i)*lk+j]; got != want {
					t.Fatalf("bias[%d,%d,%d] = %v, want %v", h, i, j, got, want)
				}
			}
		}
	}
}
