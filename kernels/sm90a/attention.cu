// Flash attention forward for Hopper (sm_90a): the same contract as kernels/attention.cu (head_dim 128,
// non-causal, keys limited to lkv, q [lq, H·128], k/v [≥lkv, H·128], out [lq, H·128], strides in elements,
// bf16 in, bf16 or f32 out, f32 softmax), with both products on the warpgroup tensor-core instructions.
//
// Built separately from the compute_80 modules (wgmma exists only on sm_90a, which Debian's nvcc 11.8 lacks):
// bench/attention/ptx_sm90a.sh runs `nvcc -ptx -arch=compute_90a` (nvcc 12 or newer) and records the source
// hash on the first line as scripts/ptx.sh does. It lives in a subfolder so that kernels/*.ptx, which must
// all be compute_80, does not take it in. The engine should load it on compute capability 9.0 only and use
// the compute_80 module elsewhere.
//
// Measurements (TFLOP/s against PyTorch's SDPA and the compute_80 kernels): bench/attention/README.md.
//
// Structure: a CTA of two warpgroups (256 threads) owns 128 query rows of one head (grid x = q tiles,
// y = heads); warpgroup w owns rows 64w … 64w+63. Keys are walked in tiles of 128 (176 for n176) through rings
// (cp.async, every thread its share; or a producer warpgroup: see attn_fwd_sm90): s2g one ring of two K+V stages
// published by a CTA barrier per tile, s3g (ping-pong) rings of three K and three V slots (n176: two of each)
// published on two named barriers by which the warpgroups take turns with the tensor cores. Per tile and
// warpgroup: S = Q Kᵀ is eight wgmma m64n<KN>k16 (KN the tile's keys) with K in shared memory (K-major) and Q
// there or in registers, the online softmax runs on the S accumulators in registers (exp2, scale folded in), P
// is packed to bf16 in registers, and O += P V is KN/16 wgmma m64n128k16 with A = P from registers and B = V read
// N-major (transposed) from shared memory.
//
// Shared memory (128-byte swizzle, the layout wgmma reads): a tile of R rows × 128 bf16 is two panels of
// 64 columns; panel p holds row r's 128 bytes at p·R·128 + r·128, 16-byte chunk c stored at c ^ (r & 7).
// Q: 32 KiB, then STAGES stages of K and V tiles (32 KiB each; s3g: three K slots, then three V slots;
// n176: two K slots, then two V slots, 44 KiB each): 160, 224 or 208 KiB per CTA, one CTA per SM.
//
// Masking and tails as in attention.cu: key rows ≥ lkv and query rows ≥ lq are zero-filled by cp.async and
// never read; scores of keys ≥ lkv are −∞; lkv = 0 writes zeros.
#include "../common.cuh"
#include "../mma.cuh"
#include "../attention90.cuh"

#include <type_traits>

