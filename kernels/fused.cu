// Fusions of the DiT block's elementwise work into one pass over the row.
//
// rmsnorm_rope_<in>_<out>(y, x, cols, eps, weight, cos, sin, pairs, vec)
//   y = rotate(round_out(round_in(x · rsqrt(mean(x²) + eps)) · weight)): the RMSNorm of rmsnorm_<in>_<out>
//   (norm.cu, over the full row, weight f32 [cols] or nil) followed by the rotary embedding of bk_rope
//   (backend.cu) on the interleaved pairs (y[2m], y[2m+1]) of every head of 2·pairs columns, by the angle
//   with cosine cos[row, m] and sine sin[row, m] (f32 [rows, pairs]). The normalized value is rounded to
//   the output type before the rotation, as the two separate kernels store and reload it.
//   One CTA per row, blockDim.x a multiple of 32; y must not overlap x. vec = 1 promises cols a multiple of
//   8, pairs a multiple of 4 and 16-byte aligned pointers: each thread then moves 8 elements at a time.
#include "common.cuh"
#include "mma.cuh"

template <class IN, class OUT>
__device__ __forceinline__ void rmsnorm_rope(typename OUT::T* y, const typename IN::T* x, int cols, float eps,
                                             const float* __restrict__ weight, const float* __restrict__ cs,
                                             const float* __restrict__ sn, int pairs, int vec) {
    __shared__ float scratch[32];
    const long row = blockIdx.x;
    const typename IN::T* xr = x + row * cols;
    typename OUT::T* yr = y + row * cols;
    const float* cr = cs + row * pairs;
    const float* sr = sn + row * pairs;
    const int width = 2 * pairs;  // columns per head

    float s = 0.0f;
    if (vec) {
        for (int g = threadIdx.x; g < cols / 8; g += blockDim.x) {
            float v[8];
            ld8(xr + g * 8, v);
#pragma unroll
            for (int e = 0; e < 8; e++) s += v[e] * v[e];
        }
    } else {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            const float t = IN::load(xr, c);
            s += t * t;
        }
    }
    const float r = rsqrtf(block_sum(s, scratch) / (float)cols + eps);

    if (vec) {
        for (int g = threadIdx.x; g < cols / 8; g += blockDim.x) {
            const int c0 = g * 8;
            float v[8], w[8];
            ld8(xr + c0, v);
            if (weight) {
                ld8(weight + c0, w);
            } else {
#pragma unroll
                for (int e = 0; e < 8; e++) w[e] = 1.0f;
            }
#pragma unroll
            for (int e = 0; e < 8; e++) v[e] = OUT::round(weight ? IN::round(v[e] * r) * w[e] : IN::round(v[e] * r));
            const int m0 = (c0 % width) / 2;
            const float4 c4 = *reinterpret_cast<const float4*>(cr + m0);
            const float4 s4 = *reinterpret_cast<const float4*>(sr + m0);
            const float cc[4] = {c4.x, c4.y, c4.z, c4.w}, ss[4] = {s4.x, s4.y, s4.z, s4.w};
#pragma unroll
            for (int p = 0; p < 4; p++) {
                const float a = v[2 * p], b = v[2 * p + 1];
                v[2 * p] = a * cc[p] - b * ss[p];
                v[2 * p + 1] = a * ss[p] + b * cc[p];
            }
            st8(yr + c0, v);
        }
        return;
    }
    for (int p = threadIdx.x; p < cols / 2; p += blockDim.x) {
        const int c = 2 * p, m = (c % width) / 2;
        float a = IN::round(IN::load(xr, c) * r), b = IN::round(IN::load(xr, c + 1) * r);
        if (weight) a *= weight[c], b *= weight[c + 1];
        a = OUT::round(a), b = OUT::round(b);
        const float cm = cr[m], sm = sr[m];
        OUT::store(yr, c, a * cm - b * sm);
        OUT::store(yr, c + 1, a * sm + b * cm);
    }
}

#define RMSNORM_ROPE(in, IN, out, OUT)                                                                          \
    extern "C" __global__ void rmsnorm_rope_##in##_##out(OUT::T* y, const IN::T* x, int cols, float eps,       \
                                                         const float* weight, const float* cs, const float* sn, \
                                                         int pairs, int vec) {                                  \
        rmsnorm_rope<IN, OUT>(y, x, cols, eps, weight, cs, sn, pairs, vec);                                     \
    }

RMSNORM_ROPE(f32, F32, f32, F32)
RMSNORM_ROPE(bf16, BF16, bf16, BF16)
