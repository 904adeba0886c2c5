//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/wan22/wan22/engine"
)

// flashKernel is a loaded flash attention entry point (see flashTable in kernel_table.go).
type flashKernel struct {
	k      *kernel
	module string
	name   string
	bm, bn int // query rows per CTA, keys per K/V tile (the TMA maps' box rows for k and v)
	qbox   int // the q tensor map's box rows (flashSpec.qBox)
	warps  int
	smem   int
	tma    bool // q, k and v go as TMA tensor maps (flashSpec.tma)
}

// flashPrefs are a module's entry points in order of preference for long and for short key sequences.
type flashPrefs struct{ long, short []string }

// flashPreferences is flashTable's order by module, as names.
var flashPreferences = func() map[string]flashPrefs {
	names := func(ss []flashSpec) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = s.name
		}
		return out
	}
	m := map[string]flashPrefs{}
	for _, mod := range []string{flashModuleSM90a, flashModulePortable} {
		m[mod] = flashPrefs{long: names(flashOrder(mod, false)), short: names(flashOrder(mod, true))}
	}
	return m
}()

// flashCandidates lists prefs, then every other entry point of the module in flashTable by decreasing tile
// area (BM·STAGES).
func flashCandidates(module string, prefs []string) []string {
	out := slices.Clone(prefs)
	var rest []flashSpec
	for _, s := range flashTable {
		if s.module == module && !slices.Contains(out, s.name) {
			rest = append(rest, s)
		}
	}
	slices.SortStableFunc(rest, func(a, b flashSpec) int { return b.bm*b.stages - a.bm*a.stages })
	for _, s := range rest {
		out = append(out, s.name)
	}
	return out
}

// parseFlash returns the tiling and dynamic shared memory of an entry point of either module, from
// flashTable.
func parseFlash(name string) (bm, warps, smem int, err error) {
	for _, mod := range []string{flashModuleSM90a, flashModulePortable} {
		if s, ok := flashSpecOf(mod, name); ok {
			return s.bm, s.warps, s.smem, nil
		}
	}
	return 0, 0, 0, fmt.Errorf("attention entry point %q is not in flashTable (kernel_table.go)", name)
}

// flashModules lists the modules flashFor tries, in order (flashModulesFor on this device).
func (b *Backend) flashModules() []string {
	i := b.d.Info()
	return flashModulesFor(i.Major, i.Minor, b.portableAttn, b.d.cfg.FlashKernel)
}

// flashFor returns the flash kernel for a key count, or nil when no attention module or preferred entry
// point can be used (the fallback kernel runs then; the reason is logged once). On compute capability 9.0
// the sm90a module is tried first; when it cannot be loaded (a driver older than CUDA 13 rejects its PTX
// ISA 9.0, say) or none of its entry points fits, the compute_80 one is used and the reason logged once.
// Runs on the CUDA goroutine.
func (b *Backend) flashFor(keys int) *flashKernel {
	short := keys <= flashShortKeys
	if f, ok := b.flash[short]; ok {
		return f
	}
	var why error
	for _, mod := range b.flashModules() {
		f, err := b.pickFlash(mod, short)
		if f != nil {
			b.flash[short] = f
			return f
		}
		why = err
		if mod == flashModuleSM90a && !b.hopperWarned {
			b.d.log.Warn("Hopper flash attention kernels unavailable; using the portable compute_80 ones", "module", mod, "err", err)
			b.hopperWarned = true
		}
	}
	if !b.warned {
		b.d.log.Warn("flash attention kernel unavailable; using the slower fallback attention kernel", "err", why)
		b.warned = true
	}
	b.flash[short] = nil
	return nil
}