namespace {

// Copies rows [row0, row0+ROWS) of one head into a swizzled tile; rows ≥ nvalid are zero-filled.
template <int ROWS, int THREADS = NTHREADS>
__device__ __forceinline__ void load_rows(uint32_t dst, const bf16* __restrict__ src, int stride, int row0,
                                          int nvalid, int tid) {
#pragma unroll
    for (int i = 0; i < ROWS * 16 / THREADS; i++) {
        const int id = tid + i * THREADS, r = id >> 4, c = id & 15;
        const bool ok = row0 + r < nvalid;
        const bf16* p = ok ? src + (long)(row0 + r) * stride + c * 8 : src;
        cp_async16(dst + swz128<ROWS>(r, c), p, ok ? 16 : 0);
    }
}

// The producer's copy of rows [row0, row0+ROWS) by THREADS threads: thread t copies chunk t % 16 of rows
// t / 16 + i·THREADS/16, so its destinations differ by constants; tiles wholly below nvalid skip the bounds.
template <int ROWS, int THREADS>
__device__ __forceinline__ void produce_rows(uint32_t dst, const bf16* __restrict__ src, int stride, int row0,
                                             int nvalid, int tid) {
    constexpr int RSTEP = THREADS / 16;
    const int r0 = tid >> 4, c = tid & 15;
    const bf16* p = src + (long)(row0 + r0) * stride + c * 8;
    const long step = (long)RSTEP * stride;
    if (row0 + ROWS <= nvalid) {
#pragma unroll
        for (int i = 0; i < ROWS / RSTEP; i++) cp_async16(dst + swz128<ROWS>(r0 + i * RSTEP, c), p + i * step, 16);
    } else {
#pragma unroll
        for (int i = 0; i < ROWS / RSTEP; i++) {
            const bool ok = row0 + r0 + i * RSTEP < nvalid;
            cp_async16(dst + swz128<ROWS>(r0 + i * RSTEP, c), ok ? p + i * step : src, ok ? 16 : 0);
        }
    }
}

// STAGES = 2: per tile, S = Q Kᵀ, softmax, O += P V, each product waited for at once. STAGES = 3 overlaps
// the tensor cores with the softmax twice: within a warpgroup (after the softmax of tile j it issues
// S = Q K(j+1) and then O += P(j) V(j), waits only for S, and runs the softmax of tile j+1 while P(j) V(j) is
// still in flight; P is double-buffered, since wgmma reads its register operand asynchronously), and across
// the two (ping-pong: one issues its products while the other runs its softmax; see the loop below).
//
// PREGS > 0 (s3gp, STAGES = 3 only): warp-specialized. A third warpgroup (the first of the CTA's 384 threads)
// is the producer: it gives up registers (setmaxnreg to PREGS; the consumers take CREGS) and issues every
// cp.async of Q, K and V, in the order the consumers need them, each copy group signalling a "full" mbarrier of
// its slot through cp.async.mbarrier.arrive.noinc (128 arrivals); before refilling a slot it waits on the slot's
// "empty" mbarrier, on which each consumer warp arrives once it has retired the products that read it (8
// arrivals). The two consumer warpgroups run the ping-pong of STAGES = 3 unchanged, less the loads: they wait on
// the full mbarriers (parity = use of the slot & 1) and fence the landed copies to the async proxy themselves.
//
// TMA (s3gt, with PREGS > 0): the producer is one thread issuing TMA bulk copies (two 64-column boxes per tile,
// written in the 128-byte swizzle by the copy engine) from tensor maps whose extents are lq and lkv rows, so
// the tails land as zeros; each full mbarrier takes that thread's arrival with the phase's byte count. The
// consumers need no proxy fence: the copies write through the async proxy that wgmma reads.
//
// QREG (s3gtr, with TMA): each warp holds its 16 rows of Q in registers (32: eight k16 A fragments, loaded once by
// ldmatrix), so S = Q Kᵀ reads only K from shared memory (wgmma with A from registers), and P is single-buffered:
// the softmax writes the probabilities over the retired S accumulators, and they are packed to bf16 once the
// previous P·V has retired (the 32 registers of the second P buffer hold Q instead). This removes a third of
// the shared-memory reads of the Q·Kᵀ products (Q's 16 KiB of the 48 KiB a warpgroup reads per tile).
//
// KN, RING, ONEP (TMA only; n176_s2gt, FA3's tile for head dim 128): key tiles of KN rows (128 or 176; S = Q Kᵀ is
// one wgmma m64n<KN>k16 per k16 step, KN/2 accumulators, and P·V takes KN/16 k16 steps), rings of RING slots for K
// and for V (three 32 KiB slots each at KN = 128; two 44 KiB ones at 176: 32 + 4·44 KiB), and ONEP the single P
// buffer of QREG without Q in registers (S 88 + O 64 + P 44 registers at KN = 176: Q stays in shared memory). The
// per-tile costs of the softmax (row maxima across the four threads of a row, the rescale test, the barriers and
// mbarrier waits) are spread over 37 % more keys: 4–8 % faster than s3gt at 32760² and 75600² (tuning note 12).
template <class OUT, int STAGES, int PREGS = 0, int CREGS = 0, int PWARPS = 4, bool TMA = false, bool QREG = false,
          int KN = 128, int RING = 3, bool ONEP = QREG, int NQT = 1>
__device__ __forceinline__ void attn_fwd_sm90(typename OUT::T* __restrict__ out, const bf16* __restrict__ q,
                                              const bf16* __restrict__ k, const bf16* __restrict__ v, int lq,
                                              int lkv, int q_stride, int k_stride, int v_stride, int o_stride,
                                              float scale, const TmaMap* tmq = nullptr, const TmaMap* tmk = nullptr,
                                              const TmaMap* tmv = nullptr) {
    typedef typename OUT::T T;
    static_assert(STAGES == 2 || STAGES == 3, "two stages (serial) or three (overlapped)");
    constexpr bool WS = PREGS > 0;
    static_assert(!WS || STAGES == 3, "the producer warpgroup feeds the ping-pong");
    static_assert(!TMA || WS, "TMA copies are issued by the producer warpgroup");
    static_assert(!QREG || TMA, "Q in registers: the TMA kernel");
    static_assert(KN == 128 || KN == 176, "key tiles of 128 or 176 rows (wgmma_ss has those two shapes)");
    static_assert((KN == 128 && RING == 3) || TMA, "other key tiles and rings: the TMA kernel");
    static_assert(!QREG || ONEP, "Q in registers leaves room for one P buffer only");
    static_assert(!QREG || KN == 128, "Q in registers: 128-key tiles only (wgmma_rs_k has the m64n128 shape; n176 spills)");
    static_assert(NQT == 1 || QREG, "several query tiles per CTA: Q in registers (its shared tile is free after load_q)");
    constexpr int KT_BYTES = KN * HD * 2;  // one K or V slot
    extern __shared__ __align__(1024) uint8_t smem[];
    const uint32_t sbase = shared_addr(smem);
    if (sbase & 1023) __trap();  // the swizzle atoms must start on 1024-byte boundaries
    // warp and wg count the consumer warps (WS: the producer's are -4 … -1, warpgroup -1).
    const int tid = threadIdx.x, lane = tid & 31, warp = (tid >> 5) - (WS ? 4 : 0), wg = warp >> 2;
    // NQT > 1: the CTA runs query tiles item0 … item0 + nitems - 1 one after the other (m0 per item below).
    const int item0 = blockIdx.x * NQT, nitems = min(NQT, (lq + BM - 1) / BM - item0);
    int m0 = item0 * BM;
    const long hoff = (long)blockIdx.y * HD;
    q += hoff;
    k += hoff;
    v += hoff;
    out += hoff;
    const int ntiles = (lkv + KN - 1) / KN;
    const int nt1 = max(ntiles, 1);  // NQT > 1: item it's tiles are the ring's uses it·nt1 … (Q rides on the first)
    const float sl2 = scale * LOG2E;
    const uint32_t sq = sbase;
    // WS: rings as in the ping-pong, then the mbarriers: full K, full V, empty K, empty V, RING each.
    const uint32_t kring = sbase + Q_BYTES, vring = kring + RING * KT_BYTES, bars = vring + RING * KT_BYTES;
    // NQT > 1: q_empty (each consumer warp arrives once its Q fragments are loaded), then the epilogue's staging
    // (the Q tile, which the one-item kernels stage in, holds the next item's Q by then).
    const uint32_t q_empty = bars + 32 * RING;
    uint8_t* const stage_smem = NQT > 1 ? smem + (32 * RING + 8 + 127) / 128 * 128 + (bars - sbase) : smem;
    auto kslot = [&](int t) { return kring + (uint32_t)((t % RING) * KT_BYTES); };
    auto vslot = [&](int t) { return vring + (uint32_t)((t % RING) * KT_BYTES); };
    auto full_k = [&](int t) { return bars + (uint32_t)(8 * (t % RING)); };
    auto full_v = [&](int t) { return bars + (uint32_t)(8 * RING + 8 * (t % RING)); };
    auto empty_k = [&](int t) { return bars + (uint32_t)(16 * RING + 8 * (t % RING)); };
    auto empty_v = [&](int t) { return bars + (uint32_t)(24 * RING + 8 * (t % RING)); };
    if constexpr (WS) {
        if (tid == 0) {
            for (int i = 0; i < RING; i++) {
                mbar_init(full_k(i), TMA ? 1 : 32 * PWARPS);
                mbar_init(full_v(i), TMA ? 1 : 32 * PWARPS);
                mbar_init(empty_k(i), 8);
                mbar_init(empty_v(i), 8);
            }
            if constexpr (NQT > 1) mbar_init(q_empty, 8);
            if constexpr (TMA) asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        }
        __syncthreads();
        if (wg < 0) {
            asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(PREGS));
            // Q with K(0), then K(1), V(0), K(2), V(1), …: K(t) and V(t-1) per step. Slot reuse t ≥ RING waits for
            // the retirement of tile t-RING (the slot's use t/RING - 1).
            if constexpr (TMA) {
                if (tid != 0) return;
                const int col = blockIdx.y * HD;
                auto tile = [&](uint32_t dst, const TmaMap* map, int rows, int row0, uint32_t bar) {
                    tma_load_2d(dst, map, col, row0, bar);
                    tma_load_2d(dst + (uint32_t)(rows * 128), map, col + 64, row0, bar);
                };
                if constexpr (NQT == 1) {
                    mbar_expect(full_k(0), Q_BYTES + (ntiles > 0 ? KT_BYTES : 0));
                    tile(sq, tmq, BM, m0, full_k(0));
                    for (int t = 0; t <= ntiles; t++) {
                        if (t < ntiles) {
                            if (t >= RING) mbar_wait<true>(empty_k(t), ((t / RING) + 1) & 1);
                            if (t > 0) mbar_expect(full_k(t), KT_BYTES);
                            tile(kslot(t), tmk, KN, t * KN, full_k(t));
                        }
                        if (t >= 1) {
                            const int u = t - 1;
                            if (u >= RING) mbar_wait<true>(empty_v(u), ((u / RING) + 1) & 1);
                            mbar_expect(full_v(u), KT_BYTES);
                            tile(vslot(u), tmv, KN, u * KN, full_v(u));
                        }
                    }
                } else {
                    // NQT > 1: item after item, the ring's uses counted on across items; item it's Q waits for the
                    // consumers to hold item it-1's in registers (q_empty), and rides on its first K tile's barrier.
#pragma unroll 1
                    for (int it = 0; it < nitems; it++) {
                        const int gb = it * nt1;  // ring use of the item's first tile
                        if (it > 0) mbar_wait<true>(q_empty, (it - 1) & 1);  // the consumers hold item it-1's Q
                        if (ntiles > 0 && gb >= RING) mbar_wait<true>(empty_k(gb), ((gb / RING) + 1) & 1);
                        mbar_expect(full_k(gb), Q_BYTES + (ntiles > 0 ? KT_BYTES : 0));
                        tile(sq, tmq, BM, m0 + it * BM, full_k(gb));
                        for (int t = 0; t <= ntiles; t++) {
                            if (t < ntiles) {
                                const int g = gb + t;
                                if (t > 0 && g >= RING) mbar_wait<true>(empty_k(g), ((g / RING) + 1) & 1);
                                if (t > 0) mbar_expect(full_k(g), KT_BYTES);
                                tile(kslot(g), tmk, KN, t * KN, full_k(g));
                            }
                            if (t >= 1) {
                                const int u = t - 1, g = gb + u;
                                if (g >= RING) mbar_wait<true>(empty_v(g), ((g / RING) + 1) & 1);
                                mbar_expect(full_v(g), KT_BYTES);
                                tile(vslot(g), tmv, KN, u * KN, full_v(g));
                            }
                        }
                    }
                }
                return;
            }
            constexpr int PT = 32 * PWARPS;
            const int ptid = tid;
            if (ptid >= PT) return;  // PWARPS = 1: the other three warps have nothing to do
            produce_rows<BM, PT>(sq, q, q_stride, m0, lq, ptid);
            for (int t = 0; t <= ntiles; t++) {
                if (t < ntiles) {
                    if (t >= RING) mbar_wait<true>(empty_k(t), ((t / RING) + 1) & 1);
                    produce_rows<KN, PT>(kslot(t), k, k_stride, t * KN, lkv, ptid);
                }
                if (t < ntiles || t == 0) cp_async_arrive(full_k(t));
                if (t >= 1) {
                    const int u = t - 1;
                    if (u >= RING) mbar_wait<true>(empty_v(u), ((u / RING) + 1) & 1);
                    produce_rows<KN, PT>(vslot(u), v, v_stride, u * KN, lkv, ptid);
                    cp_async_arrive(full_v(u));
                }
            }
            asm volatile("cp.async.wait_all;\n" ::: "memory");
            return;
        } else {
            asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(CREGS));
        }
    }
    auto stage_addr = [&](int t) { return sbase + Q_BYTES + (uint32_t)((t % STAGES) * STAGE_BYTES); };
    auto load_tile = [&](int t) {
        if (t < ntiles) {
            load_rows<BN>(stage_addr(t), k, k_stride, t * BN, lkv, tid);
            load_rows<BN>(stage_addr(t) + TILE_BYTES, v, v_stride, t * BN, lkv, tid);
        }
        cp_async_commit();
    };
    // cp.async writes through the generic proxy and wgmma reads through the async proxy: each thread fences
    // its landed copies, then the barrier publishes them.
    auto publish = [&]() {
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();
    };

    constexpr int KS = KN / 16;  // k16 steps of P·V; P's A fragments
    // NQT > 1: one pass of this loop per query tile (item); gb is the ring use of the item's first key tile. The last
    // step of an item loads the next item's Q into qf and issues its S(0) into s (the product a one-item kernel drops),
    // so both outlive the loop's body.
    float o[64], s[KN / 2];
    uint32_t qf[QREG ? 8 : 1][4];  // QREG: this warp's rows of Q, the A fragments of the eight k16 steps
