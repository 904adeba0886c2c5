package cuda

// A CPU emulation of the 8-bit flash attention of kernels/attention8.cuh (INT8 P·V: kernels/attention8.cu;
// FP8 P·V: kernels/sm89/attention8.cu) as the GPU computes it: the outlier channels (per head the 16 of largest
// amax|k − mean| over the valid keys, taken out of the INT8 product: q and k as they are, bf16, their product
// added to the dequantized INT8 one), the quantizers (Q per 16 rows, K minus its mean over the
// valid keys then INT8 per 64 keys, both over the other channels, V INT8 per (head, channel) or e4m3 per
// (head, 64-key block)), and the attention kernel's per-tile recurrences in float32 (running max, the
// tile's quantization max with TILE_FLOOR, P̂ per tile and row as u8 ×255 or e4m3 ×448, the unit u of O and
// β = u_old·α/u_new, the row sum of the rounded (INT8) or unrounded (FP8) p, the epilogue O·u/l·vscale, bf16
// output). Two liberties, both far below the errors measured: Q·Kᵀ is summed as the float64 product of the
// dequantized values plus the float64 product of the bf16 outlier values (the kernel: exact int32 sum times
// the f32 scale product, plus the bf16 MMA's f32 sum), and exp2 is exact (the kernel: ex2.approx, 2 ulp).
//
// It also carries the variants of the scheme that issue 14's accuracy goal calls for (each step alone, finer
// blocks, Q smoothing, outlier channels in f32, per-channel FP8 V), so that the error budget is measured, not
// guessed. No build tag: it runs in CI without a GPU, and TestAttention8Emul pins the error of the scheme at
// the shapes of TestBackendAttention8 — the reference the GPU kernels are compared with.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	emul8HD        = 128                // head dim
	emul8Tile      = 64                 // keys per attention tile
	emul8TileFloor = 32                 // TILE_FLOOR of attention8.cuh
	emul8Log2PMax  = 8.8073549220576041 // log2(448), PVFp8::LOG2_PMAX
	emul8Log2U8    = 7.9943534368588578 // log2(255), LOG2_255
)

// emul8Config selects the scheme the emulation runs: emul8Kernel is the committed kernels', emul8Plain the
// scheme without outlier channels (the kernels before 2026-12-06), the base of the sweep's variants.
type emul8Config struct {
	name string
	// fp8: P·V policy PVFp8 (P̂ = e4m3(448·p/p_tile), V e4m3 per (head, 64-key block), row sum of the
	// unrounded p); else PVInt8 (P̂ = round(255·p/p_tile) u8, V INT8 per (head, channel), row sum of P̂).
	fp8            bool
	qBlock, kBlock int // rows per Q scale, keys per K scale (16, 64 in the kernels)
	// exactQ/K/V/P: that step is left unquantized (the others as configured).
	exactQ, exactK, exactV, exactP bool
	// qSmooth: Q minus its per-block channel mean before quantization, mean·Kᵀ added back in f32.
	qSmooth bool
	// outliers: per head, that many channels (largest amax|q|·amax|k|) taken out of the INT8 product and
	// added in f32; the INT8 scales are then set by the other channels.
	outliers int
	// outByK: the outlier channels are those of largest amax|k − mean| alone (what kv_stats can give), ties
	// to the lower channel (attn8_k_outliers).
	outByK bool
	// outRaw: the outlier channels' k enters their product as it is (ko of attn8_quant_k: the bf16 input,
	// exact) instead of as k − mean in f32; the difference, q·mean, is one constant per query row.
	outRaw bool
	// vChan (FP8): V e4m3 with one scale per (head, channel) over the valid keys (applied in the epilogue).
	vChan bool
	// pU8 (FP8 V): P̂ as the INT8 kernel's u8 instead of e4m3; pE4M3 (INT8 V): P̂ as e4m3 ×448.
	pU8, pE4M3 bool
	// rowSumRounded (FP8): the row sum adds the e4m3-rounded p̂ instead of the unrounded p.
	rowSumRounded bool
	// qkE4M3: Q and K − mean rounded to e4m3 (largest |x| of a block → 448) instead of INT8, as the Hopper FP8
	// kernel attn8hf quantizes them (kernels/sm89/attention8.cu's QE4m3; K per 128-key tile there).
	qkE4M3 bool
	// accBits: P̂·V̂ added to O inside the tensor cores, as a Hopper FP8 wgmma chain that carries O as its
	// accumulator across key tiles does (attn8hfo): per 32 keys (one m64n128k32 step) O and the 32 products are
	// aligned to the largest of their exponents and cut (towards zero) to accBits bits below it before they add.
	// 0: each tile's products add in f32 and the tile adds to O in f32 (attn8hfp, and every other kernel).
	accBits int
	// slack > 0: P̂ as the Hopper FP8 kernel scales it (attn8hfo/attn8hfp): the running max m is raised only when a
	// tile's max passes it by more than slack (log2 units), and P̂ = 2^(t − m + log2(448) − slack) for every tile,
	// instead of each tile's own max mapped to 448.
	slack float32
}

