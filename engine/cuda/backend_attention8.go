//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/kernels"
)

// attn8State is a backend's 8-bit attention setting and the kernels chosen for it.
type attn8State struct {
	prec engine.AttentionPrecision
	// shortKeys: key sequences of at most this many keys run the bf16 kernels whatever prec says
	// (attn8ShortKeys, or WAN22_ATTN8_SHORT_KEYS when the state was made).
	shortKeys int
	// picked caches the attention entry point by (fp8, short keys); a nil entry: none is usable (logged).
	picked map[[2]bool]*attn8Kernel
	// fp8Warned: the reason FP8 runs as INT8 was logged; warned: the reason 8-bit runs as bf16 was;
	// slowWarned: that 8 bits run slower than bf16 on this device was (attn8SlowerThanBF16).
	fp8Warned, warned, slowWarned bool
}

// attn8Kernel is a loaded 8-bit attention entry point with the quantizers it takes.
type attn8Kernel struct {
	spec                    attn8Spec
	k                       *kernel
	stats, outl, qq, qk, qv *kernel
	// fp8: the entry point is the FP8 module's; qv is its V quantizer (e4m3, vscale per head and 64-key
	// block), which takes no |V| partials.
	fp8 bool
}

// attn8 returns the backend's 8-bit attention state (shared by every view of the backend), made from
// Config.Attention and WAN22_ATTN8_SHORT_KEYS on first use. Runs on the CUDA goroutine.
func (b *Backend) attn8() *attn8State {
	if b.a8 != nil {
		return b.a8
	}
	p, err := engine.ParseAttentionPrecision(string(b.d.cfg.Attention))
	if err != nil {
		b.d.log.Warn("Config.Attention not understood; using bf16 attention", "err", err)
		p = engine.AttentionBF16
	}
	short, err := attn8ShortKeysFrom(os.Getenv(attn8ShortKeysEnv))
	if err != nil {
		b.d.log.Warn("ignoring "+attn8ShortKeysEnv, "err", err)
	}
	b.a8 = &attn8State{prec: p, shortKeys: short, picked: map[[2]bool]*attn8Kernel{}}
	return b.a8
}

var _ engine.AttentionPrecisionSetter = (*Backend)(nil)

// SetAttentionPrecision makes later head-dim-128 bf16 Attention calls of every view of the backend run in
// p: bf16 (the flash kernels), int8 (Q·Kᵀ and P·V in INT8, kernels/attention8.cu; on Hopper INT8 Q·Kᵀ by wgmma
// with bf16 P·V, kernels/sm90a/attention8.cu) or fp8 (P·V in FP8 e4m3,
// kernels/sm89/attention8.cu, where the device has it, compute capability 8.9 and newer, and the module is
// built in; else INT8, the reason logged once). In the 8-bit modes, key sequences of at most 2048 keys
// (attn8ShortKeys: the cross-attention; WAN22_ATTN8_SHORT_KEYS changes it) still run bf16, where 8 bits
// would be slower. Other calls (a bias, another head dim, f32 precision) keep their kernels. An unknown p is
// an error.
func (b *Backend) SetAttentionPrecision(p engine.AttentionPrecision) error {
	q, err := engine.ParseAttentionPrecision(string(p))
	if err != nil {
		return err
	}
	return b.d.Do(func() error {
		st := b.attn8()
		prev := st.prec
		st.prec = q
		if q != engine.AttentionINT8 && q != engine.AttentionFP8 {
			return nil
		}
		// The setter's contract: a mode that cannot run at all is an error, not a silent bf16. Key counts
		// up to st.shortKeys run bf16 by design; the short-sequence kernels run only when that is below
		// flashShortKeys.
		if b.attn8For(max(st.shortKeys, flashShortKeys)+1) == nil || (st.shortKeys < flashShortKeys && b.attn8For(flashShortKeys) == nil) {
			st.prec = prev
			return fmt.Errorf("cuda: no %s attention kernel can run on this device (see the log for why)", q)
		}
		if bf := b.flashFor(flashShortKeys + 1); bf != nil && !st.slowWarned {
			if why := attn8SlowerThanBF16(q, bf.module); why != "" {
				b.d.log.Warn(why)
				st.slowWarned = true
			}
		}
		return nil
	})
}

