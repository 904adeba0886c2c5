// Package tokenizer is a pure-Go SentencePiece unigram tokenizer for the
// umT5 text encoder of WAN 2.2, plus the Wan pipeline's prompt cleaning.
//
// A Tokenizer is built from a SentencePiece model protobuf (FromProto: a
// spiece.model file, or the spiece_model byte tensor of ComfyUI umT5
// safetensors) or from the tokenizer.ggml.* metadata of a GGUF file
// (FromGGUF). Encoding follows SentencePiece's unigram encoder exactly:
//
//  1. Normalize with the model's precompiled charsmap: at each position the
//     longest matching rule of the darts-clone double-array trie is applied;
//     otherwise one UTF-8 character is copied (invalid bytes become U+FFFD).
//     Models without a charsmap get an NFKC-based approximation of nmt_nfkc.
//  2. Whitespace: drop leading/trailing spaces and collapse runs
//     (remove_extra_whitespaces), prepend one space (add_dummy_prefix) and
//     write spaces as "▁" (escape_whitespaces).
//  3. Segment the whole string with the unigram Viterbi search: the path of
//     pieces with the highest total score. Characters no piece covers cost
//     min_score − 10 and map to the unknown id; consecutive unknowns are fused
//     into one.
//  4. Truncate to MaxLen−1 pieces and append EOS (Length tells the count
//     before truncation). Encode normalizes and searches only as far as
//     the kept pieces are settled, the same whatever text follows
//     (segmentStart): a prompt of megabytes costs what its first pieces do.
//
// Byte fallback (TrainerSpec.byte_fallback) is not applied: the Wan reference
// uses the Hugging Face fast T5 tokenizer, whose converter ignores it and
// emits the unknown id, as llama.cpp's UGM tokenizer does too.
//
// A Tokenizer is immutable after construction and safe for concurrent use.
package tokenizer

import (
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// MaxLen is umT5's text length: Encode returns at most this many ids,
// including EOS.
const MaxLen = 512

// unkPenalty is subtracted from the lowest piece score to score an unknown
// character (SentencePiece's kUnkPenalty).
const unkPenalty = 10

// Tokenizer is a SentencePiece unigram tokenizer.
type Tokenizer struct {
	pieces []string
	scores []float32
	types  []PieceType

	trie *pieceTrie // NORMAL and USER_DEFINED pieces: the ones the segmenter matches
	norm normalizer

	unk, eos, pad int32
	// unkScore is the score of an unknown character: the lowest NORMAL
	// score minus 10. A user-defined piece of n bytes scores n·maxScore − 0.1,
	// which makes it win over any split.
	unkScore float32
	maxScore float32
}

// build validates s and assembles a Tokenizer.
func build(s *spec) (*Tokenizer, error) {
	if s.modelType != 1 {
		name := modelTypeNames[s.modelType]
		if name == "" {
			name = fmt.Sprint(s.modelType)
		}
		return nil, fmt.Errorf("tokenizer: model type %s is not supported (only UNIGRAM)", name)
	}
	if s.whitespaceAsSfx {
		return nil, fmt.Errorf("tokenizer: treat_whitespace_as_suffix is not supported")
	}
	n := len(s.pieces)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer: empty vocabulary")
	}
	if n > math.MaxInt32 || len(s.scores) != n || len(s.types) != n {
		return nil, fmt.Errorf("tokenizer: %d pieces but %d scores and %d types", n, len(s.scores), len(s.types))
	}
	t := &Tokenizer{pieces: s.pieces, scores: s.scores, types: s.types, unk: -1, eos: -1, pad: -1}

	// Score range over NORMAL pieces, as SentencePiece computes it: the
	// maximum starts at FLT_MIN and falls back to 0 when no score exceeds it.
	const fltMin = float32(1.17549435e-38)
	minScore, maxScore := float32(math.MaxFloat32), fltMin
	var keys, user []trieKey
	for i, p := range s.pieces {
		if p == "" {
			return nil, fmt.Errorf("tokenizer: piece %d is empty", i)
		}
		switch typ := s.types[i]; typ {
		case Normal:
			sc := s.scores[i]
			if math.IsNaN(float64(sc)) || math.IsInf(float64(sc), 0) {
				return nil, fmt.Errorf("tokenizer: piece %d (%q) has score %v", i, p, sc)
			}
			minScore, maxScore = min(minScore, sc), max(maxScore, sc)
			keys = append(keys, trieKey{p, int32(i)})
		case UserDefined:
			keys = append(keys, trieKey{p, int32(i)})
			user = append(user, trieKey{p, int32(i)})
		case Unknown:
			if t.unk >= 0 {
				return nil, fmt.Errorf("tokenizer: pieces %d and %d are both of type UNKNOWN", t.unk, i)
			}
			t.unk = int32(i)
		case Control, Unused, Byte:
		default:
			return nil, fmt.Errorf("tokenizer: piece %d (%q) has unknown type %d", i, p, int32(typ))
		}
	}
	if minScore == math.MaxFloat32 {
		minScore = 0
	}
	if maxScore == fltMin {
		maxScore = 0
	}
	t.unkScore, t.maxScore = minScore-unkPenalty, maxScore

	if s.unkID >= 0 {
		if s.unkID >= n {
			return nil, fmt.Errorf("tokenizer: unknown-token id %d out of range [0,%d)", s.unkID, n)
		}
		t.unk = int32(s.unkID)
	}
	if t.unk < 0 {
		return nil, fmt.Errorf("tokenizer: no piece of type UNKNOWN")
	}
	var err error
	if t.eos, err = special(s, "EOS", s.eosID, s.eosPiece); err != nil {
		return nil, err
	}
	if t.pad, err = special(s, "padding", s.padID, s.padPiece); err != nil {
		return nil, err
	}

	if t.trie, err = newPieceTrie(keys); err != nil {
		return nil, err
	}
	t.norm = normalizer{
		addDummyPrefix: s.addDummyPrefix,
		removeExtraWS:  s.removeExtraWS,
		escapeWS:       s.escapeWS,
	}
	if len(user) > 0 {
		if t.norm.user, err = newPieceTrie(user); err != nil {
			return nil, err
		}
	}
	switch {
	case len(s.charsmap) > 0:
		if t.norm.cmap, err = parseCharsmap(s.charsmap); err != nil {
			return nil, err
		}
	case s.normName != "identity":
		t.norm.fallback = true
	}
	return t, nil
}

