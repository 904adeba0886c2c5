// Flash attention (forward, non-causal) for head_dim 128: out = softmax(scale · Q Kᵀ) V per head, keys
// limited to the first lkv rows.
//
// Layout (the natural output of the q/k/v Linear layers): q [lq, H·128], k and v [≥lkv, H·128], out
// [lq, H·128], all row-major with heads interleaved per token; head h owns columns h·128 … h·128+127 of every
// tensor. Row strides (in elements) are arguments, so q, k and v may be column slices of one fused qkv
// buffer. q, k, v are bf16; out is bf16 or f32 (attn_*_bf16 / attn_*_f32). Accumulation and the softmax
// are f32; P is rounded to bf16 for the second product, as in FlashAttention-2.
//
// Algorithm (FlashAttention-2): a CTA owns BM query rows of one head (grid: x = q tiles, y = heads) and
// walks the keys in tiles of 64. Each warp owns 16 or 32 query rows (MT = 1 or 2 m16 tiles): with 16 its Q
// fragments stay in registers for the whole kernel; with 32 every K/V fragment feeds two MMAs and the Q
// fragments are re-read from shared memory. Per key tile: S = Q Kᵀ (mma.sync m16n8k16, fragments by
// ldmatrix), online softmax with exp2 (the scale is folded into log2(e)·scale), then O += P V with P taken
// straight from the S accumulators (the C layout of two n8 tiles is the A layout of one k16 step) and V
// fragments by ldmatrix.trans. K and V tiles stream through a STAGES-deep cp.async ring with one barrier
// per tile. Measurements: bench/attention/README.md.
//
// Shared memory rows are 256 bytes (sixteen 16-byte chunks); chunk c of row r sits at c ^ (r & 7), so the
// cp.async stores and both ldmatrix forms are free of bank conflicts.
//
// Masking and tails: key rows ≥ lkv are zero-filled by cp.async (never read from memory: whatever lies
// there, NaN included, cannot leak) and their scores set to −∞; query rows ≥ lq are zero-filled and not
// stored. Any lq ≥ 1, lkv ≥ 0 works (lkv = 0 writes zeros).
//
// Requirements (checked by the launcher): q, k, v, out 16-byte aligned; q/k/v strides multiples of 8
// elements, the out stride a multiple of 8 (bf16) or 4 (f32) elements; blockDim.x = 32·WARPS; the dynamic
// shared memory of the entry point (see the table at the end) allowed for the kernel (cuFuncSetAttribute,
// above the 48 KiB default).
#include "common.cuh"
#include "mma.cuh"

