// Shared helpers for the wan22 kernels. Every .cu in this folder includes this file, so a change here
// changes every module's source hash (see scripts/ptx.sh).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

// Element-type tags used to instantiate kernels for f32 and bf16 tensors.
struct F32 {
    typedef float T;
    static __device__ __forceinline__ float load(const float* p, long i) { return p[i]; }
    static __device__ __forceinline__ void store(float* p, long i, float v) { p[i] = v; }
    // round returns v as the type would store it (identity for f32).
    static __device__ __forceinline__ float round(float v) { return v; }
};

struct BF16 {
    typedef bf16 T;
    static __device__ __forceinline__ float load(const bf16* p, long i) { return __bfloat162float(p[i]); }
    static __device__ __forceinline__ void store(bf16* p, long i, float v) { p[i] = __float2bfloat16_rn(v); }
    static __device__ __forceinline__ float round(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }
};

// Little-endian loads from byte pointers with no alignment assumption (quant blocks are 18, 22, 34 … bytes).
static __device__ __forceinline__ uint16_t ld_u16(const uint8_t* p) { return (uint16_t)p[0] | ((uint16_t)p[1] << 8); }
static __device__ __forceinline__ uint32_t ld_u32(const uint8_t* p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static __device__ __forceinline__ float ld_f16(const uint8_t* p) { return __half2float(__ushort_as_half(ld_u16(p))); }

// Block-wide sum over blockDim.x threads (a multiple of 32, at most 1024). All threads get the result.
// scratch must hold 32 floats; the function synchronizes before and after using it.
static __device__ __forceinline__ float block_sum(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
