package tokenizer

import (
	"cmp"
	"fmt"
	"slices"
)

// pieceTrie is a byte trie over piece strings, built once from the sorted
// pieces. The children of a node are contiguous in nodes and sorted by
// label, so a step is a binary search over at most 256 entries.
type pieceTrie struct {
	nodes  []trieNode // nodes[0] is the root
	maxLen int        // the longest key's length in bytes
}

type trieNode struct {
	first int32 // index of the first child in nodes
	n     int32 // number of children
	id    int32 // piece id ending here, or -1
	label byte
}

type trieKey struct {
	s  string
	id int32
}

// newPieceTrie builds a trie from keys. Duplicate keys are an error.
func newPieceTrie(keys []trieKey) (*pieceTrie, error) {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b trieKey) int { return cmp.Compare(a.s, b.s) })
	// One node per distinct prefix: the root plus, for each sorted key, the
	// bytes it does not share with the key before it.
	count := 1
	for i, k := range keys {
		shared := 0
		if i > 0 {
			prev := keys[i-1]
			if prev.s == k.s {
				return nil, fmt.Errorf("tokenizer: piece %q is defined twice (ids %d and %d)", k.s, prev.id, k.id)
			}
			for shared < len(prev.s) && shared < len(k.s) && prev.s[shared] == k.s[shared] {
				shared++
			}
		}
		count += len(k.s) - shared
	}
	t := &pieceTrie{nodes: make([]trieNode, 1, count)}
	for _, k := range keys {
		t.maxLen = max(t.maxLen, len(k.s))
	}
	t.nodes[0].id = -1
	// Breadth-first: each work item is a node and the range of sorted keys
	// sharing its prefix of length depth. A key equal to the prefix sorts first.
	type item struct {
		node, lo, hi, depth int32
	}
	queue := make([]item, 1, count)
	queue[0] = item{0, 0, int32(len(keys)), 0}
	for q := 0; q < len(queue); q++ {
		it := queue[q]
		lo := it.lo
		if lo < it.hi && len(keys[lo].s) == int(it.depth) {
			t.nodes[it.node].id = keys[lo].id
			lo++
		}
		first := int32(len(t.nodes))
		for i := lo; i < it.hi; {
			c := keys[i].s[it.depth]
			j := i + 1
			for j < it.hi && keys[j].s[it.depth] == c {
				j++
			}
			queue = append(queue, item{int32(len(t.nodes)), i, j, it.depth + 1})
			t.nodes = append(t.nodes, trieNode{id: -1, label: c})
			i = j
		}
		t.nodes[it.node].first = first
		t.nodes[it.node].n = int32(len(t.nodes)) - first
	}
	return t, nil
}

// child returns the child of node with the given label, or -1.
func (t *pieceTrie) child(node int32, c byte) int32 {
	nd := &t.nodes[node]
	lo, hi := nd.first, nd.first+nd.n
	for lo < hi {
		mid := int32(uint32(lo+hi) >> 1)
		switch l := t.nodes[mid].label; {
		case l == c:
			return mid
		case l < c:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return -1
}

// longest returns the id and length of the longest key that is a prefix of
// s, or (-1, 0).
func (t *pieceTrie) longest(s string) (id int32, n int) {
	id = -1
	node := int32(0)
	for i := 0; i < len(s); i++ {
		if node = t.child(node, s[i]); node < 0 {
			break
		}
		if v := t.nodes[node].id; v >= 0 {
			id, n = v, i+1
		}
	}
	return id, n
}
