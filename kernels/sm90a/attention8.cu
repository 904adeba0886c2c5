// Hopper (sm_90a) 8-bit flash attention: INT8 Q·Kᵀ on the warpgroup tensor cores, P·V in bf16 (attn8h) or INT8
// (attn8hi). Its own module, sm90a/attention8, so that a fault here cannot keep the bf16 kernels of
// sm90a/attention from loading. Built like kernels/sm90a/attention.cu (scripts/ptx.sh with nvcc 12 or newer);
// checked and timed by bench/attention/attn_test.cu, accuracy and speed in docs/BENCHMARKS.md.
#include "../common.cuh"
#include "../mma.cuh"
#include "../attention90.cuh"

#include <type_traits>

namespace {

// ---------------------------------------------------------------------------------------------------- 8-bit
// attn8h: INT8 Q·Kᵀ on the warpgroup tensor cores, P·V in bf16 as sm90a/attention.cu's s3gt. The same
// ping-pong of two consumer warpgroups fed by one TMA thread as s3gt; Q and K are the 8-bit copies of kernels/attention8.cu's quantizers (q8 [H][lq][128] int8 with
// qscale per 16 rows, k8 [H][nkb·64][128] int8 with kscale per 64 keys, the 16 outlier channels per head in
// bf16 as qo [H][lq][16] and ko [H][nkb·64][16]), V the bf16 tensor itself. Per tile and warpgroup:
// S = Q8 K8ᵀ is four wgmma m64n128k32 s8·s8 → s32 (both operands K-major in shared memory, one 128-byte
// swizzled panel per row); the score t = s32 · qscale · kscale + Qo Koᵀ is made in registers, the outlier
// product by one mma.sync m16n8k16 bf16 per n8 tile (the wgmma accumulator layout of a warp is mma.sync's C
// layout), with Qo's fragment in registers and Ko's read by ldmatrix from the tile's slot; then the softmax
// and O += P V as s3gt.
//
// Shared memory: Q8 16 KiB, three K8 slots (16 KiB), three V slots (32 KiB), three Ko slots (4 KiB, rows of
// 32 bytes, no swizzle), then the mbarriers: 176384 bytes.

constexpr int Q8_BYTES = BM * HD, K8_BYTES = BN * HD, KO_BYTES = BN * 16 * 2, V8_BYTES = HD * BN;

// PV8 (attn8hi): P·V in INT8 as well, on the V that kernels/attention8.cu's attn8_quant_vh_bf16 writes (vt8
// [H][ntiles][128 channels][128 keys] int8, one scale per (head, channel) in vscale [H][128], keys permuted per
// 32 so that the Q·Kᵀ accumulators of a thread are its wgmma A fragment): P̂ = round(255 · exp2(s − m_tile))
// as u8, as kernels/attention8.cuh's INT8 P·V (m_tile at least the running max − TILE_FLOOR), and per tile
// O_tile = P̂ V̂ by four wgmma m64n128k32 u8·s8 → s32 with A from registers. O_tile cannot be scaled in the
// tensor cores, so it is added into the f32 O (O = O·β + O_tile, β folding the max's rescale and the change
// of unit) after its wgmma has retired, at the end of the same step (after the ping-pong barrier, so the other
// warpgroup's softmax runs meanwhile), never beside a softmax's scores. The V slots are 16 KiB; shared memory
// 127232 bytes (with the mbarriers).

template <bool PV8>
__device__ __forceinline__ void attn8_fwd_sm90(bf16* __restrict__ out, const TmaMap* tq8, const TmaMap* tk8,
                                               const TmaMap* tko, const TmaMap* tv, const bf16* __restrict__ qo,
                                               const float* __restrict__ qscale, const float* __restrict__ kscale,
                                               const float* __restrict__ vscale, int lq, int lkv, int o_stride,
                                               float sl2) {
    constexpr int V_BYTES = PV8 ? V8_BYTES : TILE_BYTES;
    extern __shared__ __align__(1024) uint8_t smem[];
    const uint32_t sbase = shared_addr(smem);
    if (sbase & 1023) __trap();
    const int tid = threadIdx.x, lane = tid & 31, warp = (tid >> 5) - 4, wg = warp >> 2;
    const int m0 = blockIdx.x * BM, h = blockIdx.y;
    const int ntiles = (lkv + BN - 1) / BN, nkb = (lkv + 63) / 64, nqb = (lq + 15) / 16;
    const uint32_t sq = sbase, kring = sq + Q8_BYTES, vring = kring + 3 * K8_BYTES, koring = vring + 3 * V_BYTES,
                   bars = koring + 3 * KO_BYTES;
    auto kslot = [&](int t) { return kring + (uint32_t)((t % 3) * K8_BYTES); };
    auto vslot = [&](int t) { return vring + (uint32_t)((t % 3) * V_BYTES); };
    auto koslot = [&](int t) { return koring + (uint32_t)((t % 3) * KO_BYTES); };
    auto full_k = [&](int t) { return bars + (uint32_t)(8 * (t % 3)); };
    auto full_v = [&](int t) { return bars + (uint32_t)(24 + 8 * (t % 3)); };
    auto empty_k = [&](int t) { return bars + (uint32_t)(48 + 8 * (t % 3)); };
    auto empty_v = [&](int t) { return bars + (uint32_t)(72 + 8 * (t % 3)); };
    if (tid == 0) {
        for (int i = 0; i < 3; i++) {
            mbar_init(full_k(i), 1);
            mbar_init(full_v(i), 1);
            mbar_init(empty_k(i), 8);
            mbar_init(empty_v(i), 8);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (wg < 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n");
        if (tid != 0) return;
        // K8 and Ko of tile t share full_k(t) and its slot's release (Ko is read by the softmax, after S).
        const int krow0 = h * nkb * 64;
        mbar_expect(full_k(0), Q8_BYTES + (ntiles > 0 ? K8_BYTES + KO_BYTES : 0));
        tma_load_2d(sq, tq8, 0, h * lq + m0, full_k(0));
        for (int t = 0; t <= ntiles; t++) {
            if (t < ntiles) {
                if (t >= 3) mbar_wait<true>(empty_k(t), ((t / 3) + 1) & 1);
                if (t > 0) mbar_expect(full_k(t), K8_BYTES + KO_BYTES);
                tma_load_2d(kslot(t), tk8, 0, krow0 + t * BN, full_k(t));
                tma_load_2d(koslot(t), tko, 0, krow0 + t * BN, full_k(t));
            }
            if (t >= 1) {
                const int u = t - 1;
                if (u >= 3) mbar_wait<true>(empty_v(u), ((u / 3) + 1) & 1);
                mbar_expect(full_v(u), V_BYTES);
                if constexpr (PV8) {
                    tma_load_2d(vslot(u), tv, 0, (h * ntiles + u) * HD, full_v(u));
                } else {
                    tma_load_2d(vslot(u), tv, h * HD, u * BN, full_v(u));
                    tma_load_2d(vslot(u) + BN * 128, tv, h * HD + 64, u * BN, full_v(u));
                }
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n");

    const int g = lane >> 2, tq = lane & 3;
    // This warp's 16 query rows: their Q scale and Qo fragment (rows ≥ lq read nothing and are not stored).
    const int wrow = m0 + 64 * wg + 16 * (warp & 3);
    const int qb = wrow / 16;
    const float qs = qb < nqb ? qscale[(long)h * nqb + qb] : 0.0f;
    uint32_t qa[4];
    {
        auto ld2 = [&](int row, int ch) -> uint32_t {
            return row < lq ? *reinterpret_cast<const uint32_t*>(qo + ((long)h * lq + row) * 16 + ch) : 0u;
        };
        qa[0] = ld2(wrow + g, 2 * tq);
        qa[1] = ld2(wrow + g + 8, 2 * tq);
        qa[2] = ld2(wrow + g, 2 * tq + 8);
        qa[3] = ld2(wrow + g + 8, 2 * tq + 8);
    }
    auto kscales = [&](int j, float (&c)[2]) {
        const int b = 2 * j;
        c[0] = b < nkb ? kscale[(long)h * nkb + b] : 0.0f;
        c[1] = b + 1 < nkb ? kscale[(long)h * nkb + b + 1] : 0.0f;
    };

    float o[64];
    int s[64];
    int oi[64];                                     // PV8: the tile's P̂ V̂ (in flight until its wait)
    float unit[2] = {1.0f, 1.0f}, bprev[2] = {0.0f, 0.0f};  // PV8: O's unit per row; the β of oi's tile
#pragma unroll
    for (int i = 0; i < 64; i++) o[i] = 0.0f;
    float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.0f, 0.0f};

    const uint64_t qdesc = sdesc(sq + wg * 64 * 128, 16, 1024);
    auto issue_qk = [&](uint32_t sk) {
        const uint64_t kdesc = sdesc(sk, 16, 1024);
#pragma unroll
        for (int kk = 0; kk < HD / 32; kk++) {
            const uint64_t ad = desc_add(qdesc, kk * 32);
            const uint64_t bd = desc_add(kdesc, kk * 32);
            if (kk == 0) {
                wgmma_s8_first(s, ad, bd);
            } else {
                wgmma_s8(s, ad, bd);
            }
        }
        wg_commit();
    };
    auto issue_pv8 = [&](const uint32_t (&pf)[4][4], uint32_t sv) {
        const uint64_t vdesc = sdesc(sv, 16, 1024);
#pragma unroll
        for (int kk = 0; kk < BN / 32; kk++) {
            const uint64_t bd = desc_add(vdesc, kk * 32);
            if (kk == 0) {
                wgmma_u8s8_rs_first(oi, pf[kk], bd);
            } else {
                wgmma_u8s8_rs(oi, pf[kk], bd);
            }
        }
        wg_commit();
    };
    // The scores of tile j: s32 · qscale · kscale (ks: tile j's two 64-key scales) plus the outlier product.
    auto scores = [&](float (&t)[64], int j, const float (&ks)[2]) {
        const float c0 = qs * ks[0], c1 = qs * ks[1];
#pragma unroll
        for (int i = 0; i < 16; i++)
#pragma unroll
            for (int e = 0; e < 4; e++) t[i * 4 + e] = (float)s[i * 4 + e] * (i < 8 ? c0 : c1);
        const uint32_t ko = koslot(j);
        const int m = lane >> 3;
#pragma unroll
        for (int i2 = 0; i2 < 8; i2++) {
            uint32_t b0, b1, b2, b3;
            ldsm_x4(ko + (uint32_t)((16 * i2 + 8 * (m >> 1) + (lane & 7)) * 32 + (m & 1) * 16), b0, b1, b2, b3);
            mma16816(&t[(2 * i2) * 4], qa, b0, b1);
            mma16816(&t[(2 * i2 + 1) * 4], qa, b2, b3);
        }
    };
    // The score of accumulator (i, e) of tile j, −∞ for masked keys (MASK: the last tile, the only partial one).
    auto masked_scores = [&](const float (&t)[64], int j, auto masked) {
        constexpr bool MASK = decltype(masked)::value;
        const int limit = lkv - j * BN - tq * 2;
        return [&t, limit](int i, int e) {
            if constexpr (MASK) return i * 8 + (e & 1) >= limit ? -INFINITY : t[i * 4 + e];
            return t[i * 4 + e];
        };
    };
    auto softmax = [&](const float (&t)[64], uint32_t (&pf)[8][4], int j, float (&alpha)[2], auto masked) {
        softmax_bf16(masked_scores(t, j, masked), sl2, mrow, lrow, pf, alpha);
    };
    // PV8: the online softmax of kernels/attention8.cuh's INT8 P·V (there the key order is permuted in K, here
    // in V): P̂ in A-fragment order, the tile's β, the row sums in O's unit.
    auto softmax8 = [&](const float (&t)[64], uint32_t (&pf)[4][4], int j, float (&beta)[2], auto masked) {
        const auto sval = masked_scores(t, j, masked);
        float mx[2];
        tile_rowmax(sval, mx);
        float off[2], alpha[2], lunit[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const float mtile = mx[r] * sl2;
            const float mnew = fmaxf(mrow[r], mtile);
            const float mq = fmaxf(mtile, mnew - TILE_FLOOR);
            alpha[r] = fast_exp2(mrow[r] - mnew);
            mrow[r] = mnew;
            lunit[r] = fast_exp2(mq - mnew) * (1.0f / 255.0f);
            beta[r] = unit[r] * alpha[r] * __fdividef(1.0f, lunit[r]);
            unit[r] = lunit[r];
            off[r] = LOG2_255 - mq;
        }
        float rs[2] = {0.0f, 0.0f};
        float p[16][4];
#pragma unroll
        for (int i = 0; i < 16; i++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                p[i][e] = fast_exp2(fmaf(sval(i, e), sl2, off[e >> 1])) + ROUND_MAGIC;
                rs[e >> 1] += p[i][e] - ROUND_MAGIC;
            }
        auto b = [&](int i, int e) { return __float_as_uint(p[i][e]); };
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            const int i = kk * 4;
            pf[kk][0] = pack_bytes(b(i, 0), b(i, 1), b(i + 1, 0), b(i + 1, 1));
            pf[kk][1] = pack_bytes(b(i, 2), b(i, 3), b(i + 1, 2), b(i + 1, 3));
            pf[kk][2] = pack_bytes(b(i + 2, 0), b(i + 2, 1), b(i + 3, 0), b(i + 3, 1));
            pf[kk][3] = pack_bytes(b(i + 2, 2), b(i + 2, 3), b(i + 3, 2), b(i + 3, 3));
        }
#pragma unroll
        for (int r = 0; r < 2; r++) lrow[r] = fmaf(lrow[r], alpha[r], rs[r] * lunit[r]);
    };
    // PV8: O = O·β + O_tile for the tile whose P̂ V̂ has retired into oi.
    auto add_tile = [&]() {
#pragma unroll
        for (int i = 0; i < 16; i++)
#pragma unroll
            for (int e = 0; e < 4; e++) o[i * 4 + e] = fmaf(o[i * 4 + e], bprev[e >> 1], (float)oi[i * 4 + e]);
    };

    float ks[2];
    kscales(0, ks);
    mbar_wait(full_k(0), 0);  // Q8, K8(0) and Ko(0)
    wg_fence();
    issue_qk(kslot(0));
    wg_wait<0>();
    reg_fence_i(s);
    const int bar_x = wg == 0 ? 1 : 2, bar_y = wg == 0 ? 2 : 1;
    if (wg == 1) named_sync(1);  // P_0
    // bf16 P·V: P in 8 k16 fragments, added into O by the wgmma; PV8: 4 k32 fragments of u8 into oi.
    using PF = std::conditional_t<PV8, uint32_t[4][4], uint32_t[8][4]>;
    PF pfa, pfb;
    auto step = [&](int j, PF& pf) {
        float alpha[2], t[64];
        scores(t, j, ks);
        // Ko(j) was read by ldmatrix (generic proxy) and the TMA (async proxy) refills the slot after the release:
        // without this fence the refill could land before those reads (attn8h differed between launches).
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        warp_release(empty_k(j));  // S(j) retired, Ko(j) read: the slot may refill
        kscales(j + 1, ks);  // for the next tile, ahead of its use
        if constexpr (PV8) {
            if ((j + 1) * BN > lkv) {
                softmax8(t, pf, j, alpha, std::true_type());
            } else {
                softmax8(t, pf, j, alpha, std::false_type());
            }
            bprev[0] = alpha[0];  // (softmax8 left β in alpha); P̂(j-1) V̂(j-1) was added in step j-1
            bprev[1] = alpha[1];
        } else {
            if ((j + 1) * BN > lkv) {
                softmax(t, pf, j, alpha, std::true_type());
            } else {
                softmax(t, pf, j, alpha, std::false_type());
            }
            wg_wait<0>();  // P(j-1) V(j-1) done
            reg_fence(o);
            if (j > 0) warp_release(empty_v(j - 1));
            rescale_o(o, alpha);
            reg_fence(o);
        }
        if (j + 1 < ntiles) mbar_wait(full_k(j + 1), ((j + 1) / 3) & 1);
        mbar_wait(full_v(j), (j / 3) & 1);
        named_sync(bar_x);
        wg_fence();
        issue_qk(kslot(j + 1));  // on the last tile: a slot nothing fills, the result dropped
        if constexpr (PV8) {
            issue_pv8(pf, vslot(j));
        } else {
            issue_pv_bf16(o, pf, vslot(j));
        }
        wg_wait<1>();
        reg_fence_i(s);
        named_sync(bar_y);
        if constexpr (PV8) {
            // O_tile(j) is added before the next softmax, so that its 64 s32 registers are never in flight beside
            // the scores of a softmax (with them both the consumers needed ~224 registers and spilled more; it
            // still spills, 336 bytes with nvcc 13.0: docs/BENCHMARKS.md); the other warpgroup's softmax overlaps
            // this wait.
            wg_wait<0>();  // P̂(j) V̂(j) done
            reg_fence_i(oi);
            warp_release(empty_v(j));
            add_tile();
        }
    };
    int j = 0;
    for (; j + 1 < ntiles; j += 2) {
        step(j, pfa);
        step(j + 1, pfb);
    }
    if (j < ntiles) step(j, pfa);
    if (wg == 0) named_sync(1);
    wg_wait<0>();
    reg_fence(o);
    named_sync(3);  // the consumers only

    // Epilogue as s3gt's; PV8: O is in units of unit, V's per-channel scales apply.
    const float num[2] = {PV8 ? unit[0] : 1.0f, PV8 ? unit[1] : 1.0f};
    const float* vsh = vscale + (long)h * HD;
    store_o(out + (long)h * HD, o, lrow, num,
            [&](int c) { return PV8 ? *reinterpret_cast<const float2*>(vsh + c) : make_float2(1.0f, 1.0f); },
            smem + warp * 16 * (64 + 8) * 2, m0 + warp * 16, lq, o_stride);
}

}  // namespace

// Entry point attn8h_b128_w12_s3gt_bf16 (Hopper, INT8 Q·Kᵀ, bf16 P·V): grid (ceil(lq / 128), heads), 384 threads,
// 176384 bytes of dynamic shared memory. Tensor maps: q8 and k8 as uint8 [H·rows, 128] (rows lq, resp. nkb·64
// per head; box 128 × 128, 128-byte swizzle), ko as bf16 [H·nkb·64, 16] (box 16 × 128, no swizzle), v as for
// s3gt (bf16 [lkv, H·128], box 64 × 128, 128-byte swizzle). sl2 = scale · log2(e).
extern "C" __global__ void __launch_bounds__(NTHREADS + 128, 1)
    attn8h_b128_w12_s3gt_bf16(bf16* out, const __grid_constant__ TmaMap tq8, const __grid_constant__ TmaMap tk8,
                              const __grid_constant__ TmaMap tko, const __grid_constant__ TmaMap tv, const bf16* qo,
                              const float* qscale, const float* kscale, int lq, int lkv, int o_stride, float sl2) {
    attn8_fwd_sm90<false>(out, &tq8, &tk8, &tko, &tv, qo, qscale, kscale, nullptr, lq, lkv, o_stride, sl2);
}

// Entry point attn8hi_b128_w12_s3gt_bf16 (Hopper, INT8 Q·Kᵀ and INT8 P·V): as attn8h, with tv the map of
// attn8_quant_vh_bf16's vt8 as uint8 [H·ntiles·128, 128] (ntiles = ⌈lkv / 128⌉; box 128 × 128, 128-byte
// swizzle) and vscale [H][128] after qscale and kscale; 127232 bytes of dynamic shared memory.
extern "C" __global__ void __launch_bounds__(NTHREADS + 128, 1)
    attn8hi_b128_w12_s3gt_bf16(bf16* out, const __grid_constant__ TmaMap tq8, const __grid_constant__ TmaMap tk8,
                               const __grid_constant__ TmaMap tko, const __grid_constant__ TmaMap tv, const bf16* qo,
                               const float* qscale, const float* kscale, const float* vscale, int lq, int lkv,
                               int o_stride, float sl2) {
    attn8_fwd_sm90<true>(out, &tq8, &tk8, &tko, &tv, qo, qscale, kscale, vscale, lq, lkv, o_stride, sl2);
}
