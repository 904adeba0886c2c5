//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// weightCacheLimit bounds the weights whose converted copies (f32 or bf16) are kept: norm weights, biases and
// modulations. Larger weights used as elementwise operands are converted into a temporary for each use.
const weightCacheLimit = 1 << 20 // elements

// Backend implements engine.Backend on one CUDA device.
//
// Dtypes follow the reference's mixed precision (spec/wan22.md §2.9): FromHost and Rows make F32 tensors;
// Linear returns BF16 (PyTorch's bf16 autocast), except for a single-row F32 input, which returns F32 (the
// conditioning path, fp32 in the reference); Attention returns BF16; LayerNorm, RMSNorm, Modulate, Add,
// Mul, GELU, SiLU, Slice, Concat and Cast return their input's dtype (Cast the one asked). GEMMs take bf16
// operands (an F32 input is rounded first), accumulate in f32; norms, softmax and elementwise arithmetic are
// f32. AddGated into a BF16 x first promotes x to F32 in place (every view sees it), as `x + y·gate` with an
// fp32 gate does in PyTorch: the residual stream becomes F32 at its first gated add.
//
// Memory: activations come from a caching pool owned by ActivationOwner (no cuMemAlloc/cuMemFree per op;
// Trim returns the cached bytes); weights are allocated under the backend's weight owner, so FreeOwner
// releases a model to the byte. Everything runs on the device's compute stream; ToHost synchronizes.
// Ops fail by panicking with *engine.Error (the models recover it with engine.Catch).
//
// A Backend and the values ForModel returns share one state and must not be used concurrently.
type Backend struct {
	*backendState
	owner     string    // weights made through this value belong to it
	precision Precision // of this value's GEMMs and attention
}

type backendState struct {
	d       *Device
	ownsDev bool
	pool    *pool
	weights map[*storage]struct{}
	name    string
	flash   map[bool]*flashKernel // by "short keys"; nil entry: use the fallback kernel
	warned  bool
	// portableAttn keeps the flash attention on the compute_80 kernels (SetPortableAttention);
	// hopperWarned: the reason the sm90a ones could not be used was logged; tmaWarned: that the TMA ones could
	// not (once, though two entry points take tensor maps).
	portableAttn, hopperWarned, tmaWarned bool
	// smemOptin is the most dynamic shared memory a kernel may be allowed per block.
	smemOptin int
	// poison fills every new activation with NaNs (tests: an output element no kernel wrote shows).
	poison bool
	// noFuse turns the deferred LayerNorm/Modulate fusion off (SetFusion).
	noFuse bool
	// stage is the pinned ring resident weights are copied through (staging.go); stageRefused: pinning it failed.
	stage        *staging
	stageRefused bool
	// freeAtOpen is the driver's free device memory when the backend opened; preload, per owner, when
	// SwapBudgets planned the owner's model (ReleaseModel's baselines).
	freeAtOpen int64
	preload    map[string]int64
	// a8 is the 8-bit attention setting and its chosen kernels (backend_attention8.go); nil until first used.
	a8 *attn8State
}

var _ engine.Backend = (*Backend)(nil)

// NewBackend opens a device (see Open) and returns a backend on it; Close closes both.
func NewBackend(cfg Config) (*Backend, error) {
	d, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	b := NewBackendOn(d)
	b.ownsDev = true
	return b, nil
}

// NewBackendOn returns a backend on an open device; Close releases the backend's memory and leaves the
// device open.
func NewBackendOn(d *Device) *Backend {
	i := d.Info()
	st := &backendState{
		d:            d,
		pool:         newPool(d, ActivationOwner),
		weights:      map[*storage]struct{}{},
		name:         fmt.Sprintf("cuda:%d %s", i.Ordinal, i.Name),
		flash:        map[bool]*flashKernel{},
		preload:      map[string]int64{},
		smemOptin:    48 << 10,
		portableAttn: d.cfg.PortableAttention,
	}
	_ = d.Do(func() error {
		// CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN (97), which gorgonia.org/cu does not name.
		if v, err := d.dev.Attribute(cu.DeviceAttribute(97)); err == nil && v > 0 {
			st.smemOptin = v
		}
		if free, _, err := cu.MemInfo(); err == nil {
			st.freeAtOpen = free
		}
		return nil
	})
	return &Backend{backendState: st, owner: DefaultWeightOwner}
}

