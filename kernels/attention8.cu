// 8-bit flash attention (forward, non-causal, head dim 128): out = softmax(scale · Q Kᵀ) V per head, keys
// limited to the first lkv rows, with Q·Kᵀ in INT8 and P·V in INT8 (the SageAttention recipe on mma.sync;
// every GPU from sm_80 on). kernels/sm89/attention8.cu is the FP8 (e4m3) P·V twin for sm_89 and newer; it
// takes the same Q and K quantization and its own V layout.
//
// Inputs of the quantization kernels (the q/k/v Linear outputs, like kernels/attention.cu): q [lq, H·128],
// k and v [≥lkv, H·128], bf16, row-major with heads interleaved per token, row strides in elements as
// arguments. They write head-major 8-bit copies that the attention kernels stream as contiguous tiles:
//
//   attn8_kv_stats_bf16  grid (H, S): per head and channel, partial sums of K and partial max |V| over S
//                        contiguous slices of the valid keys → kpart [H][S][128] and vpart [H][S][128] (f32).
//                        Deterministic (no atomics): the quantizers below add up the S partials.
//   attn8_quant_q_bf16   grid (⌈lq/64⌉, H), 128 threads: Q per block of 16 query rows × 128 channels (one m16
//                        MMA tile, so every tiling of the attention kernel uses the block's scale as a scalar
//                        and the block is never larger than the attention kernel's query tile) → q8 [H][lq][128]
//                        int8 and qscale [H][⌈lq/16⌉] = amax/127 · scale · log2(e): the scores come out of the
//                        dequantization already in the log2 domain of the exp2 softmax.
//   attn8_quant_k_bf16   grid (nkb = ⌈lkv/64⌉, H), 256 threads: K minus its per-(head, channel) mean over the
//                        valid keys (subtracting a vector from every key adds q·mean to a whole row of scores,
//                        which softmax ignores, and removes the channel offset that would otherwise dominate
//                        the INT8 range), per block of 64 keys → k8 [H][nkb·64][128] int8 (keys ≥ lkv zero)
//                        and kscale [H][nkb] = amax/127.
//   attn8_quant_v_bf16   grid (nkb, H), 256 threads: V with one scale per (head, channel) over all valid keys,
//                        transposed per 64-key block → vt8 [H][nkb][128 channels][64 keys] int8 (keys ≥ lkv
//                        zero) and vscale [H][128] = amax/127. A per-channel scale is constant along the P·V
//                        reduction, so it is applied once, in the epilogue, instead of once per key tile.
//
// Attention (attn8_b<BM>_w<WARPS>_s<STAGES>_<out>): a CTA owns BM query rows of one head (grid: x = q tiles,
// y = heads), walks the keys in tiles of 64 through a STAGES-deep cp.async ring (a stage: the 8 KiB K tile and
// the 8 KiB Vᵀ tile, both contiguous in memory). Per tile, each warp:
//   S = Q8 K8ᵀ with mma.sync m16n8k32 s8·s8 → s32, S·log2(e)·scale = s32 · qscale · kscale. The key order of
//     the B fragments is permuted through the ldmatrix row addresses: n-tile 2i+h of a 16-key group holds
//     keys 4c + 2h + {0, 1} in its columns 2c, 2c+1, so that the four accumulators of a thread for one row
//     are keys 4c … 4c+3 — exactly the u8 A fragment of the P·V product, in natural key order.
//   online softmax with exp2, the row max taken on the integers (the scale is positive). P is quantized per
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
// bytes (chunk c of channel r at c ^ ((r >> 1) & 3)).
//
// Masking and tails: key tiles are read whole (the quantizers pad them with zeros); scores of keys ≥ lkv
// become INT_MIN before the max (exp2 of them is 0); query rows ≥ lq are zero-filled and not stored. Any
// lq ≥ 1, lkv ≥ 1 (the launcher writes zeros for lkv = 0 without launching).
//
// Requirements (checked by the launcher): q, k, v and out 16-byte aligned; q/k/v strides multiples of 8
// elements, the out stride a multiple of 8 (bf16) or 4 (f32); 8-bit buffers and scales as laid out above.
#include "common.cuh"
#include "mma.cuh"