#pragma unroll 1
    for (int it = 0; it < (NQT > 1 ? nitems : 1); it++) {
    const int gb = NQT > 1 ? it * nt1 : 0;
    m0 = (item0 + it) * BM;
    // NQT > 1: whether this item's last step starts the next item (its Q and S(0)), and whether the previous one did.
    const bool next = NQT > 1 && ntiles > 0 && it + 1 < nitems, started = NQT > 1 && ntiles > 0 && it > 0;
#pragma unroll
    for (int i = 0; i < 64; i++) o[i] = 0.0f;
    float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.0f, 0.0f};

    // S = Q Kᵀ (this warpgroup's 64 rows × KN keys); k16 step kk reads panel kk/4 at byte (kk%4)·32. The
    // descriptors are made once per tile and stepped by constant offsets (desc_add).
    const uint64_t qdesc = QREG ? 0 : sdesc(sq + wg * 64 * 128, 16, 1024);  // QREG: Q comes from qf
    auto issue_qk = [&](uint32_t sk) {
        const uint64_t kdesc = sdesc(sk, 16, 1024);
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            const uint32_t koff = (kk & 3) * 32;
            const uint64_t bd = desc_add(kdesc, (kk >> 2) * (KN * 128) + koff);
            if constexpr (QREG) {
                if (kk == 0) {
                    wgmma_rs_k_first(s, qf[0], bd);
                } else {
                    wgmma_rs_k(s, qf[kk], bd);
                }
                continue;
            }
            const uint64_t ad = desc_add(qdesc, (kk >> 2) * (BM * 128) + koff);
            if (kk == 0) {
                wgmma_ss_first(s, ad, bd);
            } else {
                wgmma_ss(s, ad, bd);
            }
        }
        wg_commit();
    };
    // QREG: Q's fragments from the landed tile (ldmatrix.x4 per k16 step: lanes 0–15 address rows 0–15 of the
    // warp's 16 at the step's first 8 columns, lanes 16–31 at its second 8).
    auto load_q = [&]() {
        if constexpr (QREG) {
            const int r = wg * 64 + (warp & 3) * 16 + (lane & 15);
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++)
                ldsm_x4(sq + swz128<BM>(r, 2 * kk + (lane >> 4)), qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3]);
        }
    };
    // Online softmax of s (tile j) into P (bf16, A-fragment order) and the rescale factor of O (attention90.cuh's
    // softmax_bf16; masked keys read as −∞ through sval). ONEP: the probabilities go over the S accumulators
    // instead, and step packs them into P once the previous P·V has retired (one P buffer). pf is uint32_t[KS][4],
    // taken as auto&: a lambda parameter declared with that type crashes nvcc 11.8's front end.
    auto softmax = [&](auto& pf, int j, float (&alpha)[2], auto masked) {
        constexpr bool MASK = decltype(masked)::value;
        const int limit = lkv - j * KN - (lane & 3) * 2;  // keys at column offset ≥ limit are masked
        auto sval = [&](int i, int e) {
            if constexpr (MASK) return i * 8 + (e & 1) >= limit ? -INFINITY : s[i * 4 + e];
            return s[i * 4 + e];
        };
        if constexpr (ONEP) {  // the probabilities over the scores, packed once P is free
            softmax_exp<KN / 8>(sval, sl2, mrow, lrow, alpha, [&](int i, float p0, float p1, float p2, float p3) {
                s[i * 4 + 0] = p0;
                s[i * 4 + 1] = p1;
                s[i * 4 + 2] = p2;
                s[i * 4 + 3] = p3;
            });
        } else {
            softmax_bf16(sval, sl2, mrow, lrow, pf, alpha);
        }
    };
    // The last tile is the only one that can be partial.
    auto softmax_tile = [&](auto& pf, int j, float (&alpha)[2]) {
        if ((j + 1) * KN > lkv) {
            softmax(pf, j, alpha, std::true_type());
        } else {
            softmax(pf, j, alpha, std::false_type());
        }
    };

    if constexpr (!WS) load_rows<BM>(sq, q, q_stride, m0, lq, tid);
    if constexpr (STAGES == 2) {
        load_tile(0);
        for (int j = 0; j < ntiles; j++) {
            cp_async_wait<0>();
            publish();  // tile j visible; every warpgroup is done with tile j-1, whose stage refills now
            load_tile(j + 1);
            wg_fence();
            issue_qk(stage_addr(j));
            wg_wait<0>();
            reg_fence(s);
            uint32_t pf[KS][4];
            float alpha[2];
            softmax_tile(pf, j, alpha);
            rescale_o(o, alpha);
            reg_fence(o);
            wg_fence();
            issue_pv_bf16(o, pf, stage_addr(j) + TILE_BYTES);
            wg_wait<0>();
            reg_fence(o);
        }
    } else {
        // Ping-pong (STAGES = 3): K and V have rings of RING slots of KT_BYTES each (three of 32 KiB; n176: two of
        // 44 KiB; the cp.async loads below assume three). Per tile j a warpgroup runs
        // A(j) = softmax of S(j), B(j) = wait for P(j-1) V(j-1) and rescale O, then C(j) = issue S(j+1) = Q K(j+1)
        // and O += P(j) V(j), wait for S(j+1) only. Two named barriers, P (1) and Q (2), make the warpgroups take
        // turns: warpgroup 0 runs C(j) between P_j and Q_j while warpgroup 1 runs A(j) B(j), and the other way
        // round between Q_j and P_j+1, so one's softmax runs under the other's products. The same code serves
        // both: warpgroup 0 meets P before C and Q after, warpgroup 1 Q before C and P after.
        // Loads (every thread its share): K(j+3) right after P_j, V(j+2) right after Q_j; before P_j each thread
        // waits for its K(j+1) and V(j) (all but its latest two cp.async groups) and fences them to the async
        // proxy. Stage reuse: K(j)'s slot is read by S(j) of both warpgroups, retired before P_j; V(j-1)'s by
        // P(j-1) V(j-1) of both, retired before Q_j.
        auto load_k = [&](int t) {
            if (t < ntiles) load_rows<KN>(kslot(t), k, k_stride, t * KN, lkv, tid);
            cp_async_commit();
        };
        auto load_v = [&](int t) {
            if (t < ntiles) load_rows<KN>(vslot(t), v, v_stride, t * KN, lkv, tid);
            cp_async_commit();
        };
        auto land = [&]() {
            cp_async_wait<2>();
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        };
        // WS: K(j+1) and V(j) landed. On the last tile S reads a slot nothing refills, K(ntiles - RING)'s or, with
        // fewer tiles, one never filled, and drops the result (no wait); NQT > 1 with a next item: that slot is the
        // next item's K(0), which arrives with its Q, and S is the next item's S(0).
        auto ws_ready = [&](int j) {
            if (j + 1 < ntiles || next) mbar_wait(full_k(gb + j + 1), ((gb + j + 1) / RING) & 1);
            mbar_wait(full_v(gb + j), ((gb + j) / RING) & 1);
            if constexpr (!TMA) asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        };
        // NQT > 1: Q's tile is free for the next item's once this warp holds its fragments (ldmatrix read them through
        // the generic proxy, the TMA writes through the async one).
        auto release_q = [&]() {
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            warp_release(q_empty);
        };
        if (started) {
            // s holds S(0) and qf Q, from the previous item's last step
        } else if constexpr (WS) {
            mbar_wait(full_k(gb), (gb / RING) & 1);  // Q and K(0)
            if constexpr (!TMA) asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            load_q();
            if constexpr (NQT > 1) release_q();
        } else {
            // Q and K(0) in the first group (load_rows<BM>(sq) above is not yet committed), then K1, V0, K2, V1.
            load_k(0);
            load_k(1);
            load_v(0);
            load_k(2);
            load_v(1);
            cp_async_wait<4>();
            publish();
        }
        if (!started) {
            wg_fence();
            issue_qk(kslot(gb));
            wg_wait<0>();
            reg_fence(s);
            if constexpr (WS) warp_release(empty_k(gb));
        }
        const int bar_x = wg == 0 ? 1 : 2, bar_y = wg == 0 ? 2 : 1;
        if (wg == 1) {
            if constexpr (!WS) land();
            named_sync(1);  // P_0
            if constexpr (!WS) load_k(3);
        }
        uint32_t pfa[KS][4], pfb[KS][4];  // ONEP: pfb unused
        auto step = [&](int j, uint32_t (&pfj)[KS][4]) {
            uint32_t (&pf)[KS][4] = ONEP ? pfa : pfj;  // ONEP: one P buffer
            float alpha[2];
            softmax_tile(pf, j, alpha);  // A(j)
            wg_wait<0>();                // B(j): P(j-1) V(j-1) done
            reg_fence(o);
            if constexpr (ONEP) reg_fence(s);  // the pack below stays after the wait: one P buffer live
            if constexpr (WS) {
                if (j > 0) warp_release(empty_v(gb + j - 1));
            }
            if constexpr (ONEP) {
#pragma unroll
                for (int i = 0; i < KN / 8; i++) pack_p(pf, i, s[i * 4], s[i * 4 + 1], s[i * 4 + 2], s[i * 4 + 3]);
            }
            rescale_o(o, alpha);
            reg_fence(o);
            if constexpr (WS) {
                ws_ready(j);
                if constexpr (NQT > 1) {
                    if (next && j + 1 == ntiles) {  // S(j+1) below is the next item's S(0)
                        load_q();
                        release_q();
                    }
                }
            } else if (wg == 0) {
                land();
            }
            named_sync(bar_x);  // warpgroup 0: P_j, 1: Q_j
            if constexpr (!WS) {
                if (wg == 0) {
                    load_k(j + 3);
                } else {
                    load_v(j + 2);
                }
            }
            wg_fence();
            // C(j); on the last tile S reads a slot nothing writes and its result is dropped (NQT > 1 with a next
            // item: the next item's S(0)).
            issue_qk(kslot(gb + j + 1));
            issue_pv_bf16(o, pf, vslot(gb + j));
            wg_wait<1>();
            reg_fence(s);
            if constexpr (WS) {
                if (j + 1 < ntiles || next) warp_release(empty_k(gb + j + 1));
            } else if (wg == 1) {
                land();
            }
            named_sync(bar_y);  // warpgroup 0: Q_j, 1: P_j+1
            if constexpr (!WS) {
                if (wg == 0) {
                    load_v(j + 2);
                } else {
                    load_k(j + 4);
                }
            }
        };
        int j = 0;
        for (; j + 1 < ntiles; j += 2) {
            step(j, pfa);
            step(j + 1, pfb);
        }
        if (j < ntiles) step(j, pfa);
        if (wg == 0) named_sync(1);  // the P after warpgroup 1's last C
        wg_wait<0>();
        reg_fence(o);
        if constexpr (NQT > 1) {
            if (ntiles > 0) warp_release(empty_v(gb + ntiles - 1));  // the next item's V tiles reuse its slot
        }
    }
    if constexpr (WS) {
        if constexpr (NQT == 1) named_sync(3);  // the consumers only (NQT > 1 stages per warp, away from Q's tile)
    } else {
        cp_async_wait<0>();
        __syncthreads();  // the ring and Q become the epilogue's staging memory
    }

    // Epilogue as in attention.cu: warp w holds rows 16w + g and 16w + g + 8 of the CTA's 128.
    constexpr float one[2] = {1.0f, 1.0f};
    store_o(out, o, lrow, one, [](int) { return make_float2(1.0f, 1.0f); },
            stage_smem + warp * 16 * (64 + 8) * (int)sizeof(T), m0 + warp * 16, lq, o_stride);
    }  // items
}

}  // namespace

