//go:build cuda

#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- cuInit ------------------------------------------------------------------------------------------------
// gorgonia.org/cu calls cuInit in its package initializer and exits the process when it fails, which would
// make a CUDA build unusable on a machine without a GPU (even for CPU work) and hide the reason from the
// user. This definition takes precedence over libcuda's for every caller in the executable: it calls the
// driver's cuInit, records the result for wan22_init_status (Open reports it as a clear error), and returns
// success to the initializer. Libraries that load libcuda themselves (cuBLASLt) reach the driver directly.
static int init_status = -1;  // -1: cuInit was never called

CUresult cuInit(unsigned int flags) {
    CUresult (*real)(unsigned int) = (CUresult(*)(unsigned int))dlsym(RTLD_NEXT, "cuInit");
    if (real == NULL) {
        init_status = CUDA_ERROR_NOT_INITIALIZED;
        return CUDA_SUCCESS;
    }
    CUresult r = real(flags);
    init_status = (int)r;
    return CUDA_SUCCESS;
}

int wan22_init_status(void) {
    if (init_status == -1) cuInit(0);
    return init_status;
}

const char* wan22_err_name(int code) {
    const char* s = NULL;
    if (cuGetErrorName((CUresult)code, &s) != CUDA_SUCCESS || s == NULL) return "CUDA_ERROR_UNKNOWN_CODE";
    return s;
}

const char* wan22_err_string(int code) {
    const char* s = NULL;
    if (cuGetErrorString((CUresult)code, &s) != CUDA_SUCCESS || s == NULL) return "";
    return s;
}

// ---- pinned host memory ------------------------------------------------------------------------------------
int wan22_host_alloc(void** p, size_t size, unsigned int flags) { return cuMemHostAlloc(p, size, flags); }
int wan22_host_free(void* p) { return cuMemFreeHost(p); }
int wan22_host_register(void* p, size_t size, unsigned int flags) { return cuMemHostRegister(p, size, flags); }
int wan22_host_unregister(void* p) { return cuMemHostUnregister(p); }

// ---- modules and launches ----------------------------------------------------------------------------------
int wan22_module_load(CUmodule* m, const char* image, char* errlog, unsigned int errlen) {
    CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void* vals[2] = {errlog, (void*)(uintptr_t)errlen};
    if (errlen > 0) errlog[0] = 0;
    return cuModuleLoadDataEx(m, image, 2, opts, vals);
}

int wan22_module_unload(CUmodule m) { return cuModuleUnload(m); }

int wan22_module_function(CUfunction* f, CUmodule m, const char* name) { return cuModuleGetFunction(f, m, name); }

int wan22_func_max_dynamic_smem(CUfunction f, int bytes) {
    return cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
}

// Each kernel parameter starts at its slot of args: a scalar or pointer has one 8-byte slot (the driver reads as
// many bytes as the parameter has, on little-endian machines the low bytes of the slot), a TMA tensor map 16
// slots from a multiple of 8 (the Go caller, Device.launch, lays them out so that they fit within nslots).
int wan22_launch(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                 unsigned int bz, unsigned int smem, CUstream s, uint64_t* args, int nslots, const int* slot, int nargs) {
    void* params[32];
    _Alignas(64) uint64_t copy[128];  // so that a tensor map's slots (a multiple of 8) are 64-byte aligned as its type
    if (nargs < 0 || nargs > 32 || nslots < 0 || nslots > 128) return CUDA_ERROR_INVALID_VALUE;
    memcpy(copy, args, (size_t)nslots * sizeof(uint64_t));
    for (int i = 0; i < nargs; i++) {
        if (slot[i] < 0 || slot[i] >= nslots) return CUDA_ERROR_INVALID_VALUE;
        params[i] = &copy[slot[i]];
    }
    return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, smem, s, params, NULL);
}

// wan22_copy2d enqueues a device-to-device copy of height rows of width bytes, rows spitch bytes apart in src
// and dpitch apart in dst (gorgonia.org/cu's Memcpy2DAsync dereferences its unused array fields).
int wan22_copy2d(uint64_t dst, size_t dpitch, uint64_t src, size_t spitch, size_t width, size_t height, CUstream s) {
    CUDA_MEMCPY2D p;
    memset(&p, 0, sizeof p);
    p.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    p.srcDevice = (CUdeviceptr)src;
    p.srcPitch = spitch;
    p.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    p.dstDevice = (CUdeviceptr)dst;
    p.dstPitch = dpitch;
    p.WidthInBytes = width;
    p.Height = height;
    return cuMemcpy2DAsync(&p, s);
}

