package atomicfile

import (
	"fmt"
	"testing"
)

// TestBlockerString: each Blocker prints as what stood at the target, and an
// unknown value names its number.
func TestBlockerString(t *testing.T) {
	for b, want := range map[Blocker]string{
		BlockedByProgram:  "another program",
		BlockedByFolder:   "a folder",
		BlockedByReadOnly: "a read-only file",
		Blocker(7):        "Blocker(7)",
	} {
		if got := fmt.Sprintf("%v", b); got != want {
			t.Errorf("Blocker %d prints %q, want %q", int(b), got, want)
		}
	}
}