// Entry points attn_b128_w8_s<STAGES>g_<out>: grid (ceil(lq / 128), heads), 256 threads, dynamic shared
// memory 32768 + STAGES·65536 bytes (163840 for s2g, 229376 for s3g).
#define ATTN90(name, OUT, STAGES)                                                                                 \
    extern "C" __global__ void __launch_bounds__(NTHREADS, 1)                                                     \
        name(OUT::T* out, const bf16* q, const bf16* k, const bf16* v, int lq, int lkv, int q_stride, int k_stride, \
             int v_stride, int o_stride, float scale) {                                                              \
        attn_fwd_sm90<OUT, STAGES>(out, q, k, v, lq, lkv, q_stride, k_stride, v_stride, o_stride, scale);         \
    }
ATTN90(attn_b128_w8_s2g_bf16, BF16, 2)
ATTN90(attn_b128_w8_s2g_f32, F32, 2)
ATTN90(attn_b128_w8_s3g_bf16, BF16, 3)
ATTN90(attn_b128_w8_s3g_f32, F32, 3)

// Warp-specialized entry points attn_b128_w12_s3g<x>_bf16, four producer warps; x = q: producer 40 registers,
// consumers 232 (the fastest, no spills); p: 24 / 240 (spills in the producer). One producer warp (PWARPS = 1)
// lost badly (344–371 TFLOP/s), so no entry point has it. Grid as above, 384 threads, dynamic shared memory
// 229376 + 256 bytes (the mbarriers after the rings).
#define ATTN90WS(name, OUT, PREGS, CREGS, PWARPS)                                                                 \
    extern "C" __global__ void __launch_bounds__(NTHREADS + 128, 1)                                               \
        name(OUT::T* out, const bf16* q, const bf16* k, const bf16* v, int lq, int lkv, int q_stride, int k_stride, \
             int v_stride, int o_stride, float scale) {                                                              \
        attn_fwd_sm90<OUT, 3, PREGS, CREGS, PWARPS>(out, q, k, v, lq, lkv, q_stride, k_stride, v_stride, o_stride, \
                                                    scale);                                                          \
    }
