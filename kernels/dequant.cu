// Dequantization of ggml block formats (see spec/gguf.md §2) to f32 or bf16.
//
// Each thread produces 8 consecutive elements of one quant block, so every K-quant sub-block scale is
// shared by the 8 and the stores are 32 (f32) or 16 (bf16) bytes wide. The arithmetic repeats ggml's
// dequantize_row_* expression by expression with explicitly rounded operations (__fmul_rn, __fadd_rn),
// so the f32 results are bit-identical to ggml's CPU code and the bf16 results are those f32 values
// rounded to nearest even.
//
// Kernels: dequant_<type>_f32(float* y, const uint8_t* x, long n, long cols, long ld) and
// dequant_<type>_bf16(bf16* y, …), n = number of elements, a multiple of the type's block size; grid-stride
// over n/8 groups. The n elements are a dense [n / cols, cols] matrix written with a row stride of ld
// elements: element e goes to y[(e / cols)·ld + e % cols], the other ld − cols elements of each row are not
// written (run-time LoRA builds [W | up] this way, W in the first cols columns). ld == cols is a dense
// write (no division); otherwise cols and ld are multiples of 8, so a group never straddles a row and the
// stores stay 16-byte aligned.
#include "common.cuh"
#include "mma.cuh"

__constant__ int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

#define MUL(a, b) __fmul_rn((a), (b))
#define ADD(a, b) __fadd_rn((a), (b))
#define SUB(a, b) __fsub_rn((a), (b))

// Each type: QK elements in BYTES bytes; f(block, e0, y) writes elements e0..e0+7 (e0 % 8 == 0).
struct Q4_0 {
    enum { QK = 32, BYTES = 18 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b);
        const int hi = e0 >> 4, j0 = e0 & 15;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int q = (b[2 + j0 + i] >> (4 * hi)) & 0xF;
            y[i] = MUL((float)(q - 8), d);
        }
    }
};

struct Q4_1 {
    enum { QK = 32, BYTES = 20 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b), m = ld_f16(b + 2);
        const int hi = e0 >> 4, j0 = e0 & 15;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int q = (b[4 + j0 + i] >> (4 * hi)) & 0xF;
            y[i] = ADD(MUL((float)q, d), m);
        }
    }
};

struct Q5_0 {
    enum { QK = 32, BYTES = 22 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b);
        const uint32_t qh = ld_u32(b + 2);
        const int hi = e0 >> 4, j0 = e0 & 15;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int e = e0 + i;
            const int q = ((b[6 + j0 + i] >> (4 * hi)) & 0xF) | (((qh >> e) & 1) << 4);
            y[i] = MUL((float)(q - 16), d);
        }
    }
};

struct Q5_1 {
    enum { QK = 32, BYTES = 24 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b), m = ld_f16(b + 2);
        const uint32_t qh = ld_u32(b + 4);
        const int hi = e0 >> 4, j0 = e0 & 15;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int e = e0 + i;
            const int q = ((b[8 + j0 + i] >> (4 * hi)) & 0xF) | (((qh >> e) & 1) << 4);
            y[i] = ADD(MUL((float)q, d), m);
        }
    }
};

struct Q8_0 {
    enum { QK = 32, BYTES = 34 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b);
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = MUL((float)(int8_t)b[2 + e0 + i], d);
    }
};

struct Q2_K {
    enum { QK = 256, BYTES = 84 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b + 80), dmin = ld_f16(b + 82);
        const int s = b[e0 >> 4];
        const float dl = MUL(d, (float)(s & 0xF)), ml = MUL(dmin, (float)(s >> 4));
        const int h = e0 >> 7, j = (e0 & 127) >> 5, l0 = e0 & 31;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int q = (b[16 + 32 * h + l0 + i] >> (2 * j)) & 3;
            y[i] = SUB(MUL(dl, (float)q), ml);
        }
    }
};

struct Q3_K {
    enum { QK = 256, BYTES = 110 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b + 108);
        const uint8_t* sc = b + 96;
        const int js = e0 >> 4;
        const int lo = js < 8 ? (sc[js] & 0xF) : (sc[js - 8] >> 4);
        const int hi2 = (sc[8 + (js & 3)] >> (2 * (js >> 2))) & 3;
        const float dl = MUL(d, (float)((lo | (hi2 << 4)) - 32));
        const int h = e0 >> 7, j = (e0 & 127) >> 5, l0 = e0 & 31;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int l = l0 + i;
            const int q2 = (b[32 + 32 * h + l] >> (2 * j)) & 3;
            const int hb = (b[l] >> (4 * h + j)) & 1;
            y[i] = MUL(dl, (float)(q2 - (hb ? 0 : 4)));
        }
    }
};

// get_scale_min_k4 of ggml: 6-bit scale and min of sub-block g from the 12 packed bytes q.
static __device__ __forceinline__ void scale_min_k4(int g, const uint8_t* q, int& sc, int& m) {
    if (g < 4) {
        sc = q[g] & 63;
        m = q[g + 4] & 63;
    } else {
        sc = (q[g + 4] & 0xF) | ((q[g - 4] >> 6) << 4);
        m = (q[g + 4] >> 4) | ((q[g] >> 6) << 4);
    }
}

