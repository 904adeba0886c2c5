// Tensor-core GEMM for when cuBLASLt is absent: C[M,N] = A[M,K] · B[N,K]ᵀ (+ bias[N]).
//
// A (activations) and B (weights, as stored in GGUF: one row per output feature) are bf16, row-major with K
// contiguous; accumulation is f32 (mma.sync m16n8k16); C is f32 or bf16, row-major. The bias is f32 or
// bf16 (bias_kind 1 or 2; 0 = none) and is added to the f32 accumulator before the final rounding.
//
// Structure: a CTA computes a BM×BN tile with 8 warps; K is walked in BK-wide slices (32 or 64) through a
// STAGES-deep cp.async ring in shared memory; fragments come from shared memory through ldmatrix. A
// shared-memory row holds BK/8 16-byte chunks; chunk c of row r is stored at position c ^ ((r >> 1) & 3)
// for 64-byte rows and c ^ (r & 7) for 128-byte rows, which makes both the cp.async stores and the ldmatrix
// reads free of bank conflicts. CTAs are ordered in groups of 8 row tiles so that neighbouring CTAs share A
// and B tiles in L2.
//
// Requirements (checked by the Go launcher): K % 8 == 0, A and B 16-byte aligned, dynamic shared memory
// of STAGES·(BM+BN)·BK·2 bytes allowed for the kernel. M and N are arbitrary.
#include "common.cuh"
#include "mma.cuh"

#define THREADS 256

// Byte offset of (row r, 16-byte chunk c) inside one BK-wide tile.
template <int BK>
static __device__ __forceinline__ uint32_t swz(int r, int c) {
    if (BK == 32) return (uint32_t)(r * 64 + ((c ^ ((r >> 1) & 3)) << 4));
    return (uint32_t)(r * 128 + ((c ^ (r & 7)) << 4));
}

template <class OUT>
static __device__ __forceinline__ void store2(typename OUT::T* C, long idx, float v0, float v1, bool pair);

template <>
__device__ __forceinline__ void store2<F32>(float* C, long idx, float v0, float v1, bool pair) {
    if (pair) {
        *reinterpret_cast<float2*>(C + idx) = make_float2(v0, v1);
    } else {
        C[idx] = v0;
    }
}

template <>
__device__ __forceinline__ void store2<BF16>(bf16* C, long idx, float v0, float v1, bool pair) {
    if (pair) {
        *reinterpret_cast<__nv_bfloat162*>(C + idx) = __floats2bfloat162_rn(v0, v1);
    } else {
        C[idx] = __float2bfloat16_rn(v0);
    }
}

template <class OUT, int BM, int BN, int BK, int WM, int WN, int STAGES>
__device__ __forceinline__ void gemm_tn(typename OUT::T* __restrict__ C, const bf16* __restrict__ A,
                                        const bf16* __restrict__ B, const void* __restrict__ bias, int bias_kind,
                                        int M, int N, int K) {
    constexpr int WARPS_N = BN / WN;
    constexpr int MT = WM / 16;  // m16 tiles per warp
    constexpr int NT = WN / 8;   // n8 tiles per warp
    constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + B_BYTES;
    static_assert((BM / WM) * (BN / WN) * 32 == THREADS, "8 warps");
    static_assert(NT % 2 == 0, "B fragments load in pairs of n8 tiles");
    static_assert(BK == 32 || BK == 64, "BK");
    constexpr int CH = BK / 8;  // 16-byte chunks per row

    extern __shared__ __align__(128) uint8_t smem[];
    const uint32_t sbase = shared_addr(smem);

    // Grouped CTA order: GROUP row tiles share the sweep over column tiles.
    const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
    constexpr int GROUP = 8;
    const int pid = blockIdx.x;
    const int per_group = GROUP * tiles_n;
    const int first_m = (pid / per_group) * GROUP;
    const int gsz = min(tiles_m - first_m, GROUP);
    const int tm = first_m + (pid % per_group) % gsz;
    const int tn = (pid % per_group) / gsz;
    const int m0 = tm * BM, n0 = tn * BN;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WARPS_N, wn = warp % WARPS_N;
    const int KT = (K + BK - 1) / BK;

    auto load_stage = [&](int stage, int kt) {
        const int k0 = kt * BK;
        const uint32_t sa = sbase + stage * STAGE_BYTES, sb = sa + A_BYTES;
#pragma unroll
        for (int i = 0; i < BM * CH / THREADS; i++) {
            const int id = tid + i * THREADS, r = id / CH, c = id % CH;
            const int gm = m0 + r, gk = k0 + c * 8;
            const bool ok = gm < M && gk < K;
            cp_async16(sa + swz<BK>(r, c), ok ? (const void*)(A + (long)gm * K + gk) : (const void*)A, ok ? 16 : 0);
        }
#pragma unroll
        for (int i = 0; i < BN * CH / THREADS; i++) {
            const int id = tid + i * THREADS, r = id / CH, c = id % CH;
            const int gn = n0 + r, gk = k0 + c * 8;
            const bool ok = gn < N && gk < K;
            cp_async16(sb + swz<BK>(r, c), ok ? (const void*)(B + (long)gn * K + gk) : (const void*)B, ok ? 16 : 0);
        }
    };

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int v = 0; v < 4; v++) acc[i][j][v] = 0.0f;

