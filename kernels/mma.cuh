// Device helpers shared by the tensor-core and vectorized kernels: shared-memory addresses, cp.async,
// ldmatrix, mma.sync m16n8k16 (bf16 in, f32 accumulate) and m16n8k32 (int8 in, s32 accumulate; e4m3 in,
// f32 accumulate, compute_89 only), bf16 packing, exp2, and 8-wide f32/bf16 loads and
// stores. Include it after common.cuh. One definition of each, so attention, GEMM, conv and the fused
// kernels cannot drift apart; a change here changes every module's source hash (see scripts/ptx.sh).
//
// Fragment layouts below use the PTX ISA's names: lane = threadIdx.x & 31, g = lane >> 2 (the "group", 0…7)
// and t = lane & 3 (the thread in the group, 0…3).
//
// SM requirements: cp.async, ldmatrix and mma.sync m16n8k16 bf16 need sm_80 (the compute_80 baseline every
// module is built for); the rest works on any architecture these modules target.
#pragma once

#include "common.cuh"

// shared_addr converts a generic pointer into shared memory to the 32-bit shared-window address that
// cp.async, ldmatrix and mbarrier take (cvta.to.shared). p must point into __shared__ memory.
static __device__ __forceinline__ uint32_t shared_addr(const void* p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

// cp_async16 copies 16 bytes global → shared without staging through registers
// (cp.async.cg.shared.global, L2 only, sm_80+). dst: shared address from shared_addr, 16-byte aligned;
// src: global, 16-byte aligned. src_bytes (0…16) bytes are read and the rest of the 16 zero-filled, so
// src_bytes 0 zero-fills the destination without reading src (used for out-of-range rows).
static __device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}

// cp_async_commit closes the calling thread's current group of cp.async copies (cp.async.commit_group, sm_80+).
static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

// cp_async_wait blocks until at most N of the calling thread's committed cp.async groups are still in flight
// (cp.async.wait_group N, sm_80+); N = 0 waits for all. It orders only this thread's copies: follow it with
// __syncthreads() before other threads read the data.
template <int N>
static __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// ldsm_x4 loads four 8×8 b16 matrices from shared memory (ldmatrix.sync.aligned.m8n8.x4.shared.b16, sm_80+;
// warp-wide, every lane must call it). Lanes 8i…8i+7 give the 16-byte row addresses of matrix i (addr: shared
// address of this lane's row, 16-byte aligned). Register ri receives matrix i's elements (row g, columns
// 2t and 2t+1), low half first: for a row-major 16×16 bf16 tile addressed as matrices (rows 0–7, cols 0–7),
// (rows 8–15, cols 0–7), (rows 0–7, cols 8–15), (rows 8–15, cols 8–15) that is the A fragment of mma16816.
static __device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