// ForModel returns a view of the backend whose Weight calls allocate under owner (say "dit.high" or "t5"),
// so that FreeOwner(owner) releases that model to the byte. The views share everything else.
func (b *Backend) ForModel(owner string) *Backend {
	return &Backend{backendState: b.backendState, owner: owner, precision: b.precision}
}

// WithPrecision returns a view of the backend whose GEMMs and attention run at precision p (the umT5
// encoder: PrecisionF32). The views share everything else.
func (b *Backend) WithPrecision(p Precision) *Backend {
	return &Backend{backendState: b.backendState, owner: b.owner, precision: p}
}

// Precision is the precision of this view's GEMMs and attention.
func (b *Backend) Precision() Precision { return b.precision }

// Owner is the owner of the weights this value makes.
func (b *Backend) Owner() string { return b.owner }

// Device returns the device the backend runs on.
func (b *Backend) Device() *Device { return b.d }

// Name identifies the backend: "cuda:0 NVIDIA H100 80GB HBM3".
func (b *Backend) Name() string { return b.name }

// MemStats reports the device budget's use, per owner (activations, each model, cuda.scratch).
func (b *Backend) MemStats() MemStats { return b.d.MemStats() }

// PoolStats reports the activation pool.
func (b *Backend) PoolStats() PoolStats {
	var s PoolStats
	_ = b.d.Do(func() error { s = b.pool.stats(); return nil })
	return s
}

// ResetPeak sets the device budget's and the pool's peaks to their current use.
func (b *Backend) ResetPeak() {
	b.d.ResetPeak()
	_ = b.d.Do(func() error { b.pool.peak = b.pool.inUse; return nil })
}

// Trim returns the activation pool's cached buffers (and the GEMM weight scratch) to the driver.
func (b *Backend) Trim() error {
	return b.d.Do(func() error {
		b.stageRefused = false // pinned memory may be free again: the next load tries the ring again
		return errors.Join(b.pool.trim(), b.d.FreeScratch(), b.freeStaging(b.stage))
	})
}

// Synchronize waits for the work queued so far.
func (b *Backend) Synchronize() error { return b.d.stream(nil).Synchronize() }

// FreeOwner releases every weight of owner (and their converted copies) and returns the bytes freed;
// tensors of that owner must not be used afterwards. Activations are released with Free and Trim.
func (b *Backend) FreeOwner(owner string) (int64, error) {
	if owner == ActivationOwner {
		return 0, fmt.Errorf("cuda: FreeOwner(%q): activations are released with Free, their cache with Trim", owner)
	}
	var freed int64
	err := b.d.Do(func() error {
		for st := range b.weights {
			if st.owner == owner {
				b.settle(st)
				b.pool.forgetKept(st) // a cached [W | up] of the model's weights goes back to the pool
				st.freed = true
				delete(b.weights, st)
			}
		}
		var err error
		freed, err = b.d.FreeOwner(owner)
		return err
	})
	return freed, err
}

// Close frees every weight and activation of the backend; a backend made by NewBackend also closes its
// device.
func (b *Backend) Close() error {
	var errs []error
	errs = append(errs, b.d.Do(func() error {
		var errs []error
		for st := range b.weights {
			errs = append(errs, b.freeWeight(st))
		}
		return errors.Join(append(errs, b.pool.trim(), b.freeStaging(b.stage))...)
	}))
	if b.ownsDev {
		errs = append(errs, b.d.Close())
	}
	return errors.Join(errs...)
}

