//go:build cuda

package cuda

import (
	"fmt"

	"github.com/wan22/wan22/gguf"
)

// Dequantize converts n elements of ggml type xt at x into y as f32 or bf16 (yt), on s (nil: the compute
// stream). The f32 results are bit-identical to gguf.Dequantize; the bf16 results are those values rounded
// to nearest even. y must be 16-byte aligned.
func (d *Device) Dequantize(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, n int64) error {
	if _, err := checkDequant(y, yt, x, xt, n); err != nil {
		return err
	}
	return d.Do(func() error {
		out := "bf16"
		if yt == gguf.TypeF32 {
			out = "f32"
		}
		if !xt.Quantized() && n%8 != 0 {
			return d.convertPlain(s, y, yt, x, xt, n)
		}
		k, err := d.getKernel("dequant", "dequant_"+dequantizable[xt]+"_"+out)
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{gridFor(n/8, 256, d.info.SMs*16), 1, 1}, dim3{256, 1, 1}, 0, y, x, n)
	})
}

// convertPlain handles float weights whose length is not a multiple of 8. Runs on the CUDA goroutine.
func (d *Device) convertPlain(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, n int64) error {
	var name string
	switch {
	case xt == yt:
		return d.CopyDtoD(s, y, x, n*elemBytes(xt))
	case xt == gguf.TypeF16 && yt == gguf.TypeF32:
		name = "convert_f16_f32"
	case xt == gguf.TypeF16 && yt == gguf.TypeBF16:
		name = "convert_f16_bf16"
	case xt == gguf.TypeF32 && yt == gguf.TypeBF16:
		name = "cast_f32_bf16"
	case xt == gguf.TypeBF16 && yt == gguf.TypeF32:
		name = "cast_bf16_f32"
	case xt == gguf.TypeF32 && yt == gguf.TypeF16:
		name = "cast_f32_f16"
	default:
		return fmt.Errorf("cuda: no conversion from %v to %v", xt, yt)
	}
	k, err := d.getKernel("elementwise", name)
	if err != nil {
		return err
	}
	return d.launch(s, k, dim3{gridFor(n, 256, d.info.SMs*32), 1, 1}, dim3{256, 1, 1}, 0, y, x, n)
}