// ldsm_x4_t is ldsm_x4 with each 8×8 matrix transposed on the way (ldmatrix…x4.trans, sm_80+): register ri
// receives matrix i's elements (rows 2t and 2t+1, column g). From a row-major [k][n] tile (V in attention)
// it yields the k-major B fragments of mma16816.
static __device__ __forceinline__ void ldsm_x4_t(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

// mma16816 computes c += a · b for one 16×8 tile with k = 16: bf16 inputs, f32 accumulators
// (mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, sm_80+; warp-wide). Fragments, two bf16 per
// register, lower column/row index in the low half:
//   a[0] = A[g][2t..2t+1], a[1] = A[g+8][2t..2t+1], a[2] = A[g][2t+8..2t+9], a[3] = A[g+8][2t+8..2t+9]
//   b0 = B[2t..2t+1][g], b1 = B[2t+8..2t+9][g]   (B is k×n, stored n-major: "col")
//   c[0] = C[g][2t], c[1] = C[g][2t+1], c[2] = C[g+8][2t], c[3] = C[g+8][2t+1]
// The C layout of two adjacent n8 tiles, packed with pack_bf16, is the A layout of one k16 step.
static __device__ __forceinline__ void mma16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// mma_s8s8 computes c += a · b for one 16×8 tile with k = 32: int8 × int8 inputs, s32 accumulators
// (mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32, sm_80+; warp-wide). The 8-bit m16n8k32 fragments are
// byte-for-byte mma16816's, four 8-bit values per register, the lowest k in the lowest byte:
//   a[0] = A[g][4t..4t+3], a[1] = A[g+8][4t..], a[2] = A[g][16+4t..], a[3] = A[g+8][16+4t..]
//   b0 = B[4t..4t+3][g], b1 = B[16+4t..16+4t+3][g];   c as mma16816's
// so ldmatrix .b16 loads them from rows of bytes.
static __device__ __forceinline__ void mma_s8s8(int* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// mma_u8s8 is mma_s8s8 with an unsigned A (uint8 × int8 → s32, m16n8k32, sm_80+).
static __device__ __forceinline__ void mma_u8s8(int* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// mma_e4m3 computes c += a · b for one 16×8 tile with k = 32: FP8 e4m3 inputs, f32 accumulators
// (mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32: sm_89+, PTX ISA 8.4, so nvcc 12.4 or newer; only
// the compute_89 modules, kernels/sm89, may call it: a call from an older target fails to compile).
// Fragments as mma_s8s8's, c as mma16816's.
template <int ARCH_GUARD = 0>
static __device__ __forceinline__ void mma_e4m3(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 890
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    static_assert(ARCH_GUARD != 0, "mma_e4m3 needs compute_89 or newer (kernels/sm89)");
#endif
}

// fast_exp2 returns 2^x by the SFU approximation (ex2.approx.ftz.f32: about 2 ulp, subnormals flushed to
// zero, exp2(−∞) = 0). Not volatile: the compiler may hoist or drop it like arithmetic.
static __device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

constexpr float ROUND_MAGIC = 12582912.0f;  // 1.5·2^23: x + it has round-to-nearest(x) in its low bits (0 ≤ x < 2^22)

// The 8-bit P of the INT8 P·V kernels (kernels/attention8.cuh, kernels/sm90a/attention8.cu): a tile's p̂ =
// round(255 · exp2(s − m_tile)) in [0, 255], m_tile at least the running max − TILE_FLOOR.
constexpr float LOG2_255 = 7.9943534368588578f;
constexpr float TILE_FLOOR = 32.0f;  // a tile's P scale is at least 2^-32 of the running max

// Low bytes of four words, packed little-endian into one.
static __device__ __forceinline__ uint32_t pack_bytes(uint32_t b0, uint32_t b1, uint32_t b2, uint32_t b3) {
    return __byte_perm(__byte_perm(b0, b1, 0x0040), __byte_perm(b2, b3, 0x0040), 0x5410);
}

// pack_bf16 rounds lo and hi to bf16 (round-to-nearest-even) and packs them into one register, lo in the low
// 16 bits (cvt.rn.bf16x2.f32 on sm_80+): one mma16816 fragment register.
static __device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}

// st_pair stores two adjacent values of element type T (float or bf16, rounded to nearest even) at p, which
// must be aligned to two elements: the epilogue staging of the attention kernels (st.shared.v2.f32 or one
// 32-bit store of a bf16x2).
template <class T>
static __device__ __forceinline__ void st_pair(uint8_t* p, float a, float b);
template <>
__device__ __forceinline__ void st_pair<float>(uint8_t* p, float a, float b) {
    *reinterpret_cast<float2*>(p) = make_float2(a, b);
}
template <>
__device__ __forceinline__ void st_pair<bf16>(uint8_t* p, float a, float b) {
    *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b);
}

// ld8 reads 8 consecutive elements at p into f32 registers v[0..7]: two 16-byte loads (ld.v4.f32) for f32,
// one for bf16 (widened exactly). p must be 16-byte aligned.
static __device__ __forceinline__ void ld8(const float* p, float* v) {
    const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
static __device__ __forceinline__ void ld8(const bf16* p, float* v) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const float2 f = __bfloat1622float2(h[k]);
        v[2 * k] = f.x, v[2 * k + 1] = f.y;
    }
}

// st8 writes v[0..7] as 8 consecutive elements at p: two 16-byte stores for f32, one for bf16 (each value
// rounded to nearest even, cvt.rn.bf16x2.f32). p must be 16-byte aligned.
static __device__ __forceinline__ void st8(float* p, const float* v) {
    reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
static __device__ __forceinline__ void st8(bf16* p, const float* v) {
    uint4 u;
    __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++) h[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    *reinterpret_cast<uint4*>(p) = u;
}