// pickFlash returns the first usable entry point of a module for long or short key sequences (flashFirstFit
// over flashTable), with its shared memory allowed, or the reason none is. Runs on the CUDA goroutine.
func (b *Backend) pickFlash(mod string, short bool) (*flashKernel, error) {
	var f *flashKernel
	_, err := flashFirstFit(mod, short, b.smemOptin, b.d.cfg.FlashKernel, func(s flashSpec) error {
		k, err := b.d.getKernel(mod, s.name)
		if err != nil {
			if _, merr := b.d.getModule(mod); merr != nil {
				return flashModuleError{merr} // the module itself failed: no other entry point of it can do better
			}
			return err
		}
		if err := b.d.allowSmem(k, s.smem); err != nil {
			return err
		}
		if s.tma {
			// A driver without cuTensorMapEncodeTiled (before CUDA 12) refuses this; the next entry point runs.
			// The probe's boxes are the kernel's: qBox rows for q, bn for k and v.
			_, err := bf16TensorMap(Mem{Ptr: 1 << 20}, flashHeadDim, 1, 2*flashHeadDim, 64, s.qBox())
			if err == nil {
				_, err = bf16TensorMap(Mem{Ptr: 1 << 20}, flashHeadDim, 1, 2*flashHeadDim, 64, s.bn)
			}
			if err != nil {
				if !b.tmaWarned {
					b.d.log.Warn("TMA attention kernels unavailable (the driver cannot make tensor maps); using the cp.async one, about 8% slower",
						"kernel", s.name, "err", err)
					b.tmaWarned = true
				}
				return err
			}
		}
		f = &flashKernel{k: k, module: mod, name: s.name, bm: s.bm, bn: s.bn, qbox: s.qBox(), warps: s.warps, smem: s.smem, tma: s.tma}
		return nil
	})
	return f, err
}

// FlashKernels names the flash attention entry points the backend runs for long (self-attention) and
// short (up to 2048 keys: cross-attention) key sequences, "" where the fallback kernel runs; each name is
// prefixed by its module ("sm90a/attention:attn_b128_w8_s2g_bf16").
func (b *Backend) FlashKernels() (long, short string) {
	_ = b.d.Do(func() error {
		name := func(f *flashKernel) string {
			if f == nil {
				return ""
			}
			return f.module + ":" + f.name
		}
		long, short = name(b.flashFor(flashShortKeys+1)), name(b.flashFor(flashShortKeys))
		return nil
	})
	return long, short
}

// PortableAttention reports whether the flash attention is kept on the portable compute_80 kernels.
func (b *Backend) PortableAttention() bool {
	var on bool
	_ = b.d.Do(func() error { on = b.portableAttn; return nil })
	return on
}

// SetPortableAttention makes the flash attention run on the portable compute_80 kernels (on) or on the
// device's best ones (off, the default unless Config.PortableAttention or WAN22_ATTN=portable), for all
// views of the backend; benchmarks use it to time both. Kernels already chosen are chosen again.
func (b *Backend) SetPortableAttention(on bool) {
	_ = b.d.Do(func() error {
		if b.portableAttn != on {
			b.portableAttn = on
			clear(b.flash)
			if b.a8 != nil {
				clear(b.a8.picked) // the Hopper INT8 kernel is an sm90a one
			}
		}
		return nil
	})
}

