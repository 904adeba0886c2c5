// Device helpers of the Hopper (sm_90a) attention kernels, kernels/sm90a/attention.cu (bf16) and
// kernels/sm90a/attention8.cu (INT8 Q·Kᵀ): the tile geometry, mbarriers, TMA bulk tensor copies, shared-memory
// matrix descriptors and the warpgroup MMA (wgmma) wrappers. Only the sm90a modules include it (after
// common.cuh and mma.cuh); wgmma exists on sm_90a alone.
#pragma once

namespace {

constexpr int HD = 128, BM = 128, BN = 128, NTHREADS = 256;
constexpr int Q_BYTES = BM * HD * 2;        // 32 KiB
constexpr int TILE_BYTES = BN * HD * 2;     // 32 KiB
constexpr int STAGE_BYTES = 2 * TILE_BYTES; // K then V
constexpr float LOG2E = 1.4426950408889634f;

// Byte offset of (row r, 16-byte chunk c of the 256-byte row) in a swizzled tile of ROWS rows.
template <int ROWS>
__device__ __forceinline__ uint32_t swz128(int r, int c) {
    return (uint32_t)((c >> 3) * ROWS * 128 + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}

// mbarriers (the warp-specialized s3gp): init, arrive, parity wait, and the arrive that fires once all of the
// calling thread's earlier cp.async copies have landed (.noinc: counted in the init count).
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// mbar_wait waits for the phase of parity to complete. SLEEP (the producers, which have nothing else to do): try_wait
// with a suspend-time hint of 10 ms, so that the thread sleeps until the phase completes (it is woken then) instead of
// retrying every few cycles. The n176 profile counted 725 million retries of the TMA producer's wait, 17 % of the
// kernel's issued instructions, each taking an issue slot from the consumer warp on the same scheduler.
template <bool SLEEP = false>
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    uint32_t done;
    do {
        if constexpr (SLEEP) {
            asm volatile(
                "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2, %3;\n selp.u32 %0, 1, 0, p;\n}\n"
                : "=r"(done)
                : "r"(bar), "r"(parity), "r"(10000000u)
                : "memory");
        } else {
            asm volatile(
                "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
                : "=r"(done)
                : "r"(bar), "r"(parity)
                : "memory");
        }
    } while (!done);
}
// The consumers' named barrier id (1 … 15; 0 is __syncthreads): the NTHREADS threads of the two consumer
// warpgroups, without the producer's.
__device__ __forceinline__ void named_sync(int id) {
    asm volatile("barrier.sync %0, %1;\n" ::"r"(id), "n"(NTHREADS) : "memory");
}
// A warp's one arrival on an "empty" mbarrier (its init count counts warps), after all its lanes' reads of the
// slot: __syncwarp orders the other lanes' shared-memory reads (ldmatrix included) before lane 0's release.
__device__ __forceinline__ void warp_release(uint32_t bar) {
    __syncwarp();
    if ((threadIdx.x & 31) == 0) mbar_arrive(bar);
}
__device__ __forceinline__ void cp_async_arrive(uint32_t bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}

// A TMA tensor map (CUtensorMap: 128 opaque bytes made on the host by cuTensorMapEncodeTiled), passed to the
// kernel by value as a __grid_constant__ parameter; the bulk copies take its generic address.
struct alignas(64) TmaMap {
    unsigned long long bytes[16];
};

// The arrive of the one producer thread that also announces the bytes the barrier's phase waits for.
__device__ __forceinline__ void mbar_expect(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}

// TMA: the box at (column c0, row c1) of a 2-D tensor map into shared memory at dst (1024-byte aligned for
// the 128-byte swizzle), completing its bytes on mbarrier bar. Rows and columns past the map's extent land
// as zeros, and count in the bytes all the same.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const TmaMap* map, int c0, int c1, uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
        : "memory");
}

