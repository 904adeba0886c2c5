package cuda

import (
	"errors"
	"fmt"
	"slices"

	"github.com/wan22/wan22/kernels"
)

// Flash attention modules: the Hopper one, loaded on compute capability 9.0 only, and the portable one.
const (
	flashModuleSM90a    = kernels.SM90a + "/attention"
	flashModulePortable = "attention"
)

// flashHeadDim is the head dimension every flash entry point is built for; other head dims run the
// shared-memory kernel of kernels/backend.cu.
const flashHeadDim = 128

// flashShortKeys is the key count up to which the short-sequence preference (flashSpec.short) applies.
const flashShortKeys = 2048

// flashSpec is one bf16 entry point of a flash attention module (see flashTable). Every entry takes
// (out, q, k, v, lq, lkv, q_stride, k_stride, v_stride, o_stride, scale), or with tma (out, tq, tk, tv, lq, lkv,
// o_stride, scale), and a grid of (ceil(lq / bm), heads).
type flashSpec struct {
	module string // flashModulePortable or flashModuleSM90a (wgmma: compute capability 9.0 only)
	name   string // entry point in the module's PTX
	// headDim is the head dimension; bm the query rows per CTA, bn the keys per K/V tile (the portable kernels
	// 64; the sm90a ones 128 unless the name says n<bn>: the wide-tile TMA kernel, whose k and v tensor maps
	// have boxes of bn rows), warps·32 the threads, stages the K/V tiles in flight (n176: the slots of each of
	// its K and V rings).
	headDim, bm, bn, warps, stages int
	// producer marks the warp-specialized sm90a kernels: a producer warpgroup feeds the two consumer
	// warpgroups through mbarriers.
	producer bool
	// tma marks the producer kernels that load through TMA: they take q, k and v as tensor maps
	// (out, tq, tk, tv, lq, lkv, o_stride, scale) instead of pointers and strides.
	tma bool
	// qreg marks the TMA kernel that holds Q in registers (s3gtr); it takes the other TMA kernels' arguments and
	// launches as they do, so only the name check (kernel_table_test.go) reads it.
	qreg bool
	// qtiles (sm90a TMA kernels with qreg) is the number of 128-row query tiles a CTA runs one after the
	// other (bm = 128·qtiles), so that the producer loads the next tile's Q and first K/V tiles under the last
	// tiles and the epilogue of the one before; 0 means one.
	qtiles int
	// smem is the dynamic shared memory in bytes.
	smem int
	// long and short rank the entry for long key sequences (self-attention) and for short ones (up to
	// flashShortKeys: cross-attention over the text rows), 1 first; within a module the lower rank is tried
	// first.
	long, short int
}