// run runs fn on the CUDA goroutine and panics with an *engine.Error for op when it fails.
func (b *Backend) run(op string, fn func() error) {
	if err := b.d.Do(fn); err != nil {
		panic(&engine.Error{Op: op, Err: err})
	}
}

// ---- tensors ----------------------------------------------------------------------------------------------

// activation returns x as an activation (an op that writes into x cannot take a weight).
func (b *Backend) activation(x engine.Tensor, what string) (*Tensor, error) {
	t, err := b.tensor(x)
	if err == nil && t.st.weight {
		err = fmt.Errorf("%s is a weight %v; the op needs an activation", what, t.shape)
	}
	return t, err
}

// newAct makes an activation from the pool. Runs on the CUDA goroutine.
func (b *Backend) newAct(shape []int, d engine.DType) (*Tensor, error) {
	n := int64(engine.Numel(shape)) * dtypeBytes(d)
	buf, err := b.pool.get(max(n, 1))
	if err != nil {
		return nil, err
	}
	if b.poison {
		if err := b.d.Memset32(nil, buf.Mem(), 0x7fc17fc1); err != nil { // a NaN as f32 and as two bf16
			b.pool.put(buf)
			return nil, err
		}
	}
	return &Tensor{shape: slices.Clone(shape), st: &storage{buf: buf, size: n, dtype: d}}, nil
}

// drop releases an activation made by the failing op itself. Runs on the CUDA goroutine.
func (b *Backend) drop(t *Tensor) {
	if t != nil && !t.st.freed {
		b.pool.put(t.st.buf)
		t.st.freed = true
	}
}

// temps collects the temporary buffers of one op; release returns them to the pool (stream order makes
// that safe while the op's kernels are still queued).
type temps []*Buffer

func (ts *temps) release(p *pool) {
	for _, t := range *ts {
		p.put(t)
	}
	*ts = nil
}

// tmp returns a temporary of n bytes.
func (b *Backend) tmp(ts *temps, n int64) (Mem, error) {
	buf, err := b.pool.get(max(n, 1))
	if err != nil {
		return Mem{}, err
	}
	*ts = append(*ts, buf)
	return Mem{Ptr: uintptr(buf.ptr), Bytes: n}, nil
}

// as returns t's elements as device memory of activation type d: an activation of that type as it is, a
// weight's cached converted copy (small weights), or a converted temporary. Runs on the CUDA goroutine.
func (b *Backend) as(t *Tensor, d engine.DType, ts *temps) (Mem, error) {
	n := int64(t.numel())
	if !t.st.weight {
		if t.st.dtype == d {
			return t.mem(), nil
		}
		m, err := b.tmp(ts, n*dtypeBytes(d))
		if err != nil || n == 0 {
			return m, err
		}
		return m, b.d.Cast(nil, m, ggmlOf(d), t.mem(), t.gtype(), n)
	}
	if d == engine.BF16 && t.st.wtype == gguf.TypeBF16 {
		return t.mem(), nil
	}
	if d == engine.F32 && t.st.wtype == gguf.TypeF32 {
		return t.mem(), nil
	}
	cache := &t.st.f32c
	if d == engine.BF16 {
		cache = &t.st.bf16c
	}
	if *cache != nil {
		return Mem{Ptr: uintptr((*cache).ptr), Bytes: n * dtypeBytes(d)}, nil
	}
	var m Mem
	if n <= weightCacheLimit && !t.st.borrowed { // a borrowed weight's memory changes with its slot
		buf, err := b.d.Alloc(t.st.owner, max(n*dtypeBytes(d), 1))
		if err != nil {
			return Mem{}, err
		}
		*cache = buf
		m = Mem{Ptr: uintptr(buf.ptr), Bytes: n * dtypeBytes(d)}
	} else {
		var err error
		if m, err = b.tmp(ts, n*dtypeBytes(d)); err != nil {
			return Mem{}, err
		}
	}
	if n == 0 {
		return m, nil
	}
	return m, b.d.Dequantize(nil, m, ggmlOf(d), t.mem(), t.st.wtype, n)
}