// Shared-memory matrix descriptor, 128-byte swizzle: start address, leading and stride byte offsets.
__device__ __forceinline__ uint64_t sdesc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo & 0x3FFFF) >> 4) << 16) |
           ((uint64_t)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

// desc_add steps a descriptor by bytes (a multiple of 16) within the same shared memory: the start address is the
// descriptor's low 14 bits (in 16-byte units), and every CTA address stays below 256 KiB, so the add cannot carry
// into the other fields.
__device__ __forceinline__ uint64_t desc_add(uint64_t d, uint32_t bytes) { return d + (bytes >> 4); }

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses of accumulator registers across wgmma issue and wait.
template <int N>
__device__ __forceinline__ void reg_fence(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}

// Softmax helpers of the Hopper kernels over one key tile of NI·8 keys (128 unless a kernel's tile is wider) held as
// NI·4 accumulators per thread (the wgmma m64n(8·NI) layout: i·4 + e is row g (+8 for e ≥ 2) of the warp's 16, key
// 8i + 2·(lane % 4) + (e & 1)), read
// through sval(i, e), which returns −∞ for masked keys (masked scores are never written back: non-wgmma writes
// to registers that wgmma uses as accumulators make ptxas serialize the wgmma pipeline, C7515).

// tile_rowmax returns the tile's max of rows g and g + 8 over the four threads of a row group.
// Four partial maxima per row keep the dependent chain of FMNMX short (the softmax runs one warp per scheduler,
// so its latency is not hidden by other warps).
template <int NI = 16, class SV>
__device__ __forceinline__ void tile_rowmax(SV sval, float (&mx)[2]) {
    float part[2][4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        part[0][k] = fmaxf(sval(k, 0), sval(k, 1));
        part[1][k] = fmaxf(sval(k, 2), sval(k, 3));
    }
#pragma unroll
    for (int i = 4; i < NI; i++) {
        part[0][i & 3] = fmaxf(part[0][i & 3], fmaxf(sval(i, 0), sval(i, 1)));
        part[1][i & 3] = fmaxf(part[1][i & 3], fmaxf(sval(i, 2), sval(i, 3)));
    }
#pragma unroll
    for (int r = 0; r < 2; r++) mx[r] = fmaxf(fmaxf(part[r][0], part[r][1]), fmaxf(part[r][2], part[r][3]));
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    }
}

// The online softmax's slack (log2 units): the running max is raised only past it (softmax_exp).
constexpr float MAX_SLACK = 8.0f;

// softmax_exp is the online softmax of a tile: raises the running max mrow (log2 domain: scores times sl2 > 0),
// sets alpha to O's rescale factor, adds the tile's row sums into lrow, and hands the probabilities of
// accumulators i·4 … i·4 + 3 to sink(i, p0, p1, p2, p3).
template <int NI = 16, class SV, class SINK>
__device__ __forceinline__ void softmax_exp(SV sval, float sl2, float (&mrow)[2], float (&lrow)[2], float (&alpha)[2],
                                            SINK sink) {
    float mx[2], mneg[2];
    tile_rowmax<NI>(sval, mx);
#pragma unroll
    for (int r = 0; r < 2; r++) {
        // The running max is raised only when the tile's exceeds it by more than MAX_SLACK: otherwise the tile's
        // probabilities stay below 2^MAX_SLACK (harmless in f32 sums and in bf16 P) and O keeps its scale
        // (alpha = 1), so that rescale_o can skip its 64 products, which it does when no row of the warp moved.
        const float mt = mx[r] * sl2;
        const bool up = mt > mrow[r] + MAX_SLACK;  // always on the first tile (mrow = −∞)
        alpha[r] = up ? fast_exp2(mrow[r] - mt) : 1.0f;
        mrow[r] = up ? mt : mrow[r];
        mneg[r] = -mrow[r];
    }
    float rs[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};  // two partial sums per row: shorter dependent chains
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const float p0 = fast_exp2(fmaf(sval(i, 0), sl2, mneg[0]));
        const float p1 = fast_exp2(fmaf(sval(i, 1), sl2, mneg[0]));
        const float p2 = fast_exp2(fmaf(sval(i, 2), sl2, mneg[1]));
        const float p3 = fast_exp2(fmaf(sval(i, 3), sl2, mneg[1]));
        rs[0][i & 1] += p0 + p1;
        rs[1][i & 1] += p2 + p3;
        sink(i, p0, p1, p2, p3);
    }
    lrow[0] = fmaf(lrow[0], alpha[0], rs[0][0] + rs[0][1]);
    lrow[1] = fmaf(lrow[1], alpha[1], rs[1][0] + rs[1][1]);
}