// special resolves a special id: the given id when it is not negative,
// otherwise the piece with the given name.
func special(s *spec, what string, id int, name string) (int32, error) {
	if id >= 0 {
		if id >= len(s.pieces) {
			return -1, fmt.Errorf("tokenizer: %s id %d out of range [0,%d)", what, id, len(s.pieces))
		}
		return int32(id), nil
	}
	for i, p := range s.pieces {
		if p == name {
			return int32(i), nil
		}
	}
	return -1, fmt.Errorf("tokenizer: no %s piece %q in the vocabulary", what, name)
}

// Vocab returns the number of pieces.
func (t *Tokenizer) Vocab() int { return len(t.pieces) }

// EOS returns the end-of-sequence id (</s>, 1 for umT5).
func (t *Tokenizer) EOS() int32 { return t.eos }

// Pad returns the padding id (<pad>, 0 for umT5).
func (t *Tokenizer) Pad() int32 { return t.pad }

// Unk returns the unknown-piece id (<unk>, 2 for umT5).
func (t *Tokenizer) Unk() int32 { return t.unk }

// Piece returns the text of piece id, or "" when id is out of range.
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Normalize returns text as the segmenter sees it: normalized by the
// charsmap, whitespace handled, spaces written as "▁".
func (t *Tokenizer) Normalize(text string) string { return t.norm.normalize(text) }

// Encode tokenizes text and appends EOS. The result is truncated to MaxLen
// ids, EOS included, as the Hugging Face tokenizer does with
// truncation=True, max_length=512. text is used as given; Wan prompts go
// through Clean first.
func (t *Tokenizer) Encode(text string) []int32 {
	return t.encode(text, MaxLen)
}

// EncodePadded tokenizes text for the encoder: at most n ids including EOS,
// then padding up to n. mask is 1 for real tokens (EOS included) and 0 for
// padding. It panics if n < 1.
func (t *Tokenizer) EncodePadded(text string, n int) (ids, mask []int32) {
	if n < 1 {
		panic(fmt.Sprintf("tokenizer: EncodePadded length %d < 1", n))
	}
	got := t.encode(text, n)
	ids = make([]int32, n)
	mask = make([]int32, n)
	copy(ids, got)
	for i := range ids {
		if i < len(got) {
			mask[i] = 1
		} else {
			ids[i] = t.pad
		}
	}
	return ids, mask
}