namespace {

constexpr int HD = 128;                       // head dim
constexpr int BN = 64;                        // keys per tile (and per K scale block)
constexpr int QBLK = 16;                      // query rows per Q scale block
constexpr int KT_BYTES = BN * HD;             // K tile: 64 keys × 128 int8 = 8 KiB
constexpr int VT_BYTES = HD * BN;             // Vᵀ tile: 128 channels × 64 int8 = 8 KiB
constexpr int STAGE_BYTES = KT_BYTES + VT_BYTES;
constexpr float LOG2_255 = 7.9943534368588578f;
constexpr float ROUND_MAGIC = 12582912.0f;    // 1.5·2^23: x + it has round-to-nearest(x) in its low bits (0 ≤ x < 2^22)
constexpr float TILE_FLOOR = 32.0f;           // a tile's P scale is at least 2^-32 of the running max

// 8-bit MMA helpers (candidates for mma.cuh; the rest comes from there). The m16n8k32 8-bit fragments are byte-for-byte those of the
// bf16 m16n8k16 ones (A: rows g / g+8, bytes 4c … 4c+3 and 16+4c …; B: bytes 4c … of column g, then 16+4c …;
// C: row g / g+8, columns 2c, 2c+1), so ldmatrix .b16 loads them from byte rows.
// c += a · b, s8 × s8 → s32.
__device__ __forceinline__ void mma_s8s8(int* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// c += a · b, u8 × s8 → s32.
__device__ __forceinline__ void mma_u8s8(int* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// Low bytes of four words, packed little-endian into one.
__device__ __forceinline__ uint32_t pack_bytes(uint32_t b0, uint32_t b1, uint32_t b2, uint32_t b3) {
    return __byte_perm(__byte_perm(b0, b1, 0x0040), __byte_perm(b2, b3, 0x0040), 0x5410);
}
// x rounded to the nearest integer in [-127, 127], as a byte.
__device__ __forceinline__ uint32_t q_s8(float x) { return (uint32_t)max(-127, min(127, __float2int_rn(x))); }

// Eight values times inv, rounded to int8, packed.
__device__ __forceinline__ uint2 q8x8(const float* x, float inv) {
    return make_uint2(pack_bytes(q_s8(x[0] * inv), q_s8(x[1] * inv), q_s8(x[2] * inv), q_s8(x[3] * inv)),
                      pack_bytes(q_s8(x[4] * inv), q_s8(x[5] * inv), q_s8(x[6] * inv), q_s8(x[7] * inv)));
}

// Byte offsets inside the shared tiles (see the file comment).
__device__ __forceinline__ uint32_t swq(int r, int c) { return (uint32_t)(r * HD + ((c ^ (r & 7)) << 4)); }
__device__ __forceinline__ uint32_t swk(int r, int c) {
    return (uint32_t)(r * HD + ((c ^ (((r >> 1) & 6) | (r & 1))) << 4));
}
__device__ __forceinline__ uint32_t swv(int r, int c) { return (uint32_t)(r * BN + ((c ^ ((r >> 1) & 3)) << 4)); }

// ------------------------------------------------------------------------------------------ quantization

// Partial per-channel statistics of one head's valid keys: slice blockIdx.y of gridDim.y contiguous slices.
// 256 threads: 16 chunks of 8 channels × 16 row lanes.
__device__ __forceinline__ void kv_stats(float* __restrict__ kpart, float* __restrict__ vpart,
                                         const bf16* __restrict__ k, const bf16* __restrict__ v, int lkv,
                                         int k_stride, int v_stride) {
    __shared__ float red[2][16][HD];
    const int h = blockIdx.x, s = blockIdx.y, ns = gridDim.y, tid = threadIdx.x;
    const int ch = (tid & 15) * 8, rl = tid >> 4;
    const int per = (lkv + ns - 1) / ns, r0 = s * per, r1 = min(lkv, r0 + per);
    float sum[8], mx[8];
#pragma unroll
    for (int i = 0; i < 8; i++) sum[i] = 0.0f, mx[i] = 0.0f;
    for (int r = r0 + rl; r < r1; r += 16) {
        float a[8], b[8];
        ld8(k + (long)r * k_stride + h * HD + ch, a);
        ld8(v + (long)r * v_stride + h * HD + ch, b);
#pragma unroll
        for (int i = 0; i < 8; i++) sum[i] += a[i], mx[i] = fmaxf(mx[i], fabsf(b[i]));
    }
#pragma unroll
    for (int i = 0; i < 8; i++) red[0][rl][ch + i] = sum[i], red[1][rl][ch + i] = mx[i];
    __syncthreads();
    if (tid < HD) {
        float a = 0.0f, b = 0.0f;
        for (int i = 0; i < 16; i++) a += red[0][i][tid], b = fmaxf(b, red[1][i][tid]);
        kpart[((long)h * ns + s) * HD + tid] = a;
        vpart[((long)h * ns + s) * HD + tid] = b;
    }
}

// Q: one warp per 16-row block; each lane holds 8 chunks (rows lane/16 + 2i, chunk lane%16).
__device__ __forceinline__ void quant_q(int8_t* __restrict__ q8, float* __restrict__ qscale, const bf16* __restrict__ q,
                                        int lq, int q_stride, float sl2) {
    const int h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int blk = blockIdx.x * 4 + warp, nqb = (lq + QBLK - 1) / QBLK;
    if (blk >= nqb) return;
    const int c = lane & 15;
    float x[8][8];
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int row = blk * QBLK + (lane >> 4) + 2 * i;
        if (row < lq) {
            ld8(q + (long)row * q_stride + h * HD + c * 8, x[i]);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) x[i][e] = 0.0f;
        }
#pragma unroll
        for (int e = 0; e < 8; e++) amax = fmaxf(amax, fabsf(x[i][e]));
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int row = blk * QBLK + (lane >> 4) + 2 * i;
        if (row < lq) {
            *reinterpret_cast<uint2*>(q8 + ((long)h * lq + row) * HD + c * 8) = q8x8(x[i], inv);
        }
    }
    if (lane == 0) qscale[(long)h * nqb + blk] = (amax > 0.0f ? amax / 127.0f : 1.0f) * sl2;
}

// K: one 64-key block of one head; 8 warps × 8 rows, each lane 4 chunks (rows warp·8 + lane/16 + 2i).
__device__ __forceinline__ void quant_k(int8_t* __restrict__ k8, float* __restrict__ kscale, const bf16* __restrict__ k,
                                        const float* __restrict__ kpart, int ns, int lkv, int k_stride) {
    __shared__ float mean[HD];
    __shared__ float wmax[8];
    const int blk = blockIdx.x, h = blockIdx.y, nkb = gridDim.x, tid = threadIdx.x;
    const int warp = tid >> 5, lane = tid & 31, c = lane & 15;
    if (tid < HD) {
        float s = 0.0f;
        for (int i = 0; i < ns; i++) s += kpart[((long)h * ns + i) * HD + tid];
        mean[tid] = s / (float)lkv;
    }
    __syncthreads();
    float x[4][8];
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int row = blk * BN + warp * 8 + (lane >> 4) + 2 * i;
        if (row < lkv) {
            ld8(k + (long)row * k_stride + h * HD + c * 8, x[i]);
#pragma unroll
            for (int e = 0; e < 8; e++) x[i][e] -= mean[c * 8 + e];
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) x[i][e] = 0.0f;
        }
#pragma unroll
        for (int e = 0; e < 8; e++) amax = fmaxf(amax, fabsf(x[i][e]));
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    if (lane == 0) wmax[warp] = amax;
    __syncthreads();
#pragma unroll
    for (int i = 0; i < 8; i++) amax = fmaxf(amax, wmax[i]);
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int r = warp * 8 + (lane >> 4) + 2 * i;
        *reinterpret_cast<uint2*>(k8 + (((long)h * nkb + blk) * BN + r) * HD + c * 8) = q8x8(x[i], inv);
    }
    if (tid == 0) kscale[(long)h * nkb + blk] = amax > 0.0f ? amax / 127.0f : 1.0f;
}