// flashTable lists every flash entry point the backend may run, the order of preference measured on an
// H100 (bench/attention; the measurements are in docs/BENCHMARKS.md):
//
//   - kernels/attention.cu, compute_80, every GPU from sm_80 on: attn_b<BM>_w<WARPS>_s<STAGES>_bf16, STAGES·32
//     KiB of dynamic shared memory (64-key K and V tiles) plus BM·256 bytes for Q when each warp owns two m16
//     tiles (BM = 32·WARPS). b256_w8_s3 is the fastest on long keys, b128_w4_s2 on short ones; b128_w4_s2 is
//     also the one that fits the 99 KiB of the consumer cards (sm_86, sm_89, sm_120).
//   - kernels/sm90a/attention.cu, wgmma, compute capability 9.0 only: attn_b128_w8_s<STAGES>g_bf16, two
//     warpgroups of 64 query rows, 32 KiB for Q plus STAGES·64 KiB (128-key K and V tiles);
//     attn_b128_w12_s3g{p,q,t}_bf16 add a producer warpgroup (384 threads) and 256 bytes of mbarriers.
//     attn_b128n176_w12_s2gt_bf16 (FA3's tile: 176-key tiles, two K and two V slots of 44 KiB, one P buffer) leads
//     at both lengths: 607–626 TFLOP/s at 32760² and 75600² against s3gt's 550–600 in the same interleaved rounds,
//     and 398–418 against s3gtr's 387–412 over 512 keys (eleventh session). Then s3gt (the ping-pong fed by one
//     thread's TMA copies; the TMA kernels need a driver with cuTensorMapEncodeTiled), s3gtr (s3gt with Q in
//     registers: its Q·Kᵀ reads only K from shared memory; ahead of s3gt by 1–3 % over 512 keys, level on
//     self-attention), s3gq (s3gt fed by cp.async), s3g, s2g (160 KiB instead of 224).
//     For short keys (cross-attention over 512 text tokens) attn_b<128·Q>n128_w12_s2gtr_bf16 come first: s3gtr
//     over Q = 4 or 2 query tiles per CTA (qtiles) with two K and two V slots, the producer loading the next
//     tile's Q and first K/V under the one before: b512 410–417 TFLOP/s at 32760 × 512 and 75600 × 512 against
//     n176's 377–405 and cuDNN's 508–560 (fourteenth session); on long keys they lose (533–551 against 571–619).
//
// kernel_table_test.go checks that the table and the PTX list the same bf16 entry points and that each
// name spells its fields.
var flashTable = []flashSpec{
	{module: flashModuleSM90a, name: "attn_b128n176_w12_s2gt_bf16", headDim: 128, bm: 128, bn: 176, warps: 12, stages: 2, producer: true, tma: true, smem: 128*256 + 2*2*176*256 + 256, long: 1, short: 3},
	{module: flashModuleSM90a, name: "attn_b512n128_w12_s2gtr_bf16", headDim: 128, bm: 512, bn: 128, warps: 12, stages: 2, producer: true, tma: true, qreg: true, qtiles: 4, smem: qtilesSmem(2, 128), long: 8, short: 1},
	{module: flashModuleSM90a, name: "attn_b256n128_w12_s2gtr_bf16", headDim: 128, bm: 256, bn: 128, warps: 12, stages: 2, producer: true, tma: true, qreg: true, qtiles: 2, smem: qtilesSmem(2, 128), long: 9, short: 2},
	{module: flashModuleSM90a, name: "attn_b128_w12_s3gt_bf16", headDim: 128, bm: 128, bn: 128, warps: 12, stages: 3, producer: true, tma: true, smem: 128*256 + 3*64<<10 + 256, long: 2, short: 5},
	{module: flashModuleSM90a, name: "attn_b128_w12_s3gtr_bf16", headDim: 128, bm: 128, bn: 128, warps: 12, stages: 3, producer: true, tma: true, qreg: true, smem: 128*256 + 3*64<<10 + 256, long: 3, short: 4},
	{module: flashModuleSM90a, name: "attn_b128_w12_s3gq_bf16", headDim: 128, bm: 128, bn: 128, warps: 12, stages: 3, producer: true, smem: 128*256 + 3*64<<10 + 256, long: 4, short: 6},
	{module: flashModuleSM90a, name: "attn_b128_w8_s3g_bf16", headDim: 128, bm: 128, bn: 128, warps: 8, stages: 3, smem: 128*256 + 3*64<<10, long: 5, short: 7},
	{module: flashModuleSM90a, name: "attn_b128_w8_s2g_bf16", headDim: 128, bm: 128, bn: 128, warps: 8, stages: 2, smem: 128*256 + 2*64<<10, long: 6, short: 8},
	{module: flashModuleSM90a, name: "attn_b128_w12_s3gp_bf16", headDim: 128, bm: 128, bn: 128, warps: 12, stages: 3, producer: true, smem: 128*256 + 3*64<<10 + 256, long: 7, short: 9},
	{module: flashModulePortable, name: "attn_b256_w8_s3_bf16", headDim: 128, bm: 256, bn: 64, warps: 8, stages: 3, smem: 3*32<<10 + 256*256, long: 1, short: 2},
	{module: flashModulePortable, name: "attn_b128_w4_s2_bf16", headDim: 128, bm: 128, bn: 64, warps: 4, stages: 2, smem: 2*32<<10 + 128*256, long: 2, short: 1},
	{module: flashModulePortable, name: "attn_b128_w8_s2_bf16", headDim: 128, bm: 128, bn: 64, warps: 8, stages: 2, smem: 2 * 32 << 10, long: 3, short: 3},
}

