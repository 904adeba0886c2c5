// Kernels of the engine.Backend implementation (engine/cuda/backend*.go) that the other modules lack.
// Everything computes in f32 whatever the storage type; bf16 results are rounded to nearest even.
//
// bk_modulate_<t>_<t>(y, x, shift, scale, rows, cols, vec)
//     y = x·(1 + scale[c]) + shift[c], shift and scale f32 [cols] broadcast over the rows.
// bk_add_<a>_<b>, bk_mul_<a>_<b>(y, a, b, n, bcols, vec)
//     y = a ∘ b elementwise, y of a's type. bcols 0: b has a's n elements; else b is f32/bf16 [bcols]
//     broadcast over the rows of a (element i reads b[i % bcols]).
// bk_add_gated_<y>(x, y, gate, rows, cols, vec)
//     x += y·gate[c] in place (gate nullptr: 1); x f32 [rows, cols], y f32 or bf16.
// bk_rope_<t>(x, cos, sin, rows, heads, pairs, vec)
//     in place on x [rows, heads·2·pairs]: the interleaved pair (x[2m], x[2m+1]) of every head of row l is
//     rotated by the angle with cosine cos[l, m] and sine sin[l, m] (f32 [rows, pairs]).
// bk_attn_small_<t>(out, q, k, v, bias, lq, lk, keylen, d, q_stride, k_stride, v_stride, o_stride, scale)
//     out = softmax(scale·q·kᵀ + bias)·v per head, keys ≥ keylen masked; any head dim d ≤ 128; q, k, v and
//     out of type t (bf16, or f32 for the f32-accuracy mode). For the short sequences of the text encoder
//     (relative position bias) and head dims the flash kernel (attention.cu, head dim 128, no bias) does not
//     take.
// bk_split_f32(hi, lo, x, n)
//     hi = bf16(x), lo = bf16(x − hi): two bf16 terms whose products carry x to about 16 bits, for GEMMs at
//     f32 accuracy from bf16 tensor-core products (x·w ≈ hi·w_hi + lo·w_hi + hi·w_lo).
// bk_relpos_bias(out, table, buckets, heads, lq, lk)
//     out[h, i, j] = table[buckets[j − i + lq − 1]·heads + h]: the relative position bias of T5 from its
//     [buckets, heads] table and the bucket of every offset.
//
// vec = 1 promises cols (or pairs, or bcols) a multiple of 8 (of 4 for rope) and 16-byte aligned pointers:
// each thread then moves 8 elements with 16- or 32-byte accesses. Grid-stride loops throughout.
#include "common.cuh"
#include "mma.cuh"

#define GRID_STRIDE(i, n) for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

// ---- modulate ----------------------------------------------------------------------------------------------

template <class X, class Y>
__device__ __forceinline__ void modulate(typename Y::T* y, const typename X::T* x, const float* __restrict__ shift,
                                         const float* __restrict__ scale, long rows, int cols, int vec) {
    const long n = rows * cols;
    if (vec) {
        GRID_STRIDE(g, n / 8) {
            const long i = g * 8;
            const int c = (int)(i % cols);
            float v[8], sc[8], sh[8];
            ld8(x + i, v);
            ld8(scale + c, sc);
            ld8(shift + c, sh);
#pragma unroll
            for (int e = 0; e < 8; e++) v[e] = v[e] * (1.0f + sc[e]) + sh[e];
            st8(y + i, v);
        }
        return;
    }
    GRID_STRIDE(i, n) {
        const int c = (int)(i % cols);
        Y::store(y, i, X::load(x, i) * (1.0f + scale[c]) + shift[c]);
    }
}

#define MODULATE(xn, X, yn, Y)                                                                                 \
    extern "C" __global__ void bk_modulate_##xn##_##yn(Y::T* y, const X::T* x, const float* shift,             \
                                                       const float* scale, long rows, int cols, int vec) {     \
        modulate<X, Y>(y, x, shift, scale, rows, cols, vec);                                                     \
    }
MODULATE(f32, F32, f32, F32)
MODULATE(bf16, BF16, bf16, BF16)

// ---- add / mul with broadcasting -----------------------------------------------------------------------------

