package t5

import (
	"math"

	"github.com/wan22/wan22/engine"
)

// Relative position buckets of the umT5 encoder (bidirectional).
const (
	numBuckets  = 32  // buckets per layer: 16 for keys at or before the query, 16 after
	maxDistance = 128 // offsets at or beyond this share the last bucket
)

// relativeBucket maps the offset rel = key − query to its bucket exactly as
// wan/modules/t5.py (and Hugging Face T5) does in float32: half the buckets
// hold positive offsets; offsets below 8 get a bucket each, larger ones a
// logarithmic bucket, capped at the last.
//
//	|rel| 0–7 → |rel|; 8–11 → 8; 12–15 → 9; 16–22 → 10; 23–31 → 11;
//	32–45 → 12; 46–63 → 13; 64–90 → 14; ≥ 91 → 15; plus 16 when rel > 0.
func relativeBucket(rel int) int {
	const half = numBuckets / 2 // 16
	const exact = half / 2      // 8
	b := 0
	if rel > 0 {
		b = half
	}
	a := rel
	if a < 0 {
		a = -a
	}
	if a < exact {
		return b + a
	}
	// float32 throughout, as torch does with a float32 tensor: log(a/8) is
	// rounded to float32 (a correctly rounded logf), divided by log(16) and
	// scaled by 8, then truncated toward zero by .long().
	ratio := float32(a) / exact
	lg := float32(math.Log(float64(ratio)))
	large := exact + int(lg/float32(math.Log(maxDistance/exact))*float32(half-exact))
	return b + min(large, half-1)
}

// offsetBuckets returns the bucket of every offset j − i from −(lq−1) to
// lk−1, in that order: element j − i + lq − 1.
func offsetBuckets(lq, lk int) []int32 {
	buckets := make([]int32, lq+lk-1)
	for d := range buckets {
		buckets[d] = int32(relativeBucket(d - (lq - 1)))
	}
	return buckets
}

// relPosBiaser is the optional fast path of a backend that builds the bias
// on the device (cuda.Backend): out [heads, lq, lk] F32 with
// out[h, i, j] = table[buckets[j − i + lq − 1]·heads + h], for table the
// [numBuckets, heads] row-major table and buckets from offsetBuckets. Only
// the table and lq+lk−1 bucket numbers cross the bus instead of heads·lq·lk
// floats, and nothing is computed on the host.
type relPosBiaser interface {
	RelPosBias(table []float32, buckets []int32, heads, lq, lk int) engine.Tensor
}

// layerBias returns the attention bias [heads, lq, lk] of one layer as a
// tensor of b: built on the device when b has the fast path, else by
// positionBias on the host and uploaded. buckets is offsetBuckets(lq, lk).
func layerBias(b engine.Backend, relB []float32, buckets []int32, heads, lq, lk int) engine.Tensor {
	if rb, ok := b.(relPosBiaser); ok {
		return rb.RelPosBias(relB, buckets, heads, lq, lk)
	}
	return b.FromHost(positionBias(relB, heads, lq, lk), heads, lq, lk)
}

// positionBias builds the additive attention bias [heads, lq, lk] of one
// layer on the host: bias[h, i, j] = relB[bucket(j − i), h], with relB the
// layer's [numBuckets, heads] table in row-major order.
func positionBias(relB []float32, heads, lq, lk int) []float32 {
	// One bucket per offset j − i in [−(lq−1), lk−1].
	buckets := offsetBuckets(lq, lk)
	out := make([]float32, heads*lq*lk)
	for h := range heads {
		for i := range lq {
			row := out[(h*lq+i)*lk : (h*lq+i+1)*lk]
			for j := range row {
				row[j] = relB[int(buckets[j-i+lq-1])*heads+h]
			}
		}
	}
	return out
}
