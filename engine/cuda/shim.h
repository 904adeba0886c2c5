// C side of engine/cuda: the driver calls gorgonia.org/cu lacks, kernel launches with raw handles, and
// cuBLASLt loaded at run time with dlopen. Everything returns a CUresult (or cublasStatus_t for wan22_lt_*).
#ifndef WAN22_SHIM_H
#define WAN22_SHIM_H

#include <cuda.h>
#include <stddef.h>
#include <stdint.h>

int wan22_init_status(void);
const char* wan22_err_name(int code);
const char* wan22_err_string(int code);

int wan22_host_alloc(void** p, size_t size, unsigned int flags);
int wan22_host_free(void* p);
int wan22_host_register(void* p, size_t size, unsigned int flags);
int wan22_host_unregister(void* p);

int wan22_module_load(CUmodule* m, const char* image, char* errlog, unsigned int errlen);
int wan22_module_unload(CUmodule m);
int wan22_module_function(CUfunction* f, CUmodule m, const char* name);
int wan22_func_max_dynamic_smem(CUfunction f, int bytes);
// args holds the parameter values in nslots 8-byte slots (at most 128); parameter i starts at slot[i] (a TMA
// tensor map takes 16, starting at a multiple of 8: the copy the driver reads keeps its 64-byte alignment).
int wan22_launch(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                 unsigned int bz, unsigned int smem, CUstream s, uint64_t* args, int nslots, const int* slot, int nargs);
int wan22_copy2d(uint64_t dst, size_t dpitch, uint64_t src, size_t spitch, size_t width, size_t height, CUstream s);
// wan22_tensor_map_2d encodes into map (128 bytes) the TMA tensor map of a row-major matrix [rows, cols] of
// CUtensorMapDataType dtype (0 uint8, 9 bfloat16) with rows row_bytes apart: boxes of box_cols × box_rows, the
// CUtensorMapSwizzle swizzle (0 none, 3 128-byte), elements out of bounds read as zeros. CUDA_ERROR_NOT_FOUND
// when the driver has no cuTensorMapEncodeTiled (before CUDA 12).
int wan22_tensor_map_2d(uint64_t* map, int dtype, uint64_t base, uint64_t cols, uint64_t rows, uint64_t row_bytes,
                        unsigned int box_cols, unsigned int box_rows, int swizzle);

// cuBLASLt (statuses are cublasStatus_t; -1 means the library is not loaded).
int wan22_lt_load(const char* path, char* err, unsigned int errlen);
size_t wan22_lt_version(void);
int wan22_lt_create(void** handle);
int wan22_lt_destroy(void* handle);
// wan22_lt_plan asks the heuristic for up to `want` algorithms (at most 8) and returns how many it found;
// the plan uses the first until wan22_lt_plan_select picks another. gelu != 0 adds GELU (tanh) to the epilogue.
// ldx and ldy are the row strides of X and Y in elements (0: dense, K and N).
int wan22_lt_plan(void* handle, int m, int n, int k, int ldx, int ldy, int out_type, int bias_type, int gelu,
                  int align_x, int align_w, int align_y, size_t max_workspace, int want, void** plan, int* found);
void wan22_lt_plan_select(void* plan, int i);
// Device addresses travel as integers. beta != 0 accumulates into y (C = D = y, in place): y = epilogue(
// x·wᵀ + beta·y + bias), the bias and GELU applied after the sum.
int wan22_lt_matmul(void* handle, void* plan, uint64_t x, uint64_t w, uint64_t y, uint64_t bias, float beta,
                    uint64_t ws, size_t ws_size, CUstream s);
void wan22_lt_plan_free(void* plan);

#endif