// emul8Kernel returns the configuration of the committed kernels: emul8Plain plus the 16 outlier channels of
// largest amax|k − mean| per head outside the INT8 product (q and k as they are, bf16).
func emul8Kernel(fp8 bool) emul8Config {
	c := emul8Plain(fp8)
	c.name = "int8 kernel"
	if fp8 {
		c.name = "fp8 kernel"
	}
	c.outliers, c.outByK, c.outRaw = 16, true, true
	return c
}

// emul8Plain returns the scheme without outlier channels: every channel in the INT8 Q·Kᵀ (the kernels until
// 2026-12-06).
func emul8Plain(fp8 bool) emul8Config {
	n := "int8 plain"
	if fp8 {
		n = "fp8 plain"
	}
	return emul8Config{name: n, fp8: fp8, qBlock: 16, kBlock: 64}
}

// emul8E4M3 rounds x to the nearest e4m3 value (ties to even), saturating to ±448 (cvt.rn.satfinite.e4m3x2.f32).
func emul8E4M3(x float32) float32 {
	a := math.Abs(float64(x))
	if math.IsNaN(a) {
		return x
	}
	if a >= 448 {
		return float32(math.Copysign(448, float64(x)))
	}
	if a == 0 {
		return 0
	}
	_, e := math.Frexp(a) // a = f·2^e, f ∈ [0.5, 1): the leading bit is 2^(e-1)
	step := math.Ldexp(1, e-1-3)
	if e-1 < -6 { // subnormal: a fixed step of 2^-9
		step = math.Ldexp(1, -9)
	}
	r := math.RoundToEven(a/step) * step
	return float32(math.Copysign(min(r, 448), float64(x)))
}

// emul8BF16 rounds x to bfloat16, ties to even (x finite).
func emul8BF16(x float32) float32 {
	b := math.Float32bits(x)
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}

// emul8S8 is q_s8 of attention8.cuh: x rounded to nearest even and clamped to [-127, 127].
func emul8S8(x float32) float32 {
	return float32(max(-127, min(127, math.RoundToEven(float64(x)))))
}

// emul8Case is one set of model-like inputs: heads hs of a TestBackendAttention8 case, [rows][len(hs)][128].
type emul8Case struct {
	lq, lk, keys, nh int
	q, k, v          []float32
}

// emul8Inputs makes bf16-exact inputs distributed as modelQKV's (backend_attention8_test.go, behind the cuda
// tag): q and k rows of unit RMS with channels 5, 37, 70, 101 of each head ×10, k plus 0.5·((7c mod 5) − 2)
// per channel, v standard normal. nh heads are made; the RMS is taken over them (modelQKV takes it over all
// heads of a row: for 40 heads the two agree within about 1%, so fewer heads stand for the 40 of the GPU test).
// Each row has its own random stream, so a case does not depend on the number of cores.
func emul8Inputs(seed uint64, lq, lk, keys, nh int) emul8Case {
	n := nh * emul8HD
	gen := func(rows int, stream uint64, qk, offset bool) []float32 {
		x := make([]float32, rows*n)
		emul8Parallel(rows, func(row int) {
			r := rand.New(rand.NewPCG(seed, stream<<40|uint64(row)))
			xs := x[row*n : (row+1)*n]
			ss := 0.0
			for i := range xs {
				f := r.NormFloat64()
				xs[i] = float32(f)
				ss += f * f
			}
			inv := 1.0
			if qk {
				inv = 1 / math.Sqrt(ss/float64(n))
			}
			for i := range xs {
				f := float64(xs[i]) * inv
				if c := i % emul8HD; qk && (c == 5 || c == 37 || c == 70 || c == 101) {
					f *= 10
				}
				if offset {
					f += 0.5 * float64((i%emul8HD*7)%5-2)
				}
				xs[i] = emul8BF16(float32(f))
			}
		})
		return x
	}
	return emul8Case{lq: lq, lk: lk, keys: keys, nh: nh,
		q: gen(lq, 1, true, false), k: gen(lk, 2, true, true), v: gen(lk, 3, false, false)}
}