// Attention: q [Lq, H·D], k and v [Lk, H·D] → softmax(q·kᵀ·Scale + Bias)·v per head, keys from KeyLen on
// masked; BF16 result (F32 with PrecisionF32, from f32 inputs). Head dim 128 without a bias runs the flash
// kernel (kernels/attention.cu) in bf16, or the 8-bit one (kernels/attention8.cu) when SetAttentionPrecision
// asks for int8 or fp8; any head dim up to 128, with or without a bias [H, Lq, Lk], runs
// the shared-memory kernel of kernels/backend.cu.
func (b *Backend) Attention(qq, kk, vv engine.Tensor, o engine.AttentionOpts) engine.Tensor {
	var y *Tensor
	b.run("Attention", func() error {
		var ts temps
		defer ts.release(b.pool)
		var qkv [3]*Tensor
		for i, x := range []engine.Tensor{qq, kk, vv} {
			t, err := b.tensor(x)
			if err != nil {
				return err
			}
			qkv[i] = t
		}
		q, k, v := qkv[0], qkv[1], qkv[2]
		Lq, HD := q.rowsCols()
		Lk, HDk := k.rowsCols()
		Lv, HDv := v.rowsCols()
		H := o.Heads
		if H <= 0 || HD%H != 0 || HDk != HD || HDv != HD || Lv != Lk {
			return fmt.Errorf("q %v k %v v %v with %d heads", q.shape, k.shape, v.shape, H)
		}
		D := HD / H
		keys := Lk
		if o.KeyLen > 0 && o.KeyLen < Lk {
			keys = o.KeyLen
		}
		var bias Mem
		if o.Bias != nil {
			bt, err := b.tensor(o.Bias)
			if err != nil {
				return fmt.Errorf("bias: %w", err)
			}
			if !slices.Equal(bt.shape, []int{H, Lq, Lk}) {
				return fmt.Errorf("bias %v, want [%d %d %d]", bt.shape, H, Lq, Lk)
			}
			if bias, err = b.as(bt, engine.F32, &ts); err != nil {
				return err
			}
		}
		dt := engine.BF16
		if b.precision == PrecisionF32 {
			dt = engine.F32
		}
		var m [3]Mem
		for i, t := range qkv {
			var err error
			if m[i], err = b.as(t, dt, &ts); err != nil {
				return err
			}
		}
		var err error
		if y, err = b.newAct(q.shape, dt); err != nil {
			return err
		}
		if Lq == 0 || HD == 0 {
			return nil
		}
		if keys == 0 { // no keys at all: the empty sum, as the reference's 0/0 would not be
			return b.d.Memset32(nil, y.st.buf.Mem(), 0)
		}
		var f *flashKernel
		if dt == engine.BF16 && D == flashHeadDim && bias.IsNil() && aligned16(m[0], m[1], m[2], y.mem()) {
			// 8-bit attention when SetAttentionPrecision asks for it (backend_attention8.go).
			if ran, err := b.attention8(&ts, y.mem(), m[0], m[1], m[2], Lq, keys, H, o.Scale); ran {
				if err != nil {
					b.drop(y)
				}
				return err
			}
			f = b.flashFor(keys)
		}
		switch {
		case f != nil && f.tma:
			err = b.flashTMA(f, y.mem(), m, Lq, keys, H, o.Scale)
		case f != nil:
			grid := dim3{uint32((Lq + f.bm - 1) / f.bm), uint32(H), 1}
			err = b.d.launch(nil, f.k, grid, dim3{uint32(32 * f.warps), 1, 1}, f.smem,
				y.mem(), m[0], m[1], m[2], int32(Lq), int32(keys), int32(HD), int32(HD), int32(HD), int32(HD), o.Scale)
		case D <= 128:
			err = b.attnSmall(dt, y.mem(), m[0], m[1], m[2], bias, Lq, Lk, keys, H, D, o.Scale)
		default:
			err = fmt.Errorf("head dim %d: the CUDA kernels take head dims up to 128", D)
		}
		if err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// flashTMA launches a TMA flash kernel on q, k, v (qkv, bf16 [rows, heads·128], dense): each goes as a tensor
// map of boxes of 64 columns × 128 rows (q: f.qbox; k and v: the kernel's key tile, f.bn) whose extent is its valid rows
// (lq for q, keys for k and v), so that the kernel reads the tails as zeros. Runs on the CUDA goroutine.
func (b *Backend) flashTMA(f *flashKernel, out Mem, qkv [3]Mem, lq, keys, heads int, scale float32) error {
	cols := heads * flashHeadDim
	var maps [3]*tensorMap
	for i, rows := range []int{lq, keys, keys} {
		box := f.bn
		if i == 0 {
			box = f.qbox
		}
		var err error
		if maps[i], err = bf16TensorMap(qkv[i], cols, rows, 2*cols, 64, box); err != nil {
			return err
		}
	}
	grid := dim3{uint32((lq + f.bm - 1) / f.bm), uint32(heads), 1}
	return b.d.launch(nil, f.k, grid, dim3{uint32(32 * f.warps), 1, 1}, f.smem,
		out, maps[0], maps[1], maps[2], int32(lq), int32(keys), int32(cols), scale)
}

// Tiling of bk_attn_small (kernels/backend.cu).
const (
	attnSmallWarps = 8
	attnSmallRows  = 4 // query rows per warp
	attnSmallKT    = 32
)

// attnSmall launches bk_attn_small_<dt>: all of q, k, v, out [L, H·D] of type dt with heads interleaved per
// row, bias [H, Lq, Lk] F32 or none. Runs on the CUDA goroutine.
func (b *Backend) attnSmall(dt engine.DType, out, q, k, v, bias Mem, lq, lk, keys, heads, d int, scale float32) error {
	k0, err := b.d.getKernel("backend", "bk_attn_small_"+suffix(dt))
	if err != nil {
		return err
	}
	smem := (attnSmallWarps*attnSmallRows*d + attnSmallKT*(d+1) + attnSmallKT*d) * 4
	rowsPerCTA := attnSmallWarps * attnSmallRows
	grid := dim3{uint32((lq + rowsPerCTA - 1) / rowsPerCTA), uint32(heads), 1}
	hd := int32(heads * d)
	return b.d.launch(nil, k0, grid, dim3{attnSmallWarps * 32, 1, 1}, smem,
		out, q, k, v, bias, int32(lq), int32(lk), int32(keys), int32(d), hd, hd, hd, hd, scale)
}

// RelPosBias builds a relative position bias on the device: out [heads, lq, lk] F32 with
// out[h, i, j] = table[buckets[j − i + lq − 1]·heads + h], for table [nb, heads] row-major and buckets
// holding the bucket of every offset j − i from −(lq−1) to lk−1. It is the device form of engine/t5's
// positionBias: only the table and the lq+lk−1 bucket numbers cross the bus, instead of heads·lq·lk floats
// (64 MiB per layer of umT5-XXL at 512 tokens), and nothing is computed on the host.
func (b *Backend) RelPosBias(table []float32, buckets []int32, heads, lq, lk int) engine.Tensor {
	var y *Tensor
	b.run("RelPosBias", func() error {
		var ts temps
		defer ts.release(b.pool)
		if heads <= 0 || lq <= 0 || lk <= 0 || len(table) == 0 || len(table)%heads != 0 || len(buckets) != lq+lk-1 {
			return fmt.Errorf("table of %d values for %d heads, %d buckets for %d×%d positions", len(table), heads, len(buckets), lq, lk)
		}
		nb := int32(len(table) / heads)
		for _, k := range buckets {
			if k < 0 || k >= nb {
				return fmt.Errorf("bucket %d out of range [0, %d)", k, nb)
			}
		}
		tm, err := b.tmp(&ts, int64(len(table))*4)
		if err != nil {
			return err
		}
		bm, err := b.tmp(&ts, int64(len(buckets))*4)
		if err != nil {
			return err
		}
		// SAFETY: both slices are Go memory without pointers, staged by the driver before copyIn returns.
		if err := errors.Join(b.copyIn(tm, unsafe.Pointer(&table[0]), tm.Bytes), b.copyIn(bm, unsafe.Pointer(&buckets[0]), bm.Bytes)); err != nil {
			return err
		}
		if y, err = b.newAct([]int{heads, lq, lk}, engine.F32); err != nil {
			return err
		}
		n := int64(heads) * int64(lq) * int64(lk)
		if err = b.launchBackend("bk_relpos_bias", n, y.mem(), tm, bm, int32(heads), int32(lq), int32(lk)); err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}