struct OpAdd {
    static __device__ __forceinline__ float f(float a, float b) { return a + b; }
};
struct OpMul {
    static __device__ __forceinline__ float f(float a, float b) { return a * b; }
};

template <class OP, class A, class B>
__device__ __forceinline__ void binary(typename A::T* y, const typename A::T* a, const typename B::T* b, long n,
                                       int bcols, int vec) {
    if (vec) {
        GRID_STRIDE(g, n / 8) {
            const long i = g * 8;
            const long j = bcols ? i % bcols : i;
            float va[8], vb[8];
            ld8(a + i, va);
            ld8(b + j, vb);
#pragma unroll
            for (int e = 0; e < 8; e++) va[e] = OP::f(va[e], vb[e]);
            st8(y + i, va);
        }
        return;
    }
    GRID_STRIDE(i, n) A::store(y, i, OP::f(A::load(a, i), B::load(b, bcols ? i % bcols : i)));
}

#define BINARY(op, OP, an, A, bn, B)                                                                              \
    extern "C" __global__ void bk_##op##_##an##_##bn(A::T* y, const A::T* a, const B::T* b, long n, int bcols,    \
                                                     int vec) {                                                   \
        binary<OP, A, B>(y, a, b, n, bcols, vec);                                                                 \
    }
BINARY(add, OpAdd, f32, F32, f32, F32)
BINARY(add, OpAdd, f32, F32, bf16, BF16)
BINARY(add, OpAdd, bf16, BF16, f32, F32)
BINARY(add, OpAdd, bf16, BF16, bf16, BF16)
BINARY(mul, OpMul, f32, F32, f32, F32)
BINARY(mul, OpMul, f32, F32, bf16, BF16)
BINARY(mul, OpMul, bf16, BF16, f32, F32)
BINARY(mul, OpMul, bf16, BF16, bf16, BF16)

// ---- gated residual add ---------------------------------------------------------------------------------------

template <class Y>
__device__ __forceinline__ void add_gated(float* x, const typename Y::T* y, const float* __restrict__ gate, long rows,
                                          int cols, int vec) {
    const long n = rows * cols;
    if (vec) {
        GRID_STRIDE(g, n / 8) {
            const long i = g * 8;
            float vx[8], vy[8], vg[8];
            ld8(x + i, vx);
            ld8(y + i, vy);
            if (gate) {
                ld8(gate + (int)(i % cols), vg);
#pragma unroll
                for (int e = 0; e < 8; e++) vx[e] += vy[e] * vg[e];
            } else {
#pragma unroll
                for (int e = 0; e < 8; e++) vx[e] += vy[e];
            }
            st8(x + i, vx);
        }
        return;
    }
    GRID_STRIDE(i, n) x[i] += Y::load(y, i) * (gate ? gate[i % cols] : 1.0f);
}

extern "C" __global__ void bk_add_gated_f32(float* x, const float* y, const float* gate, long rows, int cols, int vec) {
    add_gated<F32>(x, y, gate, rows, cols, vec);
}
extern "C" __global__ void bk_add_gated_bf16(float* x, const bf16* y, const float* gate, long rows, int cols, int vec) {
    add_gated<BF16>(x, y, gate, rows, cols, vec);
}

// ---- rotary embedding on interleaved pairs --------------------------------------------------------------------

template <class T>
__device__ __forceinline__ void rope(typename T::T* x, const float* __restrict__ cs, const float* __restrict__ sn,
                                     long rows, int heads, int pairs, int vec) {
    if (vec) {
        // Thread g owns pairs 4q … 4q+3 of one head of one row: 8 consecutive elements at g·8.
        const int quads = pairs / 4;
        const long per_row = (long)heads * quads;
        GRID_STRIDE(g, rows * per_row) {
            const long l = g / per_row;
            const int m0 = (int)(g % quads) * 4;
            float v[8];
            ld8(x + g * 8, v);
            const float4 c = *reinterpret_cast<const float4*>(cs + l * pairs + m0);
            const float4 s = *reinterpret_cast<const float4*>(sn + l * pairs + m0);
            const float cc[4] = {c.x, c.y, c.z, c.w}, ss[4] = {s.x, s.y, s.z, s.w};
#pragma unroll
            for (int p = 0; p < 4; p++) {
                const float a = v[2 * p], b = v[2 * p + 1];
                v[2 * p] = a * cc[p] - b * ss[p];
                v[2 * p + 1] = a * ss[p] + b * cc[p];
            }
            st8(x + g * 8, v);
        }
        return;
    }
    const long per_row = (long)heads * pairs;
    GRID_STRIDE(g, rows * per_row) {
        const long l = g / per_row;
        const int m = (int)(g % pairs);
        const float c = cs[l * pairs + m], s = sn[l * pairs + m];
        const float a = T::load(x, 2 * g), b = T::load(x, 2 * g + 1);
        T::store(x, 2 * g, a * c - b * s);
        T::store(x, 2 * g + 1, a * s + b * c);
    }
}

