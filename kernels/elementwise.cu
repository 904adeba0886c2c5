// Elementwise kernels, computed in f32 whatever the storage type; grid-stride loops over n elements.
//
// gelu_tanh_<t>(y, x, n)      y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
// silu_<t>(y, x, n)           y = x / (1 + e^−x)
// add_<t>(y, a, b, n)         y = a + b
// add_gated_<t>(out, x, y, gate, rows, cols, gate_stride)
//                             out = x + y · gate   (x, out f32 [rows, cols]; y of type t; gate f32, row r at
//                             gate + r·gate_stride, stride 0 broadcasts one vector); out may alias x
// cast_f32_bf16, cast_bf16_f32, cast_f32_f16, convert_f16_f32, convert_f16_bf16 (y, x, n), rounding to nearest even
// y may alias an input of the same type in every kernel.
#include "common.cuh"

#define GRID_STRIDE(i, n) for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

static __device__ __forceinline__ float gelu_tanh(float x) {
    const float k0 = 0.7978845608028654f;  // sqrt(2/pi)
    const float k1 = 0.044715f;
    return 0.5f * x * (1.0f + tanhf(k0 * (x + k1 * x * x * x)));
}

static __device__ __forceinline__ float silu(float x) { return x / (1.0f + expf(-x)); }

#define UNARY(name, fn, t, TY)                                                                  \
    extern "C" __global__ void name##_##t(TY::T* y, const TY::T* x, long n) {                    \
        GRID_STRIDE(i, n) TY::store(y, i, fn(TY::load(x, i)));                                    \
    }

UNARY(gelu_tanh, gelu_tanh, f32, F32)
UNARY(gelu_tanh, gelu_tanh, bf16, BF16)
UNARY(silu, silu, f32, F32)
UNARY(silu, silu, bf16, BF16)

#define ADD(t, TY)                                                                              \
    extern "C" __global__ void add_##t(TY::T* y, const TY::T* a, const TY::T* b, long n) {      \
        GRID_STRIDE(i, n) TY::store(y, i, TY::load(a, i) + TY::load(b, i));                       \
    }
ADD(f32, F32)
ADD(bf16, BF16)

#define ADD_GATED(t, TY)                                                                                       \
    extern "C" __global__ void add_gated_##t(float* out, const float* x, const TY::T* y, const float* gate,     \
                                             long rows, int cols, long gate_stride) {                          \
        GRID_STRIDE(i, rows * cols) {                                                                           \
            const long r = i / cols;                                                                            \
            const int c = (int)(i - r * cols);                                                                  \
            out[i] = x[i] + TY::load(y, i) * gate[r * gate_stride + c];                                         \
        }                                                                                                       \
    }
ADD_GATED(f32, F32)
ADD_GATED(bf16, BF16)

extern "C" __global__ void cast_f32_bf16(bf16* y, const float* x, long n) {
    GRID_STRIDE(i, n) y[i] = __float2bfloat16_rn(x[i]);
}
extern "C" __global__ void cast_bf16_f32(float* y, const bf16* x, long n) {
    GRID_STRIDE(i, n) y[i] = __bfloat162float(x[i]);
}
extern "C" __global__ void cast_f32_f16(__half* y, const float* x, long n) {
    GRID_STRIDE(i, n) y[i] = __float2half_rn(x[i]);
}
extern "C" __global__ void convert_f16_f32(float* y, const __half* x, long n) {
    GRID_STRIDE(i, n) y[i] = __half2float(x[i]);
}
extern "C" __global__ void convert_f16_bf16(bf16* y, const __half* x, long n) {
    GRID_STRIDE(i, n) y[i] = __float2bfloat16_rn(__half2float(x[i]));
}

// copy_rows_u128 copies rows of w16 16-byte words from src (rows spitch16 words apart) to dst (dpitch16 apart):
// Device.copy2D's strided device copy, about 1.6× the speed of cuMemcpy2DAsync's on an H100. Block b copies
// rows b, b + gridDim.x, …; its threads stride along the row.
extern "C" __global__ void copy_rows_u128(uint4* dst, long dpitch16, const uint4* src, long spitch16, long w16,
                                          long rows) {
    for (long r = blockIdx.x; r < rows; r += gridDim.x) {
        const uint4* s = src + r * spitch16;
        uint4* d = dst + r * dpitch16;
        for (long c = threadIdx.x; c < w16; c += blockDim.x) d[c] = s[c];
    }
}