namespace {

constexpr int HD = 128;                      // head dim
constexpr int BN = 64;                       // keys per tile
constexpr int ROW_BYTES = HD * 2;            // one bf16 row of a head: 256 bytes, 16 chunks
constexpr int TILE_BYTES = BN * ROW_BYTES;   // 16 KiB
constexpr int STAGE_BYTES = 2 * TILE_BYTES;  // K tile then V tile
constexpr float LOG2E = 1.4426950408889634f;

// Byte offset of (row r, 16-byte chunk c) inside a tile of 256-byte rows.
__device__ __forceinline__ uint32_t swz(int r, int c) { return (uint32_t)(r * ROW_BYTES + ((c ^ (r & 7)) << 4)); }

// Copies rows [row0, row0+ROWS) of one head (128 bf16 each) into a swizzled tile; rows ≥ nvalid are zeroed.
template <int ROWS, int NTHREADS>
__device__ __forceinline__ void load_rows(uint32_t dst, const bf16* __restrict__ src, int stride, int row0,
                                          int nvalid, int tid) {
    static_assert((ROWS * 16) % NTHREADS == 0, "whole chunks per thread");
#pragma unroll
    for (int i = 0; i < ROWS * 16 / NTHREADS; i++) {
        const int id = tid + i * NTHREADS, r = id >> 4, c = id & 15;
        const bool ok = row0 + r < nvalid;
        const bf16* p = ok ? src + (long)(row0 + r) * stride + c * 8 : src;
        cp_async16(dst + swz(r, c), p, ok ? 16 : 0);
    }
}

// One CTA: BM = 16·MT·WARPS query rows of head blockIdx.y. MT = 1 keeps the warp's Q fragments in registers
// (Q is staged through the last ring stage); MT = 2 gives each warp 32 rows, so every K/V fragment feeds two
// MMAs (half the shared-memory traffic per MMA), and reads Q fragments from a dedicated shared-memory tile.
template <class OUT, int WARPS, int MT, int STAGES>
__device__ __forceinline__ void attn_fwd(typename OUT::T* __restrict__ out, const bf16* __restrict__ q,
                                         const bf16* __restrict__ k, const bf16* __restrict__ v, int lq, int lkv,
                                         int q_stride, int k_stride, int v_stride, int o_stride, float scale) {
    typedef typename OUT::T T;
    constexpr int WM = 16 * MT, BM = WM * WARPS, NTHREADS = 32 * WARPS;
    constexpr bool QREG = MT == 1;
    static_assert(MT == 1 || MT == 2, "one or two m16 tiles per warp");
    static_assert(STAGES >= 2, "at least double buffering");
    static_assert(!QREG || BM * ROW_BYTES <= STAGE_BYTES, "Q fits in one stage");

    extern __shared__ __align__(128) uint8_t smem[];
    const uint32_t sbase = shared_addr(smem);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int m0 = blockIdx.x * BM;
    const long hoff = (long)blockIdx.y * HD;
    q += hoff;
    k += hoff;
    v += hoff;
    out += hoff;
    const int ntiles = (lkv + BN - 1) / BN;
    const float sl2 = scale * LOG2E;

    auto stage_addr = [&](int t) { return sbase + (uint32_t)((t % STAGES) * STAGE_BYTES); };
    auto load_tile = [&](int t) {
        if (t < ntiles) {
            const uint32_t st = stage_addr(t);
            load_rows<BN, NTHREADS>(st, k, k_stride, t * BN, lkv, tid);
            load_rows<BN, NTHREADS>(st + TILE_BYTES, v, v_stride, t * BN, lkv, tid);
        }
        cp_async_commit();
    };

    // Prologue: Q with tile 0, then tiles 1 … STAGES-2.
    const uint32_t sq = QREG ? sbase + (STAGES - 1) * STAGE_BYTES : sbase + STAGES * STAGE_BYTES;
    load_rows<BM, NTHREADS>(sq, q, q_stride, m0, lq, tid);
    load_tile(0);
#pragma unroll
    for (int s = 1; s < STAGES - 1; s++) load_tile(s);
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    uint32_t qf[QREG ? HD / 16 : 1][4];
    if constexpr (QREG) {
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++)
            ldsm_x4(sq + swz(warp * 16 + (lane & 15), kk * 2 + (lane >> 4)), qf[kk][0], qf[kk][1], qf[kk][2],
                    qf[kk][3]);
        // The next barrier (top of the loop) orders these reads before tile STAGES-1 refills the Q memory.
    }

    float o[MT][HD / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int i = 0; i < HD / 8; i++) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.0f;
    float mrow[MT][2], lrow[MT][2];  // running max of scale·log2(e)·s and this thread's part of the sum of p
#pragma unroll
    for (int mt = 0; mt < MT; mt++) mrow[mt][0] = mrow[mt][1] = -INFINITY, lrow[mt][0] = lrow[mt][1] = 0.0f;

    // Per-lane parts of the ldmatrix row addresses (see the fragment layouts below).
    const int k_row = (lane & 7) + ((lane >> 4) << 3), k_chunk = (lane >> 3) & 1;
    const int v_row = (lane & 7) + (((lane >> 3) & 1) << 3), v_chunk = lane >> 4;

    // S = Q Kᵀ: WM rows × 64 keys per warp. An x4 ldmatrix gives the B fragments (k16 × n8) of two key groups
    // of 8: matrices (keys +0, dims +0), (keys +0, dims +8), (keys +8, dims +0), (keys +8, dims +8).
    auto qk = [&](float (&s)[MT][BN / 8][4], uint32_t sk) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int i = 0; i < BN / 8; i++) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                if constexpr (QREG) {
                    a[mt][0] = qf[kk][0], a[mt][1] = qf[kk][1], a[mt][2] = qf[kk][2], a[mt][3] = qf[kk][3];
                } else {
                    ldsm_x4(sq + swz(warp * WM + mt * 16 + (lane & 15), kk * 2 + (lane >> 4)), a[mt][0], a[mt][1],
                            a[mt][2], a[mt][3]);
                }
            }
