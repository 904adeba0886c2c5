package tokenizer

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// charsmap is a SentencePiece precompiled normalization map
// (NormalizerSpec.precompiled_charsmap, GGUF tokenizer.ggml.precompiled_charsmap).
//
// Blob layout:
//
//	u32 LE   trie size in bytes (a multiple of 4)
//	[]u32 LE a darts-clone double-array trie over the UTF-8 bytes of the
//	         source strings; a key's value is a byte offset into the pool
//	[]byte   the pool: NUL-terminated replacement strings
//
// Each double-array unit packs, from the low bit up: an 8-bit label, a
// has-leaf flag (bit 8), an offset-scale flag (bit 9) and a 22-bit offset
// (bits 10..31; shifted left by 8 when bit 9 is set). A leaf unit instead
// holds its value in bits 0..30 and sets bit 31, so it never matches a label.
type charsmap struct {
	units []uint32
	pool  string
}

func unitLabel(u uint32) uint32  { return u & (1<<31 | 0xff) }
func unitHasLeaf(u uint32) bool  { return u>>8&1 == 1 }
func unitValue(u uint32) uint32  { return u & (1<<31 - 1) }
func unitOffset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }

// maxCharsmapUnits bounds the validation walk; real maps have well under a
// million units (nmt_nfkc: about 60k).
const maxCharsmapUnits = 1 << 24

func parseCharsmap(blob []byte) (*charsmap, error) {
	if len(blob) <= 4 {
		return nil, fmt.Errorf("tokenizer: precompiled charsmap of %d bytes is too short", len(blob))
	}
	size := binary.LittleEndian.Uint32(blob)
	if uint64(size) >= uint64(len(blob)-4) || size%4 != 0 || size == 0 {
		return nil, fmt.Errorf("tokenizer: precompiled charsmap: trie size %d does not fit the %d-byte blob", size, len(blob))
	}
	if size/4 > maxCharsmapUnits {
		return nil, fmt.Errorf("tokenizer: precompiled charsmap: trie of %d units is implausibly large", size/4)
	}
	m := &charsmap{units: make([]uint32, size/4), pool: string(blob[4+size:])}
	for i := range m.units {
		m.units[i] = binary.LittleEndian.Uint32(blob[4+4*i:])
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// validate walks every node reachable in the trie and checks that each value
// points at a NUL-terminated string inside the pool, so that lookups on any
// input stay in bounds without further checks.
func (m *charsmap) validate() error {
	n := uint32(len(m.units))
	seen := make([]bool, n)
	stack := []uint32{unitOffset(m.units[0])} // node position after the root
	keys := 0
	for len(stack) > 0 {
		pos := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for c := uint32(0); c < 256; c++ {
			child := pos ^ c
			if child >= n || unitLabel(m.units[child]) != c {
				continue
			}
			if seen[child] {
				continue // darts-clone shares common suffix subtrees
			}
			seen[child] = true
			next := child ^ unitOffset(m.units[child])
			if unitHasLeaf(m.units[child]) {
				if next >= n {
					return fmt.Errorf("tokenizer: precompiled charsmap: leaf at unit %d out of range", next)
				}
				if err := m.checkValue(unitValue(m.units[next])); err != nil {
					return err
				}
				keys++
			}
			stack = append(stack, next)
		}
	}
	if keys == 0 {
		return fmt.Errorf("tokenizer: precompiled charsmap has no entries")
	}
	return nil
}

func (m *charsmap) checkValue(v uint32) error {
	if uint64(v) >= uint64(len(m.pool)) {
		return fmt.Errorf("tokenizer: precompiled charsmap: replacement offset %d outside the %d-byte pool", v, len(m.pool))
	}
	if strings.IndexByte(m.pool[v:], 0) >= 0 {
		return nil
	}
	return fmt.Errorf("tokenizer: precompiled charsmap: replacement at offset %d is not NUL-terminated", v)
}

// longest returns the length of the longest key that is a prefix of s and
// its replacement, or 0 when no key matches.
func (m *charsmap) longest(s string) (n int, repl string) {
	units := m.units
	size := uint32(len(units))
	pos := unitOffset(units[0])
	for i := 0; i < len(s); i++ {
		c := uint32(s[i])
		pos ^= c
		if pos >= size || unitLabel(units[pos]) != c {
			break
		}
		u := units[pos]
		pos ^= unitOffset(u)
		if unitHasLeaf(u) {
			// validate has checked every reachable leaf.
			n = i + 1
			v := unitValue(units[pos])
			repl = m.pool[v:]
			repl = repl[:strings.IndexByte(repl, 0)]
		}
	}
	return n, repl
}