// AttentionPrecision returns the precision SetAttentionPrecision (or Config.Attention) asked for.
func (b *Backend) AttentionPrecision() engine.AttentionPrecision {
	var p engine.AttentionPrecision
	_ = b.d.Do(func() error { p = b.attn8().prec; return nil })
	return p
}

// Attention8Kernel names the 8-bit attention entry point the backend runs for long (self-attention: more
// than 2048 keys) and short (up to 2048 keys: the cross-attention) key sequences at the current precision,
// module-prefixed, "" where bf16 runs: short is "" in every mode unless WAN22_ATTN8_SHORT_KEYS lowers the
// key count up to which the 8-bit modes run bf16 (attn8ShortKeys) below 2048.
func (b *Backend) Attention8Kernel() (long, short string) {
	_ = b.d.Do(func() error {
		name := func(k *attn8Kernel) string {
			if k == nil {
				return ""
			}
			return k.spec.module + ":" + k.spec.name
		}
		long, short = name(b.attn8For(max(b.attn8().shortKeys, flashShortKeys)+1)), name(b.attn8For(flashShortKeys))
		return nil
	})
	return long, short
}

// attn8For returns the 8-bit kernel for a key count at the current precision, or nil when bf16 runs (the
// precision is bf16, the keys are at most st.shortKeys, or no 8-bit kernel can be used: logged once). Runs
// on the CUDA goroutine.
func (b *Backend) attn8For(keys int) *attn8Kernel {
	st := b.attn8()
	if (st.prec != engine.AttentionINT8 && st.prec != engine.AttentionFP8) || keys <= st.shortKeys {
		return nil
	}
	short := keys <= flashShortKeys
	fp8 := st.prec == engine.AttentionFP8
	key := [2]bool{fp8, short}
	if k, ok := st.picked[key]; ok {
		return k
	}
	var k *attn8Kernel
	var err error
	i := b.d.Info()
	mod, why := attn8ModuleFor(fp8, i.Major, i.Minor, slices.Contains(kernels.ArchModules(kernels.SM89), attn8FP8Module))
	if mod == attn8FP8Module {
		if k, err = b.pickAttn8(mod, short); k == nil {
			why = "the FP8 attention kernels cannot run: " + err.Error()
		}
	}
	if why != "" && !st.fp8Warned {
		b.d.log.Warn("running INT8 attention for fp8", "reason", why)
		st.fp8Warned = true
	}
	if k == nil && slices.Contains(b.flashModules(), flashModuleSM90a) {
		// Hopper: INT8 Q·Kᵀ on the warpgroup tensor cores (bf16 P·V), when its module loads; also for fp8 when
		// the FP8 kernels cannot run (INT8 then).
		if k, err = b.pickAttn8(attn8HopperModule, short); k == nil {
			b.d.log.Info("Hopper INT8 attention unavailable; using the mma.sync one", "err", err)
		}
	}
	if k == nil {
		k, err = b.pickAttn8(attn8Module, short)
	}
	if k == nil && !st.warned {
		b.d.log.Warn("8-bit attention unavailable; running bf16 attention", "precision", st.prec, "err", err)
		st.warned = true
	}
	st.picked[key] = k
	return k
}