// ---- TMA tensor maps ---------------------------------------------------------------------------------------
// cuTensorMapEncodeTiled (CUDA 12.0 on) is looked up in the driver at run time, so that the CUDA 11.8 headers
// the build may use need not declare it; its enums are declared here with the values of cuda.h 12.x/13.x.
enum {
    TM_INTERLEAVE_NONE = 0,     // CU_TENSOR_MAP_INTERLEAVE_NONE
    TM_L2_PROMOTION_256B = 3,   // CU_TENSOR_MAP_L2_PROMOTION_L2_256B
    TM_OOB_FILL_ZERO = 0,       // CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE: out-of-bounds elements read as zeros
};
typedef CUresult (*tm_encode_fn)(void* map, int dtype, cuuint32_t rank, void* base, const cuuint64_t* dims,
                                 const cuuint64_t* strides, const cuuint32_t* box, const cuuint32_t* estrides,
                                 int interleave, int swizzle, int l2, int oob);
static tm_encode_fn tm_encode;
static pthread_once_t tm_once = PTHREAD_ONCE_INIT;

// tm_lookup finds cuTensorMapEncodeTiled in the loaded driver library. dlsym rather than cuGetProcAddress,
// whose signature differs between the CUDA 11 and 12+ headers (cuda.h 12+ maps it to cuGetProcAddress_v2).
static void tm_lookup(void) { tm_encode = (tm_encode_fn)dlsym(RTLD_DEFAULT, "cuTensorMapEncodeTiled"); }

int wan22_tensor_map_2d(uint64_t* map, int dtype, uint64_t base, uint64_t cols, uint64_t rows, uint64_t row_bytes,
                        unsigned int box_cols, unsigned int box_rows, int swizzle) {
    pthread_once(&tm_once, tm_lookup);
    if (!tm_encode) return CUDA_ERROR_NOT_FOUND;
    cuuint64_t dims[2] = {cols, rows}, strides[1] = {row_bytes};
    cuuint32_t box[2] = {box_cols, box_rows}, estrides[2] = {1, 1};
    _Alignas(64) uint64_t out[16];  // CUtensorMap's alignment
    CUresult r = tm_encode(out, dtype, 2, (void*)(uintptr_t)base, dims, strides, box, estrides, TM_INTERLEAVE_NONE,
                           swizzle, TM_L2_PROMOTION_256B, TM_OOB_FILL_ZERO);
    if (r == CUDA_SUCCESS) memcpy(map, out, sizeof out);
    return r;
}

// ---- cuBLASLt ----------------------------------------------------------------------------------------------
// Declared here rather than taken from cublasLt.h so that the build needs no cuBLAS headers and so that
// any of libcublasLt.so.11/.12/.13 can be used; these types and enum values are the same in all three.
typedef int lt_status;
typedef void* lt_handle;
typedef struct {
    uint64_t data[8];
} lt_algo;
typedef struct {
    lt_algo algo;
    size_t workspaceSize;
    lt_status state;
    float wavesCount;
    int reserved[4];
} lt_heuristic;

enum {
    LT_R_32F = 0,
    LT_R_16BF = 14,
    LT_COMPUTE_32F = 68,
    LT_OP_N = 0,
    LT_OP_T = 1,
    LT_DESC_TRANSA = 3,
    LT_DESC_TRANSB = 4,
    LT_DESC_EPILOGUE = 7,
    LT_DESC_BIAS_POINTER = 8,
    LT_DESC_BIAS_DATA_TYPE = 26,
    LT_EPILOGUE_DEFAULT = 1,
    LT_EPILOGUE_BIAS = 4,
    LT_EPILOGUE_GELU = 32,
    LT_EPILOGUE_GELU_BIAS = 36,
    LT_PREF_MAX_WORKSPACE_BYTES = 1,
    LT_PREF_MIN_ALIGNMENT_A_BYTES = 5,
    LT_PREF_MIN_ALIGNMENT_B_BYTES = 6,
    LT_PREF_MIN_ALIGNMENT_C_BYTES = 7,
    LT_PREF_MIN_ALIGNMENT_D_BYTES = 8,
    LT_NOT_SUPPORTED = 15,
};