#pragma unroll
            for (int np = 0; np < BN / 16; np++) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4(sk + swz(np * 16 + k_row, kk * 2 + k_chunk), b0, b1, b2, b3);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma16816(s[mt][2 * np], a[mt], b0, b1);
                    mma16816(s[mt][2 * np + 1], a[mt], b2, b3);
                }
            }
        }
    };

    // Online softmax in the log2 domain; P (bf16) lands in A-fragment order. Keys ≥ lkv (only in the last
    // tile: mask) get −∞. Accumulator (i, e) is row g (+8 for e ≥ 2), key j·64 + 8i + 2·(lane%4) + (e&1).
    // Every processed tile has a valid key, so the new max is finite and alpha is 0 on the first tile.
    auto softmax = [&](float (&s)[MT][BN / 8][4], uint32_t (&pf)[MT][BN / 16][4], int j, bool mask) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            if (mask) {
#pragma unroll
                for (int i = 0; i < BN / 8; i++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        if (j * BN + i * 8 + (lane & 3) * 2 + (e & 1) >= lkv) s[mt][i][e] = -INFINITY;
            }
            float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int i = 0; i < BN / 8; i++) {
                mx[0] = fmaxf(mx[0], fmaxf(s[mt][i][0], s[mt][i][1]));
                mx[1] = fmaxf(mx[1], fmaxf(s[mt][i][2], s[mt][i][3]));
            }
            float alpha[2], mneg[2];
#pragma unroll
            for (int r = 0; r < 2; r++) {
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
                const float mnew = fmaxf(mrow[mt][r], mx[r] * sl2);
                alpha[r] = fast_exp2(mrow[mt][r] - mnew);
                mrow[mt][r] = mnew;
                mneg[r] = -mnew;
            }
            float rs[2] = {0.0f, 0.0f};
#pragma unroll
            for (int i = 0; i < BN / 8; i++) {
                const float p0 = fast_exp2(fmaf(s[mt][i][0], sl2, mneg[0]));
                const float p1 = fast_exp2(fmaf(s[mt][i][1], sl2, mneg[0]));
                const float p2 = fast_exp2(fmaf(s[mt][i][2], sl2, mneg[1]));
                const float p3 = fast_exp2(fmaf(s[mt][i][3], sl2, mneg[1]));
                rs[0] += p0 + p1;
                rs[1] += p2 + p3;
                // A fragment of k-step i/2: regs 0,1 from n-tile 2·(i/2), regs 2,3 from n-tile 2·(i/2)+1.
                pf[mt][i / 2][(i & 1) * 2 + 0] = pack_bf16(p0, p1);
                pf[mt][i / 2][(i & 1) * 2 + 1] = pack_bf16(p2, p3);
            }
            lrow[mt][0] = fmaf(lrow[mt][0], alpha[0], rs[0]);
            lrow[mt][1] = fmaf(lrow[mt][1], alpha[1], rs[1]);