struct Q4_K {
    enum { QK = 256, BYTES = 144 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b), dmin = ld_f16(b + 2);
        const int g = e0 >> 5, p = e0 >> 6, l0 = e0 & 31;
        int sc, m;
        scale_min_k4(g, b + 4, sc, m);
        const float d1 = MUL(d, (float)sc), m1 = MUL(dmin, (float)m);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int q = (b[16 + 32 * p + l0 + i] >> (4 * (g & 1))) & 0xF;
            y[i] = SUB(MUL(d1, (float)q), m1);
        }
    }
};

struct Q5_K {
    enum { QK = 256, BYTES = 176 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b), dmin = ld_f16(b + 2);
        const int g = e0 >> 5, p = e0 >> 6, l0 = e0 & 31;
        int sc, m;
        scale_min_k4(g, b + 4, sc, m);
        const float d1 = MUL(d, (float)sc), m1 = MUL(dmin, (float)m);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int l = l0 + i;
            const int q = ((b[48 + 32 * p + l] >> (4 * (g & 1))) & 0xF) + (((b[16 + l] >> g) & 1) ? 16 : 0);
            y[i] = SUB(MUL(d1, (float)q), m1);
        }
    }
};

struct Q6_K {
    enum { QK = 256, BYTES = 210 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b + 208);
        const float ds = MUL(d, (float)(int8_t)b[192 + (e0 >> 4)]);
        const int h = e0 >> 7, k = (e0 & 127) >> 5, l0 = e0 & 31;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int l = l0 + i;
            const int bl = b[64 * h + l + 32 * (k & 1)];
            const int lo = k < 2 ? (bl & 0xF) : (bl >> 4);
            const int hi = (b[128 + 32 * h + l] >> (2 * k)) & 3;
            y[i] = MUL(ds, (float)((lo | (hi << 4)) - 32));
        }
    }
};

struct IQ4_NL {
    enum { QK = 32, BYTES = 18 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b);
        const int hi = e0 >> 4, j0 = e0 & 15;
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = MUL(d, (float)kvalues_iq4nl[(b[2 + j0 + i] >> (4 * hi)) & 0xF]);
    }
};

struct IQ4_XS {
    enum { QK = 256, BYTES = 136 };
    static __device__ __forceinline__ void f(const uint8_t* b, int e0, float* y) {
        const float d = ld_f16(b);
        const int ib = e0 >> 5;
        const int ls = ((b[4 + ib / 2] >> (4 * (ib & 1))) & 0xF) | (((ld_u16(b + 2) >> (2 * ib)) & 3) << 4);
        const float dl = MUL(d, (float)(ls - 32));
        const int hi = (e0 & 31) >> 4, j0 = e0 & 15;
        const uint8_t* qs = b + 8 + 16 * ib;
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = MUL(dl, (float)kvalues_iq4nl[(qs[j0 + i] >> (4 * hi)) & 0xF]);
    }
};

// Plain float types, in groups of 8 elements as well (the launcher passes n % 8 == 0 to these; other
// lengths go through convert_* below).
struct F16 {
    enum { QK = 8, BYTES = 16 };
    static __device__ __forceinline__ void f(const uint8_t* b, int, float* y) {
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = ld_f16(b + 2 * i);
    }
};

struct BF16W {
    enum { QK = 8, BYTES = 16 };
    static __device__ __forceinline__ void f(const uint8_t* b, int, float* y) {
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = __uint_as_float((uint32_t)ld_u16(b + 2 * i) << 16);
    }
};

struct F32W {
    enum { QK = 8, BYTES = 32 };
    static __device__ __forceinline__ void f(const uint8_t* b, int, float* y) {
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = __uint_as_float(ld_u32(b + 4 * i));
    }
};

template <class Q, class OUT>
__device__ __forceinline__ void dequant(OUT* y, const uint8_t* x, long n, long cols, long ld) {
    const long groups = n >> 3;
    const long gap = ld - cols;  // 0: dense (uniform across the grid, so the branch below costs nothing)
    for (long g = (long)blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += (long)gridDim.x * blockDim.x) {
        const long e = g << 3;
        const long blk = e / Q::QK;
        float v[8];
        Q::f(x + blk * Q::BYTES, (int)(e - blk * Q::QK), v);
        st8(y + (gap == 0 ? e : e + (e / cols) * gap), v);
    }
}

#define DEQUANT(name, Q)                                                                                 \
    extern "C" __global__ void dequant_##name##_f32(float* y, const uint8_t* x, long n, long cols, long ld) { \
        dequant<Q>(y, x, n, cols, ld);                                                                   \
    }                                                                                                    \
    extern "C" __global__ void dequant_##name##_bf16(bf16* y, const uint8_t* x, long n, long cols, long ld) { \
        dequant<Q>(y, x, n, cols, ld);                                                                   \
    }

DEQUANT(q4_0, Q4_0)
DEQUANT(q4_1, Q4_1)
DEQUANT(q5_0, Q5_0)
DEQUANT(q5_1, Q5_1)
DEQUANT(q8_0, Q8_0)
DEQUANT(q2_k, Q2_K)
DEQUANT(q3_k, Q3_K)
DEQUANT(q4_k, Q4_K)
DEQUANT(q5_k, Q5_K)
DEQUANT(q6_k, Q6_K)
DEQUANT(iq4_nl, IQ4_NL)
DEQUANT(iq4_xs, IQ4_XS)
DEQUANT(f16, F16)
DEQUANT(bf16, BF16W)
DEQUANT(f32, F32W)
