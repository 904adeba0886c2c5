// Device code of the 8-bit flash attention shared by kernels/attention8.cu (INT8 P·V, compute_80) and
// kernels/sm89/attention8.cu (FP8 e4m3 P·V, compute_89): the Q, K and V quantizers, the swizzled tile
// layouts and the attention kernel attn8_fwd, templated on its P·V policy. Layouts, numerics and launch
// configurations are described at the top of kernels/attention8.cu; the FP8 differences at the top of
// kernels/sm89/attention8.cu. Every kernels/*.cuh is part of every module's source hash (scripts/ptx.sh).
//
// Include it once per module, after nothing else: everything is in an anonymous namespace.
#pragma once

#include "common.cuh"
#include "mma.cuh"

namespace {

constexpr int HD = 128;                       // head dim
constexpr int BN = 64;                        // keys per tile (and per K scale block)
constexpr int QBLK = 16;                      // query rows per Q scale block
constexpr int NOUT = 16;                      // outlier channels per head, outside the INT8 Q·Kᵀ (one bf16 k16 step)
constexpr int KT_BYTES = BN * HD;             // K tile: 64 keys × 128 int8 = 8 KiB
constexpr int VT_BYTES = HD * BN;             // Vᵀ tile: 128 channels × 64 int8 = 8 KiB
constexpr int KO_BYTES = BN * NOUT * 2;       // K outlier tile: 64 keys × 16 bf16 = 2 KiB
constexpr int STAGE_BYTES = KT_BYTES + VT_BYTES + KO_BYTES;

// The 8-bit MMAs (mma_s8s8, mma_u8s8, mma_e4m3), the bf16 one and the 8-bit P constants (LOG2_255, ROUND_MAGIC,
// TILE_FLOOR, pack_bytes) are mma.cuh's.
// x rounded to the nearest integer in [-127, 127], as a byte.
__device__ __forceinline__ uint32_t q_s8(float x) { return (uint32_t)max(-127, min(127, __float2int_rn(x))); }
// Four values rounded to int8, packed, the first lowest.
__device__ __forceinline__ uint32_t q_s8x4(float x0, float x1, float x2, float x3) {
    return pack_bytes(q_s8(x0), q_s8(x1), q_s8(x2), q_s8(x3));
}

// Eight values times inv, rounded to int8, packed.
__device__ __forceinline__ uint2 q8x8(const float* x, float inv) {
    return make_uint2(q_s8x4(x[0] * inv, x[1] * inv, x[2] * inv, x[3] * inv),
                      q_s8x4(x[4] * inv, x[5] * inv, x[6] * inv, x[7] * inv));
}

// The scale of a block whose largest |x| is amax when that maps to qmax (127 for int8, 448 for e4m3):
// amax/qmax, 1 for an all-zero block; q_inv is what x is multiplied by before rounding, 0 for an all-zero block.
__device__ __forceinline__ float q_scale(float amax, float qmax) { return amax > 0.0f ? amax / qmax : 1.0f; }
__device__ __forceinline__ float q_inv(float amax, float qmax) { return amax > 0.0f ? qmax / amax : 0.0f; }

// amax raised to the largest |x| of eight values.
__device__ __forceinline__ float absmax8(float amax, const float (&x)[8]) {
#pragma unroll
    for (int e = 0; e < 8; e++) amax = fmaxf(amax, fabsf(x[e]));
    return amax;
}
// The largest x of the warp, in every lane.
__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
// The largest x of a block of 8 warps, in every thread; wmax: 8 floats of shared memory. One barrier.
__device__ __forceinline__ float block_max8(float x, float* wmax) {
    x = warp_max(x);
    if ((threadIdx.x & 31) == 0) wmax[threadIdx.x >> 5] = x;
    __syncthreads();
#pragma unroll
    for (int i = 0; i < 8; i++) x = fmaxf(x, wmax[i]);
    return x;
}

// Eight bf16 at p as f32, or eight zeros when !ok (p is not read).
__device__ __forceinline__ void ld8_or_zero(const bf16* p, bool ok, float (&x)[8]) {
    if (ok) {
        ld8(p, x);
    } else {
#pragma unroll
        for (int e = 0; e < 8; e++) x[e] = 0.0f;
    }
}

// Byte offsets inside the shared tiles (see the file comment).
__device__ __forceinline__ uint32_t swq(int r, int c) { return (uint32_t)(r * HD + ((c ^ (r & 7)) << 4)); }
__device__ __forceinline__ uint32_t swk(int r, int c) {
    return (uint32_t)(r * HD + ((c ^ (((r >> 1) & 6) | (r & 1))) << 4));
}
__device__ __forceinline__ uint32_t swv(int r, int c) { return (uint32_t)(r * BN + ((c ^ ((r >> 1) & 3)) << 4)); }
// K outlier tile: key r's 16-byte half c (channels 8c … 8c+7 of its 16) in slot (2r + c) ^ (bit 2 of r, as bit
// 0 | bit 3 of r, as bit 2): the 8 keys one ldmatrix matrix reads (4a + 2h + b + 16i, a = 0…3, b = 0, 1) land
// in 8 distinct 16-byte bank groups.
__device__ __forceinline__ uint32_t swo(int r, int c) {
    return (uint32_t)(((2 * r + c) ^ (((r >> 2) & 1) | (((r >> 3) & 1) << 2))) << 4);
}

// The low byte of one of eight packed bytes (e = 0…7), sign-extended.
__device__ __forceinline__ int byte_at(uint2 w, int e) { return (int)(int8_t)((e < 4 ? w.x : w.y) >> (8 * (e & 3))); }

// Moves the outlier channels of one 8-channel chunk x out of it: channel e with slot p = byte_at(ps, e) ≥ 0
// goes to dst[p] as it is (bf16) and becomes 0 in x; rest(e) is called for the others.
template <class F>
__device__ __forceinline__ void take_outliers(float (&x)[8], uint2 ps, bf16* dst, F rest) {
#pragma unroll
    for (int e = 0; e < 8; e++) {
        const int p = byte_at(ps, e);
        if (p >= 0) {
            dst[p] = __float2bfloat16_rn(x[e]), x[e] = 0.0f;
        } else {
            rest(e);
        }
    }
}

// pos[ch] = the slot (0 … NOUT-1) of channel ch in och[0 … NOUT-1] (one head's outlier list), −1 for the
// channels of the INT8 product. Every thread of the block calls it (two barriers); blockDim.x ≥ NOUT.
__device__ __forceinline__ void outlier_slots(int8_t* pos, const int* __restrict__ och) {
    for (int i = threadIdx.x; i < HD; i += blockDim.x) pos[i] = -1;
    __syncthreads();
    if (threadIdx.x < NOUT) pos[och[threadIdx.x]] = (int8_t)threadIdx.x;
    __syncthreads();
}

// ------------------------------------------------------------------------------------------ quantization

// Partial per-channel statistics of one head's valid keys: slice blockIdx.y of gridDim.y contiguous slices,
// kpart [H][S][3][128] (sum, max and min of k) and vpart [H][S][128] (max |v|). 256 threads: 16 chunks of 8
// channels × 16 row lanes.
__device__ __forceinline__ void kv_stats(float* __restrict__ kpart, float* __restrict__ vpart,
                                         const bf16* __restrict__ k, const bf16* __restrict__ v, int lkv,
                                         int k_stride, int v_stride) {
    __shared__ float red[4][16][HD];
    const int h = blockIdx.x, s = blockIdx.y, ns = gridDim.y, tid = threadIdx.x;
    const int ch = (tid & 15) * 8, rl = tid >> 4;
    const int per = (lkv + ns - 1) / ns, r0 = s * per, r1 = min(lkv, r0 + per);
    float sum[8], kmx[8], kmn[8], mx[8];
#pragma unroll
    for (int i = 0; i < 8; i++) sum[i] = 0.0f, kmx[i] = -INFINITY, kmn[i] = INFINITY, mx[i] = 0.0f;
    for (int r = r0 + rl; r < r1; r += 16) {
        float a[8], b[8];
        ld8(k + (long)r * k_stride + h * HD + ch, a);
        ld8(v + (long)r * v_stride + h * HD + ch, b);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            sum[i] += a[i], kmx[i] = fmaxf(kmx[i], a[i]), kmn[i] = fminf(kmn[i], a[i]);
            mx[i] = fmaxf(mx[i], fabsf(b[i]));
        }
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        red[0][rl][ch + i] = sum[i], red[1][rl][ch + i] = kmx[i], red[2][rl][ch + i] = kmn[i];
        red[3][rl][ch + i] = mx[i];
    }
    __syncthreads();
    if (tid < HD) {
        float a = 0.0f, hi = -INFINITY, lo = INFINITY, b = 0.0f;
        for (int i = 0; i < 16; i++) {
            a += red[0][i][tid], hi = fmaxf(hi, red[1][i][tid]), lo = fminf(lo, red[2][i][tid]);
            b = fmaxf(b, red[3][i][tid]);
        }
        float* kp = kpart + ((long)h * ns + s) * 3 * HD + tid;
        kp[0] = a, kp[HD] = hi, kp[2 * HD] = lo;
        vpart[((long)h * ns + s) * HD + tid] = b;
    }
}