// V: one 64-key block of one head, staged as f32 [64][129] (odd pitch: the column reads are conflict-free),
// written transposed: 128 channel rows × four 16-key chunks.
__device__ __forceinline__ void quant_v(int8_t* __restrict__ vt8, float* __restrict__ vscale, const bf16* __restrict__ v,
                                        const float* __restrict__ vpart, int ns, int lkv, int v_stride) {
    __shared__ float tile[BN][HD + 1];
    __shared__ float inv[HD];
    const int blk = blockIdx.x, h = blockIdx.y, nkb = gridDim.x, tid = threadIdx.x;
    if (tid < HD) {
        float m = 0.0f;
        for (int i = 0; i < ns; i++) m = fmaxf(m, vpart[((long)h * ns + i) * HD + tid]);
        inv[tid] = m > 0.0f ? 127.0f / m : 0.0f;
        if (blk == 0) vscale[(long)h * HD + tid] = m > 0.0f ? m / 127.0f : 1.0f;
    }
#pragma unroll
    for (int i = 0; i < BN * 16 / 256; i++) {
        const int id = tid + i * 256, r = id >> 4, c = id & 15;
        const int row = blk * BN + r;
        float x[8];
        if (row < lkv) {
            ld8(v + (long)row * v_stride + h * HD + c * 8, x);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) x[e] = 0.0f;
        }
#pragma unroll
        for (int e = 0; e < 8; e++) tile[r][c * 8 + e] = x[e];
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < HD * 4 / 256; i++) {
        const int id = tid + i * 256, ch = id & (HD - 1), part = id >> 7;
        const float s = inv[ch];
        uint32_t w[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int r = part * 16 + j * 4;
            w[j] = pack_bytes(q_s8(tile[r][ch] * s), q_s8(tile[r + 1][ch] * s), q_s8(tile[r + 2][ch] * s),
                              q_s8(tile[r + 3][ch] * s));
        }
        *reinterpret_cast<uint4*>(vt8 + (((long)h * nkb + blk) * HD + ch) * BN + part * 16) = make_uint4(w[0], w[1], w[2], w[3]);
    }
}