#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < KT) load_stage(s, s);
        cp_async_commit();
    }

    for (int kt = 0; kt < KT; kt++) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();  // stage kt has landed for all threads; everyone is done with stage kt-1
        {
            const int nk = kt + STAGES - 1;
            if (nk < KT) load_stage(nk % STAGES, nk);
            cp_async_commit();
        }
        const uint32_t sa = sbase + (kt % STAGES) * STAGE_BYTES, sb = sa + A_BYTES;
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            uint32_t af[MT][4], bfr[NT][2];
#pragma unroll
            for (int i = 0; i < MT; i++) {
                const int r = wm * WM + i * 16 + (lane & 15), c = kk * 2 + (lane >> 4);
                ldsm_x4(sa + swz<BK>(r, c), af[i][0], af[i][1], af[i][2], af[i][3]);
            }
#pragma unroll
            for (int j = 0; j < NT / 2; j++) {
                const int r = wn * WN + j * 16 + (lane & 7) + ((lane >> 4) << 3), c = kk * 2 + ((lane >> 3) & 1);
                ldsm_x4(sb + swz<BK>(r, c), bfr[2 * j][0], bfr[2 * j][1], bfr[2 * j + 1][0], bfr[2 * j + 1][1]);
            }
#pragma unroll
            for (int i = 0; i < MT; i++)
#pragma unroll
                for (int j = 0; j < NT; j++) mma16816(acc[i][j], af[i], bfr[j][0], bfr[j][1]);
        }
    }
    cp_async_wait<0>();

    // Epilogue: accumulator (i, j, v) sits at row g (+8 for v ≥ 2), columns 2·(lane%4) + {0, 1}.
    const bool even_n = (N & 1) == 0;
#pragma unroll
    for (int j = 0; j < NT; j++) {
        const int col = n0 + wn * WN + j * 8 + (lane & 3) * 2;
        if (col >= N) continue;
        const bool has1 = col + 1 < N;
        float b0 = 0.0f, b1 = 0.0f;
        if (bias_kind == 1) {
            const float* bp = static_cast<const float*>(bias);
            b0 = bp[col];
            b1 = has1 ? bp[col + 1] : 0.0f;
        } else if (bias_kind == 2) {
            const bf16* bp = static_cast<const bf16*>(bias);
            b0 = __bfloat162float(bp[col]);
            b1 = has1 ? __bfloat162float(bp[col + 1]) : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < MT; i++) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int row = m0 + wm * WM + i * 16 + (lane >> 2) + h * 8;
                if (row >= M) continue;
                const long idx = (long)row * N + col;
                const float v0 = acc[i][j][2 * h] + b0, v1 = acc[i][j][2 * h + 1] + b1;
                if (has1 && even_n) {
                    store2<OUT>(C, idx, v0, v1, true);
                } else {
                    store2<OUT>(C, idx, v0, v1, false);
                    if (has1) store2<OUT>(C, idx + 1, v1, 0.0f, false);
                }
            }
        }
    }
}

// Variants: <tile>_k<BK>. Shared memory = STAGES·(BM+BN)·BK·2 bytes.
#define GEMM(name, OUT, BM, BN, BK, WM, WN, STAGES, MINB)                                                        \
    extern "C" __global__ void __launch_bounds__(THREADS, MINB)                                                   \
        name(OUT::T* C, const bf16* A, const bf16* B, const void* bias, int bias_kind, int M, int N, int K) {    \
        gemm_tn<OUT, BM, BN, BK, WM, WN, STAGES>(C, A, B, bias, bias_kind, M, N, K);                             \
    }
#define GEMM_BOTH(tile, BM, BN, BK, WM, WN, STAGES, MINB)                                      \
    GEMM(gemm_bf16_##tile##_f32, F32, BM, BN, BK, WM, WN, STAGES, MINB)                       \
    GEMM(gemm_bf16_##tile##_bf16, BF16, BM, BN, BK, WM, WN, STAGES, MINB)

// Measured on an H100 at the WAN shapes (docs/BENCHMARKS.md), 128x256_k64 is the fastest (340–400 TFLOP/s);
// 128x128_k32 keeps more CTAs in flight for small outputs. (128x128_k64 spilled, 128x256_k32 was slower.)
GEMM_BOTH(128x128_k32, 128, 128, 32, 64, 32, 4, 2)  // 64 KiB, two CTAs per SM
GEMM_BOTH(128x256_k64, 128, 256, 64, 64, 64, 3, 1)  // 144 KiB