// One head's K mean over the valid keys, kmean [H][128], and its outlier channels, och [H][NOUT]: the NOUT
// channels of largest amax|k − mean| = max(max − mean, mean − min), largest first (ties: the lower channel;
// NaN counts as infinite), from kv_stats' S partials. 128 threads, one per channel.
__device__ __forceinline__ void k_outliers(float* __restrict__ kmean, int* __restrict__ och,
                                           const float* __restrict__ kpart, int ns, int lkv) {
    __shared__ float am[HD];
    const int h = blockIdx.x, tid = threadIdx.x;
    float s = 0.0f, hi = -INFINITY, lo = INFINITY;
    for (int i = 0; i < ns; i++) {
        const float* kp = kpart + ((long)h * ns + i) * 3 * HD + tid;
        s += kp[0], hi = fmaxf(hi, kp[HD]), lo = fminf(lo, kp[2 * HD]);
    }
    const float m = s / (float)lkv;
    kmean[(long)h * HD + tid] = m;
    float a = fmaxf(hi - m, m - lo);
    a = a >= 0.0f ? a : INFINITY;
    am[tid] = a;
    __syncthreads();
    int rank = 0;
    for (int j = 0; j < HD; j++) {
        const float b = am[j];
        rank += b > a || (b == a && j < tid);
    }
    if (rank < NOUT) och[(long)h * NOUT + rank] = tid;
}