// qBox is the row count of the q tensor map's box for a TMA entry point: one query tile of bm / qtiles rows.
func (s flashSpec) qBox() int { return s.bm / max(s.qtiles, 1) }

// qtilesSmem is the dynamic shared memory of an entry point with several query tiles per CTA (flashSpec.qtiles):
// one 128-row Q tile, rings of `slots` K and V slots of bn keys, the mbarriers (rounded to 128 bytes) and the
// epilogue's staging (eight warps × 16 rows × (64 + 8) bf16), which the one-tile kernels do in Q's tile.
func qtilesSmem(slots, bn int) int { return 128*256 + slots*2*bn*256 + 128 + 8*16*72*2 }

// flashModulesFor lists the modules the backend tries, in order, on a device of compute capability
// major.minor: the Hopper one first on 9.0 (sm_90a code runs on exactly that) unless portable asks for the
// compute_80 kernels, or prefer (Config.FlashKernel) names an entry point of the portable module.
func flashModulesFor(major, minor int, portable bool, prefer string) []string {
	if major == 9 && minor == 0 && !portable {
		if _, ok := flashSpecOf(flashModulePortable, prefer); ok {
			return []string{flashModulePortable, flashModuleSM90a}
		}
		return []string{flashModuleSM90a, flashModulePortable}
	}
	return []string{flashModulePortable}
}

// flashOrder returns the entry points of a module for short or long key sequences, in order of preference.
func flashOrder(module string, short bool) []flashSpec {
	var out []flashSpec
	for _, s := range flashTable {
		if s.module == module {
			out = append(out, s)
		}
	}
	rank := func(s flashSpec) int {
		if short {
			return s.short
		}
		return s.long
	}
	slices.SortStableFunc(out, func(a, b flashSpec) int { return rank(a) - rank(b) })
	return out
}

// flashModuleError is a load failure of a whole module: no other entry point of it can do better.
type flashModuleError struct{ err error }

func (e flashModuleError) Error() string { return e.err.Error() }
func (e flashModuleError) Unwrap() error { return e.err }

// flashFirstFit returns the first entry point of a module, in order of preference, whose shared memory
// fits smemOptin bytes per block and that load accepts (nil: every one is accepted), or the reason none
// is. A flashModuleError from load ends the search of the module.
//
// prefer, when it names an entry point of the module, is tried first (Config.FlashKernel: a development aid to
// compare entry points in the engine).
func flashFirstFit(module string, short bool, smemOptin int, prefer string, load func(flashSpec) error) (flashSpec, error) {
	why := fmt.Errorf("module %s has no flash attention entry point", module)
	order := flashOrder(module, short)
	if i := slices.IndexFunc(order, func(s flashSpec) bool { return s.name == prefer }); i > 0 {
		order = slices.Concat(order[i:i+1], order[:i], order[i+1:])
	}
	for _, s := range order {
		if s.smem > smemOptin {
			why = fmt.Errorf("%s needs %d bytes of shared memory, the device allows %d per block", s.name, s.smem, smemOptin)
			continue
		}
		if load != nil {
			if err := load(s); err != nil {
				if me := (flashModuleError{}); errors.As(err, &me) {
					return flashSpec{}, me.err
				}
				why = err
				continue
			}
		}
		return s, nil
	}
	return flashSpec{}, why
}