// emul8Parallel runs f(0 … n-1) on all cores.
func emul8Parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	w := min(n, runtime.GOMAXPROCS(0))
	for t := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := t; i < n; i += w {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// emul8Head is one head's quantized K and V (the output of the quantization kernels).
type emul8Head struct {
	kd    []float32 // [keys][128] dequantized K − mean (outlier channels zero)
	kx    []float32 // [keys][128] K − mean in f32 for the outlier terms (the outlier channels' K as it is: outRaw)
	vq    []float32 // [keys][128] quantized V in its own unit (int8 integers or e4m3 values)
	vtile []float32 // [tiles] FP8 per-block V scale (1 where O carries no tile scale)
	vch   []float32 // [128] per-channel V scale applied in the epilogue (1 where none)
	out   []bool    // [128] outlier channels
}

// emul8Quant quantizes head h of c's K and V as cfg's quantizers do.
func emul8Quant(c *emul8Case, h int, cfg emul8Config) *emul8Head {
	const d = emul8HD
	n := c.nh * d
	keys := c.keys
	hd := &emul8Head{kd: make([]float32, keys*d), kx: make([]float32, keys*d), vq: make([]float32, keys*d),
		vch: make([]float32, d), out: make([]bool, d)}
	// kv_stats + quant_k: the mean over the valid keys (f32 sums), then K − mean.
	var mean [d]float32
	for j := range keys {
		for ch := range d {
			mean[ch] += c.k[j*n+h*d+ch]
		}
	}
	for ch := range d {
		mean[ch] /= float32(keys)
	}
	for j := range keys {
		for ch := range d {
			hd.kx[j*d+ch] = c.k[j*n+h*d+ch] - mean[ch]
		}
	}
	if cfg.outliers > 0 {
		var aq, ak [d]float64
		for i := range c.lq {
			for ch := range d {
				aq[ch] = max(aq[ch], math.Abs(float64(c.q[i*n+h*d+ch])))
			}
		}
		for j := range keys {
			for ch := range d {
				ak[ch] = max(ak[ch], math.Abs(float64(hd.kx[j*d+ch])))
			}
		}
		idx := make([]int, d)
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			x, y := aq[a]*ak[a], aq[b]*ak[b]
			if cfg.outByK {
				x, y = ak[a], ak[b]
			}
			if x > y {
				return -1
			}
			if x < y {
				return 1
			}
			return 0
		})
		for _, ch := range idx[:cfg.outliers] {
			hd.out[ch] = true
			if cfg.outRaw {
				for j := range keys {
					hd.kx[j*d+ch] = c.k[j*n+h*d+ch]
				}
			}
		}
	}
	for b0 := 0; b0 < keys; b0 += cfg.kBlock {
		b1 := min(keys, b0+cfg.kBlock)
		var amax float32
		for j := b0; j < b1; j++ {
			for ch := range d {
				if !hd.out[ch] {
					amax = max(amax, float32(math.Abs(float64(hd.kx[j*d+ch]))))
				}
			}
		}
		top := float32(127)
		if cfg.qkE4M3 {
			top = 448
		}
		inv, sc := float32(0), float32(1)
		if amax > 0 {
			inv, sc = top/amax, amax/top
		}
		for j := b0; j < b1; j++ {
			for ch := range d {
				x := hd.kx[j*d+ch]
				switch {
				case hd.out[ch]:
					hd.kd[j*d+ch] = 0
				case cfg.exactK:
					hd.kd[j*d+ch] = x
				case cfg.qkE4M3:
					hd.kd[j*d+ch] = emul8E4M3(x*inv) * sc
				default:
					hd.kd[j*d+ch] = emul8S8(x*inv) * sc
				}
			}
		}
	}
	// V.
	tiles := (keys + emul8Tile - 1) / emul8Tile
	hd.vtile = make([]float32, tiles)
	for i := range hd.vtile {
		hd.vtile[i] = 1
	}
	for ch := range d {
		hd.vch[ch] = 1
	}
	vat := func(j, ch int) float32 { return c.v[j*n+h*d+ch] }
	switch {
	case cfg.exactV:
		for j := range keys {
			for ch := range d {
				hd.vq[j*d+ch] = vat(j, ch)
			}
		}
	case !cfg.fp8 || cfg.vChan: // quant_v: one scale per (head, channel) over the valid keys
		for ch := range d {
			var m float32
			for j := range keys {
				m = max(m, float32(math.Abs(float64(vat(j, ch)))))
			}
			top := float32(127)
			if cfg.fp8 {
				top = 448
			}
			inv := float32(0)
			if m > 0 {
				inv, hd.vch[ch] = top/m, m/top
			}
			for j := range keys {
				if cfg.fp8 {
					hd.vq[j*d+ch] = emul8E4M3(vat(j, ch) * inv)
				} else {
					hd.vq[j*d+ch] = emul8S8(vat(j, ch) * inv)
				}
			}
		}
	default: // quant_v_fp8: one scale per (head, 64-key block), folded into O's unit
		for t := range tiles {
			j0, j1 := t*emul8Tile, min(keys, (t+1)*emul8Tile)
			var amax float32
			for j := j0; j < j1; j++ {
				for ch := range d {
					amax = max(amax, float32(math.Abs(float64(vat(j, ch)))))
				}
			}
			s := float32(0)
			if amax > 0 {
				s, hd.vtile[t] = 448/amax, amax/448
			}
			for j := j0; j < j1; j++ {
				for ch := range d {
					hd.vq[j*d+ch] = emul8E4M3(vat(j, ch) * s)
				}
			}
		}
	}
	return hd
}

