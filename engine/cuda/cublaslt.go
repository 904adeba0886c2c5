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
	"math"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"

	"github.com/wan22/wan22/gguf"
	"gorgonia.org/cu"
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
	gelu       bool
	ax, aw, ay int // pointer alignments the plan assumes
	ldx, ldy   int // row strides of X and Y in elements (dense: K and N)
}

type ltPlan struct {
	p      unsafe.Pointer
	algos  int // candidates the heuristic returned
	chosen int
}

// free releases the plan's cuBLASLt objects.
func (pl *ltPlan) free() { C.wan22_lt_plan_free(pl.p) }

// sel makes the plan run candidate i.
func (pl *ltPlan) sel(i int) { C.wan22_lt_plan_select(pl.p, C.int(i)) }

// Plans for GEMMs of at least this many flops time the heuristic's candidates once and keep the fastest:
// cuBLASLt's first guess is often not its best kernel at WAN shapes, nor at the skinny ones of a run-time
// LoRA (N or K = the rank: 2·8192·5120·32 ≈ 2.7e9 flops for an FFN chunk's down-projection).
const ltAutotuneFlops = 1e9

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
		p.free()
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
	key := ltKey{m: op.M, n: op.N, k: op.K, out: cudaDataType(op.YType), bias: -1, gelu: op.GELU,
		ax: alignOf(op.X.Ptr), aw: alignOf(op.W.Ptr), ay: alignOf(op.Y.Ptr), ldx: op.ldx(), ldy: op.ldy()}
	if !op.Bias.IsNil() {
		key.bias = cudaDataType(op.BiasType)
	}
	pl, ok := lt.plans[key]
	if !ok {
		pl = &ltPlan{}
		want := 1
		if 2*float64(op.M)*float64(op.N)*float64(op.K) >= ltAutotuneFlops {
			want = d.cfg.LtCandidates
		}
		var found C.int
		call := fmt.Sprintf("cuBLASLt plan for M=%d N=%d K=%d ldx=%d ldy=%d out=%v bias=%v gelu=%v", op.M, op.N, op.K, key.ldx, key.ldy, op.YType, !op.Bias.IsNil(), op.GELU)
		gelu := C.int(0)
		if op.GELU {
			gelu = 1
		}
		if err := ltErr(call, C.wan22_lt_plan(lt.handle, C.int(op.M), C.int(op.N), C.int(op.K), C.int(key.ldx), C.int(key.ldy), C.int(key.out), C.int(key.bias), gelu,
			C.int(key.ax), C.int(key.aw), C.int(key.ay), ltWorkspace, C.int(want), &pl.p, &found)); err != nil {
			return err
		}
		pl.algos = int(found)
		lt.plans[key] = pl
		if pl.algos > 1 {
			if err := d.ltAutotuneOp(s, op, pl); err != nil {
				return err
			}
		}
	}
	st := d.stream(s)
	if err := d.ltMatmul(st, op, pl); err != nil {
		return err
	}
	if d.cfg.Sync {
		return wrap(fmt.Sprintf("cublasLtMatmul(M=%d N=%d K=%d) on stream %s", op.M, op.N, op.K, st.name), st.s.Synchronize())
	}
	return nil
}

func (d *Device) ltMatmul(st *Stream, op GemmOp, pl *ltPlan) error {
	lt := d.lt
	return ltErr(fmt.Sprintf("cublasLtMatmul(M=%d N=%d K=%d ldx=%d ldy=%d)", op.M, op.N, op.K, op.ldx(), op.ldy()), C.wan22_lt_matmul(lt.handle, pl.p,
		C.uint64_t(op.X.Ptr), C.uint64_t(op.W.Ptr), C.uint64_t(op.Y.Ptr), C.uint64_t(op.Bias.Ptr), C.float(op.Beta),
		C.uint64_t(lt.ws.ptr), C.size_t(lt.ws.size), cuStream(st.s)))
}

// ltAutotuneOp autotunes a new plan for op. The plan does not depend on Beta (a scalar of each call), but
// the timed runs must not accumulate into an output that holds C: with Beta ≠ 0 they run with Beta = 0 into
// a temporary of Y's size, and when that cannot be allocated the heuristic's first choice stays. Runs on the
// CUDA goroutine.
func (d *Device) ltAutotuneOp(s *Stream, op GemmOp, pl *ltPlan) error {
	if op.Beta == 0 {
		return d.ltAutotune(s, op, pl)
	}
	tmp, err := d.Alloc("cuda.cublaslt", stridedBytes(op.M, op.N, op.ldy(), elemBytes(op.YType)))
	if err != nil {
		d.log.Info("cuBLASLt autotune skipped (no memory for a scratch output)", "m", op.M, "n", op.N, "k", op.K, "err", err)
		return nil
	}
	// The temporary must be freed after the timed runs: ltAutotune waits for the stream.
	defer func() { _ = tmp.free() }()
	op.Y, op.Beta = tmp.Mem(), 0
	return d.ltAutotune(s, op, pl)
}

// ltAutotune times the candidate algorithms of a new plan on op's own operands (the output is written
// again by the real call) and selects the fastest. Candidates run round-robin, three rounds after a warm-up
// run each, and each keeps its median, so that clock changes during the search affect all alike. It waits
// for the stream. Runs on the CUDA goroutine.
func (d *Device) ltAutotune(s *Stream, op GemmOp, pl *ltPlan) error {
	const rounds = 3
	st := d.stream(s)
	n := pl.algos
	ev := make([]cu.Event, 2*n*rounds)
	for i := range ev {
		e, err := cu.MakeEvent(cu.DefaultEvent)
		if err != nil {
			return wrap("cuEventCreate", err)
		}
		ev[i] = e
		defer cu.DestroyEvent(&ev[i])
	}
	run := func(i int) error {
		pl.sel(i)
		return d.ltMatmul(st, op, pl)
	}
	for i := 0; i < n; i++ {
		if err := run(i); err != nil {
			return err
		}
	}
	for r := 0; r < rounds; r++ {
		for i := 0; i < n; i++ {
			e := 2 * (r*n + i)
			if err := wrap("cuEventRecord", ev[e].Record(st.s)); err != nil {
				return err
			}
			if err := run(i); err != nil {
				return err
			}
			if err := wrap("cuEventRecord", ev[e+1].Record(st.s)); err != nil {
				return err
			}
		}
	}
	if err := asyncErr(wrap("cuStreamSynchronize("+st.name+")", st.s.Synchronize())); err != nil {
		return err
	}
	best, bestMs := 0, math.MaxFloat64
	times := make([]string, n)
	for i := 0; i < n; i++ {
		var ms [rounds]float64
		for r := 0; r < rounds; r++ {
			e := 2 * (r*n + i)
			v, err := ev[e].Elapsed(ev[e+1])
			if err != nil {
				return wrap("cuEventElapsedTime", err)
			}
			ms[r] = v
		}
		sort.Float64s(ms[:])
		med := ms[rounds/2]
		times[i] = fmt.Sprintf("%.3f", med)
		if med < bestMs {
			best, bestMs = i, med
		}
	}
	pl.sel(best)
	pl.chosen = best
	d.log.Info("cuBLASLt autotune", "m", op.M, "n", op.N, "k", op.K, "candidates_ms", strings.Join(times, " "), "chosen", best)
	return nil
}
