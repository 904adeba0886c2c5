package cuda

import "math"

// ltAutotuneMargin is how much faster than cuBLASLt's first candidate another must run in the autotune to be
// chosen instead. A burst of a few timed calls cannot rank kernels whose times lie within a few percent of each
// other, and it ranks them differently from back-to-back work: at the 14B block's shapes (H100, 2026-12-07,
// bench/torch/lt_probe.py) the burst times of the 8 candidates spread by 2–5 %, the autotune's picks moved from
// run to run among them, and in steady state the first candidate, the one PyTorch runs, was the fastest or
// within 2.5 % of it at every shape, while the burst picks ran up to 7 % slower (a 5120² linear with bias: 2.50
// against 2.29 ms). Where the first guess is far off (the skinny GEMMs of a run-time LoRA) the margin is no
// obstacle.
const ltAutotuneMargin = 0.03

// ltPick chooses among the autotune's median times (ms, in the heuristic's order) the candidate to keep: the
// fastest, if it beats the first by more than ltAutotuneMargin, else the first. Times that are not positive
// numbers (a failed event) are never chosen.
func ltPick(ms []float64) int {
	valid := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }
	best := -1
	for i, v := range ms {
		if valid(v) && (best < 0 || v < ms[best]) {
			best = i
		}
	}
	if best <= 0 || !valid(ms[0]) {
		return max(best, 0)
	}
	if ms[best] < ms[0]*(1-ltAutotuneMargin) {
		return best
	}
	return 0
}
