// Causal 3-D convolution of the WAN VAE as an implicit GEMM on the tensor cores.
//
// conv3d_<io>_<bm>: y[Cout, To, Ho, Wo] = W[Cout, K] · B[K, N] (+ bias[Cout]) (+ add[Cout, To, Ho, Wo])
//   with K = Cin·KT·KH·KW in PyTorch's weight order (ci, kt, kh, kw) and N = To·Ho·Wo output pixels.
//   B is the im2col matrix of the input, never materialized: each CTA gathers its BK×BN slice of B from the
//   input on the fly. Column n = (to, ho, wo), row k = (ci, kt, kh, kw) reads logical input frame
//   to·stride_t + kt of the sequence zeros(pad_t) ⊕ prev ⊕ x, at pixel (ho·stride + kh − pad_top,
//   wo·stride + kw − pad_left) of the frame as the conv sees it: nearest-upsampled 2× when up != 0 (pixel
//   (h, w) of the upsampled frame is pixel (h/2, w/2) of the stored one) and zero outside it (the spatial
//   padding, all four sides: the bottom/right padding is implied by Ho, Wo).
//
//   x [Cin, T, H, W] and prev [Cin, P, H, W] (P may be 0, prev then unused) are f32 or bf16 (<io>), as are y
//   and add; W is the packed bf16 weight [Cout, Kp] (conv_pack_weight_*: K padded with zeros to Kp, a
//   multiple of 8); bias f32 [Cout] or null; add null or of y's shape (y may be add: each element is read
//   before the same thread writes it). Operands are rounded to bf16, products accumulate in f32 (mma.sync
//   m16n8k16), bias and add are applied to the f32 accumulator, and y is rounded once to its type.
//
// Structure: 8 warps per CTA computing a BM×128 tile (BM = 128, 96, 64, 32 or 16 output channels, the
// launcher picks the one that wastes least). K is walked in slices of 32. The weight slice streams through a
// double-buffered cp.async ring; the input slice is gathered into registers (4 rows × BN/32 pixels per
// thread, as bf16 pairs) while the tensor cores work on the previous slice, then stored to the other shared
// buffer. Weight rows are 64 bytes, chunk c of row r at c ^ ((r >> 1) & 3); input rows are 256 bytes, chunk c
// of row r at c ^ (r & 7): the stores, ldmatrix (weights) and ldmatrix.trans (input) are conflict-free.
// CTAs are numbered channel tile fastest, so the CTAs sharing one input tile run together and its second
// and third reads come from L2.
//
// Requirements (checked by the Go launcher): K < 65536 (the fast division is exact below 2^16);
// (P + T)·H·W < 2^31 and N < 2^31; W 16-byte aligned with Kp % 8 == 0; blockDim.x = 256.
//
// conv_pack_weight_<src>: dst bf16 [rows, Kp] = src [rows, K] rounded to bf16, zeros in columns K ≤ k < Kp.
#include "common.cuh"
#include "mma.cuh"

namespace {

constexpr int THREADS = 256;
constexpr int BK = 32;   // K slice
constexpr int BN = 128;  // output pixels per CTA

// Weight tile: BM rows of BK bf16 (64 bytes); byte offset of (row r, 16-byte chunk c).
__device__ __forceinline__ uint32_t swz_a(int r, int c) { return (uint32_t)(r * 64 + ((c ^ ((r >> 1) & 3)) << 4)); }
// Input tile: BK rows of BN bf16 (256 bytes); byte offset of (row r, element n).
__device__ __forceinline__ uint32_t swz_b(int r, int n) {
    return (uint32_t)(r * (BN * 2) + ((((n >> 3) ^ (r & 7))) << 4) + ((n & 7) << 1));
}

// Exact n / d for n, d < 2^16 with m = ceil(2^32 / d) (see the file comment).
struct FastDiv {
    unsigned long long m;
    __device__ __forceinline__ explicit FastDiv(unsigned d) : m((0xFFFFFFFFull / d) + 1) {}
    __device__ __forceinline__ unsigned div(unsigned n) const { return (unsigned)((n * m) >> 32); }
};

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16 v) { return __bfloat162float(v); }