// rescale_o multiplies O (64 accumulators, rows g and g + 8) by the softmax's rescale factors alpha, unless
// every row of the warp keeps its scale (alpha = 1: softmax_exp's slack), the usual case after a few tiles.
__device__ __forceinline__ void rescale_o(float (&o)[64], const float (&alpha)[2]) {
    if (!__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f)) return;
#pragma unroll
    for (int i = 0; i < 16; i++) {
        o[i * 4 + 0] *= alpha[0];
        o[i * 4 + 1] *= alpha[0];
        o[i * 4 + 2] *= alpha[1];
        o[i * 4 + 3] *= alpha[1];
    }
}

// pack_p packs the probabilities of accumulators i·4 … i·4 + 3 into P (bf16, the A fragments of KS k16 steps).
template <int KS>
__device__ __forceinline__ void pack_p(uint32_t (&pf)[KS][4], int i, float p0, float p1, float p2, float p3) {
    pf[i / 2][(i & 1) * 2 + 0] = pack_bf16(p0, p1);
    pf[i / 2][(i & 1) * 2 + 1] = pack_bf16(p2, p3);
}

// softmax_bf16 is softmax_exp straight into P.
template <int KS = 8, class SV>
__device__ __forceinline__ void softmax_bf16(SV sval, float sl2, float (&mrow)[2], float (&lrow)[2],
                                             uint32_t (&pf)[KS][4], float (&alpha)[2]) {
    softmax_exp<2 * KS>(sval, sl2, mrow, lrow, alpha,
                [&](int i, float p0, float p1, float p2, float p3) { pack_p(pf, i, p0, p1, p2, p3); });
}

// store_o is the epilogue of the Hopper kernels: warp w's 16 rows of O (64 accumulators per thread, the
// wgmma layout), the row sums lrow of its four threads per row group reduced, O · num[r] / l · colscale(c)
// (colscale: a float2 for channels c, c + 1) written to out [rows, 128] (rows ≥ lq skipped) through this warp's
// staging memory stage (16 rows of (64 + 8)·sizeof(T) bytes, one 64-channel half at a time): 16-byte stores.
template <class T, class CS>
__device__ __forceinline__ void store_o(T* __restrict__ out, const float (&o)[64], const float (&lrow)[2],
                                        const float (&num)[2], CS colscale, uint8_t* stage, int row0, int lq,
                                        int o_stride) {
    constexpr int PITCH = (64 + 8) * (int)sizeof(T), CPR = 64 * (int)sizeof(T) / 16;
    const int lane = threadIdx.x & 31, g = lane >> 2, cq = (lane & 3) * 2;
    float inv[2];  // num[r] / l for rows g and g + 8 (l: the row's sum over its four threads), 0 for an empty row
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float l = lrow[r];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        inv[r] = l > 0.0f ? num[r] / l : 0.0f;
    }
#pragma unroll
    for (int half = 0; half < 2; half++) {
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const float* acc = &o[(half * 8 + i) * 4];
            uint8_t* p = stage + g * PITCH + (i * 8 + cq) * sizeof(T);
            const float2 vs = colscale(half * 64 + i * 8 + cq);
            st_pair<T>(p, acc[0] * inv[0] * vs.x, acc[1] * inv[0] * vs.y);
            st_pair<T>(p + 8 * PITCH, acc[2] * inv[1] * vs.x, acc[3] * inv[1] * vs.y);
        }
        __syncwarp();