// Length returns the number of ids text tokenizes to before truncation:
// its pieces plus EOS, as Encode would return them without the MaxLen limit.
// Above MaxLen, Encode and EncodePadded(text, MaxLen) keep only the first
// MaxLen−1 pieces and EOS, and the rest of text reaches no encoder; Length
// lets a caller tell the user so. It does not change what Encode returns.
// It tokenizes all of text: LengthUpTo stops at a count.
func (t *Tokenizer) Length(text string) int {
	return len(t.segment(t.norm.normalize(text), math.MaxInt)) + 1
}

// LengthUpTo is Length for a caller that needs the count only up to n ≥ 0
// (whether text is cut, and by how much when not by far): it returns
// Length(text) when that is at most n, else n+1, and tokenizes only as much
// of text as that needs, as Encode does.
func (t *Tokenizer) LengthUpTo(text string, n int) int {
	return len(t.segmentStart(text, n)) + 1
}

// encode segments text and returns at most limit ids, the last being EOS.
func (t *Tokenizer) encode(text string, limit int) []int32 {
	ids := t.segmentStart(text, limit-1)
	return append(ids, t.eos)
}

// viterbiNode is the best path ending at one byte position of the
// normalized text.
type viterbiNode struct {
	score float32
	start int32 // where the last piece starts; -1 while unreached
	id    int32
}

// segment runs the unigram Viterbi search over the normalized string s and
// returns the ids of the best segmentation with consecutive unknowns fused,
// keeping at most limit ids. The returned slice has room for one more id.
func (t *Tokenizer) segment(s string, limit int) []int32 {
	if s == "" || limit <= 0 {
		return make([]int32, 0, 1)
	}
	return t.path(t.viterbi(s), len(s), limit)
}

// Reading for segmentStart: the normalized text is made readChunk bytes at
// a time, and a settled start of the segmentation is looked for first when
// the search has passed settleFirst bytes a wanted id, then at every
// doubling of the length searched.
const (
	readChunk   = 1024
	settleFirst = 4
)

// segmentStart is segment(t.norm.normalize(text), limit), made by
// normalizing and searching text only as far as its first limit ids need,
// so that a prompt of megabytes costs what its first ids do.
//
// The Viterbi search runs over the normalized text as it is made, from
// each character start whose pieces the text made so far holds (a piece is
// at most window bytes long). With every start before k searched, the best
// paths ending at k and before are final, and the best segmentation of the
// whole text passes through one of the reached positions in
// (k − window, k] (the last of its positions not after k: a piece crossing
// k starts less than window bytes before it). When the best paths to all of
// those positions pass through one position q, the segmentation of the
// whole text begins with the best path to q, whatever follows; once that
// path holds limit ids (a run of unknowns fused across q is one unknown id
// on both sides), they are the result.
func (t *Tokenizer) segmentStart(text string, limit int) []int32 {
	if limit <= 0 {
		return make([]int32, 0, 1)
	}
	ns := t.norm.stream(text, min(len(text), readChunk)*3/2+len(spaceSymbol))
	l := lattice{t: t, best: make([]viterbiNode, 1, readChunk+1)}
	window := max(t.trie.maxLen, utf8.UTFMax)
	look, floor := settleFirst*limit, 0
	base, baseN := 0, 0 // the last settled position and the ids of the path to it
	for {
		done := ns.read(readChunk)
		s := ns.text()
		if done {
			if s == "" {
				return make([]int32, 0, 1)
			}
			l.relax(s, len(s))
			return t.path(l.best, len(s), limit)
		}
		l.relax(s, len(s)-window+1)
		if l.next < look {
			continue
		}
		look = 2 * l.next
		q, ok := l.settled(window, floor)
		if floor = l.next; !ok {
			continue
		}
		// The ids after base (the path to q passes it), and those before.
		n, unkFirst := t.count(l.best, q, base)
		if unkFirst && base > 0 && l.best[base].id == t.unk {
			n-- // one run of unknowns across base
		}
		if base, baseN = q, baseN+n; baseN >= limit {
			return t.path(l.best, q, limit)
		}
	}
}

// lattice is the unigram Viterbi search over a normalized text that may
// grow at its end: best[i] is the best path ending at byte i, final for
// every i up to next. Like SentencePiece's optimized encoder, the lattice is
// not stored: for each character start (in order) every piece starting
// there relaxes the node at its end, ties keeping the earlier candidate. A
// character no single-character piece covers gets an unknown edge. The
// arithmetic is SentencePiece's too, which decides exact ties: path scores
// are stored as float32, a piece candidate is the float64 sum of its score
// and the path score, compared in float64 and then rounded, while an
// unknown candidate is a float32 sum.
type lattice struct {
	t    *Tokenizer
	best []viterbiNode
	next int // the next character start to search from
}