#pragma unroll
            for (int i = 0; i < HD / 8; i++) {
                o[mt][i][0] *= alpha[0];
                o[mt][i][1] *= alpha[0];
                o[mt][i][2] *= alpha[1];
                o[mt][i][3] *= alpha[1];
            }
        }
    };

    // O += P V: an x4 ldmatrix.trans gives the B fragments (k16 keys × n8 dims) of two dim groups of 8:
    // matrices (keys +0, dims +0), (keys +8, dims +0), (keys +0, dims +8), (keys +8, dims +8).
    auto pv = [&](const uint32_t (&pf)[MT][BN / 16][4], uint32_t sv) {
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
#pragma unroll
            for (int np = 0; np < HD / 16; np++) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(sv + swz(kk * 16 + v_row, np * 2 + v_chunk), b0, b1, b2, b3);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma16816(o[mt][2 * np], pf[mt][kk], b0, b1);
                    mma16816(o[mt][2 * np + 1], pf[mt][kk], b2, b3);
                }
            }
        }
    };

    // One barrier per tile: tile j is visible to all and every warp is done with tile j-1, whose stage
    // refills now. The last tile, the only one that can be partial, is peeled off the loop.
    auto step = [&](int j, bool mask) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        load_tile(j + STAGES - 1);
        float s[MT][BN / 8][4];
        uint32_t pf[MT][BN / 16][4];
        qk(s, stage_addr(j));
        softmax(s, pf, j, mask);
        pv(pf, stage_addr(j) + TILE_BYTES);
    };
    for (int j = 0; j < ntiles - 1; j++) step(j, false);
    if (ntiles > 0) step(ntiles - 1, ntiles * BN > lkv);
    cp_async_wait<0>();
    __syncthreads();  // all warps are done with the ring (and Q); it becomes the epilogue's staging memory

    // Epilogue: each warp stages its WM×128 block in two halves of 64 columns through its own shared-memory
    // slice (rows padded by 8 elements: conflict-free pair stores), then writes 16-byte chunks.
    constexpr int PITCH = (64 + 8) * (int)sizeof(T);  // bytes per staged row
    constexpr int CPR = 64 * (int)sizeof(T) / 16;     // 16-byte chunks per half row
    static_assert(WARPS * WM * PITCH <= STAGES * STAGE_BYTES + (QREG ? 0 : BM * ROW_BYTES), "staging fits");
    uint8_t* stage = smem + warp * WM * PITCH;
    const int g = lane >> 2, cq = (lane & 3) * 2;
    float inv[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float l = lrow[mt][r];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            inv[mt][r] = l > 0.0f ? 1.0f / l : 0.0f;
        }
#pragma unroll
    for (int half = 0; half < 2; half++) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const float* acc = o[mt][half * 8 + i];
                uint8_t* p = stage + (mt * 16 + g) * PITCH + (i * 8 + cq) * sizeof(T);
                st_pair<T>(p, acc[0] * inv[mt][0], acc[1] * inv[mt][0]);
                st_pair<T>(p + 8 * PITCH, acc[2] * inv[mt][1], acc[3] * inv[mt][1]);
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

// Entry points: attn_b<BM>_w<WARPS>_s<STAGES>_<out>, out = bf16 or f32. Launch: grid (ceil(lq / BM), heads),
// block 32·WARPS threads, dynamic shared memory STAGES·32 KiB, plus BM·256 bytes for Q when BM = 32·WARPS
// (two m16 tiles per warp):
//   attn_b128_w8_s2   64 KiB  16 rows per warp, Q in registers: fits every GPU from sm_80 on
//   attn_b128_w4_s2   96 KiB  32 rows per warp, two CTAs per SM: fits GPUs with ~100 KiB per block (sm_86,
//                             sm_89, sm_120)
//   attn_b256_w8_s3  160 KiB  32 rows per warp, 3 stages: A100/H100 class; the fastest of the three on an H100
//                             for self-attention (bench/attention/README.md)
#define ATTN(name, OUT, WARPS, MT, STAGES, MINB)                                                                  \
    extern "C" __global__ void __launch_bounds__(32 * WARPS, MINB)                                                \
        name(OUT::T* out, const bf16* q, const bf16* k, const bf16* v, int lq, int lkv, int q_stride, int k_stride, \
             int v_stride, int o_stride, float scale) {                                                              \
        attn_fwd<OUT, WARPS, MT, STAGES>(out, q, k, v, lq, lkv, q_stride, k_stride, v_stride, o_stride, scale);   \
    }

ATTN(attn_b128_w8_s2_bf16, BF16, 8, 1, 2, 1)
ATTN(attn_b128_w8_s2_f32, F32, 8, 1, 2, 1)
ATTN(attn_b128_w4_s2_bf16, BF16, 4, 2, 2, 2)
ATTN(attn_b128_w4_s2_f32, F32, 4, 2, 2, 2)
ATTN(attn_b256_w8_s3_bf16, BF16, 8, 2, 3, 1)
ATTN(attn_b256_w8_s3_f32, F32, 8, 2, 3, 1)
