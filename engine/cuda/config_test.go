package cuda

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestLtCandidatesEnv: WAN22_CUBLASLT_CANDIDATES sets how many cuBLASLt
// candidates a plan times, within 1..32; anything else warns and keeps 8; a
// value set in the Config wins.
func TestLtCandidatesEnv(t *testing.T) {
	for _, c := range []struct {
		env    string
		cfg    int
		want   int
		warned bool
	}{
		{"", 0, 8, false},
		{"16", 0, 16, false},
		{"32", 0, 32, false},
		{"1", 0, 1, false},
		{"0", 0, 8, true},
		{"33", 0, 8, true},
		{"many", 0, 8, true},
		{"16", 4, 4, false},
		{"", 100, 32, false},
	} {
		t.Setenv("WAN22_CUBLASLT_CANDIDATES", c.env)
		var log bytes.Buffer
		got := Config{LtCandidates: c.cfg, Logger: slog.New(slog.NewTextHandler(&log, nil))}.withEnv()
		if got.LtCandidates != c.want {
			t.Errorf("env %q, Config %d: %d candidates, want %d", c.env, c.cfg, got.LtCandidates, c.want)
		}
		if warned := strings.Contains(log.String(), "WAN22_CUBLASLT_CANDIDATES"); warned != c.warned {
			t.Errorf("env %q: warned %v, want %v (log %q)", c.env, warned, c.warned, log.String())
		}
	}
}

// TestSeparateGELUEnv: WAN22_CUBLASLT_GELU=separate (any case) sets SeparateGELU, "epilogue" and "" leave it
// off, anything else warns and leaves it off; a Config that sets it keeps it.
func TestSeparateGELUEnv(t *testing.T) {
	for _, c := range []struct {
		env       string
		cfg, want bool
		warned    bool
	}{
		{"", false, false, false},
		{"separate", false, true, false},
		{"Separate", false, true, false},
		{"epilogue", false, false, false},
		{"fused", false, false, true},
		{"", true, true, false},
	} {
		t.Setenv("WAN22_CUBLASLT_GELU", c.env)
		var log bytes.Buffer
		got := Config{SeparateGELU: c.cfg, Logger: slog.New(slog.NewTextHandler(&log, nil))}.withEnv()
		if got.SeparateGELU != c.want {
			t.Errorf("env %q, Config %v: SeparateGELU %v, want %v", c.env, c.cfg, got.SeparateGELU, c.want)
		}
		if warned := strings.Contains(log.String(), "WAN22_CUBLASLT_GELU"); warned != c.warned {
			t.Errorf("env %q: warned %v, want %v (log %q)", c.env, warned, c.warned, log.String())
		}
	}
}
