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

// TestFlashKernelEnv: WAN22_FLASH_KERNEL sets FlashKernel (trimmed) when the Config leaves it empty; a name no
// flash table entry has is kept (flashFirstFit passes it over) but warned about.
func TestFlashKernelEnv(t *testing.T) {
	for _, c := range []struct {
		env, cfg, want string
		warned         bool
	}{
		{"", "", "", false},
		{" attn_b128_w12_s3gt_bf16 ", "", "attn_b128_w12_s3gt_bf16", false},
		{"attn_b256_w8_s3_bf16", "", "attn_b256_w8_s3_bf16", false},
		{"attn_b128_w12_s3gt", "", "attn_b128_w12_s3gt", true},
		{"attn_b256_w8_s3_bf16", "attn_b128n176_w12_s2gt_bf16", "attn_b128n176_w12_s2gt_bf16", false},
	} {
		t.Setenv("WAN22_FLASH_KERNEL", c.env)
		var log bytes.Buffer
		got := Config{FlashKernel: c.cfg, Logger: slog.New(slog.NewTextHandler(&log, nil))}.withEnv()
		if got.FlashKernel != c.want {
			t.Errorf("env %q, Config %q: FlashKernel %q, want %q", c.env, c.cfg, got.FlashKernel, c.want)
		}
		if warned := strings.Contains(log.String(), "WAN22_FLASH_KERNEL"); warned != c.warned {
			t.Errorf("env %q: warned %v, want %v (log %q)", c.env, warned, c.warned, log.String())
		}
	}
}
