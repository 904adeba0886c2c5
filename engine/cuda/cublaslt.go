//go:build cuda

package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/wan22/wan22/gguf"
)

// cuBLASLt is loaded at run time so that the binary neither links nor requires it.
type cublasLt struct {
	handle  unsafe.Pointer
	path    string
	version int
	plans   map[ltKey]*ltPlan
	ws      *Buffer
}

type ltKey struct {
	m, n, k    int
	out, bias  int // cudaDataType; bias -1 = none
	ax, aw, ay int // pointer alignments the plan assumes
}

type ltPlan struct {
	p  unsafe.Pointer
	ws int64
}

const ltWorkspace = 32 << 20

// cublasLtStatus names cublasStatus_t values.
var cublasLtStatus = map[int]string{
	1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
	8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
	-1: "cuBLASLt not loaded",
}

func ltErr(call string, st C.int) error {
	if st == 0 {
		return nil
	}
	name, ok := cublasLtStatus[int(st)]
	if !ok {
		name = fmt.Sprintf("cublasStatus %d", int(st))
	}
	return &Error{Call: call, Code: int(st), Name: name}
}

// cublasLtCandidates lists where to look for the library, in order: sonames through the dynamic loader's
// search path (newest first), then copies that CUDA toolkits and PyTorch's wheels install.
func cublasLtCandidates() []string {
	out := []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"}
	patterns := []string{
		"/usr/local/cuda/lib64/libcublasLt.so.1[123]",
		"/usr/local/cuda-*/lib64/libcublasLt.so.1[123]",
		"/usr/local/lib/python3*/dist-packages/nvidia/cu1[23]/lib/libcublasLt.so.1[23]",
		"/usr/local/lib/python3*/dist-packages/nvidia/cublas/lib/libcublasLt.so.1[123]",
		"/usr/lib/python3/dist-packages/nvidia/cublas/lib/libcublasLt.so.1[123]",
		"/opt/*/.venv/lib/python3*/site-packages/nvidia/cu1[23]/lib/libcublasLt.so.1[23]",
		"/opt/*/.venv/lib/python3*/site-packages/nvidia/cublas/lib/libcublasLt.so.1[123]",
		"/opt/conda/lib/libcublasLt.so.1[123]",
	}
	var found []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		found = append(found, m...)
	}
	// Newest soname first among the globbed copies too.
	for _, v := range []string{".so.13", ".so.12", ".so.11"} {
		for _, f := range found {
			if strings.HasSuffix(f, v) {
				out = append(out, f)
			}
		}
	}
	return out
}

// loadCublasLt loads cuBLASLt as spec says (see Config.CublasLt) and creates a handle. It returns nil and
// the reason when there is none; that is not an error, the own GEMM kernel takes over.
func loadCublasLt(spec string, log *slog.Logger) (*cublasLt, string) {
	if strings.EqualFold(spec, "off") || spec == "0" || strings.EqualFold(spec, "none") {
		return nil, "disabled (WAN22_CUBLASLT=off)"
	}
	cands := cublasLtCandidates()
	if spec != "" {
		cands = []string{spec}
	}
	errBuf := (*C.char)(C.malloc(512))
	defer C.free(unsafe.Pointer(errBuf))
	var tried []string
	for _, c := range cands {
		cs := C.CString(c)
		st := C.wan22_lt_load(cs, errBuf, 512)
		C.free(unsafe.Pointer(cs))
		if st != 0 {
			tried = append(tried, C.GoString(errBuf))
			continue
		}
		lt := &cublasLt{path: c, version: int(C.wan22_lt_version()), plans: map[ltKey]*ltPlan{}}
		if err := ltErr("cublasLtCreate", C.wan22_lt_create(&lt.handle)); err != nil {
			reason := fmt.Sprintf("%s loaded but unusable: %v", c, err)
			log.Warn("cuBLASLt unusable; using the own GEMM kernel", "reason", reason)
			return nil, reason
		}
		log.Info("cuBLASLt loaded", "library", c, "version", lt.version)
		return lt, ""
	}
	reason := "not found (tried " + strings.Join(cands, ", ") + ")"
	if spec != "" {
		reason = fmt.Sprintf("cannot load %s (WAN22_CUBLASLT): %s", spec, strings.Join(tried, "; "))
		log.Warn("cuBLASLt not loaded; using the own GEMM kernel", "reason", reason)
	} else {
		log.Info("cuBLASLt not found; using the own GEMM kernel (set WAN22_CUBLASLT to its path)", "tried", len(cands))
	}
	return nil, reason
}

