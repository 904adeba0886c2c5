package wan22

import (
	"strings"
	"testing"
)

// TestBudgetOfOneByte: a budget (or a need) of one byte, as a budget given
// in the wrong unit can be, reads "1 byte", not "1 bytes".
func TestBudgetOfOneByte(t *testing.T) {
	e := &BudgetError{What: "host memory", Need: 1, Budget: 1, Width: 16, Height: 16, Frames: 5, LargestStageOf: "VAE decode", BudgetGiven: true}
	msg := e.Error()
	if !strings.Contains(msg, "budget of 1 byte:") || !strings.Contains(msg, "about 1 byte of") {
		t.Errorf("BudgetError of 1 byte: %q, want 'budget of 1 byte:' and 'about 1 byte of'", msg)
	}
	if got := memSize(16); got != "16 bytes" {
		t.Errorf("memSize(16) = %q, want 16 bytes", got)
	}
}