// pickAttn8 loads the first entry point of a module, in order of preference, whose shared memory the
// device allows, with the quantizers, or returns why none can run. The FP8 module takes the INT8 module's
// statistics, outlier channels, Q and K quantizers and its own V quantizer. Runs on the CUDA goroutine.
func (b *Backend) pickAttn8(mod string, short bool) (*attn8Kernel, error) {
	var ks [5]*kernel
	for i, n := range []string{attn8Quant.stats, attn8Quant.outliers, attn8Quant.q, attn8Quant.k, attn8Quant.v} {
		var err error
		if i == 4 && mod == attn8FP8Module {
			ks[i], err = b.d.getKernel(attn8FP8Module, attn8Quant.vFP8)
		} else {
			ks[i], err = b.d.getKernel(attn8Module, n)
		}
		if err != nil {
			return nil, err
		}
	}
	why := fmt.Errorf("module %s has no 8-bit attention entry point", mod)
	for _, s := range attn8Order(mod, short) {
		if attn8Only != "" && s.module == attn8HopperModule && s.name != attn8Only {
			continue
		}
		if s.smem > b.smemOptin {
			why = fmt.Errorf("%s needs %d bytes of shared memory, the device allows %d per block", s.name, s.smem, b.smemOptin)
			continue
		}
		k, err := b.d.getKernel(mod, s.name)
		if err == nil {
			err = b.d.allowSmem(k, s.smem)
		}
		if err == nil && s.hopper {
			err = b.probeAttn8Maps() // the driver makes the four tensor maps the kernel takes
		}
		qv := ks[4]
		if err == nil && s.hopperV8 {
			qv, err = b.d.getKernel(attn8Module, attn8Quant.vHopper)
		}
		if err != nil {
			why = err
			continue
		}
		return &attn8Kernel{spec: s, k: k, stats: ks[0], outl: ks[1], qq: ks[2], qk: ks[3], qv: qv,
			fp8: mod == attn8FP8Module}, nil
	}
	return nil, why
}

// attn8Only, when set (tests only), is the one Hopper 8-bit entry point pickAttn8 may take, so that a test can
// run the ones ranked after the first.
var attn8Only string

// Geometry of the 8-bit buffers (kernels/attention8.cu).
const (
	attn8KeyBlock   = 64   // keys per K scale block and per Vᵀ tile
	attn8QueryBlock = 16   // query rows per Q scale block
	attn8StatsKeys  = 1024 // keys per slice of attn8_kv_stats (at most attn8MaxSlices slices)
	attn8MaxSlices  = 64
	attn8Outliers   = 16 // channels per head outside the INT8 Q·Kᵀ (bf16), chosen by attn8_k_outliers
)

