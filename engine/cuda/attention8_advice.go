package cuda

import "github.com/wan22/wan22/engine"

// attn8SlowerThanBF16 is the warning for 8-bit attention (prec) on a device whose bf16 self-attention runs
// the flash module bf16Module, or "" where 8 bits are the faster choice or no measurement says otherwise.
// On Hopper the bf16 kernel runs on the warpgroup tensor cores (kernels/sm90a) and the 8-bit ones do not
// catch up with it: one 14B block at 480p, 81 frames took 1.18× its bf16 time with INT8 attention on an H100
// (docs/BENCHMARKS.md, seventh session; INT8 self-attention ≈ 475 against ≈ 585 TFLOP/s bf16), and the FP8
// mode runs the mma.sync kernel there, slower still (≈ 310). Elsewhere (the portable bf16 kernel: Ampere, Ada,
// Blackwell consumer cards, or WAN22_ATTN=portable) INT8 is the faster one.
func attn8SlowerThanBF16(prec engine.AttentionPrecision, bf16Module string) string {
	if (prec != engine.AttentionINT8 && prec != engine.AttentionFP8) || bf16Module != flashModuleSM90a {
		return ""
	}
	return string(prec) + " attention runs slower than bf16 attention on this GPU: its bf16 kernel uses Hopper's " +
		"warpgroup tensor cores, which the 8-bit kernels do not match (a 14B block took about 1.2× as long with int8 " +
		"on an H100); the 8-bit modes are for RTX 30/40/50 cards, so prefer bf16 (the default) here"
}
