package cuda

import (
	"slices"
	"testing"
)

// TestRowRanges checks the bookkeeping of a deferred residual add's rows: norms of row chunks take their
// rows (only when all are still to add), AddGatedRows and flushes cut what overlaps, a failed launch puts
// rows back.
func TestRowRanges(t *testing.T) {
	r := rowRanges{{0, 37}}
	if !r.take(0, 8) || !slices.Equal(r, rowRanges{{8, 37}}) {
		t.Fatalf("take [0, 8): %v", r)
	}
	if r.take(4, 12) || !slices.Equal(r, rowRanges{{8, 37}}) {
		t.Fatalf("take [4, 12) of rows partly added succeeded or changed the set: %v", r)
	}
	if !r.take(20, 24) || !slices.Equal(r, rowRanges{{8, 20}, {24, 37}}) {
		t.Fatalf("take [20, 24): %v", r)
	}
	if r.take(5, 5) {
		t.Fatal("take of no rows succeeded")
	}
	if cut := r.cut(0, 10); !slices.Equal(cut, rowRanges{{8, 10}}) || !slices.Equal(r, rowRanges{{10, 20}, {24, 37}}) {
		t.Fatalf("cut [0, 10): cut %v, left %v", cut, r)
	}
	if cut := r.cut(15, 30); !slices.Equal(cut, rowRanges{{15, 20}, {24, 30}}) || !slices.Equal(r, rowRanges{{10, 15}, {30, 37}}) {
		t.Fatalf("cut [15, 30): cut %v, left %v", cut, r)
	}
	if cut := r.cut(20, 30); cut != nil || !slices.Equal(r, rowRanges{{10, 15}, {30, 37}}) {
		t.Fatalf("cut of rows already added: cut %v, left %v", cut, r)
	}
	r.restore([2]int{20, 24}, [2]int{0, 3})
	if !slices.Equal(r, rowRanges{{0, 3}, {10, 15}, {20, 24}, {30, 37}}) {
		t.Fatalf("restore: %v", r)
	}
	if cut := r.cut(0, 37); len(cut) != 4 || !r.empty() {
		t.Fatalf("cut of everything: cut %v, left %v", cut, r)
	}
	// Ranges put back join the ones they touch: a range taken and put back (a fused launch that failed)
	// can be taken whole again.
	r = rowRanges{{0, 37}}
	if !r.take(8, 16) {
		t.Fatal("take [8, 16)")
	}
	r.restore([2]int{8, 16})
	if !slices.Equal(r, rowRanges{{0, 37}}) || !r.take(0, 37) {
		t.Fatalf("restore of a taken range: %v", r)
	}
	r = rowRanges{{0, 4}, {12, 20}}
	r.restore([2]int{4, 8}, [2]int{20, 24})
	if !slices.Equal(r, rowRanges{{0, 8}, {12, 24}}) {
		t.Fatalf("restore of touching ranges: %v", r)
	}
}