// Q: one warp per 16-row block; each lane holds 8 chunks (rows lane/16 + 2i, chunk lane%16). The outlier
// channels och[h] go to qo [H][lq][NOUT] as they are (bf16) and count as 0 in q8 and in the block's amax.
__device__ __forceinline__ void quant_q(int8_t* __restrict__ q8, float* __restrict__ qscale, bf16* __restrict__ qo,
                                        const bf16* __restrict__ q, const int* __restrict__ och, int lq, int q_stride) {
    __shared__ __align__(8) int8_t pos[HD];
    const int h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int blk = blockIdx.x * 4 + warp, nqb = (lq + QBLK - 1) / QBLK;
    outlier_slots(pos, och + (long)h * NOUT);
    if (blk >= nqb) return;
    const int c = lane & 15;
    const uint2 ps = *reinterpret_cast<const uint2*>(pos + c * 8);
    float x[8][8];
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int row = blk * QBLK + (lane >> 4) + 2 * i;
        ld8_or_zero(q + (long)row * q_stride + h * HD + c * 8, row < lq, x[i]);
        if (row < lq) take_outliers(x[i], ps, qo + ((long)h * lq + row) * NOUT, [](int) {});
        amax = absmax8(amax, x[i]);
    }
    amax = warp_max(amax);
    const float inv = q_inv(amax, 127.0f);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int row = blk * QBLK + (lane >> 4) + 2 * i;
        if (row < lq) {
            *reinterpret_cast<uint2*>(q8 + ((long)h * lq + row) * HD + c * 8) = q8x8(x[i], inv);
        }
    }
    if (lane == 0) qscale[(long)h * nqb + blk] = q_scale(amax, 127.0f);
}

// K: one 64-key block of one head; 8 warps × 8 rows, each lane 4 chunks (rows warp·8 + lane/16 + 2i). The
// outlier channels och[h] of k go to ko [H][nkb·64][NOUT] as they are (bf16, exact; keys ≥ lkv zero) and count
// as 0 in k8 and in the block's amax. Not k − mean: the mean's part of their product, q·mean, is one constant
// per query row, which softmax ignores, while k − mean rounded to bf16 would cost ≈ 2^-9 of these largest
// channels (0.3–0.5e-2 more relative L2 in the emulation).
__device__ __forceinline__ void quant_k(int8_t* __restrict__ k8, float* __restrict__ kscale, bf16* __restrict__ ko,
                                        const bf16* __restrict__ k, const float* __restrict__ kmean,
                                        const int* __restrict__ och, int lkv, int k_stride) {
    __shared__ float mean[HD];
    __shared__ float wmax[8];
    __shared__ __align__(8) int8_t pos[HD];
    const int blk = blockIdx.x, h = blockIdx.y, nkb = gridDim.x, tid = threadIdx.x;
    const int warp = tid >> 5, lane = tid & 31, c = lane & 15;
    if (tid < HD) mean[tid] = kmean[(long)h * HD + tid];
    outlier_slots(pos, och + (long)h * NOUT);  // its barriers publish mean too
    const uint2 ps = *reinterpret_cast<const uint2*>(pos + c * 8);
    float x[4][8];
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int row = blk * BN + warp * 8 + (lane >> 4) + 2 * i;
        ld8_or_zero(k + (long)row * k_stride + h * HD + c * 8, row < lkv, x[i]);
        // The outliers as they are (exact), the other channels of valid keys minus the mean.
        take_outliers(x[i], ps, ko + (((long)h * nkb + blk) * BN + warp * 8 + (lane >> 4) + 2 * i) * NOUT, [&](int e) {
            if (row < lkv) x[i][e] -= mean[c * 8 + e];
        });
        amax = absmax8(amax, x[i]);
    }
    amax = block_max8(amax, wmax);
    const float inv = q_inv(amax, 127.0f);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int r = warp * 8 + (lane >> 4) + 2 * i;
        *reinterpret_cast<uint2*>(k8 + (((long)h * nkb + blk) * BN + r) * HD + c * 8) = q8x8(x[i], inv);
    }
    if (tid == 0) kscale[(long)h * nkb + blk] = q_scale(amax, 127.0f);
}

// Stages one 64-key block of one head's V as f32 [64][129] (odd pitch: the column reads of the transposed
// writes are conflict-free), keys ≥ lkv as zeros, and returns the largest |v| this thread loaded. 256 threads;
// the caller synchronizes before reading the tile.
__device__ __forceinline__ float load_v_tile(float (*tile)[HD + 1], const bf16* __restrict__ v, int blk, int h, int lkv,
                                             int v_stride) {
    const int tid = threadIdx.x;
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < BN * 16 / 256; i++) {
        const int id = tid + i * 256, r = id >> 4, c = id & 15;
        const int row = blk * BN + r;
        float x[8];
        ld8_or_zero(v + (long)row * v_stride + h * HD + c * 8, row < lkv, x);
#pragma unroll
        for (int e = 0; e < 8; e++) tile[r][c * 8 + e] = x[e], amax = fmaxf(amax, fabsf(x[e]));
    }
    return amax;
}