static struct {
    void* lib;
    size_t (*GetVersion)(void);
    lt_status (*Create)(lt_handle*);
    lt_status (*Destroy)(lt_handle);
    lt_status (*MatmulDescCreate)(void**, int, int);
    lt_status (*MatmulDescDestroy)(void*);
    lt_status (*MatmulDescSetAttribute)(void*, int, const void*, size_t);
    lt_status (*MatrixLayoutCreate)(void**, int, uint64_t, uint64_t, int64_t);
    lt_status (*MatrixLayoutDestroy)(void*);
    lt_status (*MatmulPreferenceCreate)(void**);
    lt_status (*MatmulPreferenceDestroy)(void*);
    lt_status (*MatmulPreferenceSetAttribute)(void*, int, const void*, size_t);
    lt_status (*MatmulAlgoGetHeuristic)(lt_handle, void*, void*, void*, void*, void*, void*, int, lt_heuristic*, int*);
    lt_status (*Matmul)(lt_handle, void*, const void*, const void*, void*, const void*, void*, const void*, const void*,
                        void*, void*, void*, const lt_algo*, void*, size_t, CUstream);
} lt;

#define LT_SYM(field, name)                                                    \
    do {                                                                       \
        *(void**)(&lt.field) = dlsym(lib, name);                               \
        if (lt.field == NULL) {                                                \
            snprintf(err, errlen, "%s has no symbol %s", path, name);          \
            dlclose(lib);                                                      \
            memset(&lt, 0, sizeof lt);                                         \
            return 1;                                                          \
        }                                                                      \
    } while (0)