// input returns an op's main operand as activation memory and its type: an activation as it is, a weight
// converted to F32.
func (b *Backend) input(t *Tensor, ts *temps) (Mem, engine.DType, error) {
	if !t.st.weight {
		return t.mem(), t.st.dtype, nil
	}
	m, err := b.as(t, engine.F32, ts)
	return m, engine.F32, err
}

// vector returns an optional per-column operand (norm weight, bias, shift, scale, gate) of width cols as
// F32 memory; nil stays the zero Mem.
func (b *Backend) vector(x engine.Tensor, cols int, what string, ts *temps) (Mem, error) {
	if x == nil {
		return Mem{}, nil
	}
	t, err := b.tensor(x)
	if err != nil {
		return Mem{}, fmt.Errorf("%s: %w", what, err)
	}
	if t.numel() != cols {
		return Mem{}, fmt.Errorf("%s %v does not broadcast over rows of width %d", what, t.shape, cols)
	}
	return b.as(t, engine.F32, ts)
}

func (b *Backend) freeWeight(st *storage) error {
	b.settle(st)          // deferred norms reading this weight run first
	b.pool.forgetKept(st) // a cached [W | up] made from it goes back to the pool
	var errs []error
	bufs := []*Buffer{st.buf, st.f32c, st.bf16c}
	if st.borrowed {
		bufs[0], st.buf = nil, nil // the slot's memory, freed with the slot
	}
	for _, buf := range bufs {
		if buf != nil {
			errs = append(errs, buf.free())
		}
	}
	st.freed = true
	delete(b.weights, st)
	return errors.Join(errs...)
}

// ---- host transfers ----------------------------------------------------------------------------------------