// Writes the staged V tile (load_v_tile; synchronized) of block blockIdx.x of head blockIdx.y transposed to
// vt8 [H][gridDim.x][128 channels][64 keys], four 16-key chunks per channel row: channel ch's values times
// scale(ch), four consecutive keys packed into a word by pack (the first lowest). 256 threads.
template <class S, class P>
__device__ __forceinline__ void store_vt(void* vt8, const float (*tile)[HD + 1], S scale, P pack) {
    const int blk = blockIdx.x, h = blockIdx.y, nkb = gridDim.x, tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < HD * 4 / 256; i++) {
        const int id = tid + i * 256, ch = id & (HD - 1), part = id >> 7;
        const float s = scale(ch);
        uint32_t w[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int r = part * 16 + j * 4;
            w[j] = pack(tile[r][ch] * s, tile[r + 1][ch] * s, tile[r + 2][ch] * s, tile[r + 3][ch] * s);
        }
        *reinterpret_cast<uint4*>(static_cast<uint8_t*>(vt8) + (((long)h * nkb + blk) * HD + ch) * BN + part * 16) =
            make_uint4(w[0], w[1], w[2], w[3]);
    }
}

// Writes the staged V tile (load_v_tile; synchronized) of block blockIdx.x of head blockIdx.y for the Hopper
// INT8 P·V kernel (kernels/sm90a/attention8.cu): vt8 [H][gridDim.x / 2][128 channels][128 keys], one 128-byte
// row per channel and 128-key tile (what one TMA box in the 128-byte swizzle loads; block b fills half b % 2 of
// tile b / 2), channel ch's values times scale(ch) as int8. The keys of each 32-key group are in the order of
// the wgmma A fragment the kernel packs P into straight from its Q·Kᵀ accumulators: position p holds key
// 16·(p / 16) + 8·((p / 2) % 2) + 2·((p / 4) % 4) + p % 2. 256 threads: (channel, 32-key group).
template <class S>
__device__ __forceinline__ void store_vt_hopper(void* vt8, const float (*tile)[HD + 1], S scale) {
    const int blk = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    const int ch = tid & (HD - 1), grp = tid >> 7;
    const float s = scale(ch);
    uint32_t w[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        float x[4];
#pragma unroll
        for (int e = 0; e < 4; e++) x[e] = tile[grp * 32 + 16 * (j >> 2) + 8 * (e >> 1) + 2 * (j & 3) + (e & 1)][ch] * s;
        w[j] = q_s8x4(x[0], x[1], x[2], x[3]);
    }
    uint4* dst = reinterpret_cast<uint4*>(static_cast<uint8_t*>(vt8) +
                                          (((long)h * (gridDim.x / 2) + blk / 2) * HD + ch) * 128 + (blk & 1) * 64 + grp * 32);
    dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
    dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
}

// V: one 64-key block of one head (load_v_tile), int8 with one scale per (head, channel), written transposed:
// for the mma.sync kernels 128 channel rows × four 16-key chunks (store_vt); HOPPER: store_vt_hopper's layout.
template <bool HOPPER>
__device__ __forceinline__ void quant_v(int8_t* __restrict__ vt8, float* __restrict__ vscale, const bf16* __restrict__ v,
                                        const float* __restrict__ vpart, int ns, int lkv, int v_stride) {
    __shared__ float tile[BN][HD + 1];
    __shared__ float inv[HD];
    const int blk = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    if (tid < HD) {
        float m = 0.0f;
        for (int i = 0; i < ns; i++) m = fmaxf(m, vpart[((long)h * ns + i) * HD + tid]);
        inv[tid] = q_inv(m, 127.0f);
        if (blk == 0) vscale[(long)h * HD + tid] = q_scale(m, 127.0f);
    }
    load_v_tile(tile, v, blk, h, lkv, v_stride);
    __syncthreads();
    if constexpr (HOPPER) {
        store_vt_hopper(vt8, tile, [&](int ch) { return inv[ch]; });
    } else {
        store_vt(vt8, tile, [&](int ch) { return inv[ch]; }, q_s8x4);
    }
}

// ------------------------------------------------------------------------------------------ attention