func (lt *cublasLt) close() {
	for _, p := range lt.plans {
		C.wan22_lt_plan_free(p.p)
	}
	lt.plans = nil
	if lt.handle != nil {
		C.wan22_lt_destroy(lt.handle)
		lt.handle = nil
	}
}

// cublasLtState describes the cuBLASLt state for logs and Info.
func (d *Device) cublasLtState() string {
	if d.lt != nil {
		return fmt.Sprintf("%s (version %d)", d.lt.path, d.lt.version)
	}
	return "none: " + d.ltReason
}

// HasCublasLt reports whether cuBLASLt was loaded.
func (d *Device) HasCublasLt() bool { return d.lt != nil }

func cudaDataType(t gguf.Type) int {
	if t == gguf.TypeBF16 {
		return 14
	}
	return 0 // CUDA_R_32F
}

func alignOf(p uintptr) int {
	for a := 256; a > 1; a /= 2 {
		if p%uintptr(a) == 0 {
			return a
		}
	}
	return 1
}

// ltGemm runs op through cuBLASLt. Runs on the CUDA goroutine.
func (d *Device) ltGemm(s *Stream, op GemmOp) error {
	lt := d.lt
	if lt.ws == nil {
		ws, err := d.Alloc("cuda.cublaslt", ltWorkspace)
		if err != nil {
			return fmt.Errorf("cuda: cuBLASLt workspace: %w", err)
		}
		lt.ws = ws
	}
	key := ltKey{m: op.M, n: op.N, k: op.K, out: cudaDataType(op.YType), bias: -1,
		ax: alignOf(op.X.Ptr), aw: alignOf(op.W.Ptr), ay: alignOf(op.Y.Ptr)}
	if !op.Bias.IsNil() {
		key.bias = cudaDataType(op.BiasType)
	}
	pl, ok := lt.plans[key]
	if !ok {
		pl = &ltPlan{}
		var ws C.size_t
		call := fmt.Sprintf("cuBLASLt plan for M=%d N=%d K=%d out=%v", op.M, op.N, op.K, op.YType)
		if err := ltErr(call, C.wan22_lt_plan(lt.handle, C.int(op.M), C.int(op.N), C.int(op.K), C.int(key.out), C.int(key.bias),
			C.int(key.ax), C.int(key.aw), C.int(key.ay), ltWorkspace, &pl.p, &ws)); err != nil {
			return err
		}
		pl.ws = int64(ws)
		lt.plans[key] = pl
	}
	st := d.stream(s)
	err := ltErr(fmt.Sprintf("cublasLtMatmul(M=%d N=%d K=%d)", op.M, op.N, op.K), C.wan22_lt_matmul(lt.handle, pl.p,
		C.uint64_t(op.X.Ptr), C.uint64_t(op.W.Ptr), C.uint64_t(op.Y.Ptr), C.uint64_t(op.Bias.Ptr),
		C.uint64_t(lt.ws.ptr), C.size_t(lt.ws.size), cuStream(st.s)))
	if err != nil {
		return err
	}
	if d.cfg.Sync {
		return wrap(fmt.Sprintf("cublasLtMatmul(M=%d N=%d K=%d) on stream %s", op.M, op.N, op.K, st.name), st.s.Synchronize())
	}
	return nil
}