// attention8 runs softmax(scale·q·kᵀ)·v in 8 bits when the precision asks for it, keys is above the
// short-sequence count (attn8ShortKeys) and a kernel is usable:
// q [lq, heads·128], k and v [≥keys, heads·128] bf16 with row stride heads·128, out bf16 the same. It
// quantizes q, k and v (attn8h: q and k only; attn8hi: v padded to an even number of 64-key blocks) into
// temporaries of ts (about (1.25·lq + 2.25·keys)·heads·128 bytes: the 8-bit copies and the bf16 outlier
// channels) and launches the attention kernel. ran is false when bf16 must run instead
// (nothing was launched): a short key sequence, no 8-bit kernel, or a scale that is not positive (the kernels
// take the row max on the unscaled scores). Runs on the CUDA goroutine.
func (b *Backend) attention8(ts *temps, out, q, k, v Mem, lq, keys, heads int, scale float32) (ran bool, err error) {
	if !(scale > 0) {
		return false, nil
	}
	a := b.attn8For(keys)
	if a == nil {
		return false, nil
	}
	const hd = flashHeadDim
	stride := int32(heads * hd)
	h := int64(heads)
	nkb := (keys + attn8KeyBlock - 1) / attn8KeyBlock
	nqb := (lq + attn8QueryBlock - 1) / attn8QueryBlock
	ns := min(attn8MaxSlices, (keys+attn8StatsKeys-1)/attn8StatsKeys)
	sizes := []int64{
		h * int64(lq) * hd,                                 // q8 [H][lq][128]
		h * int64(nqb) * 4,                                 // qscale [H][nqb]
		h * int64(nkb) * attn8KeyBlock * hd,                // k8 [H][nkb·64][128]
		h * int64(nkb) * 4,                                 // kscale [H][nkb]
		h * int64(nkb) * attn8KeyBlock * hd,                // v8 [H][nkb][128][64], int8 or e4m3
		h * int64(max(nkb, hd)) * 4,                        // vscale: [H][128] (INT8) or [H][nkb] (FP8)
		h * int64(ns) * 3 * hd * 4,                         // kpart [H][ns][3][128]: sum, max, min
		h * int64(ns) * hd * 4,                             // vpart [H][ns][128]
		h * hd * 4,                                         // kmean [H][128]
		h * attn8Outliers * 4,                              // och [H][16] int32
		h * int64(lq) * attn8Outliers * 2,                  // qo [H][lq][16] bf16
		h * int64(nkb) * attn8KeyBlock * attn8Outliers * 2, // ko [H][nkb·64][16] bf16
	}
	nvt := (nkb + 1) / 2 // the Hopper V layout's 128-key tiles
	switch {
	case a.spec.hopperV8:
		sizes[4] = h * int64(nvt) * 2 * attn8KeyBlock * hd // v8 [H][nvt][128][128]
	case a.spec.hopper:
		sizes[4], sizes[5] = 16, 16 // V stays bf16: no 8-bit V or its scales
	}
	var m [12]Mem
	for i, n := range sizes {
		if m[i], err = b.tmp(ts, n); err != nil {
			return true, err
		}
	}
	q8, qs, k8, ks, v8, vs, kpart, vpart := m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
	kmean, och, qo, ko := m[8], m[9], m[10], m[11]
	sl2 := float32(float64(scale) * math.Log2E)
	launch := func(k *kernel, grid dim3, threads uint32, args ...any) error {
		if err != nil {
			return err
		}
		err = b.d.launch(nil, k, grid, dim3{threads, 1, 1}, 0, args...)
		return err
	}
	_ = launch(a.stats, dim3{uint32(heads), uint32(ns), 1}, 256, kpart, vpart, k, v, int32(keys), stride, stride)
	_ = launch(a.outl, dim3{uint32(heads), 1, 1}, 128, kmean, och, kpart, int32(ns), int32(keys))
	_ = launch(a.qq, dim3{uint32((lq + 63) / 64), uint32(heads), 1}, 128, q8, qs, qo, q, och, int32(lq), stride)
	_ = launch(a.qk, dim3{uint32(nkb), uint32(heads), 1}, 256, k8, ks, ko, k, kmean, och, int32(keys), stride)
	if a.spec.hopper {
		// Q8, K8 and Ko go as tensor maps over their [H·rows, cols] layouts; V as bf16, or quantized into the
		// Hopper layout (hopperV8).
		if a.spec.hopperV8 {
			_ = launch(a.qv, dim3{uint32(2 * nvt), uint32(heads), 1}, 256, v8, vs, v, vpart, int32(ns), int32(keys), stride)
		}
		if err != nil {
			return true, err
		}
		vRows := keys
		if a.spec.hopperV8 {
			v, vRows = v8, heads*nvt*2*attn8KeyBlock
		}
		return true, b.attention8Hopper(a, out, q8, k8, ko, v, qo, qs, ks, vs, lq, keys, vRows, heads, nkb, sl2)
	}
	if a.fp8 {
		_ = launch(a.qv, dim3{uint32(nkb), uint32(heads), 1}, 256, v8, vs, v, int32(keys), stride)
	} else {
		_ = launch(a.qv, dim3{uint32(nkb), uint32(heads), 1}, 256, v8, vs, v, vpart, int32(ns), int32(keys), stride)
	}
	if err != nil {
		return true, err
	}
	s := a.spec
	grid := dim3{uint32((lq + s.bm - 1) / s.bm), uint32(heads), 1}
	return true, b.d.launch(nil, a.k, grid, dim3{uint32(32 * s.warps), 1, 1}, s.smem,
		out, q8, k8, v8, qo, ko, qs, ks, vs, int32(lq), int32(keys), stride, sl2)
}

