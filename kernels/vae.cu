// The WAN VAE's video ops besides the convolution (conv.cu), on [C, T, H, W] tensors (channels outermost,
// one frame of one channel a contiguous plane).
//
// vae_channel_norm_<io>(y, x, gamma, C, N, sqrtC, silu): per pixel p < N (N = T·H·W),
//   y[c, p] = x[c, p] / max(‖x[:, p]‖₂, 1e-12) · sqrtC · gamma[c], then SiLU when silu != 0. One thread per
//   pixel (consecutive threads, consecutive pixels: every channel's read is coalesced); the sum of squares
//   is f32. gamma f32 [C]. y may be x.
//
// vae_copy_frames_<word>(dst, src, plane, C, n, src_t, src_t0, dst_t, dst_t0, dst_step): for c < C, f < n,
//   dst plane (c·dst_t + dst_t0 + f·dst_step) = src plane (c·src_t + src_t0 + f), planes of `plane` words
//   (u16, u32 or u128; the launcher picks the widest that divides the plane and the pointers). Frames,
//   ConcatFrames and InterleaveFrames are one or two launches of it.
//
// Per-frame attention helpers (the GEMMs run through the GEMM launcher):
//   vae_transpose_<s>_<d>(dst, src, rows, cols, src_ld, dst_ld, prows, pcols): for i < prows, j < pcols,
//     dst[j·dst_ld + i] = (i < rows && j < cols) ? src[i·src_ld + j] : 0 (a zero-padded transpose through
//     32×32 shared-memory tiles; grid x over j tiles, y over i tiles).
//   vae_pad_rows_<s>(dst, src, rows, cols, src_ld, prows, pcols): dst bf16 [prows, pcols] =
//     (i < rows && j < cols) ? src[i·src_ld + j] : 0.
//   vae_softmax_rows(p, s, rows, lp, l, scale): per row r (one CTA), p[r, j] = softmax_j(scale·s[r, j]) over
//     j < l, 0 for l ≤ j < lp; s f32 [rows, lp], p bf16 [rows, lp].
#include "common.cuh"

namespace {

__device__ __forceinline__ float silu_f(float v) { return v / (1.0f + __expf(-v)); }

template <class IO>
__device__ __forceinline__ void channel_norm(typename IO::T* y, const typename IO::T* x,
                                             const float* __restrict__ gamma, int C, long N, float sqrtC,
                                             int silu) {
    for (long p = blockIdx.x * (long)blockDim.x + threadIdx.x; p < N; p += (long)gridDim.x * blockDim.x) {
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
            const float a = IO::load(x, (long)c * N + p), b = IO::load(x, (long)(c + 1) * N + p);
            const float d = IO::load(x, (long)(c + 2) * N + p), e = IO::load(x, (long)(c + 3) * N + p);
            s0 += a * a;
            s1 += b * b;
            s2 += d * d;
            s3 += e * e;
        }
        for (; c < C; c++) {
            const float a = IO::load(x, (long)c * N + p);
            s0 += a * a;
        }
        const float scale = sqrtC / fmaxf(sqrtf((s0 + s1) + (s2 + s3)), 1e-12f);
        for (c = 0; c < C; c++) {
            float v = IO::load(x, (long)c * N + p) * scale * gamma[c];
            if (silu) v = silu_f(v);
            IO::store(y, (long)c * N + p, v);
        }
    }
}

template <class W>
__device__ __forceinline__ void copy_frames(W* dst, const W* src, long plane, int C, int n, int src_t, int src_t0,
                                            int dst_t, int dst_t0, int dst_step) {
    const long planes = (long)C * n;
    for (long q = blockIdx.y; q < planes; q += gridDim.y) {
        const int c = (int)(q / n), f = (int)(q - (long)c * n);
        const W* s = src + ((long)c * src_t + src_t0 + f) * plane;
        W* d = dst + ((long)c * dst_t + dst_t0 + (long)f * dst_step) * plane;
        for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < plane; i += (long)gridDim.x * blockDim.x)
            d[i] = s[i];
    }
}

template <class S>
__device__ __forceinline__ float ld(const S* p, long i);
template <>
__device__ __forceinline__ float ld<float>(const float* p, long i) { return p[i]; }
template <>
__device__ __forceinline__ float ld<bf16>(const bf16* p, long i) { return __bfloat162float(p[i]); }

template <class D>
__device__ __forceinline__ D cvt(float v);
template <>
__device__ __forceinline__ float cvt<float>(float v) { return v; }
template <>
__device__ __forceinline__ bf16 cvt<bf16>(float v) { return __float2bfloat16_rn(v); }

