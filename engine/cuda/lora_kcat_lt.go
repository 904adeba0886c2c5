//go:build cuda

package cuda

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cuda.h>

// Strided cuBLASLt plans: shim.c's wan22_lt_plan with row strides for X and Y (GemmOp.LdX, LdY). shim.c
// keeps its cuBLASLt entry points to itself, so this file finds them again in the library shim.c loaded
// (dlopen with RTLD_NOLOAD: the same handle, no second copy). The types and enum values are shim.c's.
// TODO(shim owner): give wan22_lt_plan ldx and ldy arguments and drop this copy.

typedef int kc_status;
typedef struct { uint64_t data[8]; } kc_algo;
typedef struct {
    kc_algo algo;
    size_t workspaceSize;
    kc_status state;
    float wavesCount;
    int reserved[4];
} kc_heuristic;

enum {
    KC_R_32F = 0, KC_R_16BF = 14, KC_COMPUTE_32F = 68, KC_OP_N = 0, KC_OP_T = 1,
    KC_DESC_TRANSA = 3, KC_DESC_TRANSB = 4, KC_DESC_EPILOGUE = 7, KC_DESC_BIAS_POINTER = 8,
    KC_DESC_BIAS_DATA_TYPE = 26, KC_EPILOGUE_BIAS = 4, KC_EPILOGUE_GELU = 32, KC_EPILOGUE_GELU_BIAS = 36,
    KC_PREF_MAX_WORKSPACE_BYTES = 1, KC_PREF_MIN_ALIGNMENT_A_BYTES = 5, KC_PREF_MIN_ALIGNMENT_B_BYTES = 6,
    KC_PREF_MIN_ALIGNMENT_C_BYTES = 7, KC_PREF_MIN_ALIGNMENT_D_BYTES = 8, KC_NOT_SUPPORTED = 15,
};

static struct {
    int loaded;
    kc_status (*MatmulDescCreate)(void**, int, int);
    kc_status (*MatmulDescDestroy)(void*);
    kc_status (*MatmulDescSetAttribute)(void*, int, const void*, size_t);
    kc_status (*MatrixLayoutCreate)(void**, int, uint64_t, uint64_t, int64_t);
    kc_status (*MatrixLayoutDestroy)(void*);
    kc_status (*MatmulPreferenceCreate)(void**);
    kc_status (*MatmulPreferenceDestroy)(void*);
    kc_status (*MatmulPreferenceSetAttribute)(void*, int, const void*, size_t);
    kc_status (*MatmulAlgoGetHeuristic)(void*, void*, void*, void*, void*, void*, void*, int, kc_heuristic*, int*);
    kc_status (*Matmul)(void*, void*, const void*, const void*, void*, const void*, void*, const void*, const void*,
                        void*, void*, void*, const kc_algo*, void*, size_t, CUstream);
} kc;

