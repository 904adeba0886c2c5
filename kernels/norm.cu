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
// add_layernorm_<r>_<out>: x += r · gate in place, then y = LN(x) [· weight + bias] [· (1 + scale) + shift]
//   of the updated x: a gated residual add (bk_add_gated_<r>, backend.cu) and the LayerNorm that reads its
//   result in one pass over x (read x and r, write x and y, where the two kernels read x twice). x f32, r f32
//   or bf16 [rows, cols], gate f32 [cols] or nil (1). y must not overlap x or r. vec = 1 promises cols a
//   multiple of 4, mod_stride a multiple of 4, f32 pointers 16-byte and bf16 pointers 8-byte aligned: each
//   thread then moves 4 elements at a time (the same arithmetic per element).
//
// layernorm and add_layernorm write row r of y at y + r·ldy (ldy ≥ cols; cols for a dense y): a bf16 GEMM
// operand with spare columns after each row (run-time LoRA's K-concatenated GEMM, engine/cuda/lora_kcat.go),
// whose spare columns they leave alone. add_layernorm's vec path needs ldy a multiple of 4.
//
// One CTA per row; blockDim.x a multiple of 32. y may alias x (with ldy = cols) (each thread reads an element before it
// writes the same element, after the row statistics are complete).
#include "common.cuh"

// layernorm_finish writes row `row` of y from row xr, whose mean is known: the variance (second pass), then
// the normalized, affine and modulated values.
template <class IN, class OUT>
__device__ __forceinline__ void layernorm_finish(typename OUT::T* yr, const typename IN::T* xr, int cols, float mean,
                                                 float eps, const float* __restrict__ weight,
                                                 const float* __restrict__ bias, const float* __restrict__ scale,
                                                 const float* __restrict__ shift, long mod_stride, long row,
                                                 float* scratch) {
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
__device__ __forceinline__ void layernorm(typename OUT::T* y, const typename IN::T* x,
                                          int cols, float eps, const float* __restrict__ weight,
                                          const float* __restrict__ bias, const float* __restrict__ scale,
                                          const float* __restrict__ shift, long mod_stride, long ldy) {
    __shared__ float scratch[32];
    const long row = blockIdx.x;
    const typename IN::T* xr = x + row * cols;

    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += IN::load(xr, c);
    const float mean = block_sum(s, scratch) / (float)cols;
    layernorm_finish<IN, OUT>(y + row * ldy, xr, cols, mean, eps, weight, bias, scale, shift, mod_stride, row,
                              scratch);
}

// 4-element accesses of add_layernorm's vec path (16 bytes of f32, 8 of bf16).
static __device__ __forceinline__ void ln_ld4(const float* p, float v[4]) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
}
static __device__ __forceinline__ void ln_ld4(const bf16* p, float v[4]) {
    const uint2 t = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&t.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&t.y));
    v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
}
static __device__ __forceinline__ void ln_st4(float* p, const float v[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
static __device__ __forceinline__ void ln_st4(bf16* p, const float v[4]) {
    const __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]), b = __floats2bfloat162_rn(v[2], v[3]);
    uint2 t;
    t.x = *reinterpret_cast<const uint32_t*>(&a);
    t.y = *reinterpret_cast<const uint32_t*>(&b);
    *reinterpret_cast<uint2*>(p) = t;
}

// add_layernorm_vec is add_layernorm's path for vec = 1: thread i handles the groups of 4 columns i,
// i + blockDim.x, … in every pass.
template <class R, class OUT>
__device__ __forceinline__ void add_layernorm_vec(typename OUT::T* yr, float* xr, const typename R::T* rr,
                                                  const float* __restrict__ gate, int cols, float eps,
                                                  const float* __restrict__ weight,
                                                  const float* __restrict__ bias, const float* sc,
                                                  const float* sh, float* scratch) {
    const int groups = cols / 4;
    float s = 0.0f;
    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
        float xv[4], rv[4], gv[4] = {1.0f, 1.0f, 1.0f, 1.0f};
        ln_ld4(xr + 4 * g, xv);
        ln_ld4(rr + 4 * g, rv);
        if (gate) ln_ld4(gate + 4 * g, gv);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            xv[e] = xv[e] + rv[e] * gv[e];
            s += xv[e];
        }
        ln_st4(xr + 4 * g, xv);
    }
    const float mean = block_sum(s, scratch) / (float)cols;

    float v = 0.0f;
    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
        float xv[4];
        ln_ld4(xr + 4 * g, xv);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const float d = xv[e] - mean;
            v += d * d;
        }
    }
    const float var = block_sum(v, scratch) / (float)cols;
    const float rstd = rsqrtf(var + eps);

    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
        float t[4], p[4];
        ln_ld4(xr + 4 * g, t);
