package wan22

import (
	"runtime/debug"
	"testing"
)

// GOGC=off (debug.SetGCPercent(-1)) must count as 100, not overflow the
// estimate into a negative number that no budget refuses.
func TestGCPeakGOGCOff(t *testing.T) {
	const live = 1 << 30
	old := debug.SetGCPercent(-1)
	off := gcPeak(live)
	debug.SetGCPercent(100)
	hundred := gcPeak(live)
	debug.SetGCPercent(old)
	if off <= live || off != hundred {
		t.Errorf("gcPeak(1 GiB) with GOGC=off = %d, want %d (as with GOGC=100)", off, hundred)
	}
}