// wan22_kc_load finds the entry points in the already loaded library at path; 0 on success, -1 when the
// library is not loaded or lacks one.
static int wan22_kc_load(const char* path) {
    if (kc.loaded) return 0;
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (lib == NULL) return -1;
#define KC_SYM(field, name) \
    if ((*(void**)(&kc.field) = dlsym(lib, name)) == NULL) return -1;
    KC_SYM(MatmulDescCreate, "cublasLtMatmulDescCreate");
    KC_SYM(MatmulDescDestroy, "cublasLtMatmulDescDestroy");
    KC_SYM(MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
    KC_SYM(MatrixLayoutCreate, "cublasLtMatrixLayoutCreate");
    KC_SYM(MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy");
    KC_SYM(MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate");
    KC_SYM(MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy");
    KC_SYM(MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
    KC_SYM(MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
    KC_SYM(Matmul, "cublasLtMatmul");
#undef KC_SYM
    // The handle stays open (one reference more on a library shim.c keeps loaded for the process).
    kc.loaded = 1;
    return 0;
}

typedef struct {
    void *desc, *lw, *lx, *ly;
    int bias_type;
    int count, chosen;
    kc_algo algo[8];
} kc_plan;

static void wan22_kc_plan_free(void* p) {
    kc_plan* pl = (kc_plan*)p;
    if (pl == NULL) return;
    if (kc.loaded) {
        if (pl->desc) kc.MatmulDescDestroy(pl->desc);
        if (pl->lw) kc.MatrixLayoutDestroy(pl->lw);
        if (pl->lx) kc.MatrixLayoutDestroy(pl->lx);
        if (pl->ly) kc.MatrixLayoutDestroy(pl->ly);
    }
    free(pl);
}

static void wan22_kc_plan_select(void* p, int i) {
    kc_plan* pl = (kc_plan*)p;
    if (i >= 0 && i < pl->count) pl->chosen = i;
}

// wan22_kc_plan is wan22_lt_plan (shim.c: the row-major Y = X·Wᵀ as cuBLASLt's column-major "TN" GEMM)
// with X's columns ldx elements apart and Y's ldy apart, i.e. X read as K×M with ld ldx, Y as N×M with ld ldy.
static int wan22_kc_plan(void* handle, int m, int n, int k, int ldx, int ldy, int out_type, int bias_type, int gelu,
                         int align_x, int align_w, int align_y, size_t max_workspace, int want, void** out,
                         int* found_out) {
    if (!kc.loaded) return -1;
    kc_plan* pl = (kc_plan*)calloc(1, sizeof(kc_plan));
    if (pl == NULL) return 3;  // CUBLAS_STATUS_ALLOC_FAILED
    pl->bias_type = bias_type;
    void* pref = NULL;
    kc_status st;
    int opT = KC_OP_T, opN = KC_OP_N;
#define TRY(x)                  \
    do {                        \
        st = (x);               \
        if (st != 0) goto fail; \
    } while (0)
    TRY(kc.MatmulDescCreate(&pl->desc, KC_COMPUTE_32F, KC_R_32F));
    TRY(kc.MatmulDescSetAttribute(pl->desc, KC_DESC_TRANSA, &opT, sizeof opT));
    TRY(kc.MatmulDescSetAttribute(pl->desc, KC_DESC_TRANSB, &opN, sizeof opN));
    if (bias_type >= 0) {
        uint32_t epi = gelu ? KC_EPILOGUE_GELU_BIAS : KC_EPILOGUE_BIAS;
        TRY(kc.MatmulDescSetAttribute(pl->desc, KC_DESC_EPILOGUE, &epi, sizeof epi));
        TRY(kc.MatmulDescSetAttribute(pl->desc, KC_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
    } else if (gelu) {
        uint32_t epi = KC_EPILOGUE_GELU;
        TRY(kc.MatmulDescSetAttribute(pl->desc, KC_DESC_EPILOGUE, &epi, sizeof epi));
    }
    TRY(kc.MatrixLayoutCreate(&pl->lw, KC_R_16BF, (uint64_t)k, (uint64_t)n, (int64_t)k));
    TRY(kc.MatrixLayoutCreate(&pl->lx, KC_R_16BF, (uint64_t)k, (uint64_t)m, (int64_t)ldx));
    TRY(kc.MatrixLayoutCreate(&pl->ly, out_type, (uint64_t)n, (uint64_t)m, (int64_t)ldy));
    TRY(kc.MatmulPreferenceCreate(&pref));
    TRY(kc.MatmulPreferenceSetAttribute(pref, KC_PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof max_workspace));
    {
        uint32_t ax = (uint32_t)align_x, aw = (uint32_t)align_w, ay = (uint32_t)align_y;
        TRY(kc.MatmulPreferenceSetAttribute(pref, KC_PREF_MIN_ALIGNMENT_A_BYTES, &aw, sizeof aw));
        TRY(kc.MatmulPreferenceSetAttribute(pref, KC_PREF_MIN_ALIGNMENT_B_BYTES, &ax, sizeof ax));
        TRY(kc.MatmulPreferenceSetAttribute(pref, KC_PREF_MIN_ALIGNMENT_C_BYTES, &ay, sizeof ay));
        TRY(kc.MatmulPreferenceSetAttribute(pref, KC_PREF_MIN_ALIGNMENT_D_BYTES, &ay, sizeof ay));
    }
    {
        kc_heuristic h[8];
        int found = 0;
        if (want < 1) want = 1;
        if (want > 8) want = 8;
        memset(h, 0, sizeof h);
        TRY(kc.MatmulAlgoGetHeuristic(handle, pl->desc, pl->lw, pl->lx, pl->ly, pl->ly, pref, want, h, &found));
        for (int i = 0; i < found; i++) {
            if (h[i].state == 0 && h[i].workspaceSize <= max_workspace) pl->algo[pl->count++] = h[i].algo;
        }
        if (pl->count == 0) {
            st = KC_NOT_SUPPORTED;
            goto fail;
        }
    }
#undef TRY
    kc.MatmulPreferenceDestroy(pref);
    *out = pl;
    *found_out = pl->count;
    return 0;
fail:
    if (pref) kc.MatmulPreferenceDestroy(pref);
    wan22_kc_plan_free(pl);
    return st;
}

static int wan22_kc_matmul(void* handle, void* plan, uint64_t x, uint64_t w, uint64_t y, uint64_t bias, float beta,
                           uint64_t ws, size_t ws_size, CUstream s) {
    if (!kc.loaded) return -1;
    kc_plan* pl = (kc_plan*)plan;
    const float one = 1.0f;
    if (pl->bias_type >= 0) {
        const void* b = (const void*)(uintptr_t)bias;
        kc_status st = kc.MatmulDescSetAttribute(pl->desc, KC_DESC_BIAS_POINTER, &b, sizeof b);
        if (st != 0) return st;
    }
    void* yp = (void*)(uintptr_t)y;
    return kc.Matmul(handle, pl->desc, &one, (const void*)(uintptr_t)w, pl->lw, (const void*)(uintptr_t)x, pl->lx,
                     &beta, yp, pl->ly, yp, pl->ly, &pl->algo[pl->chosen], (void*)(uintptr_t)ws, ws_size, s);
}

// wan22_kc_copy2d copies height rows of width bytes between device buffers with the given row pitches.
static int wan22_kc_copy2d(uint64_t dst, size_t dpitch, uint64_t src, size_t spitch, size_t width, size_t height,
                           CUstream s) {
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
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ltStrided plans, runs, selects and frees cuBLASLt plans with row strides (lora_kcat_lt.go's C): the
// strided counterparts of shim.c's wan22_lt_* that ltGemm uses for a GemmOp with LdX or LdY set.

// ltStridedPlan makes a plan for op with its row strides. Runs on the CUDA goroutine.
func (lt *cublasLt) ltStridedPlan(op GemmOp, key ltKey, want int) (unsafe.Pointer, int, error) {
	cs := C.CString(lt.path)
	defer C.free(unsafe.Pointer(cs))
	if C.wan22_kc_load(cs) != 0 {
		return nil, 0, fmt.Errorf("cuda: gemm: strided cuBLASLt plans: cannot find the entry points in %s", lt.path)
	}
	gelu := C.int(0)
	if op.GELU {
		gelu = 1
	}
	var p unsafe.Pointer
	var found C.int
	call := fmt.Sprintf("cuBLASLt plan for M=%d N=%d K=%d ldx=%d ldy=%d out=%v bias=%v gelu=%v", op.M, op.N, op.K, key.ldx, key.ldy, op.YType, !op.Bias.IsNil(), op.GELU)
	if err := ltErr(call, C.wan22_kc_plan(lt.handle, C.int(op.M), C.int(op.N), C.int(op.K), C.int(key.ldx), C.int(key.ldy),
		C.int(key.out), C.int(key.bias), gelu, C.int(key.ax), C.int(key.aw), C.int(key.ay), ltWorkspace, C.int(want), &p, &found)); err != nil {
		return nil, 0, err
	}
	return p, int(found), nil
}

func ltStridedMatmul(lt *cublasLt, p unsafe.Pointer, op GemmOp, st *Stream) error {
	return ltErr(fmt.Sprintf("cublasLtMatmul(M=%d N=%d K=%d ldx=%d ldy=%d)", op.M, op.N, op.K, op.ldx(), op.ldy()), C.wan22_kc_matmul(lt.handle, p,
		C.uint64_t(op.X.Ptr), C.uint64_t(op.W.Ptr), C.uint64_t(op.Y.Ptr), C.uint64_t(op.Bias.Ptr), C.float(op.Beta),
		C.uint64_t(lt.ws.ptr), C.size_t(lt.ws.size), cuStream(st.s)))
}

// copy2DAsync enqueues a device-to-device 2-D copy on st (gorgonia.org/cu's Memcpy2DAsync dereferences
// its unused array fields, so the driver is called here).
func copy2DAsync(st *Stream, dst Mem, dpitch int64, src Mem, spitch int64, width, height int64) error {
	return cuErr(fmt.Sprintf("cuMemcpy2DAsync(%d rows of %s, %s)", height, FormatBytes(width), st.name),
		C.wan22_kc_copy2d(C.uint64_t(dst.Ptr), C.size_t(dpitch), C.uint64_t(src.Ptr), C.size_t(spitch), C.size_t(width), C.size_t(height), cuStream(st.s)))
}

func ltStridedSelect(p unsafe.Pointer, i int) { C.wan22_kc_plan_select(p, C.int(i)) }

func ltStridedFree(p unsafe.Pointer) { C.wan22_kc_plan_free(p) }