// P·V policies of attn8_fwd. Each supplies:
//   FP8        false: P·V accumulates in s32 per pair of channel tiles, converted and added into O (INT8);
//              true: the MMA accumulates in f32 straight into O (its V scale, one per (head, 64-key tile),
//              vscale [H][nkb], folds into O's unit), mma is c += a·b m16n8k32 with f32 c.
//   LOG2_PMAX  log2 of the value the tile's largest p maps to: p̂ = 2^LOG2_PMAX · exp2(s − m_tile).
//   pscale(x)  from x = m_tile − m_run: the tile's largest p in units of the running max (INT8), or that
//              over 2^LOG2_PMAX (FP8).
//   unit(ps, vtile, lunit)  O's unit for the tile from pscale's ps (vtile: the tile's V scale, FP8 only),
//              and in lunit the unit of the row sum's terms.
//   quant(p, rs)  p as it is packed, its part of the row sum added to rs.
//   pack4(x0, x1, x2, x3)  four quant results → four bytes of an A fragment register, x0 lowest.
// PVInt8 (this file): P̂ u8 in [0, 255] rounded by the 1.5·2^23 trick (the row sum adds the rounded p̂, in O's
// unit), V int8 with one scale per (head, channel), mma u8·s8 → s32. PVFp8 (kernels/sm89/attention8.cu): P̂ e4m3.
struct PVInt8 {
    static constexpr bool FP8 = false;
    static constexpr float LOG2_PMAX = LOG2_255;
    static __device__ __forceinline__ float pscale(float x) { return fast_exp2(x); }
    static __device__ __forceinline__ float unit(float pmax, float, float& lunit) {
        lunit = pmax * (1.0f / 255.0f);
        return lunit;
    }
    static __device__ __forceinline__ float quant(float p, float& rs) {
        const float fr = p + ROUND_MAGIC;
        rs += fr - ROUND_MAGIC;
        return fr;
    }
    static __device__ __forceinline__ uint32_t pack4(float x0, float x1, float x2, float x3) {
        return pack_bytes(__float_as_uint(x0), __float_as_uint(x1), __float_as_uint(x2), __float_as_uint(x3));
    }
};

// One ldmatrix x4 at addr gives the B fragments of two n8 tiles, (b0, b1) and (b2, b3); for each of the MT
// m-tiles, MMA(c[mt][n], a(mt), b0, b1) and MMA(c[mt][n + 1], a(mt), b2, b3).
template <auto MMA, int MT, int N, class C, class A>
__device__ __forceinline__ void mma_x4(uint32_t addr, C (&c)[MT][N][4], int n, A a) {
    uint32_t b0, b1, b2, b3;
    ldsm_x4(addr, b0, b1, b2, b3);
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        MMA(c[mt][n], a(mt), b0, b1);
        MMA(c[mt][n + 1], a(mt), b2, b3);
    }
}

