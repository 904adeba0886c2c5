// 8-bit flash attention (forward, non-causal, head dim 128): out = softmax(scale · Q Kᵀ) V per head, keys
// limited to the first lkv rows, with Q·Kᵀ in INT8 and P·V in INT8 (the SageAttention recipe on mma.sync;
// every GPU from sm_80 on). kernels/sm89/attention8.cu is the FP8 (e4m3) P·V twin for sm_89 and newer; it
// takes the same Q and K quantization and its own V layout.
//
// Inputs of the quantization kernels (the q/k/v Linear outputs, like kernels/attention.cu): q [lq, H·128],
// k and v [≥lkv, H·128], bf16, row-major with heads interleaved per token, row strides in elements as
// arguments. They write head-major 8-bit copies that the attention kernels stream as contiguous tiles:
//
//   attn8_kv_stats_bf16  grid (H, S): per head and channel, partial sum, max and min of K and partial max |V|
//                        over S contiguous slices of the valid keys → kpart [H][S][3][128] and vpart
//                        [H][S][128] (f32). Deterministic (no atomics): the steps below combine the S partials.
//   attn8_k_outliers_bf16  grid H, 128 threads: the K mean per (head, channel) → kmean [H][128] (f32), and per
//                        head the 16 outlier channels, those of largest amax|k − mean| → och [H][16] (int32,
//                        largest first). Model q and k (after RMSNorm and RoPE) carry a few channels ~10× the
//                        others; left in the INT8 product they set every block's scale and leave the other
//                        channels a step of ~25% of their RMS (bench/attention/README.md, "8-bit attention:
//                        accuracy"). They go through a bf16 product instead.
//   attn8_quant_q_bf16   grid (⌈lq/64⌉, H), 128 threads: Q per block of 16 query rows × 128 channels (one m16
//                        MMA tile, so every tiling of the attention kernel uses the block's scale as a scalar
//                        and the block is never larger than the attention kernel's query tile), the outlier
//                        channels counted as 0 → q8 [H][lq][128] int8 and qscale [H][⌈lq/16⌉] = amax/127; the
//                        outlier channels as they are → qo [H][lq][16] bf16.
//   attn8_quant_k_bf16   grid (nkb = ⌈lkv/64⌉, H), 256 threads: K minus its per-(head, channel) mean over the
//                        valid keys (subtracting a vector from every key adds q·mean to a whole row of scores,
//                        which softmax ignores, and removes the channel offset that would otherwise dominate
//                        the INT8 range), per block of 64 keys, the outlier channels counted as 0 → k8
//                        [H][nkb·64][128] int8 (keys ≥ lkv zero) and kscale [H][nkb] = amax/127; the outlier
//                        channels of k as they are (not minus the mean: q·mean is a per-row constant, which
//                        softmax ignores; so both outlier operands are exact) → ko [H][nkb·64][16] bf16 (keys
//                        ≥ lkv zero).
//   attn8_quant_v_bf16   grid (nkb, H), 256 threads: V with one scale per (head, channel) over all valid keys,
//                        transposed per 64-key block → vt8 [H][nkb][128 channels][64 keys] int8 (keys ≥ lkv
//                        zero) and vscale [H][128] = amax/127. A per-channel scale is constant along the P·V
//                        reduction, so it is applied once, in the epilogue, instead of once per key tile.
//   attn8_quant_vh_bf16  grid (2·⌈nkb/2⌉, H): the same for kernels/sm90a/attention8.cu's INT8 P·V (attn8hi),
//                        vt8 [H][⌈nkb/2⌉][128 channels][128 keys], keys permuted per 32 (attention8.cuh's
//                        store_vt_hopper).
//
// Attention (attn8_b<BM>_w<WARPS>_s<STAGES>_<out>): a CTA owns BM query rows of one head (grid: x = q tiles,
// y = heads), walks the keys in tiles of 64 through a STAGES-deep cp.async ring (a stage: the 8 KiB K tile,
// the 8 KiB Vᵀ tile and the 2 KiB K outlier tile, each contiguous in memory). Per tile, each warp:
//   S = Q8 K8ᵀ with mma.sync m16n8k32 s8·s8 → s32, then the score t = s32 · qscale · kscale + Qo Koᵀ as a
//     float, the outlier channels' product by one mma.sync m16n8k16 bf16 → f32 per n8 tile (Q's outlier
//     values are one A fragment in registers); t·sl2 (sl2 = scale·log2(e), an argument) is the log2 domain of
//     the exp2 softmax. The key order of the B fragments is permuted through the ldmatrix row addresses:
//     n-tile 2i+h of a 16-key group holds keys 4c + 2h + {0, 1} in its columns 2c, 2c+1, so that the four
//     accumulators of a thread for one row are keys 4c … 4c+3 — exactly the u8 A fragment of the P·V
//     product, in natural key order (the outlier tile is read through the same rows).
//   online softmax with exp2, the row max taken on t (sl2 > 0). P is quantized per
//     tile and row against the tile's own max: p̂ = round(255 · exp2(s − m_tile)) ∈ [0, 255] (m_tile is raised
//     to m_run − 32 when the tile is negligible, to bound the scale), so a row whose mass is spread thin over
//     many tiles keeps it (one global 1/255 step would round all of a tail below 1/510 to zero).
//   O_tile = P̂ V8 with mma.sync m16n8k32 u8·s8 → s32, added into the f32 O as O = O·β + O_tile: O is kept in
//     units u = exp2(m_tile − m_run)/255 of the current tile, β = u_old·α/u_new folds the usual rescaling α
//     and the unit change into one FMA per element. The row sum uses the rounded p̂ (weights sum to one).
// Epilogue: O · u · vscale[channel] / l, staged through shared memory, 16-byte stores (as attention.cu).
//
// Shared memory: Q tile BM rows × 128 bytes (chunk c of row r at c ^ (r & 7)); K tile 64 × 128 bytes (chunk c
// of key r at c ^ (2·((r >> 2) & 3) + (r & 1)), conflict-free for the permuted key rows); Vᵀ tile 128 × 64
// bytes (chunk c of channel r at c ^ ((r >> 1) & 3)); K outlier tile 64 × 32 bytes (16-byte slot 2r + c of
// key r at (2r + c) ^ (((r >> 2) & 1) | ((r >> 3) & 1) << 2), conflict-free for the permuted key rows).
//
// Masking and tails: key tiles are read whole (the quantizers pad them with zeros); scores of keys ≥ lkv
// become −∞ before the max (exp2 of them is exactly 0, whatever the scales); query rows ≥ lq are zero-filled
// and not stored. Any lq ≥ 1, lkv ≥ 1 (the launcher writes zeros for lkv = 0 without launching).
//
// Requirements (checked by the launcher): q, k, v and out 16-byte aligned; q/k/v strides multiples of 8
// elements, the out stride a multiple of 8 (bf16) or 4 (f32); scale > 0; 8-bit buffers and scales as laid
// out above.
#include "attention8.cuh"