template <class IO, int BM, int WARPS_M>
__device__ __forceinline__ void conv3d(typename IO::T* y, const typename IO::T* __restrict__ x,
                                       const typename IO::T* __restrict__ prev, const bf16* __restrict__ w,
                                       const float* __restrict__ bias, const typename IO::T* add, int Cin, int T,
                                       int H, int W, int P, int Cout, int K, int Kp, int KT, int KH, int KW,
                                       int pad_t, int pad_top, int pad_left, int stride_t, int stride, int up,
                                       int fast, int To, int Ho, int Wo) {
    typedef typename IO::T Act;
    constexpr int WARPS_N = 8 / WARPS_M;
    constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;
    constexpr int MT = WM / 16, NT = WN / 8;
    constexpr int A_BYTES = BM * BK * 2, B_BYTES = BK * BN * 2;
    constexpr int PX = BN / 64;  // pixel pairs per thread
    static_assert(WM % 16 == 0 && NT % 2 == 0, "warp tile");

    __shared__ __align__(128) uint8_t smem[2 * (A_BYTES + B_BYTES)];
    const uint32_t sA = shared_addr(smem), sB = sA + 2 * A_BYTES;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WARPS_N, wn = warp % WARPS_N;
    const int tiles_m = (Cout + BM - 1) / BM;
    const int tm = blockIdx.x % tiles_m, tn = blockIdx.x / tiles_m;
    const int m0 = tm * BM;
    const long N = (long)To * Ho * Wo;
    const long n0 = (long)tn * BN;
    const int HW = H * W, Hin = up ? 2 * H : H, Win = up ? 2 * W : W;
    const int KHW = KH * KW;
    const FastDiv div_cin(Cin), div_khw(KHW), div_kw(KW);
    const int nk = (K + BK - 1) / BK;

    // The thread's output pixels: n = 64·j + 2·lane + e. For each, the logical frame and the (upsampled,
    // padded) frame coordinates of the kernel's tap (0, 0, 0); an invalid pixel gets a frame before time.
    int tb[PX][2], hb[PX][2], wb[PX][2];
#pragma unroll
    for (int j = 0; j < PX; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const long p = n0 + 64 * j + 2 * lane + e;
            if (p < N) {
                const int pp = (int)p, plane = Ho * Wo;
                const int to = pp / plane, r = pp - to * plane, ho = r / Wo, wo = r - ho * Wo;
                tb[j][e] = to * stride_t;
                hb[j][e] = ho * stride - pad_top;
                wb[j][e] = wo * stride - pad_left;
            } else {
                tb[j][e] = -0x40000000;
                hb[j][e] = 0;
                wb[j][e] = 0;
            }
        }

    auto load_a = [&](int stage, int kt) {
        const int k0 = kt * BK;
        const uint32_t base = sA + stage * A_BYTES;
        for (int id = tid; id < BM * 4; id += THREADS) {
            const int r = id >> 2, c = id & 3;
            const int gm = m0 + r, gk = k0 + c * 8;
            const bool ok = gm < Cout && gk < Kp;
            cp_async16(base + swz_a(r, c), ok ? (const void*)(w + (long)gm * Kp + gk) : (const void*)w, ok ? 16 : 0);
        }
    };

    // Gathered input of one slice: rows warp + 8·i, pixels 64·j + 2·lane + e. The loads go to raw registers
    // and are only converted (store_b) after the MMAs of the previous slice, so their latency hides behind
    // them; a load that falls in the padding reads x[0] instead and is masked to zero when stored.
    Act raw[4][PX][2];
    uint32_t okmask = 0;
    auto gather_b = [&](int kt) {
        okmask = 0;
        if (fast) {
            // The slice is 32 channels of one kernel tap: the tap's offset and bounds are per pixel only.
            const int k0 = kt * BK, tap = (int)div_cin.div((unsigned)k0), ci0 = k0 - tap * Cin;
            const int kf = (int)div_khw.div((unsigned)tap), r = tap - kf * KHW;
            const int kh = (int)div_kw.div((unsigned)r), kw = r - kh * KW;
#pragma unroll
            for (int j = 0; j < PX; j++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int f = tb[j][e] + kf - pad_t;  // index into prev ⊕ x
                    int hi = hb[j][e] + kh, wi = wb[j][e] + kw;
                    const bool ok = f >= 0 && (unsigned)hi < (unsigned)Hin && (unsigned)wi < (unsigned)Win;
                    if (up) {
                        hi >>= 1;
                        wi >>= 1;
                    }
                    const long off = (long)(f < P ? f : f - P) * HW + hi * W + wi;
                    const Act* base = f < P ? prev : x;
                    const long cs = f < P ? (long)P * HW : (long)T * HW;
                    const Act* pp = ok ? base + off + (long)(ci0 + warp) * cs : x;
                    const long step = ok ? 8 * cs : 0;
#pragma unroll
                    for (int i = 0; i < 4; i++) raw[i][j][e] = pp[i * step];
                    okmask |= ok ? 0x1111u << (2 * j + e) : 0u;
                }
            return;
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int k = kt * BK + warp + 8 * i;
            const bool krow = k < K;
            const int tap = (int)div_cin.div((unsigned)k), ci = k - tap * Cin;
            const int kf = (int)div_khw.div((unsigned)tap), r = tap - kf * KHW;
            const int kh = (int)div_kw.div((unsigned)r), kw = r - kh * KW;
#pragma unroll
            for (int j = 0; j < PX; j++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int f = tb[j][e] + kf - pad_t;
                    int hi = hb[j][e] + kh, wi = wb[j][e] + kw;
                    const bool ok = krow && f >= 0 && (unsigned)hi < (unsigned)Hin && (unsigned)wi < (unsigned)Win;
                    if (up) {
                        hi >>= 1;
                        wi >>= 1;
                    }
                    const long off = f < P ? ((long)ci * P + f) * HW : ((long)ci * T + f - P) * HW;
                    const Act* pp = ok ? (f < P ? prev : x) + off + hi * W + wi : x;
                    raw[i][j][e] = *pp;
                    okmask |= ok ? 1u << (4 * i + 2 * j + e) : 0u;
                }
        }
    };
    auto store_b = [&](int stage) {
        uint8_t* base = smem + 2 * A_BYTES + stage * B_BYTES;
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < PX; j++) {
                const float v0 = (okmask >> (4 * i + 2 * j)) & 1 ? to_float(raw[i][j][0]) : 0.0f;
                const float v1 = (okmask >> (4 * i + 2 * j + 1)) & 1 ? to_float(raw[i][j][1]) : 0.0f;
                *reinterpret_cast<uint32_t*>(base + swz_b(warp + 8 * i, 64 * j + 2 * lane)) = pack_bf16(v0, v1);
            }
    };

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int v = 0; v < 4; v++) acc[i][j][v] = 0.0f;

    load_a(0, 0);
    cp_async_commit();
    gather_b(0);
    store_b(0);

    const int b_row = (lane & 7) + (((lane >> 3) & 1) << 3), b_chunk = lane >> 4;
    for (int kt = 0; kt < nk; kt++) {
        const int st = kt & 1;
        cp_async_wait<0>();
        __syncthreads();  // slice kt is in stage st for everyone; everyone is done with stage st ^ 1
        const bool more = kt + 1 < nk;
        if (more) {
            load_a(st ^ 1, kt + 1);
            cp_async_commit();
            gather_b(kt + 1);  // global loads in flight during the MMAs below
        }
        const uint32_t a_base = sA + st * A_BYTES, b_base = sB + st * B_BYTES;
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            uint32_t af[MT][4], bfr[NT][2];
#pragma unroll
            for (int i = 0; i < MT; i++) {
                const int r = wm * WM + i * 16 + (lane & 15), c = kk * 2 + (lane >> 4);
                ldsm_x4(a_base + swz_a(r, c), af[i][0], af[i][1], af[i][2], af[i][3]);
            }
#pragma unroll
            for (int j = 0; j < NT / 2; j++) {
                const int n = wn * WN + j * 16 + b_chunk * 8;
                ldsm_x4_t(b_base + swz_b(kk * 16 + b_row, n), bfr[2 * j][0], bfr[2 * j][1], bfr[2 * j + 1][0],
                          bfr[2 * j + 1][1]);
            }
#pragma unroll
            for (int i = 0; i < MT; i++)
#pragma unroll
                for (int j = 0; j < NT; j++) mma16816(acc[i][j], af[i], bfr[j][0], bfr[j][1]);
        }
        if (more) store_b(st ^ 1);
    }

    // Epilogue: accumulator (i, j, v) is output channel m0 + wm·WM + 16·i + lane/4 (+8 for v ≥ 2), pixel
    // n0 + wn·WN + 8·j + 2·(lane%4) (+1 for odd v).
    const bool pairs = (N & 1) == 0;
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int co = m0 + wm * WM + i * 16 + (lane >> 2) + 8 * h;
            if (co >= Cout) continue;
            const float b = bias ? bias[co] : 0.0f;
            Act* yr = y + (long)co * N;
            const Act* ar = add ? add + (long)co * N : nullptr;