#pragma unroll
        for (int i = 0; i < 16 * CPR / 32; i++) {
            const int id = lane + i * 32, r = id / CPR, c = id % CPR;
            const int row = row0 + r;
            if (row < lq) {
                const uint4 val = *reinterpret_cast<const uint4*>(stage + r * PITCH + c * 16);
                *reinterpret_cast<uint4*>(reinterpret_cast<uint8_t*>(out + (long)row * o_stride + half * 64) + c * 16) = val;
            }
        }
        __syncwarp();
    }
}

// Operand lists of the 64 accumulators of a wgmma m64n128: the register names %0 … %63 in the instruction
// text, and the constraints binding them to d[0] … d[63] (M: one of the WG_RW_ / WG_WO_ makers below,
// read-write or write-only, f32 or s32).
#define WG_REGS64 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, " \
    "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, " \
    "%43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define WG_D8(M, i) M(d[i]), M(d[i + 1]), M(d[i + 2]), M(d[i + 3]), M(d[i + 4]), M(d[i + 5]), M(d[i + 6]), M(d[i + 7])
#define WG_D64(M) \
    WG_D8(M, 0), WG_D8(M, 8), WG_D8(M, 16), WG_D8(M, 24), WG_D8(M, 32), WG_D8(M, 40), WG_D8(M, 48), WG_D8(M, 56)
#define WG_RW_float(x) "+f"(x)
#define WG_WO_float(x) "=f"(x)
#define WG_RW_int(x) "+r"(x)
#define WG_WO_int(x) "=r"(x)
#define WG_UNPAREN(...) __VA_ARGS__

