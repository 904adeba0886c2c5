package cuda

import (
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
)

// TestAttn8SlowerThanBF16: the 8-bit modes get the warning only where bf16 self-attention runs the Hopper
// module; bf16 itself, and the portable kernel (consumer cards, WAN22_ATTN=portable), get none.
func TestAttn8SlowerThanBF16(t *testing.T) {
	for _, c := range []struct {
		prec   engine.AttentionPrecision
		module string
		warn   bool
	}{
		{engine.AttentionINT8, flashModuleSM90a, true},
		{engine.AttentionFP8, flashModuleSM90a, true},
		{engine.AttentionBF16, flashModuleSM90a, false},
		{engine.AttentionINT8, flashModulePortable, false},
		{engine.AttentionFP8, flashModulePortable, false},
		{engine.AttentionINT8, "", false},
	} {
		got := attn8SlowerThanBF16(c.prec, c.module)
		if (got != "") != c.warn {
			t.Errorf("attn8SlowerThanBF16(%s, %q) = %q, want a warning: %v", c.prec, c.module, got, c.warn)
		}
		if c.warn && (!strings.HasPrefix(got, string(c.prec)+" attention runs slower") || !strings.Contains(got, "prefer bf16")) {
			t.Errorf("attn8SlowerThanBF16(%s): %q does not name the mode and the advice", c.prec, got)
		}
	}
}