int wan22_lt_load(const char* path, char* err, unsigned int errlen) {
    if (lt.lib != NULL) return 0;
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        const char* e = dlerror();
        snprintf(err, errlen, "%s", e ? e : "dlopen failed");
        return 1;
    }
    lt.lib = lib;
    LT_SYM(GetVersion, "cublasLtGetVersion");
    LT_SYM(Create, "cublasLtCreate");
    LT_SYM(Destroy, "cublasLtDestroy");
    LT_SYM(MatmulDescCreate, "cublasLtMatmulDescCreate");
    LT_SYM(MatmulDescDestroy, "cublasLtMatmulDescDestroy");
    LT_SYM(MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
    LT_SYM(MatrixLayoutCreate, "cublasLtMatrixLayoutCreate");
    LT_SYM(MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy");
    LT_SYM(MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate");
    LT_SYM(MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy");
    LT_SYM(MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
    LT_SYM(MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
    LT_SYM(Matmul, "cublasLtMatmul");
    return 0;
}

size_t wan22_lt_version(void) { return lt.lib ? lt.GetVersion() : 0; }

int wan22_lt_create(void** handle) { return lt.lib ? lt.Create(handle) : -1; }
int wan22_lt_destroy(void* handle) { return lt.lib ? lt.Destroy(handle) : -1; }

typedef struct {
    void* desc;
    void* lw;  // W: column-major K×N (ld K), used transposed
    void* lx;  // X: column-major K×M (ld K)
    void* ly;  // Y: column-major N×M (ld N)
    int bias_type;
    int count, chosen;
    lt_algo algo[32];
} lt_plan;

void wan22_lt_plan_select(void* plan, int i) {
    lt_plan* pl = (lt_plan*)plan;
    if (i >= 0 && i < pl->count) pl->chosen = i;
}

void wan22_lt_plan_free(void* p) {
    lt_plan* pl = (lt_plan*)p;
    if (pl == NULL) return;
    if (lt.lib) {
        if (pl->desc) lt.MatmulDescDestroy(pl->desc);
        if (pl->lw) lt.MatrixLayoutDestroy(pl->lw);
        if (pl->lx) lt.MatrixLayoutDestroy(pl->lx);
        if (pl->ly) lt.MatrixLayoutDestroy(pl->ly);
    }
    free(pl);
}

// Y[M,N] (row-major) = X[M,K]·Wᵀ (+bias[N]) is, in cuBLASLt's column-major terms, Yᶜ (N×M) = Wᶜᵀ·Xᶜ with
// Wᶜ = W read as K×N and Xᶜ = X read as K×M: the "TN" GEMM. The bias runs along Yᶜ's rows, i.e. along N.
// With gelu the epilogue also applies GELU with the tanh approximation (after the bias, in f32, before the
// output is rounded): CUBLASLT_EPILOGUE_GELU(_BIAS).
int wan22_lt_plan(void* handle, int m, int n, int k, int ldx, int ldy, int out_type, int bias_type, int gelu,
                  int align_x, int align_w, int align_y, size_t max_workspace, int want, void** out, int* found_out) {
    if (!lt.lib) return -1;
    lt_plan* pl = (lt_plan*)calloc(1, sizeof(lt_plan));
    if (pl == NULL) return 3;  // CUBLAS_STATUS_ALLOC_FAILED
    pl->bias_type = bias_type;
    void* pref = NULL;
    lt_status st;
    int opT = LT_OP_T, opN = LT_OP_N;
#define TRY(x)                      \
    do {                            \
        st = (x);                   \
        if (st != 0) goto fail;     \
    } while (0)
    TRY(lt.MatmulDescCreate(&pl->desc, LT_COMPUTE_32F, LT_R_32F));
    TRY(lt.MatmulDescSetAttribute(pl->desc, LT_DESC_TRANSA, &opT, sizeof opT));
    TRY(lt.MatmulDescSetAttribute(pl->desc, LT_DESC_TRANSB, &opN, sizeof opN));
    if (bias_type >= 0) {
        uint32_t epi = gelu ? LT_EPILOGUE_GELU_BIAS : LT_EPILOGUE_BIAS;
        TRY(lt.MatmulDescSetAttribute(pl->desc, LT_DESC_EPILOGUE, &epi, sizeof epi));
        TRY(lt.MatmulDescSetAttribute(pl->desc, LT_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
    } else if (gelu) {
        uint32_t epi = LT_EPILOGUE_GELU;
        TRY(lt.MatmulDescSetAttribute(pl->desc, LT_DESC_EPILOGUE, &epi, sizeof epi));
    }
    TRY(lt.MatrixLayoutCreate(&pl->lw, LT_R_16BF, (uint64_t)k, (uint64_t)n, (int64_t)k));
    TRY(lt.MatrixLayoutCreate(&pl->lx, LT_R_16BF, (uint64_t)k, (uint64_t)m, (int64_t)(ldx > 0 ? ldx : k)));
    TRY(lt.MatrixLayoutCreate(&pl->ly, out_type, (uint64_t)n, (uint64_t)m, (int64_t)(ldy > 0 ? ldy : n)));
    TRY(lt.MatmulPreferenceCreate(&pref));
    TRY(lt.MatmulPreferenceSetAttribute(pref, LT_PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof max_workspace));
    {
        uint32_t ax = (uint32_t)align_x, aw = (uint32_t)align_w, ay = (uint32_t)align_y;
        TRY(lt.MatmulPreferenceSetAttribute(pref, LT_PREF_MIN_ALIGNMENT_A_BYTES, &aw, sizeof aw));
        TRY(lt.MatmulPreferenceSetAttribute(pref, LT_PREF_MIN_ALIGNMENT_B_BYTES, &ax, sizeof ax));
        TRY(lt.MatmulPreferenceSetAttribute(pref, LT_PREF_MIN_ALIGNMENT_C_BYTES, &ay, sizeof ay));
        TRY(lt.MatmulPreferenceSetAttribute(pref, LT_PREF_MIN_ALIGNMENT_D_BYTES, &ay, sizeof ay));
    }
    {
        lt_heuristic h[32];  // Config.LtCandidates' most (config.go maxLtCandidates)
        int found = 0;
        if (want < 1) want = 1;
        if (want > 32) want = 32;
        memset(h, 0, sizeof h);
        TRY(lt.MatmulAlgoGetHeuristic(handle, pl->desc, pl->lw, pl->lx, pl->ly, pl->ly, pref, want, h, &found));
        for (int i = 0; i < found; i++) {
            if (h[i].state == 0 && h[i].workspaceSize <= max_workspace) pl->algo[pl->count++] = h[i].algo;
        }
        if (pl->count == 0) {
            st = LT_NOT_SUPPORTED;
            goto fail;
        }
    }
#undef TRY
    lt.MatmulPreferenceDestroy(pref);
    *out = pl;
    *found_out = pl->count;
    return 0;
fail:
    if (pref) lt.MatmulPreferenceDestroy(pref);
    wan22_lt_plan_free(pl);
    return st;
}

// With beta != 0 the GEMM accumulates into y: y = epilogue(x·wᵀ + beta·y (+bias)), y read as C in place.
int wan22_lt_matmul(void* handle, void* plan, uint64_t x, uint64_t w, uint64_t y, uint64_t bias, float beta, uint64_t ws,
                    size_t ws_size, CUstream s) {
    if (!lt.lib) return -1;
    lt_plan* pl = (lt_plan*)plan;
    const float one = 1.0f;
    if (pl->bias_type >= 0) {
        const void* b = (const void*)(uintptr_t)bias;
        lt_status st = lt.MatmulDescSetAttribute(pl->desc, LT_DESC_BIAS_POINTER, &b, sizeof b);
        if (st != 0) return st;
    }
    void* yp = (void*)(uintptr_t)y;
    return lt.Matmul(handle, pl->desc, &one, (const void*)(uintptr_t)w, pl->lw, (const void*)(uintptr_t)x, pl->lx, &beta,
                     yp, pl->ly, yp, pl->ly, &pl->algo[pl->chosen], (void*)(uintptr_t)ws, ws_size, s);
}