ATTN90WS(attn_b128_w12_s3gp_bf16, BF16, 24, 240, 4)
ATTN90WS(attn_b128_w12_s3gq_bf16, BF16, 40, 232, 4)

// TMA entry point attn_b128_w12_s3gt_bf16: the warp-specialized ping-pong with a one-thread TMA producer
// (producer 24 registers, consumers 240). q, k and v come as tensor maps of bf16 [rows, H·128] (row stride the
// tensor's, 16-byte multiple): box 64 columns × 128 rows, 128-byte swizzle, extents lq rows for q and lkv rows
// for k and v. Grid and shared memory as for s3gq.
extern "C" __global__ void __launch_bounds__(NTHREADS + 128, 1)
    attn_b128_w12_s3gt_bf16(BF16::T* out, const __grid_constant__ TmaMap tq, const __grid_constant__ TmaMap tk,
                            const __grid_constant__ TmaMap tv, int lq, int lkv, int o_stride, float scale) {
    attn_fwd_sm90<BF16, 3, 24, 240, 4, true>(out, nullptr, nullptr, nullptr, lq, lkv, 0, 0, 0, o_stride, scale, &tq,
                                             &tk, &tv);
}

// TMA entry point attn_b128_w12_s3gtr_bf16: s3gt with Q in registers and one P buffer (attn_fwd_sm90's QREG);
// arguments, grid and shared memory as s3gt's.
extern "C" __global__ void __launch_bounds__(NTHREADS + 128, 1)
    attn_b128_w12_s3gtr_bf16(BF16::T* out, const __grid_constant__ TmaMap tq, const __grid_constant__ TmaMap tk,
                             const __grid_constant__ TmaMap tv, int lq, int lkv, int o_stride, float scale) {
    attn_fwd_sm90<BF16, 3, 24, 240, 4, true, true>(out, nullptr, nullptr, nullptr, lq, lkv, 0, 0, 0, o_stride, scale,
                                                   &tq, &tk, &tv);
}

