package cuda

import (
	"strings"
	"testing"
)

// TestAttn8ShortKeysFrom checks WAN22_ATTN8_SHORT_KEYS: empty is the default, a whole number ≥ 0 is taken,
// anything else is an error naming the variable, the value and the default.
func TestAttn8ShortKeysFrom(t *testing.T) {
	if attn8ShortKeys < 769 || attn8ShortKeys >= 7800 {
		t.Errorf("attn8ShortKeys = %d: every WAN 2.2 cross-attention (≤ 769 keys) must run bf16 and every self-attention (≥ 7800 keys) 8-bit", attn8ShortKeys)
	}
	for v, want := range map[string]int{"": attn8ShortKeys, " ": attn8ShortKeys, "0": 0, "4096": 4096, " 512 ": 512, "1073741824": attn8MaxShortKeys} {
		if got, err := attn8ShortKeysFrom(v); err != nil || got != want {
			t.Errorf("attn8ShortKeysFrom(%q) = %d, %v; want %d, nil", v, got, err, want)
		}
	}
	for _, v := range []string{"-1", "2k", "1.5", "all", "1073741825", "9223372036854775807"} {
		got, err := attn8ShortKeysFrom(v)
		if err == nil || got != attn8ShortKeys || !strings.Contains(err.Error(), attn8ShortKeysEnv) || !strings.Contains(err.Error(), v) {
			t.Errorf("attn8ShortKeysFrom(%q) = %d, %v; want the default and an error naming %s and the value", v, got, err, attn8ShortKeysEnv)
		}
	}
}