#pragma unroll
        for (int e = 0; e < 4; e++) t[e] = (t[e] - mean) * rstd;
        if (weight) {
            ln_ld4(weight + 4 * g, p);
#pragma unroll
            for (int e = 0; e < 4; e++) t[e] = t[e] * p[e];
        }
        if (bias) {
            ln_ld4(bias + 4 * g, p);
#pragma unroll
            for (int e = 0; e < 4; e++) t[e] = t[e] + p[e];
        }
        if (sc) {
            ln_ld4(sc + 4 * g, p);
#pragma unroll
            for (int e = 0; e < 4; e++) t[e] = t[e] * (1.0f + p[e]);
        }
        if (sh) {
            ln_ld4(sh + 4 * g, p);
#pragma unroll
            for (int e = 0; e < 4; e++) t[e] = t[e] + p[e];
        }
        ln_st4(yr + 4 * g, t);
    }
}

// add_layernorm: see the header. Each thread re-reads only the elements it wrote itself, so no barrier is
// needed between the update of x and the passes that read it back.
template <class R, class OUT>
__device__ __forceinline__ void add_layernorm(typename OUT::T* y, float* x, const typename R::T* r,
                                              const float* __restrict__ gate, int cols, float eps,
                                              const float* __restrict__ weight, const float* __restrict__ bias,
                                              const float* __restrict__ scale, const float* __restrict__ shift,
                                              long mod_stride, int vec, long ldy) {
    __shared__ float scratch[32];
    const long row = blockIdx.x;
    float* xr = x + row * cols;
    const typename R::T* rr = r + row * cols;
    if (vec) {
        add_layernorm_vec<R, OUT>(y + row * ldy, xr, rr, gate, cols, eps, weight, bias,
                                  scale ? scale + row * mod_stride : nullptr,
                                  shift ? shift + row * mod_stride : nullptr, scratch);
        return;
    }

    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float t = xr[c] + R::load(rr, c) * (gate ? gate[c] : 1.0f);
        xr[c] = t;
        s += t;
    }
    const float mean = block_sum(s, scratch) / (float)cols;
    layernorm_finish<F32, OUT>(y + row * ldy, xr, cols, mean, eps, weight, bias, scale, shift, mod_stride, row,
                               scratch);
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
                                                      const float* shift, long mod_stride, long ldy) {             \
        layernorm<IN, OUT>(y, x, cols, eps, weight, bias, scale, shift, mod_stride, ldy);                         \
    }                                                                                                               \
    extern "C" __global__ void rmsnorm_##in##_##out(OUT::T* y, const IN::T* x, int cols, float eps,                \
                                                    const float* weight) {                                          \
        rmsnorm<IN, OUT>(y, x, cols, eps, weight);                                                                  \
    }

NORMS(f32, F32, f32, F32)
NORMS(f32, F32, bf16, BF16)
NORMS(bf16, BF16, f32, F32)
NORMS(bf16, BF16, bf16, BF16)

#define ADD_NORM(r, R, out, OUT)                                                                                   \
    extern "C" __global__ void add_layernorm_##r##_##out(OUT::T* y, float* x, const R::T* res, const float* gate, \
                                                         int cols, float eps, const float* weight,                 \
                                                         const float* bias, const float* scale,                    \
                                                         const float* shift, long mod_stride, int vec, long ldy) { \
        add_layernorm<R, OUT>(y, x, res, gate, cols, eps, weight, bias, scale, shift, mod_stride, vec, ldy);      \
    }

ADD_NORM(f32, F32, f32, F32)
ADD_NORM(f32, F32, bf16, BF16)
ADD_NORM(bf16, BF16, f32, F32)
ADD_NORM(bf16, BF16, bf16, BF16)