// Wide key tiles, TMA entry point attn_b128n176_w12_s2gt_bf16: the s3gt ping-pong over 176-key tiles (attn_fwd_sm90's
// KN) with rings of two K and two V slots ("s2": the slots per ring, not the serial s2g) and one P buffer, Q in
// shared memory (in registers it spills at 176; wgmma_rs_k has no 176-key overload since). Arguments
// and grid as s3gt's; the k and v tensor maps' boxes are 64 columns × 176 rows (q's stay 128 rows). Dynamic shared
// memory 32768 + 4·176·256 + 256 = 213248 bytes.
#define ATTN90W(name, KN)                                                                                            \
    extern "C" __global__ void __launch_bounds__(NTHREADS + 128, 1)                                                  \
        name(BF16::T* out, const __grid_constant__ TmaMap tq, const __grid_constant__ TmaMap tk,                     \
             const __grid_constant__ TmaMap tv, int lq, int lkv, int o_stride, float scale) {                        \
        attn_fwd_sm90<BF16, 3, 24, 240, 4, true, false, KN, 2, true>(out, nullptr, nullptr, nullptr, lq, lkv, 0, 0, 0, \
                                                                    o_stride, scale, &tq, &tk, &tv);                 \
    }
ATTN90W(attn_b128n176_w12_s2gt_bf16, 176)