// One CTA: BM = 16·MT·WARPS query rows of head blockIdx.y. MT = 1 keeps the warp's Q fragments in registers;
// MT = 2 gives each warp 32 rows (every K/V fragment feeds two MMAs) and re-reads Q fragments from shared
// memory, as in attention.cu.
template <class PV, class OUT, int WARPS, int MT, int STAGES>
__device__ __forceinline__ void attn8_fwd(typename OUT::T* __restrict__ out, const int8_t* __restrict__ q8,
                                          const int8_t* __restrict__ k8, const int8_t* __restrict__ vt8,
                                          const bf16* __restrict__ qo, const bf16* __restrict__ ko,
                                          const float* __restrict__ qscale, const float* __restrict__ kscale,
                                          const float* __restrict__ vscale, int lq, int lkv, int o_stride, float sl2) {
    typedef typename OUT::T T;
    constexpr int WM = 16 * MT, BM = WM * WARPS, NTHREADS = 32 * WARPS;
    constexpr bool QREG = MT == 1;
    static_assert(MT == 1 || MT == 2, "one or two m16 tiles per warp");
    static_assert(STAGES >= 2, "at least double buffering");

    extern __shared__ __align__(128) uint8_t smem[];
    const uint32_t sbase = shared_addr(smem);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int m0 = blockIdx.x * BM, h = blockIdx.y;
    const int ntiles = (lkv + BN - 1) / BN, nqb = (lq + QBLK - 1) / QBLK;
    q8 += (long)h * lq * HD;
    qo += (long)h * lq * NOUT;
    ko += (long)h * ntiles * BN * NOUT;
    k8 += (long)h * ntiles * KT_BYTES;
    vt8 += (long)h * ntiles * VT_BYTES;
    kscale += (long)h * ntiles;
    out += (long)h * HD;

    auto stage_addr = [&](int t) { return sbase + (uint32_t)((t % STAGES) * STAGE_BYTES); };
    auto load_tile = [&](int t) {
        if (t < ntiles) {
            const uint32_t st = stage_addr(t);
            const int8_t* ks = k8 + (long)t * KT_BYTES;
            const int8_t* vs = vt8 + (long)t * VT_BYTES;
            const uint8_t* os = reinterpret_cast<const uint8_t*>(ko) + (long)t * KO_BYTES;
#pragma unroll
            for (int i = 0; i < KT_BYTES / 16 / NTHREADS; i++) {
                const int id = tid + i * NTHREADS;
                cp_async16(st + swk(id >> 3, id & 7), ks + id * 16, 16);
            }
#pragma unroll
            for (int i = 0; i < VT_BYTES / 16 / NTHREADS; i++) {
                const int id = tid + i * NTHREADS;
                cp_async16(st + KT_BYTES + swv(id >> 2, id & 3), vs + id * 16, 16);
            }
#pragma unroll
            for (int i = 0; i < (KO_BYTES / 16 + NTHREADS - 1) / NTHREADS; i++) {
                const int id = tid + i * NTHREADS;
                if (KO_BYTES / 16 % NTHREADS == 0 || id < KO_BYTES / 16)
                    cp_async16(st + KT_BYTES + VT_BYTES + swo(id >> 1, id & 1), os + id * 16, 16);
            }
        }
        cp_async_commit();
    };

    // Prologue: Q (its own region after the ring) with tile 0, then tiles 1 … STAGES-2.
    const uint32_t sq = sbase + STAGES * STAGE_BYTES;
#pragma unroll
    for (int i = 0; i < BM * 8 / NTHREADS; i++) {
        const int id = tid + i * NTHREADS, r = id >> 3, c = id & 7;
        const bool ok = m0 + r < lq;
        cp_async16(sq + swq(r, c), ok ? q8 + (long)(m0 + r) * HD + c * 16 : q8, ok ? 16 : 0);
    }
    load_tile(0);
#pragma unroll
    for (int s = 1; s < STAGES - 1; s++) load_tile(s);
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    uint32_t qf[QREG ? HD / 32 : 1][4];
    if constexpr (QREG) {
#pragma unroll
        for (int kk = 0; kk < HD / 32; kk++)
            ldsm_x4(sq + swq(warp * 16 + (lane & 15), kk * 2 + (lane >> 4)), qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3]);
    }
    float qsc[MT];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        const int b = (m0 + warp * WM + mt * 16) / QBLK;
        qsc[mt] = b < nqb ? qscale[(long)h * nqb + b] : 1.0f;
    }
    // Q's outlier channels: one bf16 m16n8k16 A fragment per m-tile (rows g, g+8; channels 2t, 2t+1 and
    // 2t+8, 2t+9 of the NOUT), straight from global memory; rows ≥ lq zero.
    uint32_t qof[MT][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        const int r0 = m0 + warp * WM + mt * 16 + (lane >> 2), cc = (lane & 3) * 2;
#pragma unroll
        for (int x = 0; x < 4; x++) {
            const int row = r0 + (x & 1) * 8;
            qof[mt][x] = row < lq ? __ldg(reinterpret_cast<const unsigned int*>(qo + (long)row * NOUT + cc + (x >> 1) * 8)) : 0u;
        }
    }

    float o[MT][HD / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int i = 0; i < HD / 8; i++) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.0f;
    // Per row (g, g+8 of each m16 tile): running max (log2 domain), this thread's part of the sum of p (in
    // true units), and the unit u of O.
    float mrow[MT][2], lrow[MT][2], unit[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) mrow[mt][r] = -INFINITY, lrow[mt][r] = 0.0f, unit[mt][r] = 1.0f;

    // ldmatrix row addresses. K (B of Q·Kᵀ): an x4 gives (n-tile 2np, channels +0), (2np, +16), (2np+1, +0),
    // (2np+1, +16); n-tile 2np+hh, column j ↔ key np·16 + 4·(j/2) + 2·hh + j%2. Vᵀ (B of P·V): (channels
    // +0…7, keys +0), (+0…7, keys +16), (+8…15, +0), (+8…15, +16) of a 32-key step.
    const int k_row = 4 * ((lane & 7) >> 1) + 2 * (lane >> 4) + (lane & 1), k_chunk = (lane >> 3) & 1;
    const int v_row = (lane & 7) + ((lane >> 4) << 3), v_chunk = (lane >> 3) & 1;

    // Scores of one tile, t = s32 · qscale · kscale + Qo·Koᵀ: the dequantized INT8 product plus the outlier
    // channels' bf16 product (f32 accumulate), in the units of q·k (× sl2: log2 domain).
    auto qk = [&](float (&t)[MT][BN / 8][4], uint32_t sk, float ksc) {
        int s[MT][BN / 8][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int i = 0; i < BN / 8; i++) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0;
#pragma unroll
        for (int kk = 0; kk < HD / 32; kk++) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                if constexpr (QREG) {
                    a[mt][0] = qf[kk][0], a[mt][1] = qf[kk][1], a[mt][2] = qf[kk][2], a[mt][3] = qf[kk][3];
                } else {
                    ldsm_x4(sq + swq(warp * WM + mt * 16 + (lane & 15), kk * 2 + (lane >> 4)), a[mt][0], a[mt][1],
                            a[mt][2], a[mt][3]);
                }
            }
#pragma unroll
            for (int np = 0; np < BN / 16; np++)
                mma_x4<mma_s8s8>(sk + swk(np * 16 + k_row, kk * 2 + k_chunk), s, 2 * np, [&](int mt) { return a[mt]; });
        }
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            const float sc = qsc[mt] * ksc;
#pragma unroll
            for (int i = 0; i < BN / 8; i++)
#pragma unroll
                for (int e = 0; e < 4; e++) t[mt][i][e] = (float)s[mt][i][e] * sc;
        }
        // The outlier tile's B fragments through the same permuted key rows as K's (k_chunk: channels 0–7 or
        // 8–15 of the 16).