extern "C" __global__ void bk_rope_f32(float* x, const float* cs, const float* sn, long rows, int heads, int pairs,
                                       int vec) {
    rope<F32>(x, cs, sn, rows, heads, pairs, vec);
}
extern "C" __global__ void bk_rope_bf16(bf16* x, const float* cs, const float* sn, long rows, int heads, int pairs,
                                        int vec) {
    rope<BF16>(x, cs, sn, rows, heads, pairs, vec);
}

// ---- attention for short sequences with an additive bias -------------------------------------------------------
//
// CTA: ATT_WARPS warps × ATT_ROWS query rows of one head (grid x = query groups, y = heads). Keys stream
// through shared memory in tiles of 32 (K padded by one float per row: lane j reads key j's row without bank
// conflicts; V rows are read whole by the warp). Lane j scores key j of the tile against the warp's rows,
// then the online softmax broadcasts each p_j with a shuffle and every lane accumulates its d/32 output dims.
// Dynamic shared memory: (ATT_WARPS·ATT_ROWS·d + 32·(d+1) + 32·d)·4 bytes.

constexpr int ATT_WARPS = 8, ATT_ROWS = 4, ATT_KT = 32, ATT_DMAX = 128;

static __device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <class T>
__device__ __forceinline__ void attn_small(typename T::T* __restrict__ out, const typename T::T* __restrict__ q,
                                           const typename T::T* __restrict__ k, const typename T::T* __restrict__ v,
                                           const float* __restrict__ bias, int lq, int lk, int keylen, int d,
                                           int q_stride, int k_stride, int v_stride, int o_stride, float scale) {
    extern __shared__ float smem[];
    float* qs = smem;                                  // [ATT_WARPS·ATT_ROWS][d]
    float* ks = qs + ATT_WARPS * ATT_ROWS * d;         // [ATT_KT][d + 1]
    float* vs = ks + ATT_KT * (d + 1);                 // [ATT_KT][d]
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int h = blockIdx.y;
    const int row0 = (blockIdx.x * ATT_WARPS + warp) * ATT_ROWS;  // this warp's first query row
    const long hoff = (long)h * d;

    for (int e = lane; e < ATT_ROWS * d; e += 32) {
        const int r = e / d, c = e - r * d, i = row0 + r;
        qs[(warp * ATT_ROWS + r) * d + c] = i < lq ? T::load(q, (long)i * q_stride + hoff + c) : 0.0f;
    }
    const float* qw = qs + warp * ATT_ROWS * d;

    float acc[ATT_ROWS][ATT_DMAX / 32], m[ATT_ROWS], l[ATT_ROWS];
#pragma unroll
    for (int r = 0; r < ATT_ROWS; r++) {
        m[r] = -INFINITY, l[r] = 0.0f;
#pragma unroll
        for (int t = 0; t < ATT_DMAX / 32; t++) acc[r][t] = 0.0f;
    }

    for (int j0 = 0; j0 < keylen; j0 += ATT_KT) {
        __syncthreads();  // the previous tile is consumed (and, the first time, qs is written)
        for (int e = threadIdx.x; e < ATT_KT * d; e += blockDim.x) {
            const int r = e / d, c = e - r * d, j = j0 + r;
            float kv = 0.0f, vv = 0.0f;
            if (j < keylen) {
                kv = T::load(k, (long)j * k_stride + hoff + c);
                vv = T::load(v, (long)j * v_stride + hoff + c);
            }
            ks[r * (d + 1) + c] = kv;
            vs[r * d + c] = vv;
        }
        __syncthreads();

        const int j = j0 + lane;
        const bool valid = j < keylen;
        float s[ATT_ROWS];
#pragma unroll
        for (int r = 0; r < ATT_ROWS; r++) s[r] = 0.0f;
        const float* kr = ks + lane * (d + 1);
        for (int c = 0; c < d; c++) {
            const float kc = kr[c];
#pragma unroll
            for (int r = 0; r < ATT_ROWS; r++) s[r] = fmaf(qw[r * d + c], kc, s[r]);
        }
        float p[ATT_ROWS];
#pragma unroll
        for (int r = 0; r < ATT_ROWS; r++) {
            const int i = row0 + r;
            float sc = -INFINITY;
            if (valid) {
                sc = s[r] * scale;
                if (bias && i < lq) sc += bias[((long)h * lq + i) * lk + j];
            }
            const float mnew = fmaxf(m[r], warp_max(sc));
            // mnew is −∞ only while every key so far was masked: nothing to rescale, nothing to add.
            const float alpha = mnew == -INFINITY ? 1.0f : expf(m[r] - mnew);
            p[r] = sc == -INFINITY ? 0.0f : expf(sc - mnew);
            l[r] = l[r] * alpha + warp_sum(p[r]);
            m[r] = mnew;
#pragma unroll
            for (int t = 0; t < ATT_DMAX / 32; t++) acc[r][t] *= alpha;
        }
        const int kt = min(ATT_KT, keylen - j0);
        for (int jj = 0; jj < kt; jj++) {
            const float* vr = vs + jj * d;
            float vv[ATT_DMAX / 32];
#pragma unroll
            for (int t = 0; t < ATT_DMAX / 32; t++) {
                const int c = lane + 32 * t;
                vv[t] = c < d ? vr[c] : 0.0f;
            }
#pragma unroll
            for (int r = 0; r < ATT_ROWS; r++) {
                const float pj = __shfl_sync(0xffffffffu, p[r], jj);
#pragma unroll
                for (int t = 0; t < ATT_DMAX / 32; t++) acc[r][t] = fmaf(pj, vv[t], acc[r][t]);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < ATT_ROWS; r++) {
        const int i = row0 + r;
        if (i >= lq) continue;
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
#pragma unroll
        for (int t = 0; t < ATT_DMAX / 32; t++) {
            const int c = lane + 32 * t;
            if (c < d) T::store(out, (long)i * o_stride + hoff + c, acc[r][t] * inv);
        }
    }
}

#define ATTN_SMALL(t, TY)                                                                                          \
    extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32)                                                  \
        bk_attn_small_##t(TY::T* out, const TY::T* q, const TY::T* k, const TY::T* v, const float* bias, int lq,      \
                          int lk, int keylen, int d, int q_stride, int k_stride, int v_stride, int o_stride,      \
                          float scale) {                                                                          \
        attn_small<TY>(out, q, k, v, bias, lq, lk, keylen, d, q_stride, k_stride, v_stride, o_stride, scale);      \
    }
ATTN_SMALL(bf16, BF16)
ATTN_SMALL(f32, F32)

// ---- f32 accuracy from bf16 products ----------------------------------------------------------------------------

extern "C" __global__ void bk_split_f32(bf16* hi, bf16* lo, const float* x, long n) {
    GRID_STRIDE(i, n) {
        const float v = x[i];
        const bf16 h = __float2bfloat16_rn(v);
        hi[i] = h;
        lo[i] = __float2bfloat16_rn(v - __bfloat162float(h));
    }
}

// ---- T5 relative position bias -----------------------------------------------------------------------------------

extern "C" __global__ void bk_relpos_bias(float* out, const float* table, const int* buckets, int heads, int lq,
                                          int lk) {
    const long n = (long)heads * lq * lk;
    GRID_STRIDE(e, n) {
        const int j = (int)(e % lk);
        const long hi = e / lk;
        const int i = (int)(hi % lq), h = (int)(hi / lq);
        out[e] = table[buckets[j - i + lq - 1] * heads + h];
    }
}
