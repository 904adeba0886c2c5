//go:build cuda

package cuda

import (
	"fmt"
	"slices"

	"github.com/wan22/wan22/engine"
)

// flashKernel is an entry point of kernels/attention.cu (head dim 128, no bias, bf16 in and out), named
// attn_b<BM>_w<WARPS>_s<STAGES>[p]_bf16: BM query rows per CTA, 32·WARPS threads, STAGES·32 KiB of
// dynamic shared memory plus BM·256 bytes for Q when each warp owns two m16 tiles (BM = 32·WARPS).
type flashKernel struct {
	k         *kernel
	name      string
	bm, warps int
	smem      int
}

// Entry points in order of preference, measured on an H100 (bench/attention): for long key sequences
// (self-attention) and for short ones (cross-attention over the 512 text rows).
var (
	flashLong  = []string{"attn_b256_w8_s2_bf16", "attn_b128_w4_s2_bf16", "attn_b128_w8_s3p_bf16", "attn_b128_w8_s2_bf16"}
	flashShort = []string{"attn_b128_w4_s2_bf16", "attn_b128_w8_s4p_bf16", "attn_b128_w8_s2_bf16", "attn_b256_w8_s2_bf16"}
)

// flashShortKeys is the key count up to which the short-sequence preference applies.
const flashShortKeys = 2048

func parseFlash(name string) (bm, warps, smem int, err error) {
	var stages int
	if _, err = fmt.Sscanf(name, "attn_b%d_w%d_s%d", &bm, &warps, &stages); err != nil {
		return 0, 0, 0, fmt.Errorf("attention entry point %q: %v", name, err)
	}
	if warps <= 0 || bm <= 0 || bm%(16*warps) != 0 || stages < 2 {
		return 0, 0, 0, fmt.Errorf("attention entry point %q: unexpected tiling", name)
	}
	smem = stages * 32 << 10
	if bm/(16*warps) == 2 {
		smem += bm * 256
	}
	return bm, warps, smem, nil
}

// flashFor returns the flash kernel for a key count, or nil when the attention module or every preferred
// entry point is missing (the fallback kernel runs then; the reason is logged once). Runs on the CUDA
// goroutine.
func (b *Backend) flashFor(keys int) *flashKernel {
	short := keys <= flashShortKeys
	if f, ok := b.flash[short]; ok {
		return f
	}
	prefs := flashLong
	if short {
		prefs = flashShort
	}
	var why error
	for _, name := range prefs {
		k, err := b.d.getKernel("attention", name)
		if err != nil {
			why = err
			continue
		}
		bm, warps, smem, err := parseFlash(name)
		if err != nil {
			why = err
			continue
		}
		f := &flashKernel{k: k, name: name, bm: bm, warps: warps, smem: smem}
		b.flash[short] = f
		return f
	}
	if !b.warned {
		b.d.log.Warn("flash attention kernel unavailable; using the slower fallback attention kernel", "err", why)
		b.warned = true
	}
	b.flash[short] = nil
	return nil
}

// Attention: q [Lq, H·D], k and v [Lk, H·D] → softmax(q·kᵀ·Scale + Bias)·v per head, keys from KeyLen on
// masked; BF16 result. Head dim 128 without a bias runs the flash kernel (kernels/attention.cu); any head dim
// up to 128, with or without a bias [H, Lq, Lk], runs the shared-memory kernel of kernels/backend.cu.
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
		var m [3]Mem
		for i, t := range qkv {
			var err error
			if m[i], err = b.as(t, engine.BF16, &ts); err != nil {
				return err
			}
		}
		var err error
		if y, err = b.newAct(q.shape, engine.BF16); err != nil {
			return err
		}
		if Lq == 0 || HD == 0 {
			return nil
		}
		if keys == 0 { // no keys at all: the empty sum, as the reference's 0/0 would not be
			return b.d.Memset16(nil, y.mem(), 0)
		}
		var f *flashKernel
		if D == 128 && bias.IsNil() && aligned16(m[0], m[1], m[2], y.mem()) {
			f = b.flashFor(keys)
		}
		switch {
		case f != nil:
			grid := dim3{uint32((Lq + f.bm - 1) / f.bm), uint32(H), 1}
			err = b.d.launch(nil, f.k, grid, dim3{uint32(32 * f.warps), 1, 1}, f.smem,
				y.mem(), m[0], m[1], m[2], int32(Lq), int32(keys), int32(HD), int32(HD), int32(HD), int32(HD), o.Scale)
		case D <= 128:
			err = b.attnSmall(y.mem(), m[0], m[1], m[2], bias, Lq, Lk, keys, H, D, o.Scale)
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

// Tiling of bk_attn_small (kernels/backend.cu).
const (
	attnSmallWarps = 8
	attnSmallRows  = 4 // query rows per warp
	attnSmallKT    = 32
)

// attnSmall launches bk_attn_small: all of q, k, v, out [L, H·D] with heads interleaved per row, bias
// [H, Lq, Lk] F32 or none. Runs on the CUDA goroutine.
func (b *Backend) attnSmall(out, q, k, v, bias Mem, lq, lk, keys, heads, d int, scale float32) error {
	k0, err := b.d.getKernel("backend", "bk_attn_small")
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
