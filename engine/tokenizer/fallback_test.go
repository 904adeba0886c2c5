package tokenizer

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// charsmapRules lists every rule of a charsmap: source string → replacement.
func charsmapRules(m *charsmap) map[string]string {
	out := map[string]string{}
	var walk func(pos uint32, key []byte)
	walk = func(pos uint32, key []byte) {
		for c := uint32(0); c < 256; c++ {
			child := pos ^ c
			if child >= uint32(len(m.units)) || unitLabel(m.units[child]) != c {
				continue
			}
			k := append(key[:len(key):len(key)], byte(c))
			if unitHasLeaf(m.units[child]) {
				n, repl := m.longest(string(k))
				if n != len(k) {
					panic("charsmap lookup disagrees with walk")
				}
				out[string(k)] = repl
			}
			walk(child^unitOffset(m.units[child]), k)
		}
	}
	walk(unitOffset(m.units[0]), nil)
	return out
}

// unicode15 reports whether every rune of s is assigned in Unicode 15, the
// version of Go's unicode tables and of x/text's norm.
func unicode15(s string) bool {
	for _, r := range s {
		if !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf) {
			return false
		}
	}
	return true
}

func applyFallback(s string) string {
	var out []byte
	for s != "" {
		r, n := fallbackPrefix(s)
		out = append(out, r...)
		s = s[n:]
	}
	return string(out)
}

// TestFallbackMatchesCharsmap compares the no-charsmap fallback with the
// golden model's nmt_nfkc charsmap on every code point assigned in Unicode 15
// and every multi-character rule made of such code points.
func TestFallbackMatchesCharsmap(t *testing.T) {
	tok := loadGoldenModel(t)
	m := tok.norm.cmap
	if m == nil {
		t.Fatal("golden model has no charsmap")
	}
	singles := 0
	for r := rune(1); r <= unicode.MaxRune; r++ {
		s := string(r)
		if !unicode15(s) {
			continue // Go and x/text do not know it; newer charsmaps may fold it
		}
		want := s
		if n, repl := m.longest(s); n == len(s) {
			want = repl
		}
		singles++
		if got := applyFallback(s); got != want {
			t.Errorf("%U: fallback %+q, charsmap %+q", r, got, want)
		}
	}
	rules := charsmapRules(m)
	multi, multiNewer := 0, 0
	for k, want := range rules {
		if utf8.RuneCountInString(k) < 2 {
			continue
		}
		multi++
		if got := applyFallback(k); got != want {
			if unicode15(k) {
				t.Errorf("%+q: fallback %+q, charsmap %+q", k, got, want)
			}
			multiNewer++
		}
	}
	t.Logf("%d Unicode 15 code points agree; %d multi-character rules, %d of them (all with newer characters) differ",
		singles, multi, multiNewer)
	if multi < 1000 {
		t.Errorf("only %d multi-character rules found; the walk is broken", multi)
	}
}