// blockDim (32, 8); a 32×32 tile of (i, j) per CTA.
template <class S, class D>
__device__ __forceinline__ void transpose(D* dst, const S* src, int rows, int cols, long src_ld, long dst_ld,
                                          int prows, int pcols) {
    __shared__ float tile[32][33];
    const int j0 = blockIdx.x * 32, i0 = blockIdx.y * 32;
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (int r = ty; r < 32; r += 8) {
        const int i = i0 + r, j = j0 + tx;
        tile[r][tx] = (i < rows && j < cols) ? ld<S>(src, (long)i * src_ld + j) : 0.0f;
    }
    __syncthreads();
    for (int r = ty; r < 32; r += 8) {
        const int j = j0 + r, i = i0 + tx;
        if (i < prows && j < pcols) dst[(long)j * dst_ld + i] = cvt<D>(tile[tx][r]);
    }
}

template <class S>
__device__ __forceinline__ void pad_rows(bf16* dst, const S* src, int rows, int cols, long src_ld, int prows,
                                         int pcols) {
    const long n = (long)prows * pcols;
    for (long q = blockIdx.x * (long)blockDim.x + threadIdx.x; q < n; q += (long)gridDim.x * blockDim.x) {
        const int i = (int)(q / pcols), j = (int)(q - (long)i * pcols);
        dst[q] = __float2bfloat16_rn(i < rows && j < cols ? ld<S>(src, (long)i * src_ld + j) : 0.0f);
    }
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

}  // namespace

#define CHANNEL_NORM(io, IO)                                                                                    \
    extern "C" __global__ void vae_channel_norm_##io(IO::T* y, const IO::T* x, const float* gamma, int C, long N, \
                                                 float sqrtC, int silu) {                                     \
        channel_norm<IO>(y, x, gamma, C, N, sqrtC, silu);                                                      \
    }
CHANNEL_NORM(f32, F32)
CHANNEL_NORM(bf16, BF16)

#define COPY_FRAMES(name, W)                                                                                   \
    extern "C" __global__ void vae_copy_frames_##name(W* dst, const W* src, long plane, int C, int n, int src_t, \
                                                  int src_t0, int dst_t, int dst_t0, int dst_step) {         \
        copy_frames<W>(dst, src, plane, C, n, src_t, src_t0, dst_t, dst_t0, dst_step);                        \
    }
COPY_FRAMES(u16, uint16_t)
COPY_FRAMES(u32, uint32_t)
COPY_FRAMES(u128, uint4)

#define TRANSPOSE(sn, S, dn, D)                                                                              \
    extern "C" __global__ void vae_transpose_##sn##_##dn(D* dst, const S* src, int rows, int cols, long src_ld, \
                                                      long dst_ld, int prows, int pcols) {                  \
        transpose<S, D>(dst, src, rows, cols, src_ld, dst_ld, prows, pcols);                                 \
    }
TRANSPOSE(f32, float, bf16, bf16)
TRANSPOSE(bf16, bf16, bf16, bf16)
TRANSPOSE(f32, float, f32, float)

extern "C" __global__ void vae_pad_rows_f32(bf16* dst, const float* src, int rows, int cols, long src_ld, int prows,
                                        int pcols) {
    pad_rows<float>(dst, src, rows, cols, src_ld, prows, pcols);
}
extern "C" __global__ void vae_pad_rows_bf16(bf16* dst, const bf16* src, int rows, int cols, long src_ld, int prows,
                                         int pcols) {
    pad_rows<bf16>(dst, src, rows, cols, src_ld, prows, pcols);
}

extern "C" __global__ void vae_softmax_rows(bf16* p, const float* s, int rows, int lp, int l, float scale) {
    __shared__ float scratch[32];
    const long r = blockIdx.x;
    if (r >= rows) return;
    const float* sr = s + r * lp;
    bf16* pr = p + r * lp;
    const float sl2 = scale * 1.4426950408889634f;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < l; j += blockDim.x) m = fmaxf(m, sr[j]);
    m = block_max(m, scratch);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < l; j += blockDim.x) sum += exp2f((sr[j] - m) * sl2);
    sum = block_sum(sum, scratch);
    const float inv = 1.0f / sum;
    for (int j = threadIdx.x; j < lp; j += blockDim.x)
        pr[j] = __float2bfloat16_rn(j < l ? exp2f((sr[j] - m) * sl2) * inv : 0.0f);
}