// flashPick returns the entry point the backend runs for a head dim and key count on a device of compute
// capability major.minor allowing smemOptin bytes of shared memory per block when every module loads, or
// the reason there is none (the fallback kernel runs then).
func flashPick(major, minor int, portable bool, headDim, keys, smemOptin int) (flashSpec, error) {
	if headDim != flashHeadDim {
		return flashSpec{}, fmt.Errorf("head dim %d: the flash kernels take %d", headDim, flashHeadDim)
	}
	var why error
	for _, mod := range flashModulesFor(major, minor, portable, "") {
		s, err := flashFirstFit(mod, keys <= flashShortKeys, smemOptin, "", nil)
		if err == nil {
			return s, nil
		}
		why = err
	}
	return flashSpec{}, why
}

// flashSpecOf returns the table entry of a module's entry point.
func flashSpecOf(module, name string) (flashSpec, bool) {
	for _, s := range flashTable {
		if s.module == module && s.name == name {
			return s, true
		}
	}
	return flashSpec{}, false
}

// 8-bit attention modules (backend_attention8.go): the INT8 one (compute_80, every GPU from sm_80 on, with
// the quantization kernels) and the FP8 P·V one (kernels/sm89/attention8.cu, compute_89: sm_89 and newer,
// built with nvcc ≥ 12.4; it takes Q and K from the INT8 module's quantizers and has its own V quantizer).
// A build without kernels/sm89/attention8.ptx runs AttentionFP8 on the INT8 kernels.
const (
	attn8Module    = "attention8"
	attn8FP8Module = kernels.SM89 + "/attention8"
	// attn8HopperModule holds the Hopper INT8 entry points (attn8Spec.hopper), apart from the bf16 sm90a
	// module so that a fault in one cannot keep the other from loading. Optional: a build without it runs the mma.sync kernels.
	attn8HopperModule = kernels.SM90a + "/attention8"
)

// attn8Quant names the quantization kernels, in launch order: per-channel K sums, maxima and minima and |V|
// maxima over slices of the keys, the K mean and the 16 outlier channels per head, then Q, K and V to 8 bits
// (kernels/attention8.cu); vHopper is V's for the Hopper INT8 P·V entry points (attn8Spec.hopperV8); vFP8 is
// the FP8 module's V quantizer (e4m3, one scale per head and 64-key block),
// which replaces v there.
var attn8Quant = struct{ stats, outliers, q, k, v, vHopper, vFP8 string }{
	stats: "attn8_kv_stats_bf16", outliers: "attn8_k_outliers_bf16", q: "attn8_quant_q_bf16", k: "attn8_quant_k_bf16",
	v: "attn8_quant_v_bf16", vHopper: "attn8_quant_vh_bf16", vFP8: "attn8_quant_v_fp8_bf16",
}

// attn8ModuleFor returns the module whose attention entry points run 8-bit attention on a device of compute
// capability major.minor: the FP8 one when fp8 asks for it, the device has e4m3 MMA (8.9 and newer) and the
// module is built in (fp8Built), else the INT8 one, with the reason FP8 does not run ("" when it does or
// was not asked for).
func attn8ModuleFor(fp8 bool, major, minor int, fp8Built bool) (module, why string) {
	switch {
	case !fp8:
		return attn8Module, ""
	case major*10+minor < 89:
		return attn8Module, fmt.Sprintf("compute capability %d.%d has no FP8 MMA (8.9 and newer have)", major, minor)
	case !fp8Built:
		return attn8Module, "the FP8 attention kernels (" + attn8FP8Module + ".ptx, made with nvcc 12.4 or newer) are not built in"
	}
	return attn8FP8Module, ""
}

