// Package golden locates the reference outputs in ../shared/golden for tests.
//
// The folder is found next to the module root (the directory holding go.mod),
// or at $WAN22_GOLDEN when that is set. Tests that need it call Dir, which
// skips the test with a clear message when the folder is absent.
package golden

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// Find returns the golden folder, or "" when it does not exist.
func Find() string {
	if d := os.Getenv("WAN22_GOLDEN"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		return ""
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			g := filepath.Join(dir, "..", "shared", "golden")
			if st, err := os.Stat(g); err == nil && st.IsDir() {
				return g
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Dir returns the golden folder or skips the test when it is absent.
func Dir(t testing.TB) string {
	t.Helper()
	d := Find()
	if d == "" {
		t.Skip("golden reference folder ../shared/golden not found (set WAN22_GOLDEN to point at it); skipping golden test")
	}
	return d
}

// Path returns the path of a golden file, skipping the test when the folder is absent.
func Path(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Dir(t), name)
}

// RelL2 is the relative L2 error ‖got − want‖ / ‖want‖ that the golden
// tolerances are stated in (the absolute norm ‖got‖ when want is all zero,
// +Inf when the lengths differ).
func RelL2(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