// WGMMA_PAIR defines name(d, a, bdesc), d += A·B, and name##_first(d, a, bdesc), d = A·B with write-only outputs
// (the first step of a product does not depend on the registers' previous values, so no copies of them are made
// while other products are in flight): INSTR, a wgmma.mma_async instruction with D of element type D (float or
// int, 64 registers); A_PARAM, the parameter of A in parentheses; OPERANDS, the text of A's and B's operands
// (%64 on); TAIL, the immediates after scale-d; A_OPS, A's constraints in parentheses.
#define WGMMA_PAIR(name, D, INSTR, A_PARAM, OPERANDS, TAIL, A_OPS)                                             \
    __device__ __forceinline__ void name(D(&d)[64], WG_UNPAREN A_PARAM, uint64_t bdesc) {                      \
        asm volatile(INSTR " " WG_REGS64 ", " OPERANDS ", 1" TAIL ";\n"                                        \
                     : WG_D64(WG_RW_##D)                                                                       \
                     : WG_UNPAREN A_OPS, "l"(bdesc));                                                          \
    }                                                                                                          \
    __device__ __forceinline__ void name##_first(D(&d)[64], WG_UNPAREN A_PARAM, uint64_t bdesc) {              \
        asm volatile(INSTR " " WG_REGS64 ", " OPERANDS ", 0" TAIL ";\n"                                        \
                     : WG_D64(WG_WO_##D)                                                                       \
                     : WG_UNPAREN A_OPS, "l"(bdesc));                                                          \
    }
#define WG_A_REGS ("r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]))

// wgmma_ss: m64n128k16 bf16 → f32, A and B from shared memory (K-major both).
WGMMA_PAIR(wgmma_ss, float, "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16", (uint64_t adesc), "%64, %65",
           ", 1, 1, 0, 0", ("l"(adesc)))
// wgmma_rs_k: m64n128k16 bf16 → f32, A (4 registers of bf16 pairs, the mma.sync A layout per warp) from
// registers, B from shared memory K-major (S = Q Kᵀ with Q held in registers).
WGMMA_PAIR(wgmma_rs_k, float, "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16", (const uint32_t(&a)[4]),
           "{%64, %65, %66, %67}, %68", ", 1, 1, 0", WG_A_REGS)
// wgmma_s8: m64n128k32 s8·s8 → s32, A and B from shared memory (K-major).
WGMMA_PAIR(wgmma_s8, int, "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8", (uint64_t adesc), "%64, %65", "",
           ("l"(adesc)))
// wgmma_u8s8_rs: m64n128k32 u8·s8 → s32, A (4 registers of four bytes each: the mma.sync m16n8k32 A layout per
// warp) from registers, B from shared memory (K-major).
WGMMA_PAIR(wgmma_u8s8_rs, int, "wgmma.mma_async.sync.aligned.m64n128k32.s32.u8.s8", (const uint32_t(&a)[4]),
           "{%64, %65, %66, %67}, %68", "", WG_A_REGS)

// 176-key tiles (kernels/sm90a/attention.cu's KN = 176): S = Q Kᵀ over 176 keys as one wgmma m64n176k16 with 88
// accumulators, an overload of wgmma_ss on the accumulator array's size. (144, 160 and 192 keys, and 176 with Q in
// registers, were measured and lost: bench/attention/README.md, tuning note 12.)
#define WG_REGS88 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, " \
    "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, " \
    "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, " \
    "%66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87}"
#define WG_D88(M) WG_D64(M), WG_D8(M, 64), WG_D8(M, 72), WG_D8(M, 80)

// WGMMA_WIDE defines name(d, a, bdesc) and name##_first as WGMMA_PAIR does, for an f32 accumulator of NR registers
// (REGS, DN: the operand list and constraint maker of that many); OPERANDS numbers A and B from %NR on.
#define WGMMA_WIDE(name, NR, REGS, DN, INSTR, A_PARAM, OPERANDS, TAIL, A_OPS)                 \
    __device__ __forceinline__ void name(float(&d)[NR], WG_UNPAREN A_PARAM, uint64_t bdesc) {  \
        asm volatile(INSTR " " REGS ", " OPERANDS ", 1" TAIL ";\n"                            \
                     : DN(WG_RW_float)                                                         \
                     : WG_UNPAREN A_OPS, "l"(bdesc));                                          \
    }                                                                                          \
    __device__ __forceinline__ void name##_first(float(&d)[NR], WG_UNPAREN A_PARAM, uint64_t bdesc) { \
        asm volatile(INSTR " " REGS ", " OPERANDS ", 0" TAIL ";\n"                            \
                     : DN(WG_WO_float)                                                         \
                     : WG_UNPAREN A_OPS, "l"(bdesc));                                          \
    }
WGMMA_WIDE(wgmma_ss, 88, WG_REGS88, WG_D88, "wgmma.mma_async.sync.aligned.m64n176k16.f32.bf16.bf16", (uint64_t adesc),
           "%88, %89", ", 1, 1, 0, 0", ("l"(adesc)))

// wgmma m64n128k16, A from registers as wgmma_rs_k, B from shared memory MN-major (transposed), accumulating
// into d[64].
__device__ __forceinline__ void wgmma_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t bdesc) {
    asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " WG_REGS64
                 ", {%64, %65, %66, %67}, %68, 1, 1, 1, 1;\n"
                 : WG_D64(WG_RW_float)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(bdesc));
}

// O += P V for one tile of KS·16 keys (wgmma_rs; 128 unless the kernel's tile is wider): k16 step kk covers keys
// 16kk … 16kk+15 (two 8-row groups of 1024 bytes) of the V tile at sv, which is read N-major, its 64-column panels
// KS·16·128 bytes apart; committed as one group.
template <int KS>
__device__ __forceinline__ void issue_pv_bf16(float (&o)[64], const uint32_t (&pf)[KS][4], uint32_t sv) {
    const uint64_t vdesc = sdesc(sv, KS * 16 * 128, 1024);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wgmma_rs(o, pf[kk], desc_add(vdesc, kk * 2048));
    wg_commit();
}

__device__ __forceinline__ void reg_fence_i(int (&d)[64]) {
#pragma unroll
    for (int i = 0; i < 64; i++) asm volatile("" : "+r"(d[i])::"memory");
}

}  // namespace