// emul8Row returns the emulated output row (query row i, head h), 128 channels, bf16-rounded, and the f64
// reference row.
func emul8Row(c *emul8Case, hd *emul8Head, i, h int, cfg emul8Config, scale float64) (got []float32, want []float64) {
	const d = emul8HD
	n := c.nh * d
	keys := c.keys
	sl2 := float32(scale * math.Log2E)
	// quant_q: the row's block of qBlock rows; amax over its rows (< lq) and non-outlier channels.
	b0 := i / cfg.qBlock * cfg.qBlock
	b1 := min(c.lq, b0+cfg.qBlock)
	var mu [d]float32
	if cfg.qSmooth {
		for r := b0; r < b1; r++ {
			for ch := range d {
				mu[ch] += c.q[r*n+h*d+ch]
			}
		}
		for ch := range d {
			mu[ch] /= float32(b1 - b0)
		}
	}
	var amax float32
	for r := b0; r < b1; r++ {
		for ch := range d {
			if !hd.out[ch] {
				amax = max(amax, float32(math.Abs(float64(c.q[r*n+h*d+ch]-mu[ch]))))
			}
		}
	}
	top := float32(127)
	if cfg.qkE4M3 {
		top = 448
	}
	inv, qs := float32(0), float32(1)
	if amax > 0 {
		inv, qs = top/amax, amax/top
	}
	var qd, qx [d]float64 // dequantized int8 part; f32 part (outlier channels and the smoothing mean)
	for ch := range d {
		x := c.q[i*n+h*d+ch]
		switch {
		case hd.out[ch]:
			qx[ch] = float64(x)
			continue
		case cfg.exactQ:
			qd[ch] = float64(x - mu[ch])
		case cfg.qkE4M3:
			qd[ch] = float64(emul8E4M3((x-mu[ch])*inv) * qs)
		default:
			qd[ch] = float64(emul8S8((x-mu[ch])*inv) * qs)
		}
		qx[ch] = float64(mu[ch])
	}
	// Scores in the log2 domain, as the kernel's (s32 · qscale · kscale + Qo·Koᵀ) · sl2.
	t := make([]float32, keys)
	for j := range keys {
		acc, ex := 0.0, 0.0
		kd, kx := hd.kd[j*d:(j+1)*d], hd.kx[j*d:(j+1)*d]
		for ch := range d {
			acc += qd[ch] * float64(kd[ch])
			if qx[ch] != 0 {
				ex += qx[ch] * float64(kx[ch])
			}
		}
		t[j] = float32((acc + ex) * float64(sl2))
	}
	// The key loop of attn8_fwd for one row.
	exp2 := func(x float32) float32 { return float32(math.Exp2(float64(x))) }
	fp8P := (cfg.fp8 && !cfg.pU8) || (!cfg.fp8 && cfg.pE4M3)
	lpmax := float32(emul8Log2U8)
	if fp8P {
		lpmax = emul8Log2PMax
	}
	mrow, lrow, unit := float32(math.Inf(-1)), float32(0), float32(1)
	var o [d]float32
	var acc [d]float32
	p := make([]float32, emul8Tile)
	for tile := 0; tile*emul8Tile < keys; tile++ {
		j0, j1 := tile*emul8Tile, min(keys, (tile+1)*emul8Tile)
		mtile := float32(math.Inf(-1))
		for j := j0; j < j1; j++ {
			mtile = max(mtile, t[j])
		}
		mnew := max(mrow, mtile)
		mq := max(mtile, mnew-emul8TileFloor)
		if cfg.slack > 0 { // the running max with slack: p̂ = 2^(t − m + lpmax − slack)
			mnew = mrow
			if mtile > mrow+cfg.slack {
				mnew = mtile
			}
			mq = mnew + cfg.slack
		}
		alpha := exp2(mrow - mnew)
		mrow = mnew
		punit := exp2(mq - mrow - lpmax) // p̂ = 1 is worth punit true units
		off := lpmax - mq
		unew := punit * hd.vtile[tile]
		beta := unit * alpha * (1 / unew)
		unit = unew
		var rs float32
		for j := j0; j < j1; j++ {
			x := exp2(t[j] + off)
			var r float32
			switch {
			case cfg.exactP:
				r = x
			case fp8P:
				r = emul8E4M3(x)
			default:
				r = float32(math.RoundToEven(float64(x)))
			}
			p[j-j0] = r
			if fp8P && !cfg.rowSumRounded {
				rs += x
			} else {
				rs += r
			}
		}
		lrow = lrow*alpha + rs*punit
		if cfg.accBits > 0 {
			for ch := range d {
				o[ch] *= beta
			}
			emul8TruncAdd(o[:], p[:j1-j0], hd.vq[j0*d:j1*d], cfg.accBits)
			continue
		}
		clear(acc[:])
		for j := j0; j < j1; j++ {
			if p[j-j0] == 0 {
				continue
			}
			vr := hd.vq[j*d : (j+1)*d]
			for ch := range d {
				acc[ch] += p[j-j0] * vr[ch]
			}
		}
		for ch := range d {
			o[ch] = o[ch]*beta + acc[ch]
		}
	}
	got = make([]float32, d)
	linv := float32(0)
	if lrow > 0 {
		linv = unit / lrow
	}
	for ch := range d {
		got[ch] = emul8BF16(o[ch] * linv * hd.vch[ch])
	}
	// float64 reference from the same bf16 inputs.
	want = make([]float64, d)
	attnRow64(want, c.q, c.k, c.v, n, i, h, keys, scale)
	return got, want
}

