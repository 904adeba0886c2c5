//go:build cuda

package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/wan22/wan22/kernels"
)

// module is a loaded PTX module (or the error loading it gave, which is kept so it is reported once per
// use without re-running the JIT).
type module struct {
	name   string
	handle C.CUmodule
	err    error
}

// kernel is a function of a loaded module.
type kernel struct {
	name    string
	fn      C.CUfunction
	smemSet int // dynamic shared memory the function was allowed so far
}

// getKernel returns a kernel, loading its module on first use; the kernel must be listed in
// launchedKernels (kernel_names.go), which CI checks against the embedded PTX. Runs on the CUDA goroutine.
func (d *Device) getKernel(mod, name string) (*kernel, error) {
	key := mod + ":" + name
	if k, ok := d.kernels[key]; ok {
		return k, nil
	}
	if !kernelListed(mod, name) {
		return nil, fmt.Errorf("cuda: kernel %s of module %s is not listed in launchedKernels: add it to engine/cuda/kernel_names.go (and the kernel to kernels/%s.cu)", name, mod, mod)
	}
	m, err := d.getModule(mod)
	if err != nil {
		return nil, err
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	k := &kernel{name: name}
	if err := cuErr(fmt.Sprintf("cuModuleGetFunction(%s, %s)", mod, name), C.wan22_module_function(&k.fn, m.handle, cname)); err != nil {
		return nil, fmt.Errorf("%w: the embedded PTX lacks this kernel: run make ptx and rebuild", err)
	}
	d.kernels[key] = k
	return k, nil
}

func (d *Device) getModule(name string) (*module, error) {
	if m, ok := d.modules[name]; ok {
		return m, m.err
	}
	ptx, dir, err := modulePTX(name)
	if err != nil {
		return nil, err
	}
	if dir != "" {
		d.log.Info("kernel module from "+ptxDirEnv+" instead of the embedded PTX", "module", name, "dir", dir,
			"nvcc", kernels.RecordedBuild(ptx))
	}
	m := d.loadModule(name, ptx)
	d.modules[name] = m
	return m, m.err
}

// loadModule JIT-compiles a PTX image for the current device. Errors name the module, carry the JIT's
// log on one line and say what to do.
func (d *Device) loadModule(name string, ptx []byte) *module {
	start := time.Now()
	img := C.CString(string(ptx))
	defer C.free(unsafe.Pointer(img))
	const logLen = 4096
	logBuf := (*C.char)(C.malloc(logLen))
	defer C.free(unsafe.Pointer(logBuf))
	m := &module{name: name}
	code := C.wan22_module_load(&m.handle, img, logBuf, logLen)
	if code != 0 {
		e := cuErr(fmt.Sprintf("loading kernel module %q: cuModuleLoadDataEx", name), code)
		jit := oneLine(C.GoString(logBuf), 300)
		if jit != "" {
			jit = ": " + jit
		}
		m.handle = nil
		m.err = fmt.Errorf("%w%s; the embedded PTX is damaged or too new for this driver: run make ptx, rebuild, and update the NVIDIA driver if it persists", e, jit)
		return m
	}
	d.log.Debug("kernel module loaded", "module", name, "jit", time.Since(start), "nvcc", kernels.RecordedBuild(ptx))
	return m
}

// dim3 is a grid or block shape.
type dim3 struct{ x, y, z uint32 }

// launch launches k on s with the given arguments, which must match the kernel's parameters: Mem and
// uintptr for pointers, int32 for int, int64 for long, float32 for float, *tensorMap for a TMA tensor map
// passed by value (a __grid_constant__ CUtensorMap). With Config.Sync it waits for the kernel and reports its
// failure by name. Runs on the CUDA goroutine.
func (d *Device) launch(s *Stream, k *kernel, grid, block dim3, smem int, args ...any) error {
	var slots [128]uint64
	var at [32]C.int
	if len(args) > len(at) {
		return fmt.Errorf("cuda: launch %s: %d arguments, at most %d", k.name, len(args), len(at))
	}
	n := 0
	for i, a := range args {
		if m, ok := a.(*tensorMap); ok {
			n = (n + 7) &^ 7 // 64-byte aligned, as CUtensorMap
			if n+len(m) > len(slots) {
				return fmt.Errorf("cuda: launch %s: arguments exceed %d bytes", k.name, 8*len(slots))
			}
			at[i] = C.int(n)
			n += copy(slots[n:], m[:])
			continue
		}
		if n >= len(slots) {
			return fmt.Errorf("cuda: launch %s: arguments exceed %d bytes", k.name, 8*len(slots))
		}
		at[i] = C.int(n)
		switch v := a.(type) {
		case Mem:
			slots[n] = uint64(v.Ptr)
		case uintptr:
			slots[n] = uint64(v)
		case int32:
			slots[n] = uint64(uint32(v))
		case int64:
			slots[n] = uint64(v)
		case float32:
			slots[n] = uint64(math.Float32bits(v))
		default:
			return fmt.Errorf("cuda: launch %s: argument %d has unsupported type %T", k.name, i, a)
		}
		n++
	}
	if err := d.allowSmem(k, smem); err != nil {
		return err
	}
	st := d.stream(s)
	var start time.Time
	if d.cfg.Sync {
		start = time.Now()
	}
	// SAFETY: slots and at are Go memory without pointers, read by the driver during the call only.
	code := C.wan22_launch(k.fn, C.uint(grid.x), C.uint(grid.y), C.uint(grid.z), C.uint(block.x), C.uint(block.y), C.uint(block.z),
		C.uint(smem), cuStream(st.s), (*C.uint64_t)(unsafe.Pointer(&slots[0])), C.int(n), &at[0], C.int(len(args)))
	if err := cuErr(fmt.Sprintf("launching %s (grid %d×%d×%d, block %d, shared %d)", k.name, grid.x, grid.y, grid.z, block.x, smem), code); err != nil {
		return err
	}
	if d.cfg.Sync {
		if err := wrap(fmt.Sprintf("kernel %s (grid %d×%d×%d, block %d) on stream %s", k.name, grid.x, grid.y, grid.z, block.x, st.name), st.s.Synchronize()); err != nil {
			return err
		}
		d.log.Debug("kernel", "name", k.name, "grid", grid.x, "took", time.Since(start))
	}
	return nil
}

// tensorMap is a TMA tensor map (the driver's opaque 128-byte CUtensorMap), a kernel argument by value.
type tensorMap [16]uint64

// Element types and swizzles of tensorMap2D (CUtensorMapDataType and CUtensorMapSwizzle values).
const (
	tmUint8      = 0
	tmBF16       = 9
	tmNoSwizzle  = 0
	tmSwizzle128 = 3
)

// tensorMap2D returns the TMA tensor map of a row-major matrix [rows, cols] of element type dtype (tmUint8,
// tmBF16) at m, rows rowBytes apart, read in boxes of boxCols × boxRows with the given swizzle; rows and
// columns out of bounds read as zeros. m and rowBytes must be 16-byte multiples. An error when the driver has
// no TMA (cuTensorMapEncodeTiled came with CUDA 12.0) or refuses the shape.
func tensorMap2D(m Mem, dtype, cols, rows, rowBytes, boxCols, boxRows, swizzle int) (*tensorMap, error) {
	var t tensorMap
	// SAFETY: t is Go memory without pointers, written by the driver during the call only.
	code := C.wan22_tensor_map_2d((*C.uint64_t)(unsafe.Pointer(&t[0])), C.int(dtype), C.uint64_t(m.Ptr), C.uint64_t(cols),
		C.uint64_t(rows), C.uint64_t(rowBytes), C.uint(boxCols), C.uint(boxRows), C.int(swizzle))
	if err := cuErr(fmt.Sprintf("cuTensorMapEncodeTiled(type %d [%d, %d], row %d bytes, box %d×%d)", dtype, rows, cols, rowBytes, boxCols, boxRows), code); err != nil {
		return nil, err
	}
	return &t, nil
}

// bf16TensorMap is tensorMap2D of a bf16 matrix in the 128-byte swizzle (what the sm90a TMA attention
// kernels read).
func bf16TensorMap(m Mem, cols, rows, rowBytes, boxCols, boxRows int) (*tensorMap, error) {
	return tensorMap2D(m, tmBF16, cols, rows, rowBytes, boxCols, boxRows, tmSwizzle128)
}

// allowSmem lets k use smem bytes of dynamic shared memory per block (cuFuncSetAttribute
// MAX_DYNAMIC_SHARED_SIZE_BYTES, needed above the 48 KiB default). Runs on the CUDA goroutine.
func (d *Device) allowSmem(k *kernel, smem int) error {
	if smem <= k.smemSet || smem <= 48<<10 {
		return nil
	}
	if err := cuErr(fmt.Sprintf("cuFuncSetAttribute(%s, max dynamic shared memory %d)", k.name, smem), C.wan22_func_max_dynamic_smem(k.fn, C.int(smem))); err != nil {
		return err
	}
	k.smemSet = smem
	return nil
}

// gridFor returns a 1-D grid of at most limit blocks of `block` threads covering n items.
func gridFor(n int64, block int, limit int) uint32 {
	g := (n + int64(block) - 1) / int64(block)
	if g > int64(limit) {
		g = int64(limit)
	}
	if g < 1 {
		g = 1
	}
	return uint32(g)
}