#pragma unroll
        for (int np = 0; np < BN / 16; np++)
            mma_x4<mma16816>(sk + KT_BYTES + VT_BYTES + swo(np * 16 + k_row, k_chunk), t, 2 * np,
                             [&](int mt) { return qof[mt]; });
    };

    // Masks the scores of keys ≥ lkv to −∞ (mask: the tile is partial; exp2 of them is exactly 0) and
    // returns this thread's max of rows g, g+8.
    // Accumulator (i, e) is row g (+8 for e ≥ 2), key j·64 + 16·(i/2) + 4·(lane%4) + 2·(i%2) + (e&1).
    auto mask_max = [&](float (&s)[BN / 8][4], int j, bool mask, float (&mx)[2]) {
        if (mask) {
#pragma unroll
            for (int i = 0; i < BN / 8; i++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    if (j * BN + (i >> 1) * 16 + (lane & 3) * 4 + (i & 1) * 2 + (e & 1) >= lkv) s[i][e] = -INFINITY;
        }
        mx[0] = mx[1] = -INFINITY;
#pragma unroll
        for (int i = 0; i < BN / 8; i++) {
            mx[0] = fmaxf(mx[0], fmaxf(s[i][0], s[i][1]));
            mx[1] = fmaxf(mx[1], fmaxf(s[i][2], s[i][3]));
        }
    };

    // Raises row r of m-tile mt's running max to the tile's max (mx: this thread's, scaled by sl2 to the log2
    // domain; sl2 > 0); returns the tile's quantization max mq (at least the new running max − TILE_FLOOR) and
    // sets alpha to the rescale of the old max.
    auto raise_max = [&](int mt, int r, float& mx, float& alpha) {
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mtile = mx * sl2;
        const float mnew = fmaxf(mrow[mt][r], mtile);
        const float mq = fmaxf(mtile, mnew - TILE_FLOOR);
        alpha = fast_exp2(mrow[mt][r] - mnew);
        mrow[mt][r] = mnew;
        return mq;
    };

    // Online softmax: P̂ = 2^LOG2_PMAX · exp2(s − m_tile), quantized by PV::quant and packed by PV::pack4 in
    // A-fragment order; beta is the O update factor of each row, β = u_old·α/u_new, which folds the rescaling
    // α and the change of O's unit (PV::unit; FP8: vtile, the tile's V scale, is part of it) into one factor.
    // Accumulator (i, e) is row g (+8 for e ≥ 2), key j·64 + 16·(i/2) + 4·(lane%4) + 2·(i%2) + (e&1).
    auto softmax = [&](float (&s)[MT][BN / 8][4], uint32_t (&pf)[MT][BN / 32][4], float (&beta)[MT][2], float vtile,
                       int j, bool mask) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            float mx[2];
            mask_max(s[mt], j, mask, mx);
            float off[2], alpha[2], lunit[2];
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const float mq = raise_max(mt, r, mx[r], alpha[r]);
                const float ps = PV::pscale(mq - mrow[mt][r]);
                off[r] = PV::LOG2_PMAX - mq;
                const float unew = PV::unit(ps, vtile, lunit[r]);
                beta[mt][r] = unit[mt][r] * alpha[r] * __fdividef(1.0f, unew);
                unit[mt][r] = unew;
            }
            float rs[2] = {0.0f, 0.0f};
            float p[BN / 8][4];
#pragma unroll
            for (int i = 0; i < BN / 8; i++)
#pragma unroll
                for (int e = 0; e < 4; e++) p[i][e] = PV::quant(fast_exp2(fmaf(s[mt][i][e], sl2, off[e >> 1])), rs[e >> 1]);
#pragma unroll
            for (int kk = 0; kk < BN / 32; kk++) {
                const int i = kk * 4;
                pf[mt][kk][0] = PV::pack4(p[i][0], p[i][1], p[i + 1][0], p[i + 1][1]);
                pf[mt][kk][1] = PV::pack4(p[i][2], p[i][3], p[i + 1][2], p[i + 1][3]);
                pf[mt][kk][2] = PV::pack4(p[i + 2][0], p[i + 2][1], p[i + 3][0], p[i + 3][1]);
                pf[mt][kk][3] = PV::pack4(p[i + 2][2], p[i + 2][3], p[i + 3][2], p[i + 3][3]);
            }