// attn8Spec is one 8-bit attention entry point. Every entry takes (out, q8, k8, v8, qo, ko, qscale, kscale,
// vscale, lq, lkv, o_stride, sl2) and a grid of (ceil(lq / bm), heads); smem is its dynamic shared memory
// (STAGES·18 KiB of 64-key K, Vᵀ and K-outlier tiles plus BM·128 bytes of Q). long and short rank it as
// flashSpec's do.
type attn8Spec struct {
	module            string
	name              string
	bm, warps, stages int
	smem              int
	long, short       int
	// hopper marks the sm90a entry points (INT8 Q·Kᵀ by wgmma, bf16 P·V): they take (out, tq8, tk8, tko, tv,
	// qo, qscale, kscale, lq, lkv, o_stride, sl2), the four operands as TMA tensor maps (V the bf16 tensor
	// itself, not quantized), and 384 threads.
	hopper bool
	// hopperV8 marks the Hopper entry points with INT8 P·V as well: V quantized by attn8Quant.vHopper into
	// [H][⌈keys/128⌉][128][128] int8 (its tensor map uint8 rows of 128 bytes, like q8's), and vscale [H][128]
	// after kscale in the arguments.
	hopperV8 bool
}

// attn8Table lists the 8-bit entry points in order of preference. At 32760² (40 heads, quantizers included;
// docs/BENCHMARKS.md, H100 and H200): attn8h 476–492 TFLOP/s, attn8hi 358–377 (its INT8 P·V keeps a second
// 64-register accumulator and spills), the mma.sync attn8_b128_w8 382–394, attn8f_* 293–306 — all below the
// bf16 s3gt's 564–600, so on Hopper the 8-bit modes trade speed for nothing yet; they are for the cards
// without wgmma, where INT8 mma.sync runs at twice bf16's rate. b128_w8 (Q fragments in registers) leads the
// mma.sync ones; b256_w8 and b128_w4 (two m16 tiles per warp) sit at 255 registers. The FP8 module's attn8f_*
// have the same tilings, grids and shared memory.
var attn8Table = []attn8Spec{
	{module: attn8HopperModule, name: "attn8h_b128_w12_s3gt_bf16", bm: 128, warps: 12, stages: 3, smem: 16<<10 + 3*16<<10 + 3*32<<10 + 3*4<<10 + 256, long: 1, short: 1, hopper: true},
	{module: attn8HopperModule, name: "attn8hi_b128_w12_s3gt_bf16", bm: 128, warps: 12, stages: 3, smem: 16<<10 + 3*16<<10 + 3*16<<10 + 3*4<<10 + 256, long: 2, short: 2, hopper: true, hopperV8: true},
	{module: attn8Module, name: "attn8_b128_w8_s3_bf16", bm: 128, warps: 8, stages: 3, smem: 3*18<<10 + 128*128, long: 1, short: 1},
	{module: attn8Module, name: "attn8_b256_w8_s3_bf16", bm: 256, warps: 8, stages: 3, smem: 3*18<<10 + 256*128, long: 2, short: 3},
	{module: attn8Module, name: "attn8_b128_w4_s3_bf16", bm: 128, warps: 4, stages: 3, smem: 3*18<<10 + 128*128, long: 3, short: 2},
	{module: attn8FP8Module, name: "attn8f_b128_w8_s3_bf16", bm: 128, warps: 8, stages: 3, smem: 3*18<<10 + 128*128, long: 1, short: 1},
	{module: attn8FP8Module, name: "attn8f_b256_w8_s3_bf16", bm: 256, warps: 8, stages: 3, smem: 3*18<<10 + 256*128, long: 2, short: 3},
	{module: attn8FP8Module, name: "attn8f_b128_w4_s3_bf16", bm: 128, warps: 4, stages: 3, smem: 3*18<<10 + 128*128, long: 3, short: 2},
}

// attn8Order returns a module's 8-bit entry points for short or long key sequences, in order of preference.
func attn8Order(module string, short bool) []attn8Spec {
	var out []attn8Spec
	for _, s := range attn8Table {
		if s.module == module {
			out = append(out, s)
		}
	}
	rank := func(s attn8Spec) int {
		if short {
			return s.short
		}
		return s.long
	}
	slices.SortStableFunc(out, func(a, b attn8Spec) int { return rank(a) - rank(b) })
	return out
}