// Quantization entry points (launch configurations in the file comment).
extern "C" __global__ void __launch_bounds__(256) attn8_kv_stats_bf16(float* kpart, float* vpart, const bf16* k,
                                                                      const bf16* v, int lkv, int k_stride, int v_stride) {
    kv_stats(kpart, vpart, k, v, lkv, k_stride, v_stride);
}
extern "C" __global__ void __launch_bounds__(128) attn8_k_outliers_bf16(float* kmean, int* och, const float* kpart,
                                                                        int nsplit, int lkv) {
    k_outliers(kmean, och, kpart, nsplit, lkv);
}
extern "C" __global__ void __launch_bounds__(128) attn8_quant_q_bf16(int8_t* q8, float* qscale, bf16* qo, const bf16* q,
                                                                     const int* och, int lq, int q_stride) {
    quant_q(q8, qscale, qo, q, och, lq, q_stride);
}
extern "C" __global__ void __launch_bounds__(256) attn8_quant_k_bf16(int8_t* k8, float* kscale, bf16* ko, const bf16* k,
                                                                     const float* kmean, const int* och, int lkv,
                                                                     int k_stride) {
    quant_k(k8, kscale, ko, k, kmean, och, lkv, k_stride);
}
extern "C" __global__ void __launch_bounds__(256) attn8_quant_v_bf16(int8_t* vt8, float* vscale, const bf16* v,
                                                                     const float* vpart, int nsplit, int lkv, int v_stride) {
    quant_v<false>(vt8, vscale, v, vpart, nsplit, lkv, v_stride);
}
// The same V quantization in the Hopper INT8 P·V kernel's layout (store_vt_hopper): grid (2·⌈nkb / 2⌉, H).
extern "C" __global__ void __launch_bounds__(256) attn8_quant_vh_bf16(int8_t* vt8, float* vscale, const bf16* v,
                                                                      const float* vpart, int nsplit, int lkv, int v_stride) {
    quant_v<true>(vt8, vscale, v, vpart, nsplit, lkv, v_stride);
}

// Attention entry points: attn8_b<BM>_w<WARPS>_s<STAGES>_<out>, out = bf16 or f32 (attention8.cuh's
// ATTN8_ENTRIES). Arguments (out, q8, k8, vt8, qo, ko, qscale, kscale, vscale, lq, lkv, o_stride, sl2); launch:
// grid (⌈lq / BM⌉, heads), block 32·WARPS threads, dynamic shared memory STAGES·18 KiB + BM·128 bytes:
//   attn8_b128_w8_s3   70 KiB  16 rows per warp, Q fragments in registers
//   attn8_b128_w4_s3   70 KiB  32 rows per warp (half the shared-memory reads per MMA)
//   attn8_b256_w8_s3   86 KiB  32 rows per warp, 8 warps
// Every one fits the 99 KiB per block of the consumer cards (sm_86, sm_89, sm_120).
ATTN8_ENTRIES(attn8, PVInt8)