#pragma unroll
            for (int r = 0; r < 2; r++) lrow[mt][r] = fmaf(lrow[mt][r], alpha[r], rs[r] * lunit[r]);
        }
    };

    // O = O·β + P̂ V̂. INT8: one pair of n8 channel tiles at a time in s32 (the partial lives for two k32
    // steps), converted and added into O by one FMA per element. FP8: O·β first, then the f32 MMA accumulates
    // straight into O.
    auto pv = [&](const uint32_t (&pf)[MT][BN / 32][4], const float (&beta)[MT][2], uint32_t sv) {
        if constexpr (PV::FP8) {
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int i = 0; i < HD / 8; i++)
#pragma unroll
                    for (int e = 0; e < 4; e++) o[mt][i][e] *= beta[mt][e >> 1];
#pragma unroll
            for (int np = 0; np < HD / 16; np++)
#pragma unroll
                for (int kk = 0; kk < BN / 32; kk++)
                    mma_x4<PV::mma>(sv + swv(np * 16 + v_row, kk * 2 + v_chunk), o, 2 * np,
                                    [&](int mt) { return pf[mt][kk]; });
        } else {
#pragma unroll
            for (int np = 0; np < HD / 16; np++) {
                int acc[MT][2][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int t = 0; t < 2; t++) acc[mt][t][0] = acc[mt][t][1] = acc[mt][t][2] = acc[mt][t][3] = 0;
#pragma unroll
                for (int kk = 0; kk < BN / 32; kk++)
                    mma_x4<mma_u8s8>(sv + swv(np * 16 + v_row, kk * 2 + v_chunk), acc, 0, [&](int mt) { return pf[mt][kk]; });
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int t = 0; t < 2; t++)
#pragma unroll
                        for (int e = 0; e < 4; e++)
                            o[mt][2 * np + t][e] = fmaf(o[mt][2 * np + t][e], beta[mt][e >> 1], (float)acc[mt][t][e]);
            }
        }
    };

    // One barrier per tile, as attention.cu; the last tile, the only one that can be partial, is peeled off.
    auto step = [&](int j, bool mask) {
        const float ksc = kscale[j];
        float vtile = 1.0f;
        if constexpr (PV::FP8) vtile = vscale[(long)h * ntiles + j];
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        load_tile(j + STAGES - 1);
        float s[MT][BN / 8][4];
        uint32_t pf[MT][BN / 32][4];
        float beta[MT][2];
        qk(s, stage_addr(j), ksc);
        softmax(s, pf, beta, vtile, j, mask);
        pv(pf, beta, stage_addr(j) + KT_BYTES);
    };
    for (int j = 0; j < ntiles - 1; j++) step(j, false);
    if (ntiles > 0) step(ntiles - 1, ntiles * BN > lkv);
    cp_async_wait<0>();
    __syncthreads();  // all warps are done with the ring and Q; they become the epilogue's staging memory

    constexpr int PITCH = (64 + 8) * (int)sizeof(T);
    constexpr int CPR = 64 * (int)sizeof(T) / 16;
    static_assert(WARPS * WM * PITCH <= STAGES * STAGE_BYTES + BM * HD, "staging fits");
    uint8_t* stage = smem + warp * WM * PITCH;
    const int g = lane >> 2, cq = (lane & 3) * 2;
    const float* vsc = vscale + (long)h * HD;
    float inv[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float l = lrow[mt][r];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            inv[mt][r] = l > 0.0f ? unit[mt][r] / l : 0.0f;
        }
#pragma unroll
    for (int half = 0; half < 2; half++) {
#pragma unroll
        for (int i = 0; i < 8; i++) {
            // FP8: the V scales are in O's unit already.
            float2 vs = make_float2(1.0f, 1.0f);
            if constexpr (!PV::FP8) vs = *reinterpret_cast<const float2*>(vsc + half * 64 + i * 8 + cq);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                const float* acc = o[mt][half * 8 + i];
                uint8_t* p = stage + (mt * 16 + g) * PITCH + (i * 8 + cq) * sizeof(T);
                st_pair<T>(p, acc[0] * inv[mt][0] * vs.x, acc[1] * inv[mt][0] * vs.y);
                st_pair<T>(p + 8 * PITCH, acc[2] * inv[mt][1] * vs.x, acc[3] * inv[mt][1] * vs.y);
            }
        }
        __syncwarp();
#pragma unroll
        for (int i = 0; i < WM * CPR / 32; i++) {
            const int id = lane + i * 32, r = id / CPR, c = id % CPR;
            const int row = m0 + warp * WM + r;
            if (row < lq) {
                const uint4 val = *reinterpret_cast<const uint4*>(stage + r * PITCH + c * 16);
                *reinterpret_cast<uint4*>(reinterpret_cast<uint8_t*>(out + (long)row * o_stride + half * 64) + c * 16) = val;
            }
        }
        __syncwarp();
    }
}

}  // namespace

// The attention entry points of a module, prefix_b<BM>_w<WARPS>_s<STAGES>_<out> (out = bf16 or f32), with P·V
// policy PV; their arguments, grid, threads and dynamic shared memory (STAGES·18 KiB + BM·128 bytes) are
// described at the end of kernels/attention8.cu. Every tiling fits the 99 KiB per block of the consumer cards.
#define ATTN8_ENTRY(name, PV, OUT, WARPS, MT, STAGES, MINB)                                                       \
    extern "C" __global__ void __launch_bounds__(32 * WARPS, MINB)                                                 \
        name(OUT::T* out, const int8_t* q8, const int8_t* k8, const int8_t* vt8, const bf16* qo, const bf16* ko,   \
             const float* qscale, const float* kscale, const float* vscale, int lq, int lkv, int o_stride,         \
             float sl2) {                                                                                          \
        attn8_fwd<PV, OUT, WARPS, MT, STAGES>(out, q8, k8, vt8, qo, ko, qscale, kscale, vscale, lq, lkv, o_stride, \
                                              sl2);                                                                \
    }
#define ATTN8_ENTRIES(prefix, PV)                                   \
    ATTN8_ENTRY(prefix##_b128_w8_s3_bf16, PV, BF16, 8, 1, 3, 1)     \
    ATTN8_ENTRY(prefix##_b128_w8_s3_f32, PV, F32, 8, 1, 3, 1)       \
    ATTN8_ENTRY(prefix##_b128_w4_s3_bf16, PV, BF16, 4, 2, 3, 2)     \
    ATTN8_ENTRY(prefix##_b128_w4_s3_f32, PV, F32, 4, 2, 3, 2)       \
    ATTN8_ENTRY(prefix##_b256_w8_s3_bf16, PV, BF16, 8, 2, 3, 1)     \
    ATTN8_ENTRY(prefix##_b256_w8_s3_f32, PV, F32, 8, 2, 3, 1)