// emul8TruncAdd adds p[j]·v[j·128 + ch] to o[ch] over the keys j in steps of 32, each step as emul8Config.accBits
// describes: o and the step's products cut towards zero to bits bits below the largest leading bit among them, then
// summed (exactly) and rounded to f32.
func emul8TruncAdd(o, p, v []float32, bits int) {
	const d = emul8HD
	for g := 0; g < len(p); g += 32 {
		ge := min(len(p), g+32)
		for ch := range d {
			_, emax := math.Frexp(float64(o[ch]))
			if o[ch] == 0 {
				emax = math.MinInt32
			}
			for j := g; j < ge; j++ {
				if x := float64(p[j]) * float64(v[j*d+ch]); x != 0 {
					_, e := math.Frexp(x)
					emax = max(emax, e)
				}
			}
			if emax == math.MinInt32 {
				continue
			}
			q := math.Ldexp(1, emax-1-bits)
			sum := math.Trunc(float64(o[ch])/q) * q
			for j := g; j < ge; j++ {
				sum += math.Trunc(float64(p[j])*float64(v[j*d+ch])/q) * q
			}
			o[ch] = float32(sum)
		}
	}
}

// emul8Error runs cfg on c for samples (row, head) pairs — (0, 0), (lq−1, last head) and random ones, as
// attnRef64 picks them — and returns the relative L2 error against float64.
func emul8Error(c *emul8Case, cfg emul8Config, samples int, seed uint64) float64 {
	scale := 1 / math.Sqrt(emul8HD)
	heads := make([]*emul8Head, c.nh)
	emul8Parallel(c.nh, func(h int) { heads[h] = emul8Quant(c, h, cfg) })
	r := rand.New(rand.NewPCG(seed, 99))
	type pick struct{ row, h int }
	picks := []pick{{0, 0}, {c.lq - 1, c.nh - 1}}
	for len(picks) < samples {
		picks = append(picks, pick{r.IntN(c.lq), r.IntN(c.nh)})
	}
	num, den := make([]float64, len(picks)), make([]float64, len(picks))
	emul8Parallel(len(picks), func(i int) {
		got, want := emul8Row(c, heads[picks[i].h], picks[i].row, picks[i].h, cfg, scale)
		for ch := range want {
			e := float64(got[ch]) - want[ch]
			num[i] += e * e
			den[i] += want[ch] * want[ch]
		}
	})
	var a, b float64
	for i := range num {
		a += num[i]
		b += den[i]
	}
	return math.Sqrt(a / b)
}

