package t5

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
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

// biasBackend is a backend with the device fast path for the position bias,
// written independently of positionBias, counting its calls.
type biasBackend struct {
	engine.Backend
	calls int
}

func (b *biasBackend) RelPosBias(table []float32, buckets []int32, heads, lq, lk int) engine.Tensor {
	b.calls++
	out := make([]float32, heads*lq*lk)
	for h := range heads {
		for i := range lq {
			for j := range lk {
				out[(h*lq+i)*lk+j] = table[int(buckets[j-i+lq-1])*heads+h]
			}
		}
	}
	return b.FromHost(out, heads, lq, lk)
}

// TestDeviceBiasPath: a backend with RelPosBias gets one call per layer and
// the same encoding as the host path, bit for bit, at full length with padded
// keys masked too; offsetBuckets holds the bucket of every offset.
func TestDeviceBiasPath(t *testing.T) {
	for _, c := range []struct{ lq, lk int }{{1, 1}, {3, 7}, {20, 130}} {
		bk := offsetBuckets(c.lq, c.lk)
		if len(bk) != c.lq+c.lk-1 {
			t.Fatalf("offsetBuckets(%d, %d): %d buckets", c.lq, c.lk, len(bk))
		}
		for d, got := range bk {
			if want := relativeBucket(d - (c.lq - 1)); int(got) != want {
				t.Fatalf("offsetBuckets(%d, %d)[%d] = %d, want %d", c.lq, c.lk, d, got, want)
			}
		}
	}
	src := randomModel(tinyCfg, 5)
	ids, mask := []int32{9, 17, 300, 1, 0, 0}, []int32{1, 1, 1, 1, 0, 0}
	for _, full := range []bool{false, true} {
		host, err := Load(cpu.New(), src)
		if err != nil {
			t.Fatal(err)
		}
		fast := &biasBackend{Backend: cpu.New()}
		dev, err := Load(fast, src)
		if err != nil {
			t.Fatal(err)
		}
		host.FullLength, dev.FullLength = full, full
		want, nw, err := host.Encode(context.Background(), ids, mask)
		if err != nil {
			t.Fatal(err)
		}
		got, ng, err := dev.Encode(context.Background(), ids, mask)
		if err != nil {
			t.Fatal(err)
		}
		if fast.calls != tinyCfg.Layers {
			t.Errorf("full length %v: RelPosBias called %d times, want once per layer (%d)", full, fast.calls, tinyCfg.Layers)
		}
		if ng != nw || !slices.Equal(got, want) {
			t.Errorf("full length %v: the device bias path gives another encoding (%d rows against %d)", full, ng, nw)
		}
		host.Free()
		dev.Free()
	}
}