#pragma unroll
            for (int j = 0; j < NT; j++) {
                const long n = n0 + wn * WN + j * 8 + 2 * (lane & 3);
                if (n >= N) continue;
                float v0 = acc[i][j][2 * h] + b, v1 = acc[i][j][2 * h + 1] + b;
                const bool two = n + 1 < N;
                if (ar) {
                    v0 += IO::load(ar, n);
                    if (two) v1 += IO::load(ar, n + 1);
                }
                if (two && pairs) {
                    if constexpr (sizeof(Act) == 4) {
                        *reinterpret_cast<float2*>(yr + n) = make_float2(v0, v1);
                    } else {
                        *reinterpret_cast<__nv_bfloat162*>(yr + n) = __floats2bfloat162_rn(v0, v1);
                    }
                } else {
                    IO::store(yr, n, v0);
                    if (two) IO::store(yr, n + 1, v1);
                }
            }
        }
}

template <class S>
__device__ __forceinline__ float load_any(const S* p, long i);
template <>
__device__ __forceinline__ float load_any<float>(const float* p, long i) { return p[i]; }
template <>
__device__ __forceinline__ float load_any<bf16>(const bf16* p, long i) { return __bfloat162float(p[i]); }
template <>
__device__ __forceinline__ float load_any<__half>(const __half* p, long i) { return __half2float(p[i]); }