func TestEmul8E4M3(t *testing.T) {
	cases := []struct{ in, want float32 }{
		{0, 0}, {1, 1}, {1.0625, 1}, {1.0626, 1.125}, {1.1875, 1.25}, {448, 448}, {460, 448}, {1e9, 448},
		{-3.3, -3.25}, {0.015625, 0.015625}, {0.001953125, 0.001953125}, {0.0029296875, 0.00390625},
		{0.0009765625, 0}, {0.00097657, 0.001953125}, {240, 240}, {232, 224}, {-500, -448},
	}
	for _, c := range cases {
		if g := emul8E4M3(c.in); g != c.want {
			t.Errorf("e4m3(%g) = %g, want %g", c.in, g, c.want)
		}
	}
	if g := emul8BF16(1.00390625); g != 1 { // 1 + 2^-8: a tie, to even
		t.Errorf("bf16(1+2^-8) = %g, want 1", g)
	}
	if g := emul8BF16(1.01171875); g != 1.015625 { // 1 + 3·2^-8: a tie, to even (up)
		t.Errorf("bf16(1+3·2^-8) = %g, want 1.015625", g)
	}
}

// emul8Shape is one case of TestBackendAttention8 as the emulation runs it (nh heads of heads).
type emul8Shape struct{ lq, lk, keys, heads, nh int }

func (s emul8Shape) String() string {
	return fmt.Sprintf("%d×%d keys %d, %d heads", s.lq, s.lk, s.keys, s.heads)
}

// TestAttention8Emul pins the error of the committed 8-bit kernels (emulated: 16 outlier channels per head in
// bf16) at TestBackendAttention8's small shapes with its model-like inputs, and checks that leaving each
// quantization step of the plain scheme exact changes the error as the error budget says: the INT8 Q·Kᵀ of
// the model-like q and k (four ×10 channels per head) is what breaks issue 14's 3e-2 without the outlier
// channels; taking them out of the INT8 product brings INT8 to about 1e-2, while FP8 stays at the e4m3 V
// floor (about 2.6%). The bounds are the measured errors with about 25% room (other seeds move them by less).
func TestAttention8Emul(t *testing.T) {
	sh := []emul8Shape{{17, 33, 33, 2, 2}, {100, 257, 200, 2, 2}, {333, 1000, 999, 3, 3}, {1000, 77, 77, 40, 4},
		{4095, 4096, 3001, 2, 2}}
	type check struct {
		cfg    emul8Config
		lo, hi float64 // the error must lie in [lo, hi] at every shape
	}
	exactQK := func(fp8 bool) emul8Config {
		c := emul8Plain(fp8)
		c.name += ", Q·Kᵀ exact"
		c.exactQ, c.exactK = true, true
		return c
	}
	out4 := func(fp8 bool) emul8Config {
		c := emul8Plain(fp8)
		c.name += ", 4 outlier channels f32"
		c.outliers = 4
		return c
	}
	onlyV := func(fp8 bool) emul8Config {
		c := emul8Plain(fp8)
		c.name += ", only V quantized"
		c.exactQ, c.exactK, c.exactP = true, true, true
		return c
	}
	checks := []check{
		{emul8Kernel(false), 4e-3, 1.2e-2},  // measured 0.65–0.91e-2; the plain scheme's 4.1–5.0e-2 fails it
		{emul8Kernel(true), 2.2e-2, 3.0e-2}, // measured 2.64–2.72e-2: the e4m3 V floor
		{emul8Plain(false), 2.5e-2, 6.5e-2},
		{emul8Plain(true), 3.0e-2, 7.5e-2},
		{exactQK(false), 0, 1.0e-2},
		{exactQK(true), 1.5e-2, 3.0e-2},
		{out4(false), 0, 1.2e-2},
		{out4(true), 1.5e-2, 3.5e-2},
		{onlyV(false), 0, 1.2e-2},
		{onlyV(true), 2.2e-2, 3.0e-2}, // e4m3 keeps 3 mantissa bits: about 2.6% of a standard normal V
	}
	for si, s := range sh {
		c := emul8Inputs(uint64(si+1), s.lq, s.lk, s.keys, s.nh)
		for _, ck := range checks {
			e := emul8Error(&c, ck.cfg, 64, uint64(si))
			t.Logf("%-34s %-28v relative L2 %.3e", ck.cfg.name, s, e)
			if !(e >= ck.lo && e <= ck.hi) {
				t.Errorf("%s at %v: relative L2 %.3e outside [%g, %g]", ck.cfg.name, s, e, ck.lo, ck.hi)
			}
		}
	}
}

