//go:build cuda

package cuda

import (
	"fmt"

	"github.com/wan22/wan22/gguf"
)

func typeSuffix(t gguf.Type) string {
	if t == gguf.TypeBF16 {
		return "bf16"
	}
	return "f32"
}

// overlapsDifferently reports whether y and x overlap without being the same range of the same type, which
// in-place kernels cannot handle.
func overlapsDifferently(y Mem, yt gguf.Type, x Mem, xt gguf.Type) bool {
	if y.Ptr+uintptr(y.Bytes) <= x.Ptr || x.Ptr+uintptr(x.Bytes) <= y.Ptr {
		return false
	}
	return !(y.Ptr == x.Ptr && yt == xt)
}

func normThreads(cols int) uint32 {
	t := (cols + 31) / 32 * 32
	if t > 256 {
		t = 256
	}
	return uint32(t)
}

// LayerNorm normalizes each of rows rows of cols elements of x (f32 or bf16) into y (f32 or bf16):
// y = LN(x) [· a.Weight + a.Bias] [· (1 + a.Scale) + a.Shift], in f32, with the biased variance. y may be x
// itself when the types agree (and a.LdY is 0). Row r of y starts at element r·a.LdY (0: dense).
func (d *Device) LayerNorm(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, rows, cols int, eps float32, a LayerNormArgs) error {
	if err := checkRows("layernorm", rows, cols); err != nil {
		return err
	}
	if err := firstErr(checkActType("layernorm input", xt, gguf.TypeF32, gguf.TypeBF16), checkActType("layernorm output", yt, gguf.TypeF32, gguf.TypeBF16)); err != nil {
		return err
	}
	n := int64(rows) * int64(cols)
	if err := checkLdY("layernorm", a, cols); err != nil {
		return err
	}
	if err := firstErr(need("layernorm x", x, n*elemBytes(xt)), need("layernorm y", y, stridedBytes(rows, cols, a.ldy(cols), elemBytes(yt))),
		needOpt("layernorm weight", a.Weight, int64(cols)*4), needOpt("layernorm bias", a.Bias, int64(cols)*4),
		checkModulation("layernorm scale", a.Scale, rows, cols, a.ModStride), checkModulation("layernorm shift", a.Shift, rows, cols, a.ModStride)); err != nil {
		return err
	}
	if overlapsDifferently(y, yt, x, xt) || (a.ldy(cols) != cols && overlaps(y, x)) {
		return fmt.Errorf("cuda: layernorm: y overlaps x (only exact in-place with the same type and a dense y is allowed)")
	}
	return d.Do(func() error {
		k, err := d.getKernel("norm", "layernorm_"+typeSuffix(xt)+"_"+typeSuffix(yt))
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{uint32(rows), 1, 1}, dim3{normThreads(cols), 1, 1}, 0,
			y, x, int32(cols), eps, a.Weight, a.Bias, a.Scale, a.Shift, int64(a.ModStride), int64(a.ldy(cols)))
	})
}

// AddLayerNorm adds r · gate to x in place (x f32, r f32 or bf16, both [rows, cols]; gate f32 [cols], nil:
// 1) and writes LayerNorm's y of the updated x as LayerNorm does (kernels/norm.cu, add_layernorm): the gated
// residual add and the norm that reads its result in one pass over x. y must not overlap x or r; its row
// stride is a.LdY (0: dense).
func (d *Device) AddLayerNorm(s *Stream, y Mem, yt gguf.Type, x, r Mem, rt gguf.Type, gate Mem, rows, cols int, eps float32, a LayerNormArgs) error {
	if err := checkRows("add_layernorm", rows, cols); err != nil {
		return err
	}
	if err := firstErr(checkActType("add_layernorm residual", rt, gguf.TypeF32, gguf.TypeBF16), checkActType("add_layernorm output", yt, gguf.TypeF32, gguf.TypeBF16)); err != nil {
		return err
	}
	n := int64(rows) * int64(cols)
	if err := checkLdY("add_layernorm", a, cols); err != nil {
		return err
	}
	if err := firstErr(need("add_layernorm x", x, n*4), need("add_layernorm r", r, n*elemBytes(rt)), need("add_layernorm y", y, stridedBytes(rows, cols, a.ldy(cols), elemBytes(yt))),
		needOpt("add_layernorm gate", gate, int64(cols)*4), needOpt("add_layernorm weight", a.Weight, int64(cols)*4), needOpt("add_layernorm bias", a.Bias, int64(cols)*4),
		checkModulation("add_layernorm scale", a.Scale, rows, cols, a.ModStride), checkModulation("add_layernorm shift", a.Shift, rows, cols, a.ModStride)); err != nil {
		return err
	}
	if overlaps(y, x) || overlaps(y, r) {
		return fmt.Errorf("cuda: add_layernorm: y overlaps x or r")
	}
	vec, threads := int32(0), normThreads(cols)
	if cols%4 == 0 && a.ModStride%4 == 0 && a.ldy(cols)%4 == 0 && aligned16(x, gate, a.Weight, a.Bias, a.Scale, a.Shift) && aligned4x(r, rt) && aligned4x(y, yt) {
		vec, threads = 1, normThreads(cols/4)
	}
	return d.Do(func() error {
		k, err := d.getKernel("norm", "add_layernorm_"+typeSuffix(rt)+"_"+typeSuffix(yt))
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{uint32(rows), 1, 1}, dim3{threads, 1, 1}, 0,
			y, x, r, gate, int32(cols), eps, a.Weight, a.Bias, a.Scale, a.Shift, int64(a.ModStride), vec, int64(a.ldy(cols)))
	})
}