template <class S>
__device__ __forceinline__ void pack_weight(bf16* dst, const S* src, int rows, int cin, int taps, int Kp) {
    const long n = (long)rows * Kp;
    const int K = cin * taps;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const long r = i / Kp;
        const int k = (int)(i - r * Kp), tap = k / cin, ci = k - tap * cin;
        dst[i] = __float2bfloat16_rn(k < K ? load_any<S>(src, (r * cin + ci) * taps + tap) : 0.0f);
    }
}

}  // namespace

#define CONV3D(io, IO, bm, wmn)                                                                                  \
    extern "C" __global__ void __launch_bounds__(THREADS, 2) conv3d_##io##_##bm(                                   \
        IO::T* y, const IO::T* x, const IO::T* prev, const bf16* w, const float* bias, const IO::T* add, int Cin, \
        int T, int H, int W, int P, int Cout, int K, int Kp, int KT, int KH, int KW, int pad_t, int pad_top,      \
        int pad_left, int stride_t, int stride, int up, int fast, int To, int Ho, int Wo) {                        \
        conv3d<IO, bm, wmn>(y, x, prev, w, bias, add, Cin, T, H, W, P, Cout, K, Kp, KT, KH, KW, pad_t, pad_top,   \
                            pad_left, stride_t, stride, up, fast, To, Ho, Wo);                                    \
    }

#define CONV3D_ALL(io, IO) \
    CONV3D(io, IO, 128, 2) \
    CONV3D(io, IO, 96, 2)  \
    CONV3D(io, IO, 64, 2)  \
    CONV3D(io, IO, 32, 2)  \
    CONV3D(io, IO, 16, 1)

CONV3D_ALL(f32, F32)
CONV3D_ALL(bf16, BF16)

extern "C" __global__ void conv_pack_weight_f32(bf16* dst, const float* src, int rows, int cin, int taps, int Kp) {
    pack_weight<float>(dst, src, rows, cin, taps, Kp);
}
extern "C" __global__ void conv_pack_weight_bf16(bf16* dst, const bf16* src, int rows, int cin, int taps, int Kp) {
    pack_weight<bf16>(dst, src, rows, cin, taps, Kp);
}
extern "C" __global__ void conv_pack_weight_f16(bf16* dst, const __half* src, int rows, int cin, int taps, int Kp) {
    pack_weight<__half>(dst, src, rows, cin, taps, Kp);
}