// FromHost copies float32 host data into a new F32 tensor.
func (b *Backend) FromHost(data []float32, shape ...int) engine.Tensor {
	var y *Tensor
	b.run("FromHost", func() error {
		if engine.Numel(shape) != len(data) {
			return fmt.Errorf("%d values do not fill shape %v", len(data), shape)
		}
		var err error
		if y, err = b.newAct(shape, engine.F32); err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
		// SAFETY: data is Go memory without pointers; a host-to-device copy from pageable memory is staged
		// by the driver before the call returns, so the driver keeps no reference to it.
		err = b.copyIn(y.mem(), unsafe.Pointer(&data[0]), int64(len(data))*4)
		if err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// copyIn queues a copy of n bytes of pageable host memory at src into dst on the compute stream. The driver
// copies src into its staging memory before returning, so src may be reused at once. Runs on the CUDA
// goroutine.
func (b *Backend) copyIn(dst Mem, src unsafe.Pointer, n int64) error {
	st := b.d.stream(nil)
	return wrap(fmt.Sprintf("cuMemcpyHtoDAsync(%s)", FormatBytes(n)), cu.MemcpyHtoDAsync(cu.DevicePtr(dst.Ptr), src, n, st.s))
}

// ToHost copies a tensor of any type to float32 host memory, after the work queued before it.
func (b *Backend) ToHost(x engine.Tensor) []float32 {
	var out []float32
	b.run("ToHost", func() error {
		t, err := b.tensor(x)
		if err != nil {
			return err
		}
		n := t.numel()
		out = make([]float32, n)
		if n == 0 {
			return nil
		}
		switch {
		case t.st.weight:
			raw := make([]byte, t.st.size)
			if err := b.d.Download(raw, t.mem()); err != nil {
				return err
			}
			return gguf.Dequantize(t.st.wtype, raw, out)
		case t.st.dtype == engine.F32:
			return b.d.DownloadF32(out, t.mem())
		default:
			h := make([]uint16, n)
			if err := b.d.DownloadU16(h, t.mem()); err != nil {
				return err
			}
			for i, v := range h {
				out[i] = bf16ToF32(v)
			}
			return nil
		}
	})
	return out
}

// Weight copies a model file's tensor onto the device in its ggml type, under the backend's weight owner.
func (b *Backend) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	var w *Tensor
	b.run("Weight", func() error {
		shape := make([]int, len(info.Shape))
		for i, d := range info.Shape {
			shape[i] = int(d)
		}
		n := int64(engine.Numel(shape))
		size, err := info.Type.RowBytes(n)
		if err != nil {
			return fmt.Errorf("tensor %q: %v", info.Name, err)
		}
		if size != int64(len(data)) {
			return fmt.Errorf("tensor %q: %d bytes for %d %s elements, want %d", info.Name, len(data), n, info.Type, size)
		}
		if !CanDequantize(info.Type) {
			return fmt.Errorf("tensor %q: ggml type %v has no GPU kernel", info.Name, info.Type)
		}
		buf, err := b.d.Alloc(b.owner, max(size, 1))
		if err != nil {
			return fmt.Errorf("tensor %q: %w", info.Name, err)
		}
		st := &storage{buf: buf, size: size, weight: true, wtype: info.Type, owner: b.owner}
		if size > 0 {
			dst := Mem{Ptr: uintptr(buf.ptr), Bytes: size}
			staged, err := b.stageIn(dst, data)
			if err == nil && !staged {
				// SAFETY: as in FromHost: the bytes (Go or mapped file memory) are staged by the driver before the call returns.
				err = b.copyIn(dst, unsafe.Pointer(&data[0]), size)
			}
			if err != nil {
				return errors.Join(err, buf.free())
			}
		}
		b.weights[st] = struct{}{}
		w = &Tensor{shape: shape, st: st}
		return nil
	})
	return w
}

// Free releases tensors: an activation's memory goes back to the pool, a weight's to the driver. Nil
// entries, tensors of other backends and tensors already freed (through a view) are ignored.
func (b *Backend) Free(ts ...engine.Tensor) {
	var errs []error
	_ = b.d.Do(func() error {
		for _, x := range ts {
			t, ok := x.(*Tensor)
			if !ok || t == nil || t.st.freed {
				continue
			}
			if t.st.weight {
				errs = append(errs, b.freeWeight(t.st))
				continue
			}
			b.release(t.st)
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		// A failing cuMemFree reports an earlier asynchronous failure; the next op reports it too.
		b.d.log.Warn("freeing a weight failed", "err", err)
	}
}

// Reshape returns a view of the same storage with another shape of the same element count.
func (b *Backend) Reshape(x engine.Tensor, shape ...int) engine.Tensor {
	var v *Tensor
	b.run("Reshape", func() error {
		t, err := b.lookup(x)
		if err != nil {
			return err
		}
		if engine.Numel(shape) != t.numel() {
			return fmt.Errorf("cannot view %v as %v", t.shape, shape)
		}
		v = &Tensor{shape: slices.Clone(shape), st: t.st}
		return nil
	})
	return v
}

// Cast converts a tensor (a weight too) into a new activation of type d (F32 or BF16).
func (b *Backend) Cast(x engine.Tensor, d engine.DType) engine.Tensor {
	var y *Tensor
	b.run("Cast", func() error {
		t, err := b.tensor(x)
		if err != nil {
			return err
		}
		if d != engine.F32 && d != engine.BF16 {
			return fmt.Errorf("the CUDA backend keeps activations in f32 or bf16, not %v", d)
		}
		if y, err = b.newAct(t.shape, d); err != nil {
			return err
		}
		n := int64(t.numel())
		switch {
		case n == 0:
		case t.st.weight:
			err = b.d.Dequantize(nil, y.mem(), ggmlOf(d), t.mem(), t.st.wtype, n)
		default:
			err = b.d.Cast(nil, y.mem(), ggmlOf(d), t.mem(), t.gtype(), n)
		}
		if err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// bf16ToF32 widens a bf16 bit pattern.
func bf16ToF32(v uint16) float32 {
	return math.Float32frombits(uint32(v) << 16)
}