// ------------------------------------------------------------------------------------------ attention

// One CTA: BM = 16·MT·WARPS query rows of head blockIdx.y. MT = 1 keeps the warp's Q fragments in registers;
// MT = 2 gives each warp 32 rows (every K/V fragment feeds two MMAs) and re-reads Q fragments from shared
// memory, as in attention.cu.
template <class OUT, int WARPS, int MT, int STAGES>
__device__ __forceinline__ void attn8_fwd(typename OUT::T* __restrict__ out, const int8_t* __restrict__ q8,
                                          const int8_t* __restrict__ k8, const int8_t* __restrict__ vt8,
                                          const float* __restrict__ qscale, const float* __restrict__ kscale,
                                          const float* __restrict__ vscale, int lq, int lkv, int o_stride) {
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

    auto qk = [&](int (&s)[MT][BN / 8][4], uint32_t sk) {
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
            for (int np = 0; np < BN / 16; np++) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4(sk + swk(np * 16 + k_row, kk * 2 + k_chunk), b0, b1, b2, b3);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_s8s8(s[mt][2 * np], a[mt], b0, b1);
                    mma_s8s8(s[mt][2 * np + 1], a[mt], b2, b3);
                }
            }
        }
    };

    // Online softmax; P̂ (u8) lands in A-fragment order, beta is the O update factor of each row.
    // Accumulator (i, e) is row g (+8 for e ≥ 2), key j·64 + 16·(i/2) + 4·(lane%4) + 2·(i%2) + (e&1).
    auto softmax = [&](int (&s)[MT][BN / 8][4], uint32_t (&pf)[MT][BN / 32][4], float (&beta)[MT][2], float ksc,
                       int j, bool mask) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            if (mask) {
#pragma unroll
                for (int i = 0; i < BN / 8; i++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        if (j * BN + (i >> 1) * 16 + (lane & 3) * 4 + (i & 1) * 2 + (e & 1) >= lkv) s[mt][i][e] = INT_MIN;
            }
            int mx[2] = {INT_MIN, INT_MIN};
#pragma unroll
            for (int i = 0; i < BN / 8; i++) {
                mx[0] = max(mx[0], max(s[mt][i][0], s[mt][i][1]));
                mx[1] = max(mx[1], max(s[mt][i][2], s[mt][i][3]));
            }
            const float sc = qsc[mt] * ksc;
            float off[2], alpha[2], pmax[2];
#pragma unroll
            for (int r = 0; r < 2; r++) {
                mx[r] = max(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
                mx[r] = max(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
                const float mtile = (float)mx[r] * sc;
                const float mnew = fmaxf(mrow[mt][r], mtile);
                const float mq = fmaxf(mtile, mnew - TILE_FLOOR);
                alpha[r] = fast_exp2(mrow[mt][r] - mnew);
                pmax[r] = fast_exp2(mq - mnew);
                mrow[mt][r] = mnew;
                off[r] = LOG2_255 - mq;
                const float unew = pmax[r] * (1.0f / 255.0f);
                beta[mt][r] = unit[mt][r] * alpha[r] * __fdividef(1.0f, unew);
                unit[mt][r] = unew;
            }
            float rs[2] = {0.0f, 0.0f};
            uint32_t bits[BN / 8][4];
#pragma unroll
            for (int i = 0; i < BN / 8; i++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const float p = fast_exp2(fmaf((float)s[mt][i][e], sc, off[e >> 1]));
                    const float fr = p + ROUND_MAGIC;
                    rs[e >> 1] += fr - ROUND_MAGIC;
                    bits[i][e] = __float_as_uint(fr);
                }
#pragma unroll
            for (int kk = 0; kk < BN / 32; kk++) {
                const int i = kk * 4;
                pf[mt][kk][0] = pack_bytes(bits[i][0], bits[i][1], bits[i + 1][0], bits[i + 1][1]);
                pf[mt][kk][1] = pack_bytes(bits[i][2], bits[i][3], bits[i + 1][2], bits[i + 1][3]);
                pf[mt][kk][2] = pack_bytes(bits[i + 2][0], bits[i + 2][1], bits[i + 3][0], bits[i + 3][1]);
                pf[mt][kk][3] = pack_bytes(bits[i + 2][2], bits[i + 2][3], bits[i + 3][2], bits[i + 3][3]);
            }
#pragma unroll
            for (int r = 0; r < 2; r++) lrow[mt][r] = fmaf(lrow[mt][r], alpha[r], rs[r] * unit[mt][r]);
        }
    };

    // O = O·β + P̂ V8, one pair of n8 channel tiles at a time (the int32 partial lives for two k32 steps).
    auto pv = [&](const uint32_t (&pf)[MT][BN / 32][4], const float (&beta)[MT][2], uint32_t sv) {
#pragma unroll
        for (int np = 0; np < HD / 16; np++) {
            int acc[MT][2][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int t = 0; t < 2; t++) acc[mt][t][0] = acc[mt][t][1] = acc[mt][t][2] = acc[mt][t][3] = 0;
#pragma unroll
            for (int kk = 0; kk < BN / 32; kk++) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4(sv + swv(np * 16 + v_row, kk * 2 + v_chunk), b0, b1, b2, b3);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_u8s8(acc[mt][0], pf[mt][kk], b0, b1);
                    mma_u8s8(acc[mt][1], pf[mt][kk], b2, b3);
                }
            }
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int t = 0; t < 2; t++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        o[mt][2 * np + t][e] = fmaf(o[mt][2 * np + t][e], beta[mt][e >> 1], (float)acc[mt][t][e]);
        }
    };

    // One barrier per tile, as attention.cu; the last tile, the only one that can be partial, is peeled off.
    auto step = [&](int j, bool mask) {
        const float ksc = kscale[j];
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        load_tile(j + STAGES - 1);
        int s[MT][BN / 8][4];
        uint32_t pf[MT][BN / 32][4];
        float beta[MT][2];
        qk(s, stage_addr(j));
        softmax(s, pf, beta, ksc, j, mask);
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
            const float2 vs = *reinterpret_cast<const float2*>(vsc + half * 64 + i * 8 + cq);
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

// Quantization entry points (launch configurations in the file comment).
extern "C" __global__ void __launch_bounds__(256) attn8_kv_stats_bf16(float* kpart, float* vpart, const bf16* k,
                                                                      const bf16* v, int lkv, int k_stride, int v_stride) {
    kv_stats(kpart, vpart, k, v, lkv, k_stride, v_stride);
}
extern "C" __global__ void __launch_bounds__(128) attn8_quant_q_bf16(int8_t* q8, float* qscale, const bf16* q, int lq,
                                                                     int q_stride, float sl2) {
    quant_q(q8, qscale, q, lq, q_stride, sl2);
}
extern "C" __global__ void __launch_bounds__(256) attn8_quant_k_bf16(int8_t* k8, float* kscale, const bf16* k,
                                                                     const float* kpart, int nsplit, int lkv, int k_stride) {
    quant_k(k8, kscale, k, kpart, nsplit, lkv, k_stride);
}
extern "C" __global__ void __launch_bounds__(256) attn8_quant_v_bf16(int8_t* vt8, float* vscale, const bf16* v,
                                                                     const float* vpart, int nsplit, int lkv, int v_stride) {
    quant_v(vt8, vscale, v, vpart, nsplit, lkv, v_stride);
}

// Attention entry points: attn8_b<BM>_w<WARPS>_s<STAGES>_<out>, out = bf16 or f32. Launch: grid (⌈lq / BM⌉,
// heads), block 32·WARPS threads, dynamic shared memory STAGES·16 KiB + BM·128 bytes:
//   attn8_b128_w8_s3   64 KiB  16 rows per warp, Q fragments in registers
//   attn8_b128_w4_s3   64 KiB  32 rows per warp (half the shared-memory reads per MMA)
//   attn8_b256_w8_s3   80 KiB  32 rows per warp, 8 warps
// Every one fits the 99 KiB per block of the consumer cards (sm_86, sm_89, sm_120).
#define ATTN8(name, OUT, WARPS, MT, STAGES, MINB)                                                                  \
    extern "C" __global__ void __launch_bounds__(32 * WARPS, MINB)                                                 \
        name(OUT::T* out, const int8_t* q8, const int8_t* k8, const int8_t* vt8, const float* qscale,              \
             const float* kscale, const float* vscale, int lq, int lkv, int o_stride) {                            \
        attn8_fwd<OUT, WARPS, MT, STAGES>(out, q8, k8, vt8, qscale, kscale, vscale, lq, lkv, o_stride);            \
    }

ATTN8(attn8_b128_w8_s3_bf16, BF16, 8, 1, 3, 1)
ATTN8(attn8_b128_w8_s3_f32, F32, 8, 1, 3, 1)
ATTN8(attn8_b128_w4_s3_bf16, BF16, 4, 2, 3, 2)
ATTN8(attn8_b128_w4_s3_f32, F32, 4, 2, 3, 2)
ATTN8(attn8_b256_w8_s3_bf16, BF16, 8, 2, 3, 1)
ATTN8(attn8_b256_w8_s3_f32, F32, 8, 2, 3, 1)