// TestAttention8EmulSweep prints the error table of bench/attention/README.md ("8-bit attention: accuracy"):
// every shape of TestBackendAttention8 (the 40-head ones with 4 heads and sampled rows), the committed
// kernels, the plain scheme (no outlier channels), each of its steps alone and the remedies. Minutes on 2 cores; it runs with WAN22_ATTN8_SWEEP=1.
func TestAttention8EmulSweep(t *testing.T) {
	if os.Getenv("WAN22_ATTN8_SWEEP") != "1" {
		t.Skip("set WAN22_ATTN8_SWEEP=1 to print the 8-bit attention error table (minutes; WAN22_ATTN8_SWEEP_SHAPES=n the first n shapes, WAN22_ATTN8_SWEEP_ONLY=text the configurations named with it)")
	}
	shapes := []emul8Shape{
		{17, 33, 33, 2, 2}, {100, 257, 200, 2, 2}, {333, 1000, 999, 3, 3}, {4095, 4096, 3001, 2, 2},
		{1000, 77, 77, 40, 4}, {32760, 512, 512, 40, 4}, {32760, 32760, 32760, 40, 2},
	}
	if s := os.Getenv("WAN22_ATTN8_SWEEP_SHAPES"); s != "" {
		var n int
		fmt.Sscan(s, &n)
		shapes = shapes[:min(n, len(shapes))]
	}
	var cfgs []emul8Config
	add := func(base emul8Config, name string, f func(*emul8Config)) {
		c := base
		c.name = name
		f(&c)
		cfgs = append(cfgs, c)
	}
	for _, fp8 := range []bool{false, true} {
		k := emul8Plain(fp8)
		p := "int8"
		if fp8 {
			p = "fp8"
		}
		add(emul8Kernel(fp8), p+" kernel (16 outliers by K, bf16)", func(*emul8Config) {})
		add(k, p+" plain (no outliers)", func(*emul8Config) {})
		add(k, p+" only Q quantized", func(c *emul8Config) { c.exactK, c.exactV, c.exactP = true, true, true })
		add(k, p+" only K quantized", func(c *emul8Config) { c.exactQ, c.exactV, c.exactP = true, true, true })
		add(k, p+" only V quantized", func(c *emul8Config) { c.exactQ, c.exactK, c.exactP = true, true, true })
		add(k, p+" only P quantized", func(c *emul8Config) { c.exactQ, c.exactK, c.exactV = true, true, true })
		add(k, p+" Q·Kᵀ exact", func(c *emul8Config) { c.exactQ, c.exactK = true, true })
		add(k, p+" Q per 8 rows, K per 32", func(c *emul8Config) { c.qBlock, c.kBlock = 8, 32 })
		add(k, p+" Q smoothed", func(c *emul8Config) { c.qSmooth = true })
		add(k, p+" 4 outliers f32", func(c *emul8Config) { c.outliers = 4 })
		add(k, p+" 8 outliers f32", func(c *emul8Config) { c.outliers = 8 })
		add(k, p+" 16 outliers f32", func(c *emul8Config) { c.outliers = 16 })
		add(k, p+" 4 outliers by K amax", func(c *emul8Config) { c.outliers, c.outByK = 4, true })
		add(k, p+" 4 outliers + Q smoothed", func(c *emul8Config) { c.outliers, c.qSmooth = 4, true })
		if fp8 {
			add(k, p+" V per channel", func(c *emul8Config) { c.vChan = true })
			add(k, p+" P u8", func(c *emul8Config) { c.pU8 = true })
			add(k, p+" row sum of rounded P", func(c *emul8Config) { c.rowSumRounded = true })
			add(k, p+" 4 outliers, V per channel", func(c *emul8Config) { c.outliers, c.vChan = 4, true })
			add(k, p+" 4 outliers, V per ch., P u8", func(c *emul8Config) { c.outliers, c.vChan, c.pU8 = 4, true, true })
			add(k, p+" Q, K e4m3, K per 128, V per channel (attn8hf)", func(c *emul8Config) {
				c.qkE4M3, c.kBlock, c.vChan = true, 128, true
			})
			add(k, p+" Q, K e4m3 only", func(c *emul8Config) { c.qkE4M3, c.kBlock, c.exactV, c.exactP = true, 128, true, true })
			add(k, p+" Q, K e4m3 + 16 outliers by K, bf16", func(c *emul8Config) {
				c.qkE4M3, c.kBlock, c.outliers, c.outByK, c.outRaw = true, 128, 16, true, true
			})
			for _, sl := range []float32{1, 8} {
				add(k, fmt.Sprintf("%s Q, K e4m3 + 16 outliers, running max slack %g (attn8hfp)", p, sl), func(c *emul8Config) {
					c.qkE4M3, c.kBlock, c.outliers, c.outByK, c.outRaw, c.vChan, c.slack = true, 128, 16, true, true, true, sl
				})
				for _, bits := range []int{11, 12, 13} {
					add(k, fmt.Sprintf("%s Q, K e4m3 + 16 outliers, running max slack %g, O in the tensor cores (%d bits)", p, sl, bits), func(c *emul8Config) {
						c.qkE4M3, c.kBlock, c.outliers, c.outByK, c.outRaw, c.vChan, c.slack, c.accBits = true, 128, 16, true, true, true, sl, bits
					})
				}
			}
			for _, bits := range []int{12, 13, 14, 16} {
				add(k, fmt.Sprintf("%s Q, K e4m3 + 16 outliers, O accumulated in the tensor cores (%d bits)", p, bits), func(c *emul8Config) {
					c.qkE4M3, c.kBlock, c.outliers, c.outByK, c.outRaw, c.vChan, c.accBits = true, 128, 16, true, true, true, bits
				})
			}
			add(k, p+" Q, K e4m3 + 16 outliers, V per channel (attn8hfo, attn8hfp: f32 O)", func(c *emul8Config) {
				c.qkE4M3, c.kBlock, c.outliers, c.outByK, c.outRaw, c.vChan = true, 128, 16, true, true, true
			})
			add(k, p+" Q, K e4m3 + 16 outliers, exact V, P", func(c *emul8Config) {
				c.qkE4M3, c.kBlock, c.outliers, c.outByK, c.outRaw, c.exactV, c.exactP = true, 128, 16, true, true, true, true
			})
		} else {
			add(k, p+" P e4m3", func(c *emul8Config) { c.pE4M3 = true })
		}
	}
	if only := os.Getenv("WAN22_ATTN8_SWEEP_ONLY"); only != "" { // a substring of the configurations' names
		cfgs = slices.DeleteFunc(cfgs, func(c emul8Config) bool { return !strings.Contains(c.name, only) })
	}
	for si, s := range shapes {
		c := emul8Inputs(uint64(si+1), s.lq, s.lk, s.keys, s.nh)
		samples := 128
		if s.keys > 10000 {
			samples = 64
		}
		for _, cfg := range cfgs {
			e := emul8Error(&c, cfg, samples, uint64(si))
			t.Logf("| %v | %s | %.3e |", s, cfg.name, e)
		}
	}
}

// attnRow64 writes into o (zeroed, len 128) softmax(scale·q·kᵀ)·v in float64 for query row row of head h
// over the first keys keys; q, k, v are token-major with n = heads·128 values a row. It is the reference of
// the emulation and of the GPU test (backend_attention8_test.go).
func attnRow64(o []float64, q, k, v []float32, n, row, h, keys int, scale float64) {
	const d = emul8HD
	qr := q[row*n+h*d : row*n+h*d+d]
	s := make([]float64, keys)
	mx := math.Inf(-1)
	for j := range keys {
		kr := k[j*n+h*d : j*n+h*d+d]
		acc := 0.0
		for c := range d {
			acc += float64(qr[c]) * float64(kr[c])
		}
		s[j] = acc * scale
		mx = max(mx, s[j])
	}
	sum := 0.0
	for j := range s {
		s[j] = math.Exp(s[j] - mx)
		sum += s[j]
	}
	for j := range keys {
		w := s[j] / sum
		vr := v[j*n+h*d : j*n+h*d+d]
		for c := range d {
			o[c] += w * float64(vr[c])
		}
	}
}
