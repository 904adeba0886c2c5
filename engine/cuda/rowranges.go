package cuda

import "slices"

// rowRanges is a set of row ranges [from, to), ascending and disjoint: the rows a deferred residual add
// (backend_residual.go) has still to add.
type rowRanges [][2]int

// empty reports whether no row is left.
func (r rowRanges) empty() bool { return len(r) == 0 }

// take removes rows [from, to) and reports whether they were all in the set; otherwise the set is left as
// it was.
func (r *rowRanges) take(from, to int) bool {
	if from >= to {
		return false
	}
	for i, g := range *r {
		if g[0] <= from && to <= g[1] {
			var rest rowRanges
			if g[0] < from {
				rest = append(rest, [2]int{g[0], from})
			}
			if to < g[1] {
				rest = append(rest, [2]int{to, g[1]})
			}
			*r = slices.Concat((*r)[:i], rest, (*r)[i+1:])
			return true
		}
	}
	return false
}

// cut removes the rows of [from, to) that are in the set and returns them as ranges, ascending.
func (r *rowRanges) cut(from, to int) rowRanges {
	var keep, cut rowRanges
	for _, g := range *r {
		lo, hi := max(g[0], from), min(g[1], to)
		if lo >= hi {
			keep = append(keep, g)
			continue
		}
		cut = append(cut, [2]int{lo, hi})
		if g[0] < lo {
			keep = append(keep, [2]int{g[0], lo})
		}
		if hi < g[1] {
			keep = append(keep, [2]int{hi, g[1]})
		}
	}
	slices.SortFunc(keep, func(a, b [2]int) int { return a[0] - b[0] })
	*r = keep
	return cut
}

// restore puts back ranges taken or cut from the set (disjoint from what it holds), joining ranges that
// touch, so that a range taken and put back can be taken whole again.
func (r *rowRanges) restore(gs ...[2]int) {
	all := append(*r, gs...)
	slices.SortFunc(all, func(a, b [2]int) int { return a[0] - b[0] })
	joined := all[:0]
	for _, g := range all {
		if n := len(joined); n > 0 && joined[n-1][1] == g[0] {
			joined[n-1][1] = g[1]
			continue
		}
		joined = append(joined, g)
	}
	*r = joined
}
