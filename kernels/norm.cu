// Row normalizations over the last dimension, computed in f32 whatever the storage type.
//
// layernorm_<in>_<out>: y = LN(x) [· weight + bias] [· (1 + scale) + shift]
//   LN(x) = (x − mean) / sqrt(var + eps) with the biased variance (two passes over the row, as PyTorch).
//   weight, bias (f32 [cols]) are the affine parameters (nil pointers: none). scale, shift (f32) are the
//   modulation; row r reads scale + r·mod_stride (mod_stride 0 broadcasts one vector to every row).
// rmsnorm_<in>_<out>: y = round_in(x · rsqrt(mean(x²) + eps)) · weight
//   The normalized value is rounded to the input type before the weight multiply, as WanRMSNorm does
//   (`self._norm(x.float()).type_as(x) * self.weight`); weight f32 [cols] or nil.
//
// One CTA per row; blockDim.x a multiple of 32. y may alias x (each thread reads an element before it
// writes the same element, after the row statistics are complete).
#include "common.cuh"

template <class IN, class OUT>
__device__ __forceinline__ void layernorm(typename OUT::T* y, const typename IN::T* x,
                                          int cols, float eps, const float* __restrict__ weight,
                                          const float* __restrict__ bias, const float* __restrict__ scale,
                                          const float* __restrict__ shift, long mod_stride) {
    __shared__ float scratch[32];
    const long row = blockIdx.x;
    const typename IN::T* xr = x + row * cols;
    typename OUT::T* yr = y + row * cols;

    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += IN::load(xr, c);
    const float mean = block_sum(s, scratch) / (float)cols;

    float v = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float d = IN::load(xr, c) - mean;
        v += d * d;
    }
    const float var = block_sum(v, scratch) / (float)cols;
    const float rstd = rsqrtf(var + eps);

    const float* sc = scale ? scale + row * mod_stride : nullptr;
    const float* sh = shift ? shift + row * mod_stride : nullptr;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float t = (IN::load(xr, c) - mean) * rstd;
        if (weight) t = t * weight[c];
        if (bias) t = t + bias[c];
        if (sc) t = t * (1.0f + sc[c]);
        if (sh) t = t + sh[c];
        OUT::store(yr, c, t);
    }
}

template <class IN, class OUT>
__device__ __forceinline__ void rmsnorm(typename OUT::T* y, const typename IN::T* x, int cols,
                                        float eps, const float* __restrict__ weight) {
    __shared__ float scratch[32];
    const long row = blockIdx.x;
    const typename IN::T* xr = x + row * cols;
    typename OUT::T* yr = y + row * cols;

    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float t = IN::load(xr, c);
        s += t * t;
    }
    const float r = rsqrtf(block_sum(s, scratch) / (float)cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float t = IN::round(IN::load(xr, c) * r);
        if (weight) t = t * weight[c];
        OUT::store(yr, c, t);
    }
}

#define NORMS(in, IN, out, OUT)                                                                                     \
    extern "C" __global__ void layernorm_##in##_##out(OUT::T* y, const IN::T* x, int cols, float eps,              \
                                                      const float* weight, const float* bias, const float* scale,  \
                                                      const float* shift, long mod_stride) {                       \
        layernorm<IN, OUT>(y, x, cols, eps, weight, bias, scale, shift, mod_stride);                              \
    }                                                                                                               \
    extern "C" __global__ void rmsnorm_##in##_##out(OUT::T* y, const IN::T* x, int cols, float eps,                \
                                                    const float* weight) {                                          \
        rmsnorm<IN, OUT>(y, x, cols, eps, weight);                                                                  \
    }

NORMS(f32, F32, f32, F32)
NORMS(f32, F32, bf16, BF16)
NORMS(bf16, BF16, f32, F32)
NORMS(bf16, BF16, bf16, BF16)