// Several query tiles per CTA, TMA entry points attn_b<128·NQT>n128_w12_s2gtr_bf16: s3gtr (Q in registers, one P buffer)
// over NQT query tiles of 128 rows one after the other (attn_fwd_sm90's NQT), two K and two V slots of 32 KiB, so
// that the producer loads the next tile's Q and first K/V under the last tiles and the epilogue of the one before:
// for short keys (the 512 text tokens of cross-attention), where a one-tile CTA exposes its loads and its epilogue.
// Grid (ceil(lq / (128·NQT)), heads); the q tensor map's box stays 128 rows. Dynamic shared memory 32768 + 4·32768
// + 128 + 18432 = 182400 bytes (Q, the rings, the mbarriers, the epilogue's staging).
#define ATTN90Q(name, NQT)                                                                                            \
    extern "C" __global__ void __launch_bounds__(NTHREADS + 128, 1)                                                  \
        name(BF16::T* out, const __grid_constant__ TmaMap tq, const __grid_constant__ TmaMap tk,                     \
             const __grid_constant__ TmaMap tv, int lq, int lkv, int o_stride, float scale) {                        \
        attn_fwd_sm90<BF16, 3, 24, 240, 4, true, true, 128, 2, true, NQT>(out, nullptr, nullptr, nullptr, lq, lkv, 0, 0, \
                                                                         0, o_stride, scale, &tq, &tk, &tv);         \
    }
ATTN90Q(attn_b256n128_w12_s2gtr_bf16, 2)
ATTN90Q(attn_b512n128_w12_s2gtr_bf16, 4)
