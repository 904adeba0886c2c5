// 8-bit flash attention with FP8 P·V (forward, non-causal, head dim 128), for sm_89 and newer (Ada, Hopper,
// Blackwell): the twin of kernels/attention8.cu. Q·Kᵀ is the same INT8 product plus bf16 outlier channels on
// the same quantized Q and K (attn8_kv_stats_bf16, attn8_k_outliers_bf16, attn8_quant_q_bf16 and
// attn8_quant_k_bf16 of the compute_80 module "attention8" produce them; this module has only what differs),
// P·V runs as mma.sync m16n8k32 e4m3·e4m3 → f32 (mma.cuh's mma_e4m3; PTX ISA
// 8.4: nvcc 12.4 or newer, scripts/ptx.sh builds this folder as compute_89).
//
//   attn8_quant_v_fp8_bf16  grid (nkb = ⌈lkv/64⌉, H), 256 threads: V per block of 64 keys of one head, one
//                           scale per (head, block): vscale [H][nkb] = amax/448 (1 for an all-zero block), and
//                           vt8 [H][nkb][128 channels][64 keys] e4m3 (keys ≥ lkv zero): the layout of the INT8
//                           module's Vᵀ, so the attention kernel loads and swizzles it the same way.
//   attn8f_b<BM>_w<WARPS>_s<STAGES>_<out>  the attention kernels, with attention8.cu's arguments (the outlier
//                           channels' qo and ko included), grids, shared memory and tilings; vscale is the
//                           [H][nkb] array above.
//
// Why one scale per (head, 64-key block) for V: e4m3 is a float (3 mantissa bits, 2^-9 … 448), so a channel
// 100× smaller than the block's largest still keeps its full relative precision; a scale constant over the
// whole tile folds into O's unit (below) and lets the f32 MMA accumulate straight into O, where a per-channel
// scale would need a separate accumulator and a multiply-add per element per tile (the INT8 kernel's
// conversion step). A per-block scale (instead of one per head) keeps a few large tokens in one block from
// coarsening the others.
//
// P: p̂ = 448 · exp2(s − m_tile) ∈ [0, 448], rounded to e4m3 (satfinite, round to nearest even). Scaling the
// tile's largest p to e4m3's largest value, rather than keeping P in [0, 1], costs nothing (log2 448 joins the
// exp2 offset) and keeps weights down to 2^-9/448 ≈ 4e-6 of the tile's largest representable (normal down to
// 2^-6/448 ≈ 3.5e-5) instead of flushing those below 2^-9 ≈ 2e-3 to zero, or below 2^-6 to three or fewer
// significant bits; the relative step (2^-3) is the same either way. O is kept in units u = (pmax/448) ·
// vscale[tile]: β = u_old · α / u_new rescales O (one multiply per element) before the MMA adds P̂ V̂. The row
// sum adds the unrounded p in units pmax/448: round-to-nearest is unbiased, and decoding the e4m3 bytes back
// would cost more than the exp2 itself.
//
// Everything else (tiles, swizzles, masking, tails, requirements, epilogue) is attention8.cu's: see there.
#include "../attention8.cuh"

namespace {

// P·V in FP8 e4m3 (the policy's members: PVInt8 in attention8.cuh).
struct PVFp8 {
    static constexpr bool FP8 = true;
    static constexpr float LOG2_PMAX = 8.8073549220576041f;  // log2(448): the tile's largest p becomes 448

    // The tile's largest p over 448: O's unit is that times the tile's V scale; the row sum adds the
    // unrounded p in units of it (round-to-nearest is unbiased; decoding the e4m3 bytes would cost more).
    static __device__ __forceinline__ float pscale(float x) { return fast_exp2(x - LOG2_PMAX); }
    static __device__ __forceinline__ float unit(float punit, float vtile, float& lunit) {
        lunit = punit;
        return punit * vtile;
    }
    static __device__ __forceinline__ float quant(float p, float& rs) {
        rs += p;
        return p;
    }

    // pack4 rounds four f32 to e4m3 (cvt.rn.satfinite.e4m3x2.f32: sm_89+, PTX ISA 7.8; NaN stays NaN, ±inf and
    // anything beyond ±448 become ±448) and packs them little-endian, x0 in the lowest byte: four consecutive
    // k of an m16n8k32 A or B fragment register. cvt puts its first source in the upper byte.
    static __device__ __forceinline__ uint32_t pack4(float x0, float x1, float x2, float x3) {
        uint32_t r;
        asm("{\n\t.reg .b16 lo, hi;\n\t"
            "cvt.rn.satfinite.e4m3x2.f32 lo, %2, %1;\n\t"
            "cvt.rn.satfinite.e4m3x2.f32 hi, %4, %3;\n\t"
            "mov.b32 %0, {lo, hi};\n}\n"
            : "=r"(r)
            : "f"(x0), "f"(x1), "f"(x2), "f"(x3));
        return r;
    }

    // mma computes c += a · b for one 16×8 tile with k = 32, e4m3 inputs and f32 accumulators: mma.cuh's
    // mma_e4m3 (sm_89+, PTX ISA 8.4; fragments as the s8/u8 m16n8k32 MMA's).
    static __device__ __forceinline__ void mma(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
        mma_e4m3(c, a, b0, b1);
    }
};

// V to e4m3: one 64-key block of one head (load_v_tile), its largest |v| mapped to 448, written transposed as
// attention8.cuh's quant_v writes the INT8 one.
__device__ __forceinline__ void quant_v_fp8(uint8_t* __restrict__ vt8, float* __restrict__ vscale,
                                            const bf16* __restrict__ v, int lkv, int v_stride) {
    __shared__ float tile[BN][HD + 1];
    __shared__ float wmax[8];
    const int blk = blockIdx.x, h = blockIdx.y, nkb = gridDim.x;
    // The barrier in block_max8 also publishes the tile.
    const float amax = block_max8(load_v_tile(tile, v, blk, h, lkv, v_stride), wmax);
    const float s = q_inv(amax, 448.0f);
    store_vt(vt8, tile, [&](int) { return s; }, PVFp8::pack4);
    if (threadIdx.x == 0) vscale[(long)h * nkb + blk] = q_scale(amax, 448.0f);
}

}  // namespace

// V quantizer (launch configuration in the file comment).
extern "C" __global__ void __launch_bounds__(256) attn8_quant_v_fp8_bf16(uint8_t* vt8, float* vscale, const bf16* v,
                                                                         int lkv, int v_stride) {
    quant_v_fp8(vt8, vscale, v, lkv, v_stride);
}

// Attention entry points: attn8f_b<BM>_w<WARPS>_s<STAGES>_<out>, out = bf16 or f32 (attention8.cuh's
// ATTN8_ENTRIES), launched as attention8.cu's attn8_b<BM>_w<WARPS>_s<STAGES>_<out> (same arguments, grid,
// threads and dynamic shared memory: STAGES·18 KiB + BM·128 bytes), vt8 and vscale from attn8_quant_v_fp8_bf16.
ATTN8_ENTRIES(attn8f, PVFp8)