// aligned4x reports whether m can be accessed 4 elements of type t at a time (16 bytes of f32, 8 of bf16).
func aligned4x(m Mem, t gguf.Type) bool {
	return m.Ptr%uintptr(4*elemBytes(t)) == 0
}

// RMSNorm computes y = round_x(x · rsqrt(mean(x²) + eps)) · weight per row (weight f32 [cols], optional):
// the normalized value is rounded to x's type before the weight multiply, as WanRMSNorm does.
func (d *Device) RMSNorm(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, rows, cols int, eps float32, weight Mem) error {
	if err := checkRows("rmsnorm", rows, cols); err != nil {
		return err
	}
	if err := firstErr(checkActType("rmsnorm input", xt, gguf.TypeF32, gguf.TypeBF16), checkActType("rmsnorm output", yt, gguf.TypeF32, gguf.TypeBF16)); err != nil {
		return err
	}
	n := int64(rows) * int64(cols)
	if err := firstErr(need("rmsnorm x", x, n*elemBytes(xt)), need("rmsnorm y", y, n*elemBytes(yt)), needOpt("rmsnorm weight", weight, int64(cols)*4)); err != nil {
		return err
	}
	if overlapsDifferently(y, yt, x, xt) {
		return fmt.Errorf("cuda: rmsnorm: y overlaps x (only exact in-place with the same type is allowed)")
	}
	return d.Do(func() error {
		k, err := d.getKernel("norm", "rmsnorm_"+typeSuffix(xt)+"_"+typeSuffix(yt))
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{uint32(rows), 1, 1}, dim3{normThreads(cols), 1, 1}, 0, y, x, int32(cols), eps, weight)
	})
}

// AddGated computes out = x + y · gate over rows×cols: x and out f32 (out may be x), y f32 or bf16, gate
// f32 with row r at element offset r·gateStride (0 broadcasts one vector).
func (d *Device) AddGated(s *Stream, out, x, y Mem, yt gguf.Type, gate Mem, rows, cols, gateStride int) error {
	if err := checkRows("add_gated", rows, cols); err != nil {
		return err
	}
	if err := checkActType("add_gated y", yt, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return err
	}
	n := int64(rows) * int64(cols)
	if err := firstErr(need("add_gated out", out, n*4), need("add_gated x", x, n*4), need("add_gated y", y, n*elemBytes(yt)),
		need("add_gated gate", gate, 4), checkModulation("add_gated gate", gate, rows, cols, gateStride)); err != nil {
		return err
	}
	return d.Do(func() error {
		k, err := d.getKernel("elementwise", "add_gated_"+typeSuffix(yt))
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{gridFor(n, 256, d.info.SMs*32), 1, 1}, dim3{256, 1, 1}, 0,
			out, x, y, gate, int64(rows), int32(cols), int64(gateStride))
	})
}

func (d *Device) unary(s *Stream, op string, y, x Mem, t gguf.Type, n int64) error {
	if n <= 0 {
		return fmt.Errorf("cuda: %s: %d elements", op, n)
	}
	if err := checkActType(op, t, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return err
	}
	if err := firstErr(need(op+" x", x, n*elemBytes(t)), need(op+" y", y, n*elemBytes(t))); err != nil {
		return err
	}
	return d.Do(func() error {
		k, err := d.getKernel("elementwise", op+"_"+typeSuffix(t))
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{gridFor(n, 256, d.info.SMs*32), 1, 1}, dim3{256, 1, 1}, 0, y, x, n)
	})
}

// GELUTanh computes y = GELU(x) with the tanh approximation, n elements of type t (f32 or bf16).
func (d *Device) GELUTanh(s *Stream, y, x Mem, t gguf.Type, n int64) error {
	return d.unary(s, "gelu_tanh", y, x, t, n)
}

// SiLU computes y = x·sigmoid(x), n elements of type t (f32 or bf16).
func (d *Device) SiLU(s *Stream, y, x Mem, t gguf.Type, n int64) error {
	return d.unary(s, "silu", y, x, t, n)
}

// Add computes y = a + b, n elements of type t (f32 or bf16).
func (d *Device) Add(s *Stream, y, a, b Mem, t gguf.Type, n int64) error {
	if n <= 0 {
		return fmt.Errorf("cuda: add: %d elements", n)
	}
	if err := checkActType("add", t, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return err
	}
	sz := n * elemBytes(t)
	if err := firstErr(need("add a", a, sz), need("add b", b, sz), need("add y", y, sz)); err != nil {
		return err
	}
	return d.Do(func() error {
		k, err := d.getKernel("elementwise", "add_"+typeSuffix(t))
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{gridFor(n, 256, d.info.SMs*32), 1, 1}, dim3{256, 1, 1}, 0, y, a, b, n)
	})
}

// Cast converts n elements from xt to yt: f32→bf16 and f32→f16 (round to nearest even), bf16→f32, f16→f32, f16→bf16,
// or a copy when the types agree.
func (d *Device) Cast(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, n int64) error {
	if n <= 0 {
		return fmt.Errorf("cuda: cast: %d elements", n)
	}
	if err := firstErr(checkActType("cast input", xt, gguf.TypeF32, gguf.TypeBF16, gguf.TypeF16), checkActType("cast output", yt, gguf.TypeF32, gguf.TypeBF16, gguf.TypeF16)); err != nil {
		return err
	}
	if err := firstErr(need("cast x", x, n*elemBytes(xt)), need("cast y", y, n*elemBytes(yt))); err != nil {
		return err
	}
	if overlapsDifferently(y, yt, x, xt) {
		return fmt.Errorf("cuda: cast: y overlaps x")
	}
	return d.Do(func() error { return d.convertPlain(s, y, yt, x, xt, n) })
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