// viterbi returns, for each byte position of s, the best path ending there;
// best[len(s)] is the end of the best segmentation of s, and following the
// start links back to 0 gives its pieces.
func (t *Tokenizer) viterbi(s string) []viterbiNode {
	l := lattice{t: t, best: make([]viterbiNode, 1, len(s)+1)}
	l.relax(s, len(s))
	return l.best
}

// relax searches from every character start of s from next up to upto: s
// is the text searched so far, grown, and must hold every piece starting
// before upto (all of the text's, or upto at most len(s) − the longest
// piece + 1).
func (l *lattice) relax(s string, upto int) {
	for len(l.best) <= len(s) {
		l.best = append(l.best, viterbiNode{start: -1})
	}
	t, best, nodes := l.t, l.best, l.t.trie.nodes
	start := l.next
	for start < upto {
		here := best[start].score
		clen := min(utf8Len(s[start]), len(s)-start)
		single := false
		node := int32(0)
		for end := start; end < len(s); {
			if node = t.trie.child(node, s[end]); node < 0 {
				break
			}
			end++
			id := nodes[node].id
			if id < 0 {
				continue
			}
			var score float64
			if t.types[id] == UserDefined {
				score = float64(float32(end-start)*t.maxScore) - 0.1
			} else {
				score = float64(t.scores[id])
			}
			cand := score + float64(here)
			if b := &best[end]; b.start < 0 || cand > float64(b.score) {
				*b = viterbiNode{score: float32(cand), start: int32(start), id: id}
			}
			if end-start == clen {
				single = true
			}
		}
		if !single {
			cand := t.unkScore + here
			if b := &best[start+clen]; b.start < 0 || cand > b.score {
				*b = viterbiNode{score: cand, start: int32(start), id: t.unk}
			}
		}
		start += clen
	}
	l.next = start
}

// settled returns the last position that the best paths to every reached
// position in (next − window, next] pass through, when it is after floor
// (where the last look ended: the paths meet there or before, at a
// position that look found too early or not at all). Walking no further
// back than floor keeps the looks' cost in proportion to the text: a text
// whose start stays undecided for long ("aaaa…" in a vocabulary of a, aa
// and aaa) is searched to its end instead.
func (l *lattice) settled(window, floor int) (int, bool) {
	var ends []int
	for j := max(l.next-window+1, 0); j <= l.next; j++ {
		if j == 0 || l.best[j].start >= 0 {
			ends = append(ends, j)
		}
	}
	for {
		slices.Sort(ends)
		if ends = slices.Compact(ends); len(ends) == 1 {
			return ends[0], true
		}
		last := len(ends) - 1
		if ends[last] <= floor {
			return 0, false
		}
		ends[last] = int(l.best[ends[last]].start)
	}
}

// count returns the number of ids of the best path to end (best as
// viterbi makes it) after position from, which the path passes (0: all of
// its ids), consecutive unknowns fused, and whether the first of them is an
// unknown.
func (t *Tokenizer) count(best []viterbiNode, end, from int) (n int, unkFirst bool) {
	prevUnk := false
	for ; end > from; end = int(best[end].start) {
		isUnk := best[end].id == t.unk
		if !isUnk || !prevUnk {
			n++
		}
		prevUnk = isUnk
	}
	return n, prevUnk
}

// path returns the first limit ids of the best path to end (best as
// viterbi makes it), consecutive unknowns fused, with room for one more id.
func (t *Tokenizer) path(best []viterbiNode, end, limit int) []int32 {
	n, _ := t.count(best, end, 0)
	ids := make([]int32, n, n+1)
	i := n
	for prevUnk := false; end > 0; end = int(best[end].start) {
		isUnk := best[end].id == t.unk
		if !isUnk || !prevUnk {
			i--
			ids[i] = best[end].id
		}
		prevUnk = isUnk
	}
	return ids[:min(n, limit)]
}

// utf8Len is the length of the UTF-8 sequence a lead byte announces, as
// SentencePiece's OneCharLen reads it (continuation bytes count as 1).
func utf8Len(c byte) int {
	switch {
	case c < 0xc0:
		return 1
	case c < 0xe0:
		return 2
	case c < 0xf0:
		return 3
	default:
		return 4
	}
}