// attn8HopperMaps are the tensor maps of attention8Hopper for q8, k8, ko and v over `rows` rows each (q8 and
// k8 as uint8 [rows, 128] in 128 × 128 boxes with the 128-byte swizzle, ko as bf16 [rows, 16] in 16 × 128
// boxes without swizzle; v as bf16 [rows, heads·128] as the flash kernels read it, or with v8 the quantized
// V of the hopperV8 entry points, uint8 [rows, 128] like q8).
func attn8HopperMaps(q8, k8, ko, v Mem, qRows, kRows, vRows, heads int, v8 bool) ([4]*tensorMap, error) {
	const hd = flashHeadDim
	type mapSpec struct {
		m                                 Mem
		dtype, cols, rows, rowBytes, bcol int
		swizzle                           int
	}
	vmap := mapSpec{v, tmBF16, heads * hd, vRows, 2 * heads * hd, 64, tmSwizzle128}
	if v8 {
		vmap = mapSpec{v, tmUint8, hd, vRows, hd, hd, tmSwizzle128}
	}
	maps := [4]mapSpec{
		{q8, tmUint8, hd, qRows, hd, hd, tmSwizzle128},
		{k8, tmUint8, hd, kRows, hd, hd, tmSwizzle128},
		{ko, tmBF16, attn8Outliers, kRows, 2 * attn8Outliers, attn8Outliers, tmNoSwizzle},
		vmap,
	}
	var tm [4]*tensorMap
	for i, m := range maps {
		var err error
		if tm[i], err = tensorMap2D(m.m, m.dtype, m.cols, m.rows, m.rowBytes, m.bcol, 128, m.swizzle); err != nil {
			return tm, err
		}
	}
	return tm, nil
}

// probeAttn8Maps checks that the driver makes the tensor maps attention8Hopper needs (at a made-up address,
// which encoding does not read), so that a refusal picks the mma.sync kernel instead of failing every call.
func (b *Backend) probeAttn8Maps() error {
	m := Mem{Ptr: 1 << 20}
	_, err := attn8HopperMaps(m, m, m, m, 128, 128, 128, 1, false)
	return err
}

// attention8Hopper launches a Hopper INT8 entry point (attn8Spec.hopper) on the quantized q8 [H][lq][128],
// k8 [H][nkb·64][128], ko [H][nkb·64][16] and the bf16 v [keys, H·128], through tensor maps: q8 and k8 as uint8
// [H·rows, 128] in boxes of 128 × 128 with the 128-byte swizzle, ko as bf16 [H·nkb·64, 16] in boxes of 16 × 128
// without swizzle, v (vRows rows) as the bf16 flash kernels take it. A hopperV8 entry point takes as v the
// quantized v8 [H][⌈nkb/2⌉][128][128] (as q8's map) and its scales vs. Runs on the CUDA goroutine.
func (b *Backend) attention8Hopper(a *attn8Kernel, out, q8, k8, ko, v, qo, qs, ks, vs Mem, lq, keys, vRows, heads, nkb int, sl2 float32) error {
	const hd = flashHeadDim
	s := a.spec
	tm, err := attn8HopperMaps(q8, k8, ko, v, heads*lq, heads*nkb*attn8KeyBlock, vRows, heads, s.hopperV8)
	if err != nil {
		return err
	}
	grid := dim3{uint32((lq + s.bm - 1) / s.bm), uint32(heads), 1}
	block := dim3{uint32(32 * s.warps), 1, 1}
	if s.hopperV8 {
		return b.d.launch(nil, a.k, grid, block, s.smem,
			out, tm[0], tm[1], tm[2], tm[3], qo, qs, ks, vs, int32(lq), int32(keys), int32(heads*hd), sl2)
	}
	return b.d.launch(nil, a.k, grid, block, s.smem,
		out, tm[0], tm[1], tm[2], tm[3], qo, qs, ks, int32(lq), int32(keys), int32(heads*hd), sl2)
}
